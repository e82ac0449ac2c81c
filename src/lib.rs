//! flightdeck: a terminal cockpit for progressive delivery on Kubernetes.
//!
//! The binary is a thin CLI over this library, so that tests and benchmarks
//! reach every part the way the binary does.

pub mod app;
pub mod build_info;
pub mod cli;
pub mod cluster;
pub mod cockpit;
pub mod commands;
pub mod config;
pub mod demo;
pub mod driver;
pub mod external;
pub mod fleet;
pub mod metrics;
pub mod report;
pub mod rollout;
pub mod sanitize;
pub mod sim;
pub mod snapshot;
pub mod terminal;
pub mod tui;
pub mod ui;
pub mod units;
pub mod workers;
