//! The SQLite engine: WAL mode, one writer connection, a pool of readers.
//!
//! Durability: WAL with `synchronous=NORMAL` keeps every committed transaction across a
//! crash of the process (only an OS crash or power loss may lose the last commits: at most
//! about 100 ms of them, as the checkpoint task syncs the WAL that often while commits arrive).
//! All writes go through one connection (rusqlite, behind an async mutex), so they
//! serialize; reads run on up to `readers` read-only connections (`readers.rs`) and never
//! block on the writer.
//!
//! A write transaction's statements run on the calling task's thread, as point reads do:
//! with WAL and `synchronous=NORMAL` a commit writes to the WAL without waiting for the disk,
//! so a statement takes microseconds, less than handing it to another thread and waking the
//! caller again (what sqlx's connection worker did for every statement, measured with
//! callgrind in docs/BENCHMARKS.md). Only the WAL rewind, which waits for readers, runs on
//! the blocking pool. A long statement (an index built over a large table when a collection
//! changes) holds its runtime worker while it runs.

mod checkpoint;
pub mod readers;
pub mod snapshot;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use keel_core::{Error, Result};
use rusqlite::{Connection, ErrorCode};
use serde_json::Value;
use tokio::sync::{Mutex, OwnedMutexGuard};

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
    writer: Arc<Mutex<Connection>>,
    readers: std::sync::Arc<readers::Readers>,
    checkpointer: tokio::task::AbortHandle,
    wal_frames: checkpoint::WalCounters,
}

impl Drop for SqliteEngine {
    fn drop(&mut self) {
        self.checkpointer.abort();
    }
}

/// Prepared statements the writer keeps.
const WRITER_STATEMENTS: usize = 512;

impl SqliteEngine {
    /// Opens (creating if missing) the database at `path` with `readers` reader connections.
    pub async fn open(path: &Path, readers: u32) -> Result<SqliteEngine> {
        let writer = open_writer(path).map_err(|e| internal(format!("cannot open {}: {e}", path.display())))?;
        // The writer created the file and switched it to WAL; readers open it read-only.
        let wal_frames = checkpoint::WalCounters::default();
        let readers = readers::Readers::open(path, readers, wal_frames.clone())?;
        let checkpointer = checkpoint::start(path, wal_frames.clone(), readers.clone())?;
        Ok(SqliteEngine {
            writer: Arc::new(Mutex::new(writer)),
            readers,
            checkpointer,
            wal_frames,
        })
    }
}

/// Turns on SQLite's query planner stability guarantee on `c`: a prepared statement keeps
/// one plan whatever values are bound to it. Without it, SQLite plans around the value bound
/// to a `LIMIT ?` (and, with STAT4, to an indexed comparison), marks the statement to be
/// planned again whenever that parameter is bound anew, and so re-parsed every cached list
/// query on every request (callgrind: ~217,000 of a list's ~790,000 instructions).
pub(crate) fn plan_once(c: &Connection) -> rusqlite::Result<()> {
    c.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(())
}

/// The writer connection: WAL, `synchronous=NORMAL`, checkpoints left to `checkpoint.rs`.
fn open_writer(path: &Path) -> rusqlite::Result<Connection> {
    let c = Connection::open(path)?;
    plan_once(&c)?;
    // Never sleeps on a runtime worker when the file is locked: `begin` waits asynchronously.
    c.busy_timeout(Duration::ZERO)?;
    c.set_prepared_statement_cache_capacity(WRITER_STATEMENTS);
    // Some pragmas answer with a row (the new value), which `pragma_update` refuses.
    for (name, value) in [
        ("journal_mode", "WAL"),
        ("synchronous", "NORMAL"),
        ("foreign_keys", "OFF"),
        ("temp_store", "memory"),
        // Checkpoints run in the background (`checkpoint.rs`), not inside a writer's commit.
        ("wal_autocheckpoint", "0"),
        ("cache_size", "-2000"),
    ] {
        execute(&c, &format!("PRAGMA {name} = {value}"), &[])?;
    }
    Ok(c)
}

