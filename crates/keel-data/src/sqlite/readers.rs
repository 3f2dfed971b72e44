//! The read side of the SQLite engine: read-only connections driven directly through
//! rusqlite (the same bundled SQLite that sqlx links).
//!
//! Reads skip sqlx's pool and per-connection worker thread: a point lookup (`query_now`)
//! runs on the calling task's thread (microseconds, bounded to one row by primary key);
//! any other read (`query`) runs on Tokio's blocking pool, at most `max` at once.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keel_core::{Error, Result};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use serde_json::{Map, Number, Value};
use tokio::sync::Semaphore;

use crate::engine::Row;

/// Read-only connections, opened on demand up to `max` and reused.
pub(crate) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

impl Readers {
    /// Opens one connection now (so a bad path fails at start) and allows `max` at once.
    pub fn open(path: &Path, max: u32) -> Result<Arc<Readers>> {
        let first = open_conn(path).map_err(internal)?;
        let max = max.max(1) as usize;
        Ok(Arc::new(Readers {
            path: path.to_path_buf(),
            idle: Mutex::new(vec![first]),
            permits: Semaphore::new(max),
        }))
    }

    fn take(&self) -> Result<Connection> {
        let pooled = match self.idle.lock() {
            Ok(mut idle) => idle.pop(),
            Err(poisoned) => poisoned.into_inner().pop(),
        };
        match pooled {
            Some(c) => Ok(c),
            None => open_conn(&self.path).map_err(internal),
        }
    }

    fn give(&self, c: Connection) {
        match self.idle.lock() {
            Ok(mut idle) => idle.push(c),
            Err(poisoned) => poisoned.into_inner().push(c),
        }
    }

    /// Runs a short read (a primary-key lookup) right here, on the caller's thread.
    pub fn query_now(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let c = self.take()?;
        let rows = run(&c, sql, params).map_err(internal);
        self.give(c);
        rows
    }

    /// Runs a read of unknown cost on the blocking pool.
    pub async fn query(self: &Arc<Self>, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let _permit = self.permits.acquire().await.map_err(internal)?;
        let this = self.clone();
        let (sql, params) = (sql.to_owned(), params.to_vec());
        tokio::task::spawn_blocking(move || this.query_now(&sql, &params))
            .await
            .map_err(internal)?
    }
}

fn open_conn(path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let c = Connection::open_with_flags(path, flags)?;
    c.busy_timeout(Duration::from_secs(5))?;
    c.set_prepared_statement_cache_capacity(256);
    c.pragma_update(None, "cache_size", -1000)?;
    c.pragma_update(None, "temp_store", "memory")?;
    Ok(c)
}

fn run(c: &Connection, sql: &str, params: &[Value]) -> rusqlite::Result<Vec<Row>> {
    let mut stmt = c.prepare_cached(sql)?;
    for (i, p) in params.iter().enumerate() {
        let n = i + 1;
        match p {
            Value::Null => stmt.raw_bind_parameter(n, rusqlite::types::Null)?,
            Value::Bool(b) => stmt.raw_bind_parameter(n, i64::from(*b))?,
            Value::Number(x) => match x.as_i64() {
                Some(v) => stmt.raw_bind_parameter(n, v)?,
                None => stmt.raw_bind_parameter(n, x.as_f64().unwrap_or(0.0))?,
            },
            Value::String(s) => stmt.raw_bind_parameter(n, s.as_str())?,
            other => stmt.raw_bind_parameter(n, other.to_string())?,
        }
    }
    let names: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut m = Map::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            m.insert(name.clone(), json_of(row.get_ref(i)?));
        }
        out.push(m);
    }
    Ok(out)
}

fn json_of(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        ValueRef::Text(t) | ValueRef::Blob(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
    }
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::internal(format!("sqlite read: {e}"))
}
