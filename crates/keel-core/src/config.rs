//! The configuration model. Only the `keel` binary reads it (from `keel.toml`, `KEEL_*`
//! variables and flags, in that order of precedence); services receive their part.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Everything Keel can be told. Every key has a default that works on one machine; an
/// unknown key is an error (`deny_unknown_fields` on every section), and so is an unknown
/// value of an enumerated key (they are Rust enums).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the database and files live.
    pub data_dir: PathBuf,
    /// The address `serve` listens on.
    pub http: String,
    /// When set, `serve` listens here with TLS (HTTP/2 and HTTP/1.1) instead of plain HTTP
    /// on `http`; needs `tls_cert` and `tls_key`.
    pub https: Option<String>,
    /// The PEM certificate chain `https` serves (the server's certificate first).
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Log format: `auto` (pretty on a TTY, JSON otherwise), `json` or `pretty`.
    pub log_format: LogFormat,
    /// Log filter in `RUST_LOG` syntax.
    pub log_level: String,
    /// Largest accepted request body in bytes (file uploads included).
    pub max_body_bytes: usize,
    /// SQLite reads (other than record-by-id lookups, which run inline) running at once.
    pub sqlite_readers: u32,
    /// Seconds in-flight requests get to finish on shutdown.
    pub shutdown_grace_secs: u64,
    /// Serve the web console's files from this directory (a copy of
    /// `crates/keel-server/src/routes/console/assets`) instead of the ones compiled in: for
    /// working on the console without rebuilding.
    pub console_dir: Option<PathBuf>,
    /// Each external engine's address, named once (`[engines]` in `keel.toml`).
    pub engines: EnginesConfig,
    /// Where collections, records and identities live (`[data]` in `keel.toml`).
    pub data: DataConfig,
    /// The cache service (`[cache]` in `keel.toml`).
    pub cache: CacheConfig,
    /// The jobs and schedules service (`[jobs]` in `keel.toml`).
    pub jobs: JobsConfig,
    /// How processes tell each other what changed (`[events]` in `keel.toml`).
    pub events: EventsConfig,
    /// Sign-in protection and OAuth2 redirects (`[auth]` in `keel.toml`).
    pub auth: AuthConfig,
    /// Request body limits, connection timeouts and caps (`[limits]` in `keel.toml`).
    pub limits: LimitsConfig,
    /// Outbound requests made on a user's behalf (`[outbound]` in `keel.toml`).
    pub outbound: OutboundConfig,
    /// Who may read `/metrics` (`[metrics]` in `keel.toml`).
    pub metrics: MetricsConfig,
    /// Webhook delivery: timeout, retry schedule, when a failing endpoint is disabled
    /// (`[webhooks]` in `keel.toml`).
    pub webhooks: WebhooksConfig,
    /// Notification channel providers (`[[notify.providers]]` in `keel.toml`).
    pub notify: NotifyConfig,
    /// Ops runs (`[ops]` in `keel.toml`).
    pub ops: OpsConfig,
    /// Where uploaded files live (`[files]` in `keel.toml`); the settings' `s3` section,
    /// when enabled, takes over at run time.
    pub files: FilesConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("keel_data"),
            http: "127.0.0.1:8090".into(),
            https: None,
            tls_cert: None,
            tls_key: None,
            log_format: LogFormat::Auto,
            log_level: "info".into(),
            max_body_bytes: 64 * 1024 * 1024,
            sqlite_readers: 4,
            shutdown_grace_secs: 10,
            console_dir: None,
            engines: EnginesConfig::default(),
            data: DataConfig::default(),
            cache: CacheConfig::default(),
            jobs: JobsConfig::default(),
            events: EventsConfig::default(),
            auth: AuthConfig::default(),
            limits: LimitsConfig::default(),
            outbound: OutboundConfig::default(),
            metrics: MetricsConfig::default(),
            webhooks: WebhooksConfig::default(),
            notify: NotifyConfig::default(),
            ops: OpsConfig::default(),
            files: FilesConfig::default(),
        }
    }
}

/// An enumerated config value: a Rust enum read from and written as its lowercase name, so
/// an unknown value is refused at start with the allowed ones listed.
macro_rules! config_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl $name {
            /// Every allowed value, in the config's spelling.
            pub const ALL: &'static [&'static str] = &[$($text),+];

            /// The value a name spells (as in the config), if any.
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// The value as written in the config.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

