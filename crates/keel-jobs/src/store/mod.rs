//! The job store: jobs and queue settings in one SQL engine of the one SQL layer
//! (`keel_sql::Engine`), embedded SQLite (a `jobs.db` file of its own in the data dir),
//! PostgreSQL or MariaDB (the process's shared pool). Statements are written once, with `$N`
//! placeholders, BIGINT columns, JSON as text and times as Unix milliseconds; the dialect
//! numbers the placeholders and supplies what differs (`FOR UPDATE SKIP LOCKED`, the `seq`
//! column, asynchronous commits, `INSERT IGNORE`, whether `UPDATE … RETURNING` exists: on
//! MariaDB an update locks its rows with a `SELECT … FOR UPDATE`, updates them by `seq` and
//! reads them back in the same transaction, see `JobStore::update_returning`).
//!
//! The jobs table is itself the queue, as in Oban, River or Solid Queue: a claim is one
//! `UPDATE … RETURNING` that flips waiting rows to active with a fresh lease token, so a
//! job's state, its lease, its unique key and its counts change in one transaction. Only an
//! active job holds a lease token: every way out of `active` (complete, fail, reap, cancel)
//! clears it, and a group completion relies on that. On
//! PostgreSQL and MariaDB the claim's `SELECT` takes `FOR UPDATE SKIP LOCKED`, so processes never
//! claim the same row; a queue with a concurrency or rate limit first locks its settings row,
//! which serializes that queue's claims across processes; a queue last read with no limits
//! is claimed in one statement that holds only while its stored settings are unchanged. Its
//! transactions run beside each other (`Engine::begin_concurrent`), not behind the records
//! store's write lock. On SQLite there is one writer, so every write transaction runs alone.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use keel_core::{Error, Result};
use keel_sql::{ColumnType, Dialect, Engine, Row, Tx};
use serde_json::Value;

use crate::model::{AttemptError, Backoff, Job, JobState, Progress};

mod admin;
pub mod attempt;
pub mod claim;
pub mod enqueue;
mod group;
mod query;
mod upkeep;

pub use claim::ClaimOptions;
pub use enqueue::Enqueued;
pub use query::{JobFilter, JobPage};

/// Jobs and queue settings in SQL. Cheap to clone.
#[derive(Clone)]
pub struct JobStore {
    pub(crate) engine: Arc<dyn Engine>,
    /// Group commit of concurrent enqueues (`None` in the grouper's own copy).
    grouper: Option<group::Grouper>,
    /// Queues last read with no limits and not paused: name → their settings as stored
    /// (a claim of one is a single statement, see `claim.rs`).
    unlimited: Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>,
}

/// The columns every job read selects, in `job_from_row`'s order.
const JOB_COLUMNS: &str = "id, queue, name, payload, state, priority, run_at, attempts, max_attempts, backoff, \
     timeout_ms, unique_key, progress, result, errors, worker, lease_expires_at, created_at, started_at, \
     finished_at, updated_at";

/// Readers of the SQLite file (job lists, counts and the scheduler's scan).
const SQLITE_READERS: u32 = 2;