#[async_trait]
impl Engine for SqliteEngine {
    fn dialect(&self) -> &'static dyn Dialect {
        &SQLITE
    }

    fn pool_stats(&self) -> crate::engine::PoolStats {
        let (max, busy, idle) = self.readers.usage();
        crate::engine::PoolStats {
            readers_max: max as u64,
            readers_busy: busy as u64,
            readers_idle: idle as u64,
            writers: 1,
            writers_busy: u64::from(self.writer.try_lock().is_err()),
        }
    }

    async fn fetch_all(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        self.readers.query(sql, params).await
    }

    async fn fetch_point(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        self.readers.query_now(sql, params)
    }

    async fn begin(&self) -> Result<Box<dyn Tx>> {
        let mut conn = self.writer.clone().lock_owned().await;
        begin_immediate(&mut conn).await?;
        Ok(Box::new(SqliteTx {
            conn: Some(conn),
            wal: self.wal_frames.clone(),
        }))
    }

    async fn ping(&self) -> Result<()> {
        self.readers.query("SELECT 1", &[]).await.map(|_| ())
    }

    /// Rewinds the WAL from the writer itself once it has grown past the threshold: a
    /// background RESTART would be starved by a writer that never pauses (see checkpoint.rs).
    /// It waits for readers to leave the WAL, so it runs on the blocking pool.
    async fn after_writes(&self) -> Result<()> {
        if !self.wal_frames.is_large() {
            return Ok(());
        }
        // A RESTART waits for every reader to leave the WAL: end the kept snapshots first.
        let _hold = self.readers.hold_snapshots();
        let conn = self.writer.clone().lock_owned().await;
        let busy: i64 = tokio::task::spawn_blocking(move || {
            conn.busy_timeout(LOCKED_WAIT)?;
            let busy = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |row| row.get(0));
            conn.busy_timeout(Duration::ZERO)?;
            busy
        })
        .await
        .map_err(internal)?
        .map_err(internal)?;
        if busy == 0 {
            self.wal_frames.set(0);
        }
        Ok(())
    }
}

/// The longest a write waits for another connection's lock on the file (a RESTART checkpoint
/// of the background task, another process).
const LOCKED_WAIT: Duration = Duration::from_secs(5);

/// `BEGIN IMMEDIATE`, retried every millisecond while another connection holds the file's
/// write lock, for at most [`LOCKED_WAIT`]. SQLite's own busy handler would sleep on this
/// runtime worker, stalling every request queued on it.
async fn begin_immediate(conn: &mut OwnedMutexGuard<Connection>) -> Result<()> {
    let started = std::time::Instant::now();
    loop {
        let begun = readers::control(conn, "BEGIN IMMEDIATE");
        match begun {
            Err(rusqlite::Error::SqliteFailure(f, _))
                if f.code == ErrorCode::DatabaseBusy && started.elapsed() < LOCKED_WAIT =>
            {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            other => return other.map_err(map_err),
        }
    }
}

/// A write transaction on the writer connection, rolled back when dropped uncommitted.
struct SqliteTx {
    /// `None` once committed.
    conn: Option<OwnedMutexGuard<Connection>>,
    wal: checkpoint::WalCounters,
}

impl SqliteTx {
    fn conn(&self) -> Result<&Connection> {
        self.conn
            .as_deref()
            .ok_or_else(|| Error::internal("sqlite: the transaction has ended"))
    }
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        if let Some(conn) = &self.conn {
            if let Err(e) = readers::control(conn, "ROLLBACK") {
                tracing::warn!(error = %e, "sqlite: rollback failed");
            }
        }
    }
}

#[async_trait]
impl Tx for SqliteTx {
    async fn fetch_all(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        readers::run(self.conn()?, sql, params).map_err(map_err)
    }

    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        execute(self.conn()?, sql, params).map_err(map_err)
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        let conn = self
            .conn
            .take()
            .ok_or_else(|| Error::internal("sqlite: the transaction has ended"))?;
        if let Err(e) = readers::control(&conn, "COMMIT") {
            // Still open (a failed COMMIT leaves the transaction as it was): end it.
            let _ = readers::control(&conn, "ROLLBACK");
            return Err(map_err(e));
        }
        drop(conn);
        self.wal.committed();
        Ok(())
    }
}

/// Runs one statement (several without parameters, as a script); returns the rows it
/// inserted, updated or deleted.
fn execute(c: &Connection, sql: &str, params: &[Value]) -> rusqlite::Result<u64> {
    let before = c.total_changes();
    let mut stmt = match c.prepare_cached(sql) {
        Err(rusqlite::Error::MultipleStatement) if params.is_empty() => {
            c.execute_batch(sql)?;
            return Ok(0);
        }
        other => other?,
    };
    readers::bind(&mut stmt, params)?;
    let mut rows = stmt.raw_query();
    while rows.next()?.is_some() {}
    drop(rows);
    Ok(if c.total_changes() == before { 0 } else { c.changes() })
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::internal(e)
}

/// Maps an SQLite error: unique-constraint violations become a 400 whose fields are the
/// violated columns (or `index <name>` for expression indexes); everything else is internal.
fn map_err(e: rusqlite::Error) -> Error {
    if let rusqlite::Error::SqliteFailure(f, Some(message)) = &e {
        let unique = f.code == ErrorCode::ConstraintViolation
            && matches!(
                f.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            );
        if unique {
            return unique_violation(message);
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
