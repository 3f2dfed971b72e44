//! The state every handler receives: one cheap `Clone` of shared services.
//!
//! Axum clones the state for every request (once per middleware that takes it and once per
//! handler), so `AppState` is one `Arc` around `Services`: a clone is one atomic increment,
//! not one per service. Fields read through `Deref` (`state.store`).

use std::ops::Deref;
use std::sync::Arc;

use keel_core::cache::Cache;
use keel_core::config::Config;
use keel_core::files::FileStore;
use keel_data::Store;

use crate::realtime::Realtime;
use crate::settings::Settings;

/// Handle to the shared services; build it with `AppState::new(Services { .. })`.
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

/// Every service a handler may use.
#[derive(Clone)]
pub struct Services {
    pub store: Arc<Store>,
    pub files: Arc<dyn FileStore>,
    pub realtime: Arc<Realtime>,
    pub settings: Arc<Settings>,
    pub config: Arc<Config>,
    /// The cache provider (`/api/cache`).
    pub cache: Arc<dyn Cache>,
    /// Jobs, queues and schedules (`/api/jobs`, `/api/queues`, `/api/schedules`).
    pub jobs: Arc<keel_jobs::Jobs>,
    /// The guard of outbound requests made on a user's behalf (OAuth2 avatar downloads); the
    /// same one `jobs` uses for push queues.
    pub outbound: keel_core::outbound::OutboundGuard,
    /// Roles, API keys, second factors, external identities and the audit trail.
    pub identity: keel_auth::Identity,
    /// Rate-limit windows (`rateLimits` settings).
    pub limiter: Arc<crate::ratelimit::Limiter>,
    /// Work a request starts and does not wait for (auth emails): tracked so shutdown can let
    /// it finish and tests can wait until it has.
    pub background: tokio_util::task::TaskTracker,
    /// Renders `/metrics`; `None` when metrics are not installed (tests).
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
}
