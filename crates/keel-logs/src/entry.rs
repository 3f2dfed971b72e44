//! One log row in PocketBase's shape.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// Go's `slog` levels, which PocketBase stores: debug -4, info 0, warn 4, error 8.
pub const LEVEL_DEBUG: i64 = -4;
pub const LEVEL_INFO: i64 = 0;
pub const LEVEL_WARN: i64 = 4;
pub const LEVEL_ERROR: i64 = 8;

/// A row waiting in the writer: its `data` already JSON text (serialized once, straight from
/// the caller's own shape; no `Map` is built on the request path). Its id is made when it is
/// stored.
#[derive(Debug, Clone)]
pub struct PendingEntry {
    pub created: DateTime<Utc>,
    pub level: i64,
    pub message: String,
    /// A JSON object.
    pub data: String,
}

/// A log row. `id` is empty until the store gives it one.
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub id: String,
    pub created: DateTime<Utc>,
    pub level: i64,
    /// `GET /api/collections/posts/records` for a request.
    pub message: String,
    /// `type`, `execTime`, `method`, `url`, `status`, … for a request.
    pub data: Map<String, Value>,
}

impl LogEntry {
    /// The row as `/api/logs` answers it: `id`, `created`, `data`, `message`, `level`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), Value::String(self.id.clone()));
        m.insert("created".into(), Value::String(keel_core::time::format(self.created)));
        m.insert("data".into(), Value::Object(self.data.clone()));
        m.insert("message".into(), Value::String(self.message.clone()));
        m.insert("level".into(), Value::from(self.level));
        Value::Object(m)
    }
}
