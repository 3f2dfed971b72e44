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
        }
    }
}
