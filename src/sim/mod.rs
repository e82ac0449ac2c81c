//! The simulated cluster: a Kubernetes API server, controllers and apps that
//! serve traffic, all on one clock. See `design.md`, "The simulator is a real
//! API server".

pub mod controllers;
pub mod faults;
pub mod first_traffic;
pub mod host;
pub mod loadtester;
pub mod logs;
pub mod resources;
pub mod rng;
mod rollout_state;
pub mod scenario;
pub mod seed;
pub mod serve;
pub mod server;
pub mod store;
pub mod traffic;
pub mod world;

use std::sync::Arc;

pub use faults::Faults;
pub use first_traffic::FirstTraffic;
pub use logs::PodLogs;
pub use scenario::Scenario;
pub use store::Store;
pub use world::{Controller, TickCtx, World};

/// What the API server, the controllers and the traffic model share.
#[derive(Clone)]
pub struct Shared {
    pub store: Arc<Store>,
    pub logs: Arc<PodLogs>,
    pub scenario: Arc<Scenario>,
    pub faults: Arc<Faults>,
    /// Written by the traffic model, read by the kubelet.
    pub first_traffic: Arc<FirstTraffic>,
    /// The gates of Flagger's loadtester, answered for its Services.
    pub loadtester: Arc<loadtester::Loadtester>,
}
