//! The read side of the SQLite engine: read-only connections driven directly through
//! rusqlite (the same bundled SQLite that sqlx links).
//!
//! Reads skip sqlx's pool and per-connection worker thread: a point lookup (`query_now`)
//! runs on the calling task's thread (microseconds, bounded to one row by primary key).
//! Any other read (`query`) first runs there too, with a budget of `INLINE_BUDGET`: most
//! reads (a page of an indexed filter) finish well within it, without a trip through the
//! blocking pool's queue and two thread wake-ups. A read still running when the budget is
//! spent is interrupted (SQLite's progress handler) and run again on Tokio's blocking pool,
//! at most `max` at once, so a slow query never holds a runtime worker for longer.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use keel_core::{Error, Result};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use serde_json::{Map, Number, Value};
use tokio::sync::Semaphore;

use crate::engine::Row;

/// How long a read may run on the caller's thread before it moves to the blocking pool.
const INLINE_BUDGET: Duration = Duration::from_micros(500);

/// SQLite virtual-machine steps between two checks of a connection's deadline.
const CHECK_EVERY_OPS: i32 = 1_000;

/// Read-only connections, opened on demand up to `max` and reused.
pub(crate) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Reader>>,
    permits: Semaphore,
}

/// A read-only connection and the deadline its progress handler enforces.
struct Reader {
    conn: Connection,
    /// Nanoseconds since `epoch()` after which the running statement is interrupted; 0: none.
    deadline: Arc<AtomicU64>,
}

/// The clock the deadlines count from.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn nanos_since_epoch() -> u64 {
    u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// How a read with a budget ended.
enum Attempt {
    Done(Result<Vec<Row>>),
    OverBudget,
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

    fn take(&self) -> Result<Reader> {
        let pooled = match self.idle.lock() {
            Ok(mut idle) => idle.pop(),
            Err(poisoned) => poisoned.into_inner().pop(),
        };
        match pooled {
            Some(c) => Ok(c),
            None => open_conn(&self.path).map_err(internal),
        }
    }

    fn give(&self, c: Reader) {
        match self.idle.lock() {
            Ok(mut idle) => idle.push(c),
            Err(poisoned) => poisoned.into_inner().push(c),
        }
    }

    /// Runs a short read (a primary-key lookup) right here, on the caller's thread.
    pub fn query_now(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let c = self.take()?;
        let rows = run(&c.conn, sql, params).map_err(internal);
        self.give(c);
        rows
    }

    /// Runs a read here if it finishes within `budget`.
    fn query_within(&self, sql: &str, params: &[Value], budget: Duration) -> Attempt {
        let c = match self.take() {
            Ok(c) => c,
            Err(e) => return Attempt::Done(Err(e)),
        };
        let budget = u64::try_from(budget.as_nanos()).unwrap_or(u64::MAX);
        c.deadline
            .store(nanos_since_epoch().saturating_add(budget), Ordering::Relaxed);
        let rows = run(&c.conn, sql, params);
        c.deadline.store(0, Ordering::Relaxed);
        self.give(c);
        match rows {
            Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::OperationInterrupted => {
                Attempt::OverBudget
            }
            other => Attempt::Done(other.map_err(internal)),
        }
    }

    /// Runs a read of unknown cost: here when it is quick, else on the blocking pool.
    pub async fn query(self: &Arc<Self>, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        if let Attempt::Done(rows) = self.query_within(sql, params, INLINE_BUDGET) {
            return rows;
        }
        self.query_blocking(sql, params).await
    }

    /// Runs a read on the blocking pool (no budget).
    async fn query_blocking(self: &Arc<Self>, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let _permit = self.permits.acquire().await.map_err(internal)?;
        let this = self.clone();
        let (sql, params) = (sql.to_owned(), params.to_vec());
        tokio::task::spawn_blocking(move || this.query_now(&sql, &params))
            .await
            .map_err(internal)?
    }
}

fn open_conn(path: &Path) -> rusqlite::Result<Reader> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let c = Connection::open_with_flags(path, flags)?;
    let deadline = Arc::new(AtomicU64::new(0));
    let watched = deadline.clone();
    c.progress_handler(
        CHECK_EVERY_OPS,
        Some(move || {
            let d = watched.load(Ordering::Relaxed);
            d != 0 && nanos_since_epoch() > d
        }),
    )?;
    c.busy_timeout(Duration::from_secs(5))?;
    c.set_prepared_statement_cache_capacity(256);
    c.pragma_update(None, "cache_size", -1000)?;
    c.pragma_update(None, "temp_store", "memory")?;
    Ok(Reader { conn: c, deadline })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A count that takes SQLite tens of milliseconds, far past the inline budget.
    const SLOW: &str = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) \
                        SELECT count(*) AS c FROM n";

    fn readers(dir: &tempfile::TempDir) -> Arc<Readers> {
        let path = dir.path().join("r.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t(x)")
            .unwrap();
        Readers::open(&path, 2).unwrap()
    }

    #[test]
    fn a_read_past_its_budget_is_interrupted_and_a_quick_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let r = readers(&dir);
        let slow = [Value::from(5_000_000)];
        assert!(matches!(
            r.query_within(SLOW, &slow, Duration::from_micros(100)),
            Attempt::OverBudget
        ));
        match r.query_within(SLOW, &[Value::from(10)], Duration::from_secs(60)) {
            Attempt::Done(Ok(rows)) => assert_eq!(rows[0]["c"], 10),
            _ => panic!("a quick read finishes within its budget"),
        }
        // The interrupted connection went back to the pool without a deadline left set.
        assert_eq!(r.query_now(SLOW, &slow).unwrap()[0]["c"], 5_000_000);
    }

    #[tokio::test]
    async fn a_slow_read_still_returns_its_whole_result() {
        let dir = tempfile::tempdir().unwrap();
        let r = readers(&dir);
        let rows = r.query(SLOW, &[Value::from(2_000_000)]).await.unwrap();
        assert_eq!(rows[0]["c"], 2_000_000);
    }
}
