//! The application core: what a request MEANS, with no HTTP in it. Who is calling and what
//! they may do (`caller`, `authz`), sign-in lockout, the settings document, record writes
//! with their auth fields and files, batch, and the audit entries of changes. Every entry
//! point (the HTTP server, the console, the CLI, webhooks, ops runs) calls it with an [`App`]
//! and gets `keel_core::Error`s back; only `keel-server` turns those into status codes.
#![forbid(unsafe_code)]

pub mod apikeys;
pub mod audit;
pub mod auth;
pub mod authz;
pub mod backups;
pub mod batch;
pub mod cache;
pub mod caller;
pub mod changes;
pub mod collections;
pub mod events;
pub mod files;
pub mod health;
pub mod install;
pub mod jobs;
pub mod lockout;
pub mod logs;
pub mod metrics;
pub mod notifications;
pub mod ops;
pub mod outbox;
pub mod realtime;
pub mod records;
pub mod redact;
pub mod retention;
pub mod roles;
pub mod rows;
pub mod schedules;
pub mod search;
pub mod serialize;
pub mod settings;
pub mod storage;
pub mod sync;
pub mod vault;
pub mod webhooks;

use std::sync::Arc;

use keel_core::cache::Cache;
use keel_core::config::Config;
use keel_core::files::FileStore;
use keel_data::Store;

pub use audit::Origin;
pub use caller::Caller;
pub use settings::Settings;

/// The engines and services the core works with, each as its provider. One cheap `Clone`.
#[derive(Clone)]
pub struct App {
    pub store: Arc<Store>,
    pub files: Arc<dyn FileStore>,
    pub settings: Arc<Settings>,
    pub config: Arc<Config>,
    /// The cache provider (also where sign-in attempts are counted).
    pub cache: Arc<dyn Cache>,
    /// Jobs, queues and schedules.
    pub jobs: Arc<keel_jobs::Jobs>,
    /// The guard of outbound requests made on a user's behalf (OAuth2 avatar downloads); the
    /// same one `jobs` uses for push queues.
    pub outbound: keel_core::outbound::OutboundGuard,
    /// Roles, API keys, second factors, external identities and the audit trail.
    pub identity: keel_auth::Identity,
    /// The event bus: how this process tells the others what changed, and hears what they
    /// changed (`[events] bus`; in process on one machine).
    pub bus: Arc<dyn keel_core::bus::EventBus>,
    /// The realtime broker: clients and their subscriptions.
    pub realtime: Arc<realtime::Realtime>,
    /// What acts on events (webhook endpoints, notification rules), and so which record
    /// changes the store writes as durable events.
    pub events: Arc<events::Events>,
    /// The notifications service's clock, channel providers and rate limits.
    pub notifications: Arc<notifications::Notifications>,
    /// The vault's master keys (`KEEL_MASTER_KEY` or the data dir's key file); without one
    /// (`Default`) every vault call answers 503.
    pub vault: Arc<keel_vault::Keys>,
    /// Request logs (`/api/logs`): the auxiliary database's `_logs` and its batched writer;
    /// `Default` keeps none.
    pub logs: Arc<keel_logs::RequestLogs>,
    /// Full-text search over records (`search`): the provider and this process's indexes;
    /// `Default` has none.
    pub search: Arc<search::Search>,
    /// The one-time link that makes the first superuser in the browser (`Default`: none
    /// issued).
    pub installer: Arc<install::Installer>,
}