impl JobStore {
    /// Opens (creating if missing) the SQLite file at `path`, an engine of its own.
    pub async fn open_sqlite(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(Error::internal)?;
        }
        let engine = keel_sql::sqlite::SqliteEngine::open(path, SQLITE_READERS)
            .await
            .map_err(|e| Error::internal(format!("cannot open the jobs database {}: {e}", path.display())))?;
        Self::open(Arc::new(engine)).await
    }

    /// The store on `engine` (for PostgreSQL, a `PgEngine` over the process's shared pool);
    /// creates the tables if missing.
    pub async fn open(engine: Arc<dyn Engine>) -> Result<Self> {
        if engine.dialect().name() == "mysql" {
            // Enqueues need `INSERT … RETURNING`, and claims `SKIP LOCKED`: MariaDB 10.6+.
            return Err(Error::bad_request(
                "The jobs store runs on MariaDB 10.6 or later, not MySQL (it has no INSERT … RETURNING): \
                 set [jobs] store to \"embedded\" or \"postgres\", or engines.mysql_url to a MariaDB server.",
            ));
        }
        let bare = Self {
            engine,
            grouper: None,
            unlimited: Arc::default(),
        };
        bare.migrate().await?;
        Ok(Self {
            grouper: Some(group::Grouper::spawn(bare.clone())),
            ..bare
        })
    }

    /// Runs `work` (a whole transaction) in a task of its own, so a caller that stops waiting
    /// (a worker shutting down, an HTTP client hanging up) never leaves a transaction half
    /// done on a pooled connection: it runs to its commit or rollback either way.
    pub(crate) async fn detached<T, F>(work: F) -> Result<T>
    where
        F: std::future::Future<Output = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        tokio::spawn(work)
            .await
            .map_err(|e| Error::internal(format!("a jobs store task failed: {e}")))?
    }

    /// A write transaction, beside other writers where the engine allows it. On SQLite it
    /// takes the write lock up front (`BEGIN IMMEDIATE`), so a second process on the same
    /// file (the CLI) waits its turn instead of failing.
    pub(crate) async fn begin(&self) -> Result<Box<dyn Tx>> {
        self.engine.begin_concurrent().await.map_err(db)
    }

    pub fn dialect(&self) -> &'static dyn Dialect {
        self.engine.dialect()
    }

    /// A read outside any transaction (`$N` placeholders).
    pub(crate) async fn read(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let sql = self.dialect().numbered(sql);
        self.engine.fetch_all(&sql, params).await.map_err(db)
    }

    /// A statement in `tx` returning rows (`$N` placeholders).
    pub(crate) async fn rows(&self, tx: &mut dyn Tx, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let sql = self.dialect().numbered(sql);
        tx.fetch_all(&sql, params).await.map_err(db)
    }

    /// A statement in `tx`; the rows it changed (`$N` placeholders).
    pub(crate) async fn exec(&self, tx: &mut dyn Tx, sql: &str, params: &[Value]) -> Result<u64> {
        let sql = self.dialect().numbered(sql);
        tx.execute(&sql, params).await.map_err(db)
    }

    /// `UPDATE keel_jobs SET {set} WHERE {filter} RETURNING {JOB_COLUMNS}` in `tx` (`$N`
    /// placeholders shared by `set` and `filter`). Where the engine has no `UPDATE …
    /// RETURNING`, the rows are locked by a `SELECT … FOR UPDATE` first, updated by `seq`
    /// and read back, all in `tx`.
    pub(crate) async fn update_returning(
        &self,
        tx: &mut dyn Tx,
        set: &str,
        filter: &str,
        params: &[Value],
    ) -> Result<Vec<Row>> {
        let d = self.dialect();
        if d.update_returning() {
            let sql = format!("UPDATE keel_jobs SET {set} WHERE {filter} RETURNING {JOB_COLUMNS}");
            return self.rows(tx, &sql, params).await;
        }
        let locked = self
            .rows(
                tx,
                &format!("SELECT seq FROM keel_jobs WHERE {filter}{}", d.for_update()),
                params,
            )
            .await?;
        self.update_seqs(tx, set, &locked, params, JOB_COLUMNS).await
    }

    /// Updates the rows whose `seq` is in `locked` (rows this transaction locked) with `set`
    /// and reads back `columns` of them.
    pub(crate) async fn update_seqs(
        &self,
        tx: &mut dyn Tx,
        set: &str,
        locked: &[Row],
        params: &[Value],
        columns: &str,
    ) -> Result<Vec<Row>> {
        if locked.is_empty() {
            return Ok(Vec::new());
        }
        // Integers read from the table: no user input in the text.
        let seqs = locked
            .iter()
            .map(|r| int(r, "seq").map(|s| s.to_string()))
            .collect::<Result<Vec<_>>>()?
            .join(", ");
        self.exec(tx, &format!("UPDATE keel_jobs SET {set} WHERE seq IN ({seqs})"), params)
            .await?;
        self.rows(
            tx,
            &format!("SELECT {columns} FROM keel_jobs WHERE seq IN ({seqs}) ORDER BY seq"),
            &[],
        )
        .await
    }

    /// [`JobStore::update_returning`] in a transaction of its own.
    pub(crate) async fn write_update(&self, set: &str, filter: &str, params: &[Value]) -> Result<Vec<Row>> {
        let mut tx = self.begin().await?;
        let rows = self.update_returning(tx.as_mut(), set, filter, params).await?;
        tx.commit().await.map_err(db)?;
        Ok(rows)
    }

    /// One statement returning rows, in a transaction of its own.
    pub(crate) async fn write(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let sql = self.dialect().numbered(sql);
        self.engine.write_one(&sql, params).await.map_err(db)
    }

    /// Checks the engine answers.
    pub async fn ping(&self) -> Result<()> {
        self.engine.ping().await
    }

    async fn migrate(&self) -> Result<()> {
        let d = self.dialect();
        let seq = format!("seq {}", d.serial_primary_key());
        // Keys (ids, names, states) are indexed whole: a bounded type on MySQL; text that is
        // only stored is unbounded.
        let key = d.column_type(ColumnType::Key);
        let txt = d.column_type(ColumnType::Text);
        let empty_list = d.column_default(ColumnType::Text, "'[]'");
        // Engines without partial indexes index every row.
        let only = |condition: &str| {
            if d.partial_indexes() {
                format!(" WHERE {condition}")
            } else {
                String::new()
            }
        };
        let mut statements = vec![
            format!(
                "CREATE TABLE IF NOT EXISTS keel_jobs (
                {seq},
                id {key} NOT NULL UNIQUE,
                queue {key} NOT NULL,
                name {txt} NOT NULL,
                payload {txt} NOT NULL,
                state {key} NOT NULL,
                priority BIGINT NOT NULL,
                run_at BIGINT NOT NULL,
                attempts BIGINT NOT NULL DEFAULT 0,
                max_attempts BIGINT NOT NULL,
                backoff {txt} NOT NULL,
                timeout_ms BIGINT NOT NULL,
                unique_key {txt},
                progress {txt},
                result {txt},
                errors {txt} NOT NULL {empty_list},
                worker {txt},
                lease_token {txt},
                lease_expires_at BIGINT,
                created_at BIGINT NOT NULL,
                started_at BIGINT,
                finished_at BIGINT,
                updated_at BIGINT NOT NULL
            )"
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS keel_jobs_ready ON keel_jobs (queue, priority DESC, run_at, seq){}",
                only("state IN ('waiting', 'failed')")
            ),
            "CREATE INDEX IF NOT EXISTS keel_jobs_by_state ON keel_jobs (queue, state, seq)".into(),
            format!(
                "CREATE INDEX IF NOT EXISTS keel_jobs_leases ON keel_jobs (lease_expires_at){}",
                only("state = 'active'")
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS keel_jobs_finished ON keel_jobs (queue, state, finished_at){}",
                only("state IN ('completed', 'dead')")
            ),
        ];
        statements.extend(d.conditional_unique_index(
            "keel_jobs_unique",
            "keel_jobs",
            &["queue"],
            "unique_key",
            "state IN ('waiting', 'active', 'failed')",
        ));
        statements.extend([
            format!(
                "CREATE TABLE IF NOT EXISTS keel_job_queues (
                name {key} PRIMARY KEY,
                settings {txt} NOT NULL,
                rate_window BIGINT NOT NULL DEFAULT 0,
                rate_count BIGINT NOT NULL DEFAULT 0,
                updated_at BIGINT NOT NULL
            )"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS keel_schedules (
                id {key} PRIMARY KEY,
                name {key} NOT NULL UNIQUE,
                spec {txt} NOT NULL,
                queue {key} NOT NULL,
                job {txt} NOT NULL,
                overlap {key} NOT NULL,
                catchup {key} NOT NULL,
                paused BIGINT NOT NULL DEFAULT 0,
                last_tick BIGINT,
                last_job_id {key},
                next_at BIGINT,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL
            )"
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS keel_schedules_due ON keel_schedules (next_at){}",
                only("paused = 0")
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS keel_schedule_runs (
                schedule_id {key} NOT NULL,
                tick BIGINT NOT NULL,
                fired_at BIGINT NOT NULL,
                outcome {key} NOT NULL,
                job_id {key},
                PRIMARY KEY (schedule_id, tick)
            )"
            ),
        ]);
        // The engine's serialized writer (`begin`, not `begin_concurrent`): several processes
        // may start at once, and CREATE … IF NOT EXISTS races in PostgreSQL.
        let mut tx = self.engine.begin().await.map_err(db)?;
        for statement in &statements {
            tx.execute(statement, &[]).await.map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(())
    }
}

