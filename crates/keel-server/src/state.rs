//! The state every handler receives: one cheap `Clone` of shared services.

use std::sync::Arc;

use keel_core::cache::Cache;
use keel_core::config::Config;
use keel_core::files::FileStore;
use keel_data::Store;

use crate::realtime::Realtime;
use crate::settings::Settings;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    pub files: Arc<dyn FileStore>,
    pub realtime: Arc<Realtime>,
    pub settings: Arc<Settings>,
    pub config: Arc<Config>,
    /// The cache provider (`/api/cache`).
    pub cache: Arc<dyn Cache>,
    /// Jobs, queues and schedules (`/api/jobs`, `/api/queues`, `/api/schedules`).
    pub jobs: Arc<keel_jobs::Jobs>,
    /// Roles, API keys, second factors, external identities and the audit trail.
    pub identity: keel_auth::Identity,
    /// Rate-limit windows (`rateLimits` settings).
    pub limiter: Arc<crate::ratelimit::Limiter>,
    /// Renders `/metrics`; `None` when metrics are not installed (tests).
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
}
