//! The release report: what happened in a rollout, for the people who were
//! not watching. [`model`] builds a [`Report`] from records without I/O;
//! [`html`] and [`markdown`] render it (tested without I/O); [`gather`]
//! reads the cluster, the audit file and Prometheus.

pub mod gather;
pub mod html;
pub mod markdown;
pub mod model;
pub mod svg;

pub use model::{Numbers, Report};

use crate::cli::ReportFormat;

/// The report in `format`.
pub fn render(report: &Report, format: ReportFormat) -> String {
    match format {
        ReportFormat::Html => html::render(report),
        ReportFormat::Md => markdown::render(report),
    }
}