/// An engine error, as the jobs store's: an internal one is logged by the server, never sent
/// to a client; a unique violation stays a `BadRequest` (see [`is_unique_violation`]).
pub(crate) fn db(e: Error) -> Error {
    e.context("jobs store")
}

/// Whether `e` is an engine's unique-constraint violation.
pub(crate) fn is_unique_violation(e: &Error) -> bool {
    matches!(e, Error::BadRequest { fields, .. } if fields.values().any(|f| f.code == "validation_not_unique"))
}

/// A column of a row as an integer.
pub(crate) fn int(row: &Row, column: &str) -> Result<i64> {
    opt_int(row, column)?.ok_or_else(|| Error::internal(format!("jobs store: {column} is NULL")))
}

/// A column of a row as an integer or NULL.
pub(crate) fn opt_int(row: &Row, column: &str) -> Result<Option<i64>> {
    match row.get(column) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| Error::internal(format!("jobs store: {column} is not an integer"))),
        Some(_) => Err(Error::internal(format!("jobs store: {column} is not a number"))),
    }
}

/// A column of a row as text.
pub(crate) fn text(row: &Row, column: &str) -> Result<String> {
    opt_text(row, column)?.ok_or_else(|| Error::internal(format!("jobs store: {column} is NULL")))
}

/// A column of a row as text or NULL.
pub(crate) fn opt_text(row: &Row, column: &str) -> Result<Option<String>> {
    match row.get(column) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Error::internal(format!("jobs store: {column} is not text"))),
    }
}