config_enum! {
    /// `log_format`.
    LogFormat {
        /// Pretty on a terminal, JSON otherwise.
        Auto => "auto",
        /// JSON lines.
        Json => "json",
        /// Human-readable lines.
        Pretty => "pretty",
    }
}

config_enum! {
    /// `[data] engine`.
    DataEngine {
        /// SQLite (`data.db` in the data dir).
        Sqlite => "sqlite",
        /// PostgreSQL at `[engines] postgres_url`.
        Postgres => "postgres",
        /// MariaDB 10.11+ or MySQL 8 at `[engines] mysql_url`.
        Mysql => "mysql",
    }
}

config_enum! {
    /// `[cache] provider`.
    CacheProvider {
        /// In process (moka).
        Memory => "memory",
        /// Redis.
        Redis => "redis",
        /// Memory in front of Redis, invalidated across processes by pub/sub.
        Tiered => "tiered",
        /// Memcached.
        Memcached => "memcached",
    }
}

config_enum! {
    /// `[events] bus`.
    EventBusProvider {
        /// In process: one process only (the default).
        Local => "local",
        /// PostgreSQL LISTEN/NOTIFY at `[engines] postgres_url`.
        Postgres => "postgres",
        /// Redis pub/sub at `[engines] redis_url`.
        Redis => "redis",
        /// Core NATS at `[engines] nats_url`.
        Nats => "nats",
    }
}

// `config_enum!` declares the enum, so `#[derive(Default)]` is not available to it.
#[allow(clippy::derivable_impls)]
impl Default for EventBusProvider {
    fn default() -> Self {
        EventBusProvider::Local
    }
}

/// The event bus (`[events]`): how the processes of one deployment tell each other what
/// changed (records for realtime, schema, settings, revocations, job events).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    /// `local` (one process, the default), `postgres`, `redis` or `nats`.
    pub bus: EventBusProvider,
    /// The deployment's namespace on the engine (1 to 40 of `a-z 0-9 _`): processes hear
    /// each other only when they share it, so deployments (and tests) sharing an engine do
    /// not hear each other. PostgreSQL channel `keel_bus_<channel>`, Redis channel
    /// `keel:<channel>:bus`, NATS subject `keel.<channel>.bus`.
    pub channel: String,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            bus: EventBusProvider::Local,
            channel: "keel".into(),
        }
    }
}

config_enum! {
    /// `[jobs] store`.
    JobsStore {
        /// SQLite (`jobs.db` in the data dir).
        Embedded => "embedded",
        /// PostgreSQL, shared by several processes.
        Postgres => "postgres",
        /// MariaDB 10.6+ (`[engines] mysql_url`), shared by several processes.
        Mysql => "mysql",
    }
}

config_enum! {
    /// `[metrics] access`: who may read `/metrics` without credentials.
    MetricsAccess {
        /// Nobody: a caller holding `metrics:read` (a superuser, a role, an API key) or the
        /// `[metrics] token` bearer token.
        Protected => "protected",
        /// Also requests from a loopback peer that came through no proxy.
        Loopback => "loopback",
        /// Anyone.
        Public => "public",
    }
}

/// Who may read `/metrics` (`[metrics]`).
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// `protected` (the default), `loopback` or `public` (see [`MetricsAccess`]).
    pub access: MetricsAccess,
    /// A bearer token a scraper may send (`Authorization: Bearer …`) instead of a Keel
    /// credential; empty: none. At least 16 characters; compared in constant time, never
    /// logged or shown.
    pub token: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            access: MetricsAccess::Protected,
            token: String::new(),
        }
    }
}

impl std::fmt::Debug for MetricsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let token = if self.token.is_empty() { "" } else { "<hidden>" };
        f.debug_struct("MetricsConfig")
            .field("access", &self.access)
            .field("token", &token)
            .finish()
    }
}

/// Each external engine named once. Every service that uses an engine shares one pool (or
/// connection manager) of it per process; a URL is only dialled when a service is
/// configured to use its engine.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnginesConfig {
    /// PostgreSQL, e.g. `postgres://user:password@127.0.0.1:5432/app`.
    pub postgres_url: String,
    /// MariaDB or MySQL, e.g. `mysql://root@127.0.0.1:3306/app`.
    pub mysql_url: String,
    /// Redis, e.g. `redis://:password@127.0.0.1:6379/0`.
    pub redis_url: String,
    /// NATS with JetStream enabled (several servers separated by commas).
    pub nats_url: String,
    /// Memcached, e.g. `memcache://127.0.0.1:11211` (or `memcache://user:password@host:port`
    /// for a server run with `-Y`, or `unix:///path`).
    pub memcached_url: String,
}

