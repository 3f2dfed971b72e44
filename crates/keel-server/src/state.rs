//! The state every handler receives: one cheap `Clone` of shared services.
//!
//! Axum clones the state for every request (once per middleware that takes it and once per
//! handler), so `AppState` is one `Arc` around `Services`: a clone is one atomic increment,
//! not one per service. Fields read through `Deref` (`state.store`).

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use keel_app::App;

/// Handle to the shared services; build it with `AppState::new(Services { .. })`. Derefs to
/// `Services`, and through it to the core's `App`.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> AppState {
        AppState(Arc::new(services))
    }

    /// The services to change before the app is built (a copy if the state is shared).
    pub fn edit(&mut self) -> &mut Services {
        Arc::make_mut(&mut self.0)
    }
}

impl Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// Every service a handler may use: the application core ([`keel_app::App`], reached
/// through `Deref`: `state.store`) and what only the HTTP face needs.
#[derive(Clone)]
pub struct Services {
    pub app: App,
    /// Rate-limit windows (`rateLimits` settings).
    pub limiter: Arc<crate::ratelimit::Limiter>,
    /// Renders `/metrics`; `None` when metrics are not installed (tests).
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

impl Deref for Services {
    type Target = App;

    fn deref(&self) -> &App {
        &self.app
    }
}

impl DerefMut for Services {
    fn deref_mut(&mut self) -> &mut App {
        &mut self.app
    }
}
