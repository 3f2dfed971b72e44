//! The SQLite engine: WAL mode, one writer connection, a pool of readers.
//!
//! Durability: WAL with `synchronous=NORMAL` keeps every committed transaction across a
//! crash of the process (only an OS crash or power loss may lose the last commits).
//! All writes go through a pool of exactly one connection (sqlx), so they serialize; reads
//! run on up to `readers` read-only connections (`readers.rs`) and never block on the writer.

mod checkpoint;
pub mod readers;
pub mod snapshot;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use keel_core::{Error, Result};
use serde_json::{Map, Number, Value};
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Arguments, AssertSqlSafe, Column, Decode, Row as _, Sqlite, Transaction, TypeInfo, ValueRef};

use crate::engine::{Dialect, Engine, Row, Tx};

/// SQLite's SQL flavour.
pub struct SqliteDialect;

/// The one SQLite dialect value (dialects are `'static`).
pub static SQLITE: SqliteDialect = SqliteDialect;

impl Dialect for SqliteDialect {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn placeholder(&self, n: usize) -> String {
        format!("?{n}")
    }

    fn ordered_placeholder(&self, _n: usize) -> String {
        "?".into()
    }

    fn json_each(&self, expr: &str) -> String {
        format!("json_each(CASE WHEN json_valid({expr}) THEN {expr} ELSE '[]' END)")
    }

    fn json_array_length(&self, expr: &str) -> String {
        format!("(CASE WHEN json_valid({expr}) THEN IFNULL(json_array_length({expr}), 0) ELSE 0 END)")
    }

    fn json_extract(&self, expr: &str, path: &str) -> String {
        format!("json_extract({expr}, '{}')", path.replace('\'', "''"))
    }

    fn random(&self) -> &'static str {
        "random()"
    }

    fn insertion_order(&self, alias: Option<&str>) -> String {
        match alias {
            Some(a) => format!("{a}.rowid"),
            None => "rowid".into(),
        }
    }

    fn ci_eq(&self, column: &str, value: &str) -> String {
        format!("{column} = {value} COLLATE NOCASE")
    }

    fn ci_index(&self, column: &str) -> String {
        format!("{column} COLLATE NOCASE")
    }

    fn json_text(&self, expr: &str) -> String {
        format!("(CASE WHEN json_valid({expr}) THEN json({expr}) ELSE {expr} END)")
    }
}

/// An SQLite database file with one writer connection and a pool of read-only readers.
pub struct SqliteEngine {
    writer: SqlitePool,
    readers: std::sync::Arc<readers::Readers>,
    checkpointer: tokio::task::AbortHandle,
    wal_frames: checkpoint::WalCounters,
}

impl Drop for SqliteEngine {
    fn drop(&mut self) {
        self.checkpointer.abort();
    }
}

impl SqliteEngine {
    /// Opens (creating if missing) the database at `path` with `readers` reader connections.
    pub async fn open(path: &Path, readers: u32) -> Result<SqliteEngine> {
        let base = SqliteConnectOptions::new()
            .filename(path)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(false)
            .busy_timeout(Duration::from_secs(5))
            .statement_cache_capacity(512)
            .pragma("temp_store", "memory")
            // Checkpoints run in the background (`checkpoint.rs`), not inside a writer's commit.
            .pragma("wal_autocheckpoint", "0")
            .pragma("cache_size", "-2000");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(base.clone().create_if_missing(true))
            .await
            .map_err(internal)?;
        // The writer created the file and switched it to WAL; readers open it read-only.
        let wal_frames = checkpoint::WalCounters::default();
        let readers = readers::Readers::open(path, readers, wal_frames.clone())?;
        let checkpointer = checkpoint::start(path, wal_frames.clone(), readers.clone())?;
        Ok(SqliteEngine {
            writer,
            readers,
            checkpointer,
            wal_frames,
        })
    }

    /// Opens a database from an `sqlite:` URL or a plain path (used by tools and tests).
    pub async fn open_url(url: &str, readers: u32) -> Result<SqliteEngine> {
        let opts = SqliteConnectOptions::from_str(url).map_err(internal)?;
        Self::open(opts.get_filename(), readers).await
    }
}

