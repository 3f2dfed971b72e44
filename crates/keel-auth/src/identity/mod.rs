//! The identity store: roles, API keys, one-time passwords, MFA, TOTP, external (OAuth2)
//! identities and the audit trail, kept in the identity system collections of `keel-data`
//! (`keel_data::system`). Writes go through the `Store` (validated, durable, realtime events
//! for superusers); the hot reads (the roles of a caller, an API key) are single indexed
//! queries on the engine.

use std::sync::Arc;

use keel_core::{Error, Result};
use keel_data::{Access, Collection, Record, RecordData, RequestInfo, Store};
use keel_sql::Row;
use serde_json::Value;

mod apikeys;
mod audit;
mod external;
mod factors;
mod roles;

pub use apikeys::{ApiKey, API_KEY_PREFIX};
pub use audit::AuditEntry;
pub use roles::Role;

/// The identity store. Cheap to clone.
#[derive(Clone)]
pub struct Identity {
    store: Arc<Store>,
    hot: Arc<HotStatements>,
}

/// The statements a signed-in request runs, in the engine's placeholders, written once:
/// rewriting them on every request was ~3,900 instructions (callgrind).
struct HotStatements {
    /// The roles assigned to one record (`roles_of`).
    roles_of: String,
    /// One API key by id (`verify_api_key`).
    api_key: String,
}

impl Identity {
    /// The identity store over `store` (its migrations must have run).
    pub fn new(store: Arc<Store>) -> Self {
        let d = store.engine().dialect();
        let hot = HotStatements {
            roles_of: d.numbered(roles::ROLES_OF),
            api_key: d.numbered(&apikeys::by_id()),
        };
        Identity {
            store,
            hot: Arc::new(hot),
        }
    }

    /// The records store underneath.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    fn coll(&self, name: &str) -> Result<Arc<Collection>> {
        self.store.collection(name)
    }

    /// `sql` with `$1`, `$2`, … replaced by the engine's placeholders.
    fn sql(&self, sql: &str) -> String {
        self.store.engine().dialect().numbered(sql)
    }

    async fn rows(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        self.store.engine().fetch_all(&self.sql(sql), params).await
    }

    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64> {
        let mut tx = self.store.engine().begin().await?;
        let n = tx.execute(&self.sql(sql), params).await?;
        tx.commit().await?;
        Ok(n)
    }

    async fn insert(&self, collection: &str, data: RecordData) -> Result<Record> {
        let c = self.coll(collection)?;
        self.store
            .create_record(&c, data, &RequestInfo::default(), Access::Superuser)
            .await
    }

    async fn update(&self, collection: &str, id: &str, data: RecordData) -> Result<Record> {
        let c = self.coll(collection)?;
        let (_, after) = self
            .store
            .update_record(&c, id, data, &RequestInfo::default(), Access::Superuser)
            .await?;
        Ok(after)
    }

    async fn delete(&self, collection: &str, id: &str) -> Result<()> {
        let c = self.coll(collection)?;
        match self
            .store
            .delete_record(&c, id, &RequestInfo::default(), Access::Superuser)
            .await
        {
            Ok(_) | Err(Error::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// `row[key]` as text ("" when absent).
fn text(row: &Row, key: &str) -> String {
    match row.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    }
}

/// `row[key]` as a JSON value: JSON columns come back as text from some engines.
fn json(row: &Row, key: &str) -> Value {
    match row.get(key) {
        Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::Null),
        Some(v) => v.clone(),
        None => Value::Null,
    }
}

/// `row[key]` as a bool (SQLite stores 0/1).
fn boolean(row: &Row, key: &str) -> bool {
    match row.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0) != 0,
        Some(Value::String(s)) => s == "1" || s == "true",
        _ => false,
    }
}

/// A JSON array of strings as a `Vec` (anything else is empty).
fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

fn obj(pairs: Vec<(&str, Value)>) -> RecordData {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}
