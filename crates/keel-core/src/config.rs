//! The configuration model. Only the `keel` binary reads it (from `keel.toml`, `KEEL_*`
//! variables and flags, in that order of precedence); services receive their part.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Everything Keel can be told. Every key has a default that works on one machine.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Where the database and files live.
    pub data_dir: PathBuf,
    /// The address `serve` listens on.
    pub http: String,
    /// Log format: `auto` (pretty on a TTY, JSON otherwise), `json` or `pretty`.
    pub log_format: String,
    /// Log filter in `RUST_LOG` syntax.
    pub log_level: String,
    /// Largest accepted request body in bytes (file uploads included).
    pub max_body_bytes: usize,
    /// SQLite reads (other than record-by-id lookups, which run inline) running at once.
    pub sqlite_readers: u32,
    /// Seconds in-flight requests get to finish on shutdown.
    pub shutdown_grace_secs: u64,
    /// The cache service (`[cache]` in `keel.toml`).
    pub cache: CacheConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("keel_data"),
            http: "127.0.0.1:8090".into(),
            log_format: "auto".into(),
            log_level: "info".into(),
            max_body_bytes: 64 * 1024 * 1024,
            sqlite_readers: 4,
            shutdown_grace_secs: 10,
            cache: CacheConfig::default(),
        }
    }
}

/// Which cache provider `keel` opens, and its settings.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct CacheConfig {
    /// `memory` (in process, the default) or `redis`.
    pub provider: String,
    /// The memory provider's budget in bytes (serialized JSON size of the entries).
    pub memory_max_bytes: u64,
    /// The Redis provider's URL, e.g. `redis://:password@127.0.0.1:6379/0`.
    pub redis_url: String,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            provider: "memory".into(),
            memory_max_bytes: 64 * 1024 * 1024,
            redis_url: "redis://127.0.0.1:6379".into(),
        }
    }
}

impl std::fmt::Debug for CacheConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheConfig")
            .field("provider", &self.provider)
            .field("memory_max_bytes", &self.memory_max_bytes)
            .field("redis_url", &redact_url(&self.redis_url))
            .finish()
    }
}

/// A URL with any `user:password@` credentials replaced by `***`, for logs and `Debug`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
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
        let cfg = CacheConfig {
            redis_url: "redis://:hunter2@h".into(),
            ..CacheConfig::default()
        };
        assert!(!format!("{cfg:?}").contains("hunter2"));
    }
}
