//! From roles to objects: which Deployment is "the canary", which object
//! carries the split and under which names it knows each side. Effects name
//! roles; this is the one place that turns them into objects of the plan.

use crate::rollout::effects::ImageTarget;
use crate::rollout::plan::{Plan, Router, Slot, Strategy, Switch};

use super::rest::{
    DEPLOYMENT, DESTINATION_RULE, HTTP_ROUTE, INGRESS, Obj, SERVICE, TRAFFIC_SPLIT, VIRTUAL_SERVICE,
};

/// The plan's objects, by role.
#[derive(Debug, Clone)]
pub struct Targets {
    pub app: String,
    pub namespace: String,
    pub shape: Shape,
}

#[derive(Debug, Clone)]
pub enum Shape {
    Canary {
        stable: String,
        canary: String,
        router: Router,
    },
    BlueGreen {
        blue: String,
        green: String,
        active_service: String,
        preview_service: Option<String>,
        /// `Some` for a weighted switch.
        router: Option<Router>,
    },
    Rolling {
        deployment: String,
        container: String,
    },
}

impl Targets {
    pub fn of(plan: &Plan) -> Self {
        let shape = match &plan.strategy {
            Strategy::Canary(c) => Shape::Canary {
                stable: c.stable.clone(),
                canary: c.canary.clone(),
                router: c.router.clone(),
            },
            Strategy::BlueGreen(b) => Shape::BlueGreen {
                blue: b.blue.clone(),
                green: b.green.clone(),
                active_service: b.active_service.clone(),
                preview_service: b.preview_service.clone(),
                router: match &b.switch {
                    Switch::Weighted { router, .. } => Some(router.clone()),
                    Switch::Selector { .. } => None,
                },
            },
            Strategy::Rolling(r) => Shape::Rolling {
                deployment: r.deployment.clone(),
                container: r.container.clone(),
            },
        };
        Self {
            app: plan.app.clone(),
            namespace: plan.namespace.clone(),
            shape,
        }
    }

    pub fn deployment(&self, name: &str) -> Obj {
        Obj::new(DEPLOYMENT, &self.namespace, name)
    }

    pub fn service(&self, name: &str) -> Obj {
        Obj::new(SERVICE, &self.namespace, name)
    }

    /// The Deployment the rollout's events and state belong to: stable, the
    /// blue slot, or the rolling Deployment.
    pub fn primary(&self) -> Obj {
        match &self.shape {
            Shape::Canary { stable, .. } => self.deployment(stable),
            Shape::BlueGreen { blue, .. } => self.deployment(blue),
            Shape::Rolling { deployment, .. } => self.deployment(deployment),
        }
    }

    /// Every Deployment of the plan.
    pub fn deployments(&self) -> Vec<Obj> {
        match &self.shape {
            Shape::Canary { stable, canary, .. } => {
                vec![self.deployment(stable), self.deployment(canary)]
            }
            Shape::BlueGreen { blue, green, .. } => {
                vec![self.deployment(blue), self.deployment(green)]
            }
            Shape::Rolling { deployment, .. } => vec![self.deployment(deployment)],
        }
    }

    pub fn slot(&self, slot: Slot) -> Option<Obj> {
        match &self.shape {
            Shape::BlueGreen { blue, green, .. } => Some(self.deployment(match slot {
                Slot::Blue => blue,
                Slot::Green => green,
            })),
            _ => None,
        }
    }

    /// The Deployment an image change is for, and the container (`None`: the
    /// one named after the app, else the first).
    pub fn image_target(&self, target: ImageTarget) -> Option<(Obj, Option<String>)> {
        match (target, &self.shape) {
            (ImageTarget::Canary, Shape::Canary { canary, .. }) => {
                Some((self.deployment(canary), None))
            }
            (ImageTarget::Slot(slot), Shape::BlueGreen { .. }) => {
                self.slot(slot).map(|d| (d, None))
            }
            (
                ImageTarget::Deployment,
                Shape::Rolling {
                    deployment,
                    container,
                },
            ) => Some((self.deployment(deployment), Some(container.clone()))),
            _ => None,
        }
    }

    /// The router of the plan, if traffic moves through one.
    pub fn router(&self) -> Option<&Router> {
        match &self.shape {
            Shape::Canary { router, .. } => Some(router),
            Shape::BlueGreen { router, .. } => router.as_ref(),
            Shape::Rolling { .. } => None,
        }
    }
}

/// The object(s) a router's weights live on.
pub fn router_objects(namespace: &str, router: &Router) -> Vec<Obj> {
    let obj = |kind, name: &str| Obj::new(kind, namespace, name);
    match router {
        Router::Istio {
            virtual_service,
            destination_rule,
            ..
        } => vec![
            obj(VIRTUAL_SERVICE, virtual_service),
            obj(DESTINATION_RULE, destination_rule),
        ],
        Router::GatewayApi { http_route, .. } => vec![obj(HTTP_ROUTE, http_route)],
        Router::Smi { traffic_split, .. } => vec![obj(TRAFFIC_SPLIT, traffic_split)],
        Router::Nginx {
            ingress,
            canary_ingress,
        } => vec![obj(INGRESS, ingress), obj(INGRESS, canary_ingress)],
        Router::ReplicaRatio { .. } => Vec::new(),
    }
}
