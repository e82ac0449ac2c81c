//! The cockpit's metrics side: the Prometheus HTTP API client, the default
//! queries, and, for clusters without Prometheus, the same numbers computed
//! from two scrapes of the pods' `/metrics`.

pub mod exposition;
pub mod prometheus;
pub mod queries;
pub mod scrape;
