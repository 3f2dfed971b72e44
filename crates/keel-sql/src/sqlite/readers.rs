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
//!
//! Snapshots: starting and ending a read transaction costs SQLite several file-lock system
//! calls, more than a primary-key lookup itself. So a connection keeps its read transaction
//! open between reads, and a read reuses it only while (a) no write has been committed by
//! this process since it began (the writer counts its commits, `WalCounters::committed`, before
//! any request that wrote is answered) and (b) it is younger than `MAX_SNAPSHOT_AGE`, so a
//! write by another process (the CLI) is seen at most that much later. An open snapshot
//! would keep a checkpoint from finishing, so checkpoints first `hold_snapshots`: idle
//! connections end theirs, and no new one is kept until the hold is dropped.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use keel_core::{Error, Result};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use serde_json::{Map, Number, Value};
use tokio::sync::Semaphore;

use super::checkpoint::WalCounters;
use crate::engine::Row;

/// How long a read may run on the caller's thread before it moves to the blocking pool.
const INLINE_BUDGET: Duration = Duration::from_micros(500);

/// The oldest read transaction a read may reuse.
const MAX_SNAPSHOT_AGE: Duration = Duration::from_millis(2);

/// SQLite virtual-machine steps between two checks of a connection's deadline.
const CHECK_EVERY_OPS: i32 = 1_000;

/// Read-only connections, opened on demand up to `max` and reused.
pub(crate) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Reader>>,
    permits: Semaphore,
    /// Reads allowed at once (the permits' total).
    max: usize,
    /// The writer's commit count.
    wal: WalCounters,
    /// Checkpoints in progress that want no snapshot kept open.
    holds: AtomicUsize,
}

/// While alive, reads end their read transaction when done (see `Readers::hold_snapshots`).
pub(crate) struct SnapshotHold<'a>(&'a Readers);

