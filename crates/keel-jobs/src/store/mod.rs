//! The job store: jobs and queue settings in one SQL engine, embedded SQLite (a `jobs.db`
//! file in the data dir) or PostgreSQL, through sqlx's `Any` driver so both run the same
//! statements (`$N` placeholders, BIGINT columns, JSON as text, times as Unix milliseconds).
//!
//! The jobs table is itself the queue, as in Oban, River or Solid Queue: a claim is one
//! `UPDATE … RETURNING` that flips waiting rows to active with a fresh lease token, so a
//! job's state, its lease, its unique key and its counts change in one transaction. On
//! PostgreSQL the claim's inner `SELECT` takes `FOR UPDATE SKIP LOCKED`, so processes never
//! claim the same row; a queue with a concurrency or rate limit first locks its settings row,
//! which serializes that queue's claims across processes. On SQLite the pool has one
//! connection, so every write transaction runs alone.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use keel_core::{Error, Result};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

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
pub use query::JobPage;

/// Which SQL the store speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// Jobs and queue settings in SQL. Cheap to clone.
#[derive(Clone)]
pub struct JobStore {
    pub(crate) pool: AnyPool,
    pub(crate) dialect: Dialect,
    /// Group commit of concurrent enqueues (`None` in the grouper's own copy).
    grouper: Option<group::Grouper>,
}

/// The columns every job read selects, in `job_from_row`'s order.
const JOB_COLUMNS: &str = "id, queue, name, payload, state, priority, run_at, attempts, max_attempts, backoff, \
     timeout_ms, unique_key, progress, result, errors, worker, lease_expires_at, created_at, started_at, \
     finished_at, updated_at";

impl JobStore {
    /// Opens (creating if missing) the SQLite file at `path`.
    pub async fn open_sqlite(path: &Path) -> Result<Self> {
        sqlx::any::install_default_drivers();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(Error::internal)?;
        }
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::raw_sql(
                        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000; \
                         PRAGMA foreign_keys=ON;",
                    )
                    .execute(conn)
                    .await?;
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .map_err(|e| Error::internal(format!("cannot open the jobs database {}: {e}", path.display())))?;
        Self::ready(pool, Dialect::Sqlite).await
    }

    /// Connects to PostgreSQL at `url` and creates the tables if missing.
    pub async fn connect_postgres(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(|e| {
                Error::internal(format!(
                    "cannot connect to PostgreSQL at {}: {e}",
                    keel_core::config::redact_url(url)
                ))
            })?;
        Self::ready(pool, Dialect::Postgres).await
    }

    /// Migrates, then starts the enqueue grouper on a copy of the store without one.
    async fn ready(pool: AnyPool, dialect: Dialect) -> Result<Self> {
        let bare = Self {
            pool,
            dialect,
            grouper: None,
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

    /// A write transaction. On SQLite it takes the write lock up front (`BEGIN IMMEDIATE`),
    /// so a second process on the same file (the CLI) waits its turn instead of failing.
    pub(crate) async fn begin(&self) -> std::result::Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.dialect {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Dialect::Postgres => self.pool.begin().await,
        }
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Checks the engine answers.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(db)?;
        Ok(())
    }

    async fn migrate(&self) -> Result<()> {
        let seq = match self.dialect {
            Dialect::Sqlite => "seq INTEGER PRIMARY KEY AUTOINCREMENT",
            Dialect::Postgres => "seq BIGSERIAL PRIMARY KEY",
        };
        let ddl = format!(
            "CREATE TABLE IF NOT EXISTS keel_jobs (
                {seq},
                id TEXT NOT NULL UNIQUE,
                queue TEXT NOT NULL,
                name TEXT NOT NULL,
                payload TEXT NOT NULL,
                state TEXT NOT NULL,
                priority BIGINT NOT NULL,
                run_at BIGINT NOT NULL,
                attempts BIGINT NOT NULL DEFAULT 0,
                max_attempts BIGINT NOT NULL,
                backoff TEXT NOT NULL,
                timeout_ms BIGINT NOT NULL,
                unique_key TEXT,
                progress TEXT,
                result TEXT,
                errors TEXT NOT NULL DEFAULT '[]',
                worker TEXT,
                lease_token TEXT,
                lease_expires_at BIGINT,
                created_at BIGINT NOT NULL,
                started_at BIGINT,
                finished_at BIGINT,
                updated_at BIGINT NOT NULL
            );
            CREATE INDEX IF NOT EXISTS keel_jobs_ready ON keel_jobs (queue, priority DESC, run_at, seq)
                WHERE state IN ('waiting', 'failed');
            CREATE INDEX IF NOT EXISTS keel_jobs_by_state ON keel_jobs (queue, state, seq);
            CREATE INDEX IF NOT EXISTS keel_jobs_leases ON keel_jobs (lease_expires_at) WHERE state = 'active';
            CREATE INDEX IF NOT EXISTS keel_jobs_finished ON keel_jobs (queue, state, finished_at)
                WHERE state IN ('completed', 'dead');
            CREATE UNIQUE INDEX IF NOT EXISTS keel_jobs_unique ON keel_jobs (queue, unique_key)
                WHERE unique_key IS NOT NULL AND state IN ('waiting', 'active', 'failed');
            CREATE TABLE IF NOT EXISTS keel_job_queues (
                name TEXT PRIMARY KEY,
                settings TEXT NOT NULL,
                rate_window BIGINT NOT NULL DEFAULT 0,
                rate_count BIGINT NOT NULL DEFAULT 0,
                updated_at BIGINT NOT NULL
            );
            CREATE TABLE IF NOT EXISTS keel_schedules (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                spec TEXT NOT NULL,
                queue TEXT NOT NULL,
                job TEXT NOT NULL,
                overlap TEXT NOT NULL,
                catchup TEXT NOT NULL,
                paused BIGINT NOT NULL DEFAULT 0,
                last_tick BIGINT,
                last_job_id TEXT,
                next_at BIGINT,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL
            );
            CREATE INDEX IF NOT EXISTS keel_schedules_due ON keel_schedules (next_at) WHERE paused = 0;
            CREATE TABLE IF NOT EXISTS keel_schedule_runs (
                schedule_id TEXT NOT NULL,
                tick BIGINT NOT NULL,
                fired_at BIGINT NOT NULL,
                outcome TEXT NOT NULL,
                job_id TEXT,
                PRIMARY KEY (schedule_id, tick)
            );"
        );
        let mut tx = self.begin().await.map_err(db)?;
        if self.dialect == Dialect::Postgres {
            // Several processes may start at once; CREATE … IF NOT EXISTS races in PostgreSQL.
            sqlx::query("SELECT pg_advisory_xact_lock(7361920458)")
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        sqlx::raw_sql(sqlx::AssertSqlSafe(ddl))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }
}

/// An engine error: logged by the server, never sent to a client.
pub(crate) fn db(e: sqlx::Error) -> Error {
    Error::internal(format!("jobs store: {e}"))
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

pub(crate) fn job_from_row(row: &AnyRow) -> Result<Job> {
    let get_i = |c: &str| row.try_get::<i64, _>(c).map_err(db);
    let get_s = |c: &str| row.try_get::<String, _>(c).map_err(db);
    let get_os = |c: &str| row.try_get::<Option<String>, _>(c).map_err(db);
    let get_oi = |c: &str| row.try_get::<Option<i64>, _>(c).map_err(db);
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
