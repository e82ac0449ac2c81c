//! Kubernetes adapters: connecting, reading objects the way a captain reads
//! them, the traffic routers, the helm Lease and flightdeck's own Events.

pub mod client;
pub mod clock;
pub mod lease;
pub mod pod_status;
pub mod record;
pub mod routers;