impl Drop for SnapshotHold<'_> {
    fn drop(&mut self) {
        self.0.holds.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A read-only connection and the deadline its progress handler enforces.
struct Reader {
    conn: Connection,
    /// Nanoseconds since `epoch()` after which the running statement is interrupted; 0: none.
    deadline: Arc<AtomicU64>,
    /// The open read transaction: the commit count before it began, and when.
    snapshot: Option<(u64, Instant)>,
}

impl Reader {
    /// Ends the open read transaction, if any.
    fn end_snapshot(&mut self) {
        self.snapshot = None;
        if !self.conn.is_autocommit() {
            // A read-only transaction: ending it cannot fail in a way that matters here.
            let _ = control(&self.conn, "ROLLBACK");
        }
    }
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
    pub fn open(path: &Path, max: u32, wal: WalCounters) -> Result<Arc<Readers>> {
        let first = open_conn(path).map_err(internal)?;
        let max = max.max(1) as usize;
        Ok(Arc::new(Readers {
            path: path.to_path_buf(),
            idle: Mutex::new(vec![first]),
            permits: Semaphore::new(max),
            max,
            wal,
            holds: AtomicUsize::new(0),
        }))
    }

    /// `(allowed at once, running now, idle connections)`, for metrics.
    pub fn usage(&self) -> (usize, usize, usize) {
        let idle = match self.idle.lock() {
            Ok(g) => g.len(),
            Err(poisoned) => poisoned.into_inner().len(),
        };
        (
            self.max,
            self.max.saturating_sub(self.permits.available_permits()),
            idle,
        )
    }

    /// Ends the snapshots of idle connections and keeps new ones from being kept, until the
    /// returned hold is dropped (around a checkpoint).
    pub fn hold_snapshots(&self) -> SnapshotHold<'_> {
        self.holds.fetch_add(1, Ordering::SeqCst);
        let mut idle = match self.idle.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        for r in idle.iter_mut() {
            r.end_snapshot();
        }
        SnapshotHold(self)
    }

    /// Runs `sql` on `r` in a read transaction that is reused when still current.
    fn read(&self, r: &mut Reader, sql: &str, params: &[Value]) -> rusqlite::Result<Vec<Row>> {
        let commits = self.wal.commits();
        let current = r
            .snapshot
            .is_some_and(|(c, at)| c == commits && at.elapsed() < MAX_SNAPSHOT_AGE && !r.conn.is_autocommit());
        if !current {
            r.end_snapshot();
            // Deferred: the snapshot is taken by the first read, after `commits` was read, so
            // it holds at least every write counted there.
            control(&r.conn, "BEGIN")?;
            r.snapshot = Some((commits, Instant::now()));
        }
        let rows = run(&r.conn, sql, params);
        if rows.is_err() || self.holds.load(Ordering::SeqCst) > 0 {
            r.end_snapshot();
        }
        rows
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

    fn give(&self, mut c: Reader) {
        if self.holds.load(Ordering::SeqCst) > 0 {
            c.end_snapshot();
        }
        match self.idle.lock() {
            Ok(mut idle) => idle.push(c),
            Err(poisoned) => poisoned.into_inner().push(c),
        }
    }

    /// Runs a short read (a primary-key lookup) right here, on the caller's thread.
    pub fn query_now(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let mut c = self.take()?;
        let rows = self.read(&mut c, sql, params).map_err(internal);
        self.give(c);
        rows
    }

    /// Runs a read here if it finishes within `budget`.
    fn query_within(&self, sql: &str, params: &[Value], budget: Duration) -> Attempt {
        let mut c = match self.take() {
            Ok(c) => c,
            Err(e) => return Attempt::Done(Err(e)),
        };
        let budget = u64::try_from(budget.as_nanos()).unwrap_or(u64::MAX);
        c.deadline
            .store(nanos_since_epoch().saturating_add(budget), Ordering::Relaxed);
        let rows = self.read(&mut c, sql, params);
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
    super::plan_once(&c)?;
    c.set_prepared_statement_cache_capacity(256);
    c.pragma_update(None, "cache_size", -1000)?;
    c.pragma_update(None, "temp_store", "memory")?;
    Ok(Reader {
        conn: c,
        deadline,
        snapshot: None,
    })
}

/// Runs a transaction's `BEGIN`, `COMMIT` or `ROLLBACK` as a kept prepared statement:
/// preparing one again every time (`execute_batch`) cost ~1,500 instructions, as much as
/// the statement (callgrind).
pub(crate) fn control(c: &Connection, sql: &str) -> rusqlite::Result<()> {
    c.prepare_cached(sql)?.raw_execute().map(|_| ())
}

/// Runs `sql` with `params` on `c`, each row as a map of its columns.
///
/// Every row has the same columns, so the names are read and hashed once: a row is a clone
/// of a map of the names (a clone copies the map's hash table, it does not hash again) whose
/// values are then written by position, and the last row takes that map itself (a point
/// read clones nothing). Hashing each name of each row, and asking SQLite for it, was most
/// of the cost of a page of records beyond SQLite's own (callgrind). A statement naming a
/// column twice keeps the last value in the first one's place, as inserting one by one does.
pub fn run(c: &Connection, sql: &str, params: &[Value]) -> rusqlite::Result<Vec<Row>> {
    let mut stmt = c.prepare_cached(sql)?;
    bind(&mut stmt, params)?;
    let columns = stmt.column_count();
    let mut names = Map::with_capacity(columns);
    for i in 0..columns {
        names.insert(stmt.column_name(i)?.to_owned(), Value::Null);
    }
    let positional = names.len() == columns;
    // Only a statement naming a column twice needs each column's name by position.
    let labels = match positional {
        true => Vec::new(),
        false => (0..columns)
            .map(|i| stmt.column_name(i).map(str::to_owned))
            .collect::<rusqlite::Result<Vec<_>>>()?,
    };
    // Sized for one row: a point read (most reads) never grows it.
    let mut values = Vec::with_capacity(columns);
    let mut count = 0;
    let mut rows = stmt.raw_query();
    while let Some(row) = rows.next()? {
        for i in 0..columns {
            values.push(json_of(row.get_ref(i)?));
        }
        count += 1;
    }
    let mut values = values.into_iter();
    let mut out = Vec::with_capacity(count);
    for k in 0..count {
        let mut m = if k + 1 == count {
            std::mem::take(&mut names)
        } else {
            names.clone()
        };
        if positional {
            // A map keeps its keys in insertion order (serde_json's `preserve_order`).
            for ((_, v), value) in m.iter_mut().zip(values.by_ref()) {
                *v = value;
            }
        } else {
            for (label, value) in labels.iter().zip(values.by_ref()) {
                m.insert(label.clone(), value);
            }
        }
        out.push(m);
    }
    Ok(out)
}

/// Binds JSON values in order: null, bool (0 or 1), integer, real, text; arrays and objects
/// as JSON text.
pub(crate) fn bind(stmt: &mut rusqlite::Statement<'_>, params: &[Value]) -> rusqlite::Result<()> {
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
    Ok(())
}

fn json_of(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        // Checking UTF-8 first is the fast path (stored text is UTF-8); lossy only otherwise.
        ValueRef::Text(t) | ValueRef::Blob(t) => Value::String(match std::str::from_utf8(t) {
            Ok(s) => s.to_owned(),
            Err(_) => String::from_utf8_lossy(t).into_owned(),
        }),
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

    /// A WAL database with table `t`: a writer connection (never busy-waits), the commit
    /// counter and the readers.
    fn db(dir: &tempfile::TempDir) -> (Connection, WalCounters, Arc<Readers>) {
        let path = dir.path().join("r.db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t(x)")
            .unwrap();
        writer.busy_timeout(Duration::ZERO).unwrap();
        let wal = WalCounters::default();
        let r = Readers::open(&path, 2, wal.clone()).unwrap();
        (writer, wal, r)
    }

    #[test]
    fn a_page_read_again_with_other_bounds_reuses_its_prepared_statement() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, _wal, _r) = db(&dir);
        writer.execute_batch("INSERT INTO t VALUES (1), (2), (3)").unwrap();
        let reader = open_conn(&dir.path().join("r.db")).unwrap();
        const PAGE: &str = "SELECT x FROM t WHERE x >= ?1 ORDER BY x LIMIT ?2 OFFSET ?3";
        for (from, limit, offset, first) in [(1, 2, 0, 1), (1, 1, 1, 2), (2, 2, 1, 3)] {
            let rows = run(
                &reader.conn,
                PAGE,
                &[Value::from(from), Value::from(limit), Value::from(offset)],
            )
            .unwrap();
            assert_eq!(rows[0]["x"], first);
        }
        let stmt = reader.conn.prepare_cached(PAGE).unwrap();
        assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0);
    }

    #[test]
    fn each_row_holds_its_own_values_under_the_statements_column_names_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, _wal, _r) = db(&dir);
        writer
            .execute_batch("INSERT INTO t VALUES ('a'), (X'66ff6f'), (NULL), (2.5)")
            .unwrap();
        let reader = open_conn(&dir.path().join("r.db")).unwrap();
        let rows = run(
            &reader.conn,
            "SELECT rowid AS z, x AS a, 'k' AS m FROM t ORDER BY rowid",
            &[],
        )
        .unwrap();
        let keys: Vec<&str> = rows[0].keys().map(String::as_str).collect();
        assert_eq!(keys, ["z", "a", "m"]);
        let a: Vec<&Value> = rows.iter().map(|r| &r["a"]).collect();
        // Invalid UTF-8 (a blob) is read lossily, never refused.
        assert_eq!(
            a,
            [
                &Value::from("a"),
                &Value::from("f\u{fffd}o"),
                &Value::Null,
                &Value::from(2.5)
            ]
        );
        assert_eq!(rows[3]["z"], 4);
        assert_eq!(rows[3]["m"], "k");

        // A name given twice: one entry, in the first one's place, holding the last value.
        let rows = run(&reader.conn, "SELECT 1 AS d, 2 AS e, 3 AS d", &[]).unwrap();
        let keys: Vec<&str> = rows[0].keys().map(String::as_str).collect();
        assert_eq!(keys, ["d", "e"]);
        assert_eq!((&rows[0]["d"], &rows[0]["e"]), (&Value::from(3), &Value::from(2)));
    }

    #[test]
    fn a_read_past_its_budget_is_interrupted_and_a_quick_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let (_writer, _wal, r) = db(&dir);
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
        let (_writer, _wal, r) = db(&dir);
        let rows = r.query(SLOW, &[Value::from(2_000_000)]).await.unwrap();
        assert_eq!(rows[0]["c"], 2_000_000);
    }

    fn count(r: &Readers) -> i64 {
        r.query_now("SELECT count(*) AS c FROM t", &[]).unwrap()[0]["c"]
            .as_i64()
            .unwrap()
    }

    #[test]
    fn a_counted_commit_is_seen_by_the_next_read_and_an_uncounted_one_soon_after() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, wal, r) = db(&dir);
        assert_eq!(count(&r), 0);
        writer.execute("INSERT INTO t VALUES (1)", []).unwrap();
        wal.committed();
        assert_eq!(count(&r), 1, "this process's writes are seen at once");
        // Another process's write (not counted) shows once the snapshot is MAX_SNAPSHOT_AGE old.
        writer.execute("INSERT INTO t VALUES (2)", []).unwrap();
        let until = Instant::now() + Duration::from_secs(10);
        while count(&r) != 2 {
            assert!(Instant::now() < until, "an external write was never seen");
        }
    }

    #[test]
    fn a_hold_ends_idle_snapshots_so_a_restart_checkpoint_can_finish() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, _wal, r) = db(&dir);
        let restart = || -> i64 {
            writer.execute("INSERT INTO t VALUES (1)", []).unwrap();
            writer
                .query_row("PRAGMA wal_checkpoint(RESTART)", [], |row| row.get(0))
                .unwrap()
        };
        count(&r); // leaves its snapshot open in the idle pool
        assert_eq!(restart(), 1, "an open snapshot keeps RESTART busy");
        count(&r);
        let hold = r.hold_snapshots();
        assert_eq!(restart(), 0, "with the hold, nothing pins the WAL");
        count(&r);
        assert_eq!(restart(), 0, "reads during a hold keep no snapshot");
        drop(hold);
    }
}
