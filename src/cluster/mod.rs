//! Kubernetes adapters: how flightdeck reads and changes the objects that
//! decide where traffic goes.

pub mod routers;
