//! The PostgreSQL engine: reads and writes on one `sqlx::PgPool` the caller gives it (the
//! binary shares one pool per engine among the records store, the jobs store and the queue).
//!
//! Durability: a write is durable when `commit` returns (PostgreSQL's WAL, with the
//! server's `synchronous_commit`). Write transactions are serialized per schema with a
//! transaction-scoped advisory lock taken at `begin`, as SQLite's single writer serializes
//! them, so the store's check-then-write steps and the audit chain stay correct across
//! several Keel processes; the lock ends with the transaction, also when a process dies.
//! Reads run on any pooled connection and never wait for a writer.

mod codec;
mod dialect;
mod error;

use async_trait::async_trait;
use keel_core::Result;
use serde_json::Value;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, Postgres, Transaction};

pub use dialect::{PgDialect, POSTGRES};
pub use error::ConnectError;
/// The pool type `PgEngine::new` takes (re-exported so sharing it needs no sqlx import).
pub use sqlx::postgres::PgPool;

use crate::engine::{Dialect, Engine, PoolStats, Row, Tx};

/// The first key of the advisory lock that serializes write transactions (the second is
/// the current schema's hash).
const WRITE_LOCK: i32 = 0x6b65_656c; // "keel"

/// PostgreSQL over a shared pool.
pub struct PgEngine {
    pool: PgPool,
    /// Committed schema changes so far (see `codec::typed_sql`).
    generation: Arc<AtomicU64>,
}

impl PgEngine {
    /// The engine over `pool` (the schema its connections use is the one records live in).
    pub fn new(pool: PgPool) -> PgEngine {
        PgEngine {
            pool,
            generation: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Makes a pool of at most `max_connections` to `url` and checks it answers.
    pub async fn connect(url: &str, max_connections: u32) -> std::result::Result<PgEngine, ConnectError> {
        let opts = PgConnectOptions::from_str(url)
            .map_err(ConnectError::from_sqlx)?
            // `CREATE … IF NOT EXISTS` notices at every start are not worth a log line.
            .options([("client_min_messages", "warning")]);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect_with(opts)
            .await
            .map_err(ConnectError::from_sqlx)?;
        Ok(PgEngine::new(pool))
    }

    /// The pool, for the other services that share this engine.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A transaction of this engine's, tracking failures and schema changes.
    fn wrap(&self, tx: Transaction<'static, Postgres>) -> Box<dyn Tx> {
        Box::new(PgTx {
            tx,
            failed: false,
            ddl: false,
            generation: self.generation.clone(),
        })
    }
}

#[async_trait]
impl Engine for PgEngine {
    fn dialect(&self) -> &'static dyn Dialect {
        &POSTGRES
    }

    async fn fetch_all(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let text = codec::typed_sql(sql, params, self.generation.load(Ordering::Acquire));
        let rows = match sqlx::query_with(AssertSqlSafe(text.clone()), codec::bind(params)?)
            .fetch_all(&self.pool)
            .await
        {
            // A statement prepared before a schema change whose rows now have another shape:
            // run it unprepared (the stale one is replaced when it next fails or is evicted).
            Err(e) if error::is_stale_plan(&e) => sqlx::query_with(AssertSqlSafe(text), codec::bind(params)?)
                .persistent(false)
                .fetch_all(&self.pool)
                .await
                .map_err(error::map)?,
            other => other.map_err(error::map)?,
        };
        rows.iter().map(codec::decode_row).collect()
    }

    /// PostgreSQL commits a statement sent outside a transaction by itself: one round trip
    /// instead of `BEGIN`, the statement and `COMMIT`.
    async fn write_one(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        self.fetch_all(sql, params).await
    }

    async fn begin(&self) -> Result<Box<dyn Tx>> {
        let mut tx = self.pool.begin().await.map_err(error::map)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))")
            .bind(WRITE_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(error::map)?;
        Ok(self.wrap(tx))
    }

    /// A plain transaction, without the records store's write lock.
    async fn begin_concurrent(&self) -> Result<Box<dyn Tx>> {
        let tx = self.pool.begin().await.map_err(error::map)?;
        Ok(self.wrap(tx))
    }

    /// One round trip: `BEGIN` and `SET LOCAL synchronous_commit = off` in one simple query.
    async fn begin_relaxed(&self) -> Result<Box<dyn Tx>> {
        let tx = self
            .pool
            .begin_with("BEGIN; SET LOCAL synchronous_commit = off")
            .await
            .map_err(error::map)?;
        Ok(self.wrap(tx))
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(error::map)?;
        Ok(())
    }

    fn pool_stats(&self) -> PoolStats {
        let size = u64::from(self.pool.size());
        let idle = self.pool.num_idle() as u64;
        PoolStats {
            readers_max: u64::from(self.pool.options().get_max_connections()),
            readers_busy: size.saturating_sub(idle),
            readers_idle: idle,
            writers: 0,
            writers_busy: 0,
        }
    }
}

/// A write transaction holding the write lock.
///
/// After a failed statement PostgreSQL refuses everything but a rollback (to a savepoint),
/// and answers `COMMIT` with a rollback: `failed` remembers it, so `commit` reports the
/// transaction lost instead of claiming it durable. A successful `ROLLBACK TO` clears it.
struct PgTx {
    tx: Transaction<'static, Postgres>,
    failed: bool,
    /// A schema change ran: committing bumps the engine's generation.
    ddl: bool,
    generation: Arc<AtomicU64>,
}

impl PgTx {
    fn text(&mut self, sql: &str, params: &[Value]) -> String {
        let head = sql.trim_start().get(..6).unwrap_or("").to_ascii_uppercase();
        if matches!(head.as_str(), "CREATE" | "ALTER " | "DROP I" | "DROP T") {
            self.ddl = true;
        }
        codec::typed_sql(sql, params, self.generation.load(Ordering::Acquire))
    }

    fn track<T>(&mut self, sql: &str, r: std::result::Result<T, sqlx::Error>) -> Result<T> {
        match r {
            Ok(v) => {
                if self.failed && sql.trim_start().to_ascii_uppercase().starts_with("ROLLBACK TO") {
                    self.failed = false;
                }
                Ok(v)
            }
            Err(e) => {
                self.failed = true;
                Err(error::map(e))
            }
        }
    }
}

#[async_trait]
impl Tx for PgTx {
    async fn fetch_all(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let text = self.text(sql, params);
        let r = sqlx::query_with(AssertSqlSafe(text), codec::bind(params)?)
            .fetch_all(&mut *self.tx)
            .await;
        let rows = self.track(sql, r)?;
        rows.iter().map(codec::decode_row).collect()
    }

    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        let text = self.text(sql, params);
        let r = sqlx::query_with(AssertSqlSafe(text), codec::bind(params)?)
            .execute(&mut *self.tx)
            .await;
        Ok(self.track(sql, r)?.rows_affected())
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        if self.failed {
            self.tx.rollback().await.map_err(error::map)?;
            return Err(keel_core::Error::internal(
                "PostgreSQL: the transaction was aborted by an earlier error and rolled back",
            ));
        }
        self.tx.commit().await.map_err(error::map)?;
        if self.ddl {
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        Ok(())
    }
}
