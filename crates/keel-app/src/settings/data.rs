//! The settings document in PocketBase's shape: its sections and their defaults.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The settings document. Unknown sections are kept as they were sent (`extra`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SettingsData {
    /// Superusers are accepted only from these IPs or CIDR subnets (empty: from anywhere).
    #[serde(rename = "superuserIPs")]
    pub superuser_ips: Vec<String>,
    pub meta: Meta,
    pub batch: Batch,
    pub rate_limits: RateLimits,
    pub smtp: Smtp,
    pub logs: Logs,
    pub backups: Value,
    pub s3: Value,
    pub trusted_proxy: Value,
    /// Schema-change governance (`changes.review`).
    pub changes: Changes,
}

/// `changes`: schema-change governance settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Changes {
    pub review: Review,
}

/// `changes.review`: which collections need a reviewed change, and how many approvals.
/// `required`: `off` (no collection), `all` (every collection but the system ones) or
/// `listed` (the ones in `collections`, by name or id). `quorum`: approvals a change needs;
/// `breakingQuorum`: approvals a breaking (major) change needs, at least `quorum`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Review {
    pub required: String,
    pub collections: Vec<String>,
    pub quorum: u32,
    pub breaking_quorum: u32,
}

impl Default for Review {
    fn default() -> Self {
        Review {
            required: "off".into(),
            collections: Vec::new(),
            quorum: 1,
            breaking_quorum: 2,
        }
    }
}

impl Review {
    /// Whether a change of the collection `id` / `name` must go through a proposal.
    pub fn required_for(&self, id: &str, name: &str) -> bool {
        match self.required.as_str() {
            "all" => !name.starts_with('_'),
            "listed" => self.collections.iter().any(|c| c == id || c == name),
            _ => false,
        }
    }

    /// The approvals a change with this verdict needs.
    pub fn quorum_for(&self, breaking: bool) -> u32 {
        if breaking {
            self.breaking_quorum.max(self.quorum)
        } else {
            self.quorum
        }
    }
}

impl Default for SettingsData {
    fn default() -> Self {
        SettingsData {
            superuser_ips: Vec::new(),
            meta: Meta::default(),
            batch: Batch::default(),
            rate_limits: RateLimits::pocketbase_defaults(),
            smtp: Smtp::default(),
            logs: Logs::default(),
            backups: serde_json::json!({"cron": "", "cronMaxKeep": 3, "s3": {"enabled": false, "bucket": "", "region": "", "endpoint": "", "accessKey": "", "secret": "", "forcePathStyle": false}}),
            s3: serde_json::json!({"enabled": false, "bucket": "", "region": "", "endpoint": "", "accessKey": "", "secret": "", "forcePathStyle": false}),
            trusted_proxy: serde_json::json!({"headers": [], "useLeftmostIP": false}),
            changes: Changes::default(),
        }
    }
}

/// Request logs (`keel-logs`), as PocketBase's `logs` settings: kept `max_days` days
/// (0: no request is logged and the stored logs are deleted), entries below `min_level`
/// not kept, the client's address and the caller's record id logged only when asked.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Logs {
    /// Largest serialized `data` of a log entry, in bytes, before it is cut (0: about 16 KB),
    /// as PocketBase's.
    #[serde(rename = "maxDataSize")]
    pub max_data_size: i64,
    #[serde(rename = "maxDays")]
    pub max_days: i64,
    #[serde(rename = "minLevel")]
    pub min_level: i64,
    #[serde(rename = "logIP")]
    pub log_ip: bool,
    #[serde(rename = "logAuthId")]
    pub log_auth_id: bool,
}

impl Default for Logs {
    fn default() -> Self {
        Logs {
            max_data_size: 0,
            max_days: 7,
            min_level: 0,
            log_ip: true,
            log_auth_id: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Meta {
    pub app_name: String,
    #[serde(rename = "appURL")]
    pub app_url: String,
    pub sender_name: String,
    pub sender_address: String,
    pub hide_controls: bool,
    /// The console's accent colour (`#rrggbb`).
    pub accent_color: String,
}

impl Default for Meta {
    fn default() -> Self {
        Meta {
            app_name: "Keel".into(),
            app_url: "http://127.0.0.1:8090".into(),
            sender_name: "Support".into(),
            sender_address: "support@example.com".into(),
            hide_controls: false,
            accent_color: "#1055c9".into(),
        }
    }
}

/// `/api/batch` limits. Off until a superuser enables it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Batch {
    pub enabled: bool,
    pub max_requests: u32,
    /// Seconds the whole batch may take.
    pub timeout: u64,
    /// Largest batch body in bytes (0 = the server's body limit).
    pub max_body_size: u64,
}

impl Default for Batch {
    fn default() -> Self {
        Batch {
            enabled: false,
            max_requests: 50,
            timeout: 3,
            max_body_size: 0,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RateLimits {
    pub enabled: bool,
    pub rules: Vec<RateLimitRule>,
    /// Client IPs never limited (Keel's addition).
    #[serde(rename = "excludedIPs")]
    pub excluded_ips: Vec<String>,
}

impl RateLimits {
    /// PocketBase's four default rules, off until `enabled`: sign-ins, creates, batches and
    /// the whole API.
    pub fn pocketbase_defaults() -> Self {
        let rule = |label: &str, duration: u64, max_requests: u32| RateLimitRule {
            label: label.into(),
            max_requests,
            duration,
            audience: String::new(),
        };
        RateLimits {
            enabled: false,
            rules: vec![
                rule("*:auth", 3, 2),
                rule("*:create", 5, 20),
                rule("/api/batch", 1, 3),
                rule("/api/", 10, 300),
            ],
            excluded_ips: Vec::new(),
        }
    }
}

/// PocketBase's rate-limit rule: `label` is a path prefix (`/api/`), `METHOD /path`, or a
/// `collection:action` tag; `audience` is `""`, `@guest` or `@auth`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RateLimitRule {
    pub label: String,
    pub max_requests: u32,
    /// Seconds.
    pub duration: u64,
    pub audience: String,
}

/// SMTP settings; `password` is write-only (never shown back).
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Smtp {
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: String,
    pub auth_method: String,
    pub tls: bool,
    pub local_name: String,
    /// PEM certificates to trust for the server's TLS (Keel's extension; see keel-notify).
    pub ca_cert: String,
}

impl Default for Smtp {
    fn default() -> Self {
        Smtp {
            enabled: false,
            host: "smtp.example.com".into(),
            port: 587,
            username: String::new(),
            password: String::new(),
            auth_method: String::new(),
            tls: false,
            local_name: String::new(),
            ca_cert: String::new(),
        }
    }
}

impl std::fmt::Debug for Smtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Smtp")
            .field("enabled", &self.enabled)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}
