//! Kubernetes adapters: connecting, reading objects the way a captain reads
//! them, and the traffic routers.

pub mod client;
pub mod lease;
pub mod pod_status;
pub mod record;