impl Default for EnginesConfig {
    fn default() -> Self {
        Self {
            postgres_url: "postgres://postgres@127.0.0.1:5432/postgres".into(),
            mysql_url: "mysql://root@127.0.0.1:3306/keel".into(),
            redis_url: "redis://127.0.0.1:6379".into(),
            nats_url: "nats://127.0.0.1:4222".into(),
            memcached_url: "memcache://127.0.0.1:11211".into(),
        }
    }
}

impl std::fmt::Debug for EnginesConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnginesConfig")
            .field("postgres_url", &redact_url(&self.postgres_url))
            .field("mysql_url", &redact_url(&self.mysql_url))
            .field("redis_url", &redact_url(&self.redis_url))
            .field("nats_url", &redact_url(&self.nats_url))
            .field("memcached_url", &redact_url(&self.memcached_url))
            .finish()
    }
}

/// The records engine (`[data]`), and collections as code.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    /// `sqlite` (the default), `postgres` or `mysql`.
    pub engine: DataEngine,
    /// Where `keel migrate` reads and writes collection migration files.
    pub migrations_dir: PathBuf,
    /// Every collection change made through the API or the console writes a migration file
    /// into `migrations_dir` (for development: commit them, replay with `keel migrate up`).
    pub automigrate: bool,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            engine: DataEngine::default(),
            migrations_dir: PathBuf::from("keel_migrations"),
            automigrate: false,
        }
    }
}

// `config_enum!` declares the enum, so `#[derive(Default)]` is not available to it.
#[allow(clippy::derivable_impls)]
impl Default for DataEngine {
    fn default() -> Self {
        DataEngine::Sqlite
    }
}

/// Which cache provider `keel` opens, and its settings.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// `memory` (in process, the default), `redis`, `tiered` (memory in front of Redis,
    /// invalidated across processes by Redis pub/sub) or `memcached`.
    pub provider: CacheProvider,
    /// The memory provider's budget in bytes (serialized JSON size of the entries).
    pub memory_max_bytes: u64,
    /// The tiered provider: the longest a value stays in a process's memory before it is
    /// read from Redis again.
    pub tiered_local_ttl_secs: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            provider: CacheProvider::Memory,
            memory_max_bytes: 64 * 1024 * 1024,
            tiered_local_ttl_secs: 60,
        }
    }
}

impl std::fmt::Debug for CacheConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheConfig")
            .field("provider", &self.provider)
            .field("memory_max_bytes", &self.memory_max_bytes)
            .field("tiered_local_ttl_secs", &self.tiered_local_ttl_secs)
            .finish()
    }
}

/// Where jobs and schedules live.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobsConfig {
    /// `embedded` (SQLite file `jobs.db` in the data dir, the default), `postgres` or `mysql`
    /// (MariaDB; both shared by several Keel processes).
    pub store: JobsStore,
    /// Whether this process runs schedules, HTTP-push delivery and upkeep (turn off on
    /// API-only processes; any number of processes may leave it on).
    pub background: bool,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            store: JobsStore::Embedded,
            background: true,
        }
    }
}

impl std::fmt::Debug for JobsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobsConfig")
            .field("store", &self.store)
            .field("background", &self.background)
            .finish()
    }
}

/// A URL with any `user:password@` credentials replaced by `***`, for logs and `Debug`. A
/// string that is not a URL but holds an `@` loses everything before its last `@`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return match url.rfind('@') {
            Some(at) => format!("***@{}", &url[at + 1..]),
            None => url.to_string(),
        };
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_hides_credentials_only() {
        assert_eq!(redact_url("redis://:s3cret@host:6379/0"), "redis://***@host:6379/0");
        assert_eq!(redact_url("redis://u:p@h"), "redis://***@h");
        assert_eq!(redact_url("redis://h:1/2"), "redis://h:1/2");
        assert_eq!(redact_url("not a url"), "not a url");
        assert_eq!(redact_url("redis//:s3cret@host:6379"), "***@host:6379");
        let cfg = EnginesConfig {
            redis_url: "redis://:hunter2@h".into(),
            memcached_url: "memcache://keel:hunter3@h:11211".into(),
            ..EnginesConfig::default()
        };
        assert!(!format!("{cfg:?}").contains("hunter2"));
        assert!(!format!("{cfg:?}").contains("hunter3"));
    }
}