#[async_trait]
impl Engine for SqliteEngine {
    fn dialect(&self) -> &'static dyn Dialect {
        &SQLITE
    }

    fn pool_stats(&self) -> crate::engine::PoolStats {
        let (max, busy, idle) = self.readers.usage();
        let writers = u64::from(self.writer.size());
        let writers_idle = self.writer.num_idle() as u64;
        crate::engine::PoolStats {
            readers_max: max as u64,
            readers_busy: busy as u64,
            readers_idle: idle as u64,
            writers,
            writers_busy: writers.saturating_sub(writers_idle),
        }
    }

    async fn fetch_all(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        self.readers.query(sql, params).await
    }

    async fn fetch_point(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        self.readers.query_now(sql, params)
    }

    async fn begin(&self) -> Result<Box<dyn Tx>> {
        let tx = self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(internal)?;
        Ok(Box::new(SqliteTx {
            tx,
            wal: self.wal_frames.clone(),
        }))
    }

    async fn ping(&self) -> Result<()> {
        self.readers.query("SELECT 1", &[]).await.map(|_| ())
    }

    /// Rewinds the WAL from the writer itself once it has grown past the threshold: a
    /// background RESTART would be starved by a writer that never pauses (see checkpoint.rs).
    async fn after_writes(&self) -> Result<()> {
        if !self.wal_frames.is_large() {
            return Ok(());
        }
        // A RESTART waits for every reader to leave the WAL: end the kept snapshots first.
        let _hold = self.readers.hold_snapshots();
        let row = sqlx::query("PRAGMA wal_checkpoint(RESTART)")
            .fetch_one(&self.writer)
            .await
            .map_err(internal)?;
        let busy: i64 = row.try_get(0).map_err(internal)?;
        if busy == 0 {
            self.wal_frames.set(0);
        }
        Ok(())
    }
}

/// A write transaction on the writer connection.
struct SqliteTx {
    tx: Transaction<'static, Sqlite>,
    wal: checkpoint::WalCounters,
}

#[async_trait]
impl Tx for SqliteTx {
    async fn fetch_all(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let rows = sqlx::query_with(AssertSqlSafe(sql.to_string()), bind(params)?)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(map_err)?;
        rows.iter().map(decode_row).collect()
    }

    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        let done = sqlx::query_with(AssertSqlSafe(sql.to_string()), bind(params)?)
            .execute(&mut *self.tx)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected())
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        self.tx.commit().await.map_err(internal)?;
        self.wal.committed();
        Ok(())
    }
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::internal(e)
}

/// Maps an sqlx error: unique-constraint violations become a 400 whose fields are the
/// violated columns (or `index <name>` for expression indexes); everything else is internal.
fn map_err(e: sqlx::Error) -> Error {
    if let sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() {
            return unique_violation(db.message());
        }
    }
    Error::internal(e)
}

/// `UNIQUE constraint failed: posts.slug, posts.lang` or `UNIQUE constraint failed: index 'idx'`.
pub(crate) fn unique_violation(message: &str) -> Error {
    let rest = message.split_once(':').map(|(_, r)| r.trim()).unwrap_or("");
    let mut fields = keel_core::FieldErrors::new();
    if let Some(index) = rest.strip_prefix("index ") {
        let name = index.trim_matches(|c| c == '\'' || c == '"');
        fields.insert(format!("index {name}"), unique_error());
    } else {
        for col in rest.split(',') {
            let col = col.trim();
            let col = col.rsplit_once('.').map(|(_, c)| c).unwrap_or(col);
            if !col.is_empty() {
                fields.insert(col.to_string(), unique_error());
            }
        }
    }
    Error::fields(fields)
}

pub(crate) fn unique_error() -> keel_core::FieldError {
    keel_core::FieldError::new("validation_not_unique", "Value must be unique.")
}

/// Binds JSON values: null, bool, integer, real, text; arrays and objects as JSON text.
fn bind(params: &[Value]) -> Result<SqliteArguments> {
    let mut args = SqliteArguments::default();
    for p in params {
        let r = match p {
            Value::Null => args.add(Option::<String>::None),
            Value::Bool(b) => args.add(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => args.add(i),
                None => args.add(n.as_f64().unwrap_or(0.0)),
            },
            Value::String(s) => args.add(s.clone()),
            other => args.add(other.to_string()),
        };
        r.map_err(internal)?;
    }
    Ok(args)
}

/// Decodes a row by the runtime type of each value.
fn decode_row(row: &SqliteRow) -> Result<Row> {
    let mut out = Map::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let raw = row.try_get_raw(i).map_err(internal)?;
        let value = if raw.is_null() {
            Value::Null
        } else {
            let kind: u8 = match raw.type_info().name() {
                "INTEGER" => 0,
                "REAL" => 1,
                "BLOB" => 2,
                _ => 3,
            };
            match kind {
                0 => Value::from(<i64 as Decode<Sqlite>>::decode(raw).map_err(internal)?),
                1 => {
                    let f = <f64 as Decode<Sqlite>>::decode(raw).map_err(internal)?;
                    Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)
                }
                2 => {
                    let b = <Vec<u8> as Decode<Sqlite>>::decode(raw).map_err(internal)?;
                    Value::String(String::from_utf8_lossy(&b).into_owned())
                }
                _ => Value::String(<String as Decode<Sqlite>>::decode(raw).map_err(internal)?),
            }
        };
        out.insert(col.name().to_string(), value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_messages_name_columns() {
        let Error::BadRequest { fields, .. } = unique_violation("UNIQUE constraint failed: posts.slug, posts.lang")
        else {
            panic!()
        };
        assert!(fields.contains_key("slug") && fields.contains_key("lang"));
        let Error::BadRequest { fields, .. } = unique_violation("UNIQUE constraint failed: index 'idx_x'") else {
            panic!()
        };
        assert!(fields.contains_key("index idx_x"));
    }
}