/// An optional text as a bound value (NULL for none).
pub(crate) fn opt(value: Option<String>) -> Value {
    value.map_or(Value::Null, Value::String)
}

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub fn to_time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn parse_json<T: serde::de::DeserializeOwned + Default>(s: Option<String>) -> T {
    s.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default()
}

/// The API-visible state of a stored row: a waiting job whose time has not come is delayed.
pub(crate) fn visible_state(stored: &str, run_at: i64, now: i64) -> JobState {
    match stored {
        "waiting" if run_at > now => JobState::Delayed,
        "waiting" => JobState::Waiting,
        "active" => JobState::Active,
        "completed" => JobState::Completed,
        "failed" => JobState::Failed,
        "dead" => JobState::Dead,
        _ => JobState::Cancelled,
    }
}

pub(crate) fn job_from_row(row: &Row) -> Result<Job> {
    let get_i = |c: &str| int(row, c);
    let get_s = |c: &str| text(row, c);
    let get_os = |c: &str| opt_text(row, c);
    let get_oi = |c: &str| opt_int(row, c);
    let now = now_ms();
    let run_at = get_i("run_at")?;
    let state = get_s("state")?;
    let backoff: Backoff = serde_json::from_str(&get_s("backoff")?).unwrap_or_default();
    Ok(Job {
        id: get_s("id")?,
        queue: get_s("queue")?,
        name: get_s("name")?,
        payload: serde_json::from_str(&get_s("payload")?).unwrap_or_default(),
        state: visible_state(&state, run_at, now),
        priority: get_i("priority")? as i32,
        run_at: to_time(run_at),
        attempts: get_i("attempts")? as u32,
        max_attempts: get_i("max_attempts")? as u32,
        backoff,
        timeout_ms: get_i("timeout_ms")? as u64,
        unique_key: get_os("unique_key")?,
        progress: get_os("progress")?.and_then(|s| serde_json::from_str::<Progress>(&s).ok()),
        result: get_os("result")?.and_then(|s| serde_json::from_str(&s).ok()),
        errors: parse_json::<Vec<AttemptError>>(get_os("errors")?),
        worker: get_os("worker")?,
        lease_expires_at: if state == "active" {
            get_oi("lease_expires_at")?.map(to_time)
        } else {
            None
        },
        created_at: to_time(get_i("created_at")?),
        started_at: get_oi("started_at")?.map(to_time),
        finished_at: get_oi("finished_at")?.map(to_time),
        updated_at: to_time(get_i("updated_at")?),
    })
}