/// Sign-in protection (`[auth]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Failed sign-ins of one identity (per auth collection) before it is locked out
    /// (0 = never lock out).
    pub lockout_attempts: u32,
    /// Seconds the failures are counted over, and how long a lockout lasts.
    pub lockout_secs: u64,
    /// Hosts an OAuth2 `redirectURL` may point at, besides the host of the settings'
    /// `meta.appURL` and loopback addresses.
    pub redirect_hosts: Vec<String>,
    /// Days audit entries are kept (0 = forever).
    pub audit_retention_days: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            lockout_attempts: 10,
            lockout_secs: 900,
            redirect_hosts: Vec::new(),
            audit_retention_days: 90,
        }
    }
}

/// What one request or one client may take (`[limits]`). Multipart uploads and `/api/batch`
/// are limited by the top-level `max_body_bytes`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest body of a small JSON endpoint: sign-ins and the other auth flows, job
    /// claims and attempts, cache operations on keys, roles, API keys, realtime subscriptions.
    pub small_body_bytes: usize,
    /// Largest JSON document: a record created or updated as JSON, a collection, the
    /// settings, enqueued jobs, schedules, cache values.
    pub json_body_bytes: usize,
    /// Deepest nesting of arrays and objects in a JSON body.
    pub json_max_depth: usize,
    /// Most members of one JSON array or object in a body.
    pub json_max_items: usize,
    /// Most values (scalars, arrays and objects) in one JSON body, all levels together: many
    /// small arrays cannot add up to a tree that takes gigabytes.
    pub json_max_values: usize,
    /// Seconds a client has to send a request's whole body.
    pub body_timeout_secs: u64,
    /// Seconds a client has to send a request's headers once it started.
    pub header_timeout_secs: u64,
    /// Seconds an idle keep-alive connection stays open.
    pub idle_timeout_secs: u64,
    /// Open connections one client IP may hold; more are closed at once (0 = no cap).
    pub max_connections_per_ip: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            small_body_bytes: 64 * 1024,
            json_body_bytes: 1024 * 1024,
            json_max_depth: 32,
            json_max_items: 10_000,
            json_max_values: 100_000,
            body_timeout_secs: 120,
            header_timeout_secs: 10,
            idle_timeout_secs: 75,
            max_connections_per_ip: 256,
        }
    }
}

/// Outbound requests made on a user's behalf: HTTP push queues, OAuth2 avatar downloads
/// (`[outbound]`). They never reach a private, loopback, link-local or otherwise internal
/// address unless `allow` lists it (see `keel_core::outbound`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboundConfig {
    /// CIDRs of internal addresses outbound requests may reach anyway, e.g.
    /// `["10.1.0.0/16", "127.0.0.1/32", "::1/128"]` (a bare address means only itself). As a
    /// variable: `KEEL_OUTBOUND__ALLOW="10.1.0.0/16,127.0.0.1/32"` (comma-separated).
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub allow: Vec<String>,
}

/// Webhook delivery (`[webhooks]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// How long an endpoint has to answer one delivery attempt with a 2xx.
    pub timeout_secs: u64,
    /// The delays before each retry of a failed delivery, in seconds; its length is the
    /// number of retries (Svix's schedule: at once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h).
    pub retry_schedule_secs: Vec<u64>,
    /// An endpoint whose deliveries have all failed for this long is disabled (with a
    /// `webhook.disabled` event).
    pub disable_after_hours: u64,
    /// How long the previous secret keeps signing beside the new one after a rotation.
    pub secret_grace_hours: u64,
    /// Delivery attempts (`_webhookDeliveries`) older than this many days are deleted; 0
    /// keeps them forever.
    pub retention_days: u64,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            timeout_secs: 15,
            retry_schedule_secs: vec![0, 5, 300, 1800, 7200, 18000, 36000, 36000],
            disable_after_hours: 120,
            secret_grace_hours: 24,
            retention_days: 30,
        }
    }
}

/// Ops runs (`[ops]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpsConfig {
    /// Whether `shell.exec` steps may run commands on the Keel host itself (off: such a step
    /// fails saying how to turn it on).
    pub shell_exec: bool,
    /// Runs older than this many days are deleted with their steps, logs and approvals; 0
    /// keeps them forever.
    pub retention_days: u64,
    /// Besides age: only the newest this many finished runs of each runbook are kept, older
    /// ones deleted with their steps, logs and approvals; 0 sets no limit by count.
    pub keep_runs: u64,
    /// How long a run's job may go without a heartbeat (the process running it died) before
    /// another process takes it and marks the run `interrupted`.
    pub lease_secs: u64,
}

impl Default for OpsConfig {
    fn default() -> Self {
        Self {
            shell_exec: false,
            retention_days: 90,
            keep_runs: 0,
            lease_secs: 30,
        }
    }
}

/// Notification channel providers and history (`[notify]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// Notifications and their delivery attempts (`_notifications`,
    /// `_notificationDeliveries`) older than this many days are deleted, the in-app inbox
    /// included; 0 keeps them forever.
    pub retention_days: u64,
    /// `[[notify.providers]]`: each a table with `name` (unique), `kind` (`ses`, `sendgrid`,
    /// `mailgun`, `smtp`, `twilio`, `slack`, `teams`, `discord`, `webpush`, `fcm`, `apns`),
    /// optionally `base_url` and `rate_per_second`, and the kind's own keys. `keel-notify`
    /// checks each when the server starts; a mistake stops the start naming the provider and
    /// the key, never a value.
    pub providers: Vec<serde_json::Map<String, serde_json::Value>>,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            retention_days: 90,
            providers: Vec::new(),
        }
    }
}

/// A list of strings, or one string of comma-separated items (as a `KEEL_*` variable gives it).
fn list_or_comma_separated<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Items {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Items::deserialize(d)? {
        Items::List(list) => list,
        Items::Text(text) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

config_enum! {
    /// `files.provider`.
    FilesProvider {
        /// The data dir's `storage/` (or `files.local_dir`).
        Local => "local",
        /// An S3-compatible bucket (`[files.s3]`).
        S3 => "s3",
        /// An Azure Blob Storage container (`[files.azure]`).
        Azure => "azure",
        /// A Google Cloud Storage bucket (`[files.gcs]`).
        Gcs => "gcs",
    }
}

// `config_enum!` declares the enum, so `#[derive(Default)]` is not available to it.
#[allow(clippy::derivable_impls)]
impl Default for FilesProvider {
    fn default() -> Self {
        FilesProvider::Local
    }
}

/// Where uploaded files live (`[files]`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilesConfig {
    /// `local` (the default), `s3`, `azure` or `gcs`.
    pub provider: FilesProvider,
    /// The local provider's directory (default: `storage` in the data dir).
    pub local_dir: Option<PathBuf>,
    /// `[files.s3]`.
    pub s3: S3FilesConfig,
    /// `[files.azure]`.
    pub azure: AzureFilesConfig,
    /// `[files.gcs]`.
    pub gcs: GcsFilesConfig,
}

/// An S3-compatible bucket: the same keys as PocketBase's `settings.s3`.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct S3FilesConfig {
    pub bucket: String,
    /// `us-east-1` when empty.
    pub region: String,
    /// The service's URL (`https://s3.example.com`); AWS when empty.
    pub endpoint: String,
    pub access_key: String,
    pub secret: String,
    /// `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key`.
    pub force_path_style: bool,
}

impl std::fmt::Debug for S3FilesConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3FilesConfig")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key", &self.access_key)
            .field("secret", &"***")
            .field("force_path_style", &self.force_path_style)
            .finish()
    }
}

/// An Azure Blob Storage container.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AzureFilesConfig {
    /// The storage account's name.
    pub account: String,
    /// The account's access key (base64).
    pub access_key: String,
    pub container: String,
    /// The Blob service's URL including the account (`http://127.0.0.1:10000/devstoreaccount1`
    /// for Azurite); `https://ACCOUNT.blob.core.windows.net` when empty.
    pub endpoint: String,
}

impl std::fmt::Debug for AzureFilesConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureFilesConfig")
            .field("account", &self.account)
            .field("access_key", &"***")
            .field("container", &self.container)
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

/// A Google Cloud Storage bucket.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GcsFilesConfig {
    pub bucket: String,
    /// A service account's JSON key file; empty: the machine's application default credentials.
    pub service_account_path: String,
    /// The service account's JSON key itself (instead of a path).
    pub service_account_key: String,
}

impl std::fmt::Debug for GcsFilesConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcsFilesConfig")
            .field("bucket", &self.bucket)
            .field("service_account_path", &self.service_account_path)
            .field("service_account_key", &"***")
            .finish()
    }
}
