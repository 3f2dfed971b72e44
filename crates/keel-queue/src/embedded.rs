//! The embedded provider: one SQLite file (`queues.db` in the data dir), private to one Keel
//! process. The state model (`ready_at`, `lease`, `died_at`) is described in `sql.rs`.
//!
//! How it keeps the contract:
//!
//! - **Durable**: WAL with `synchronous=NORMAL`; `push` returns once its transaction has
//!   committed, which survives a crash of the process (an OS crash or power loss may lose
//!   the last commits).
//! - **One holder per message**: the pool has exactly one connection, so every write is
//!   serialized. A claim is one `BEGIN IMMEDIATE` transaction that dead-letters the queue's
//!   expired last deliveries, selects ready messages by priority, ready time and push order,
//!   and leases them: no two claims see the same message ready.
//! - **Fenced leases**: `ack`, `nack` and `extend` are one statement each that matches the
//!   message id, the queue, the token and an unexpired lease; anything else changes no row
//!   and is a `Conflict`.
//! - **Time** is milliseconds since the Unix epoch (UTC), read from this process's clock.
//! - **Waiting claims** are woken in-process by pushes, retries and requeues (nothing else
//!   writes the file), and otherwise sleep until the queue's next message comes due.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keel_core::queue::{
    stale_lease, validate_queue_name, ClaimRequest, DeadMessage, Delivery, Nack, NewMessage, Queue, QueueCapabilities,
    QueueStats,
};
use keel_core::{Error, Result};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::sql::{self, Claims, Waiters};

/// The table and its indexes, created if missing.
const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS _queue_messages (
        seq            INTEGER PRIMARY KEY,    -- push order, the FIFO tie-break
        id             TEXT NOT NULL UNIQUE,
        queue          TEXT NOT NULL,
        payload        TEXT NOT NULL,          -- JSON
        priority       INTEGER NOT NULL,
        max_deliveries INTEGER NOT NULL,
        deliveries     INTEGER NOT NULL DEFAULT 0,
        enqueued_at    INTEGER NOT NULL,       -- ms since the Unix epoch, as every time here
        ready_at       INTEGER NOT NULL,       -- next claimable: push + delay, retry time or lease expiry
        lease          TEXT,                   -- the last delivery's token
        died_at        INTEGER                 -- set once dead-lettered
    )",
    // Claims and next-due times: per priority, a range of ready times.
    "CREATE INDEX IF NOT EXISTS _queue_messages_ready
        ON _queue_messages (queue, priority DESC, ready_at, seq) WHERE died_at IS NULL",
    // Last deliveries, the only messages an expired lease dead-letters: few rows.
    "CREATE INDEX IF NOT EXISTS _queue_messages_last
        ON _queue_messages (queue, ready_at) WHERE died_at IS NULL AND deliveries >= max_deliveries",
    "CREATE INDEX IF NOT EXISTS _queue_messages_dead
        ON _queue_messages (queue, died_at) WHERE died_at IS NOT NULL",
];

const INSERT: &str = "INSERT INTO _queue_messages (id, queue, payload, priority, max_deliveries, enqueued_at, ready_at)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6 + ?7)";

/// Dead-letters the queue's messages whose last lease has expired (as of `?2`), dated at
/// that expiry.
const SWEEP: &str = "UPDATE _queue_messages SET died_at = ready_at, lease = NULL
    WHERE queue = ?1 AND died_at IS NULL AND deliveries >= max_deliveries AND ready_at <= ?2";

/// The next messages to deliver. Listing the priorities (0 to 9) lets SQLite walk the index
/// one priority at a time over the ready range only, instead of every row of the queue.
const SELECT_READY: &str = "SELECT seq, id, payload, priority, deliveries, max_deliveries, enqueued_at
    FROM _queue_messages
    WHERE queue = ?1 AND died_at IS NULL AND priority IN (9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
        AND ready_at <= ?2 AND deliveries < max_deliveries
    ORDER BY priority DESC, ready_at, seq
    LIMIT ?3";

/// Leases the messages whose `seq` is in the JSON array `?3` until `?2`; the token is
/// `sql::lease_token(id, ?1)`.
const LEASE: &str = "UPDATE _queue_messages
    SET deliveries = deliveries + 1, lease = id || '.' || ?1, ready_at = ?2
    WHERE seq IN (SELECT value FROM json_each(?3))";

/// The earliest `ready_at` among the queue's live messages: one index probe per priority.
const NEXT_DUE: &str = "WITH p(priority) AS (VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9))
    SELECT MIN((SELECT MIN(ready_at) FROM _queue_messages m
                WHERE m.queue = ?1 AND m.died_at IS NULL AND m.priority = p.priority))
    FROM p";

/// `ack`, `nack` and `extend` match `?1` id, `?2` queue, `?3` token and a lease unexpired at `?4`.
const ACK: &str = "DELETE FROM _queue_messages
    WHERE id = ?1 AND queue = ?2 AND lease = ?3 AND died_at IS NULL AND ready_at > ?4";

/// `?5`: dead now; `?6`: the retry time. Returns whether the message will be retried.
const NACK: &str = "UPDATE _queue_messages
    SET died_at = CASE WHEN ?5 OR deliveries >= max_deliveries THEN ?4 END, ready_at = ?6, lease = NULL
    WHERE id = ?1 AND queue = ?2 AND lease = ?3 AND died_at IS NULL AND ready_at > ?4
    RETURNING died_at IS NULL";

/// `?5`: the new expiry.
const EXTEND: &str = "UPDATE _queue_messages SET ready_at = ?5
    WHERE id = ?1 AND queue = ?2 AND lease = ?3 AND died_at IS NULL AND ready_at > ?4";

/// Counts by state as of `?2`; an expired last delivery counts as dead, as a claim would
/// make it.
const STATS: &str = "SELECT
        COUNT(*) FILTER (WHERE ready_at <= ?2 AND deliveries < max_deliveries),
        COUNT(*) FILTER (WHERE ready_at > ?2 AND lease IS NULL),
        COUNT(*) FILTER (WHERE ready_at > ?2 AND lease IS NOT NULL),
        COUNT(*) FILTER (WHERE ready_at <= ?2 AND deliveries >= max_deliveries)
            + (SELECT COUNT(*) FROM _queue_messages WHERE queue = ?1 AND died_at IS NOT NULL)
    FROM _queue_messages WHERE queue = ?1 AND died_at IS NULL";

const DEAD: &str = "SELECT id, payload, priority, deliveries, enqueued_at, died_at FROM _queue_messages
    WHERE queue = ?1 AND died_at IS NOT NULL ORDER BY died_at, seq LIMIT ?2";

/// Puts dead messages back, ready at `?2`; `?3`: a JSON array of ids, or NULL for all.
const REQUEUE: &str = "UPDATE _queue_messages SET died_at = NULL, deliveries = 0, lease = NULL, ready_at = ?2
    WHERE queue = ?1 AND died_at IS NOT NULL AND (?3 IS NULL OR id IN (SELECT value FROM json_each(?3)))";

/// Two statements, so each uses its partial index.
const PURGE_LIVE: &str = "DELETE FROM _queue_messages WHERE queue = ?1 AND died_at IS NULL";
const PURGE_DEAD: &str = "DELETE FROM _queue_messages WHERE queue = ?1 AND died_at IS NOT NULL";

/// A queue in a SQLite file, for one Keel process.
pub struct EmbeddedQueue {
    /// Exactly one connection: every statement, read or write, runs on it in turn.
    pool: SqlitePool,
    waiters: Waiters,
}

#[derive(sqlx::FromRow)]
struct ReadyRow {
    seq: i64,
    id: String,
    payload: String,
    priority: i64,
    deliveries: i64,
    max_deliveries: i64,
    enqueued_at: i64,
}

#[derive(sqlx::FromRow)]
struct DeadRow {
    id: String,
    payload: String,
    priority: i64,
    deliveries: i64,
    enqueued_at: i64,
    died_at: i64,
}

fn engine(e: sqlx::Error) -> Error {
    Error::internal(format!("embedded queue: {e}"))
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn time(ms: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| Error::internal(format!("embedded queue: bad time {ms}")))
}

impl EmbeddedQueue {
    /// Opens the queue file at `path`, creating it (not its directory) if missing.
    pub async fn open(path: &Path) -> Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(|e| Error::internal(format!("embedded queue: cannot open {}: {e}", path.display())))?;
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(engine)?;
        for statement in SCHEMA {
            sqlx::query(*statement).execute(&mut *tx).await.map_err(engine)?;
        }
        tx.commit().await.map_err(engine)?;
        Ok(Self {
            pool,
            waiters: Waiters::default(),
        })
    }

    /// Dead-letters the queue's expired last deliveries (for `dead` and `requeue_dead`;
    /// `claim` does it in its own transaction).
    async fn sweep(&self, queue: &str) -> Result<()> {
        sqlx::query(SWEEP)
            .bind(queue)
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(engine)?;
        Ok(())
    }
}

impl Claims for EmbeddedQueue {
    fn waiters(&self) -> &Waiters {
        &self.waiters
    }

    async fn claim_ready(&self, queue: &str, req: &ClaimRequest) -> Result<Vec<Delivery>> {
        let now = now_ms();
        let expires = now.saturating_add(sql::millis(req.lease));
        let secret = sql::new_lease_secret();
        let max = i64::try_from(req.max).unwrap_or(i64::MAX);

        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(engine)?;
        sqlx::query(SWEEP)
            .bind(queue)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(engine)?;
        let rows: Vec<ReadyRow> = sqlx::query_as(SELECT_READY)
            .bind(queue)
            .bind(now)
            .bind(max)
            .fetch_all(&mut *tx)
            .await
            .map_err(engine)?;
        if !rows.is_empty() {
            let seqs =
                serde_json::to_string(&rows.iter().map(|r| r.seq).collect::<Vec<_>>()).map_err(Error::internal)?;
            sqlx::query(LEASE)
                .bind(&secret)
                .bind(expires)
                .bind(seqs)
                .execute(&mut *tx)
                .await
                .map_err(engine)?;
        }
        tx.commit().await.map_err(engine)?;

        let lease_expires_at = time(expires)?;
        rows.into_iter()
            .map(|r| {
                Ok(Delivery {
                    lease: sql::lease_token(&r.id, &secret),
                    payload: sql::decode_payload(&r.payload)?,
                    priority: sql::to_i32(r.priority)?,
                    deliveries: sql::to_u32(r.deliveries + 1)?,
                    max_deliveries: sql::to_u32(r.max_deliveries)?,
                    enqueued_at: time(r.enqueued_at)?,
                    lease_expires_at,
                    id: r.id,
                })
            })
            .collect()
    }

    async fn next_due(&self, queue: &str) -> Result<Option<Duration>> {
        let due: Option<i64> = sqlx::query_scalar(NEXT_DUE)
            .bind(queue)
            .fetch_one(&self.pool)
            .await
            .map_err(engine)?;
        Ok(due.map(|at| Duration::from_millis(u64::try_from(at.saturating_sub(now_ms())).unwrap_or(0))))
    }
}

#[async_trait]
impl Queue for EmbeddedQueue {
    async fn push(&self, queue: &str, msg: NewMessage) -> Result<String> {
        let mut ids = self.push_many(queue, vec![msg]).await?;
        ids.pop()
            .ok_or_else(|| Error::internal("embedded queue: a push returned no id"))
    }

    async fn push_many(&self, queue: &str, msgs: Vec<NewMessage>) -> Result<Vec<String>> {
        sql::check_push(queue, &msgs)?;
        if msgs.is_empty() {
            return Ok(Vec::new());
        }
        let payloads = msgs
            .iter()
            .map(|m| sql::encode_payload(&m.payload))
            .collect::<Result<Vec<_>>>()?;
        let now = now_ms();
        let mut ids = Vec::with_capacity(msgs.len());
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(engine)?;
        for (msg, payload) in msgs.iter().zip(payloads) {
            let id = keel_core::id::new_id();
            sqlx::query(INSERT)
                .bind(&id)
                .bind(queue)
                .bind(payload)
                .bind(msg.priority)
                .bind(i64::from(msg.max_deliveries))
                .bind(now)
                .bind(sql::millis(msg.delay))
                .execute(&mut *tx)
                .await
                .map_err(engine)?;
            ids.push(id);
        }
        tx.commit().await.map_err(engine)?;
        self.waiters.wake(queue);
        Ok(ids)
    }

    async fn claim(&self, queue: &str, req: ClaimRequest) -> Result<Vec<Delivery>> {
        sql::claim(self, queue, req).await
    }

    async fn ack(&self, queue: &str, lease: &str) -> Result<()> {
        validate_queue_name(queue)?;
        let id = sql::lease_message_id(lease)?;
        let done = sqlx::query(ACK)
            .bind(id)
            .bind(queue)
            .bind(lease)
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(engine)?;
        if done.rows_affected() == 0 {
            return Err(stale_lease());
        }
        Ok(())
    }

    async fn nack(&self, queue: &str, lease: &str, then: Nack) -> Result<()> {
        validate_queue_name(queue)?;
        let (dead, retry_in) = sql::nack_plan(then)?;
        let id = sql::lease_message_id(lease)?;
        let now = now_ms();
        let retried: Option<bool> = sqlx::query_scalar(NACK)
            .bind(id)
            .bind(queue)
            .bind(lease)
            .bind(now)
            .bind(dead)
            .bind(now.saturating_add(sql::millis(retry_in)))
            .fetch_optional(&self.pool)
            .await
            .map_err(engine)?;
        match retried {
            None => Err(stale_lease()),
            Some(retried) => {
                if retried {
                    self.waiters.wake(queue);
                }
                Ok(())
            }
        }
    }

    async fn extend(&self, queue: &str, lease: &str, lease_for: Duration) -> Result<DateTime<Utc>> {
        validate_queue_name(queue)?;
        sql::check_lease_for(lease_for)?;
        let id = sql::lease_message_id(lease)?;
        let now = now_ms();
        let until = now.saturating_add(sql::millis(lease_for));
        let done = sqlx::query(EXTEND)
            .bind(id)
            .bind(queue)
            .bind(lease)
            .bind(now)
            .bind(until)
            .execute(&self.pool)
            .await
            .map_err(engine)?;
        if done.rows_affected() == 0 {
            return Err(stale_lease());
        }
        time(until)
    }

    async fn stats(&self, queue: &str) -> Result<QueueStats> {
        validate_queue_name(queue)?;
        let (ready, delayed, leased, dead): (i64, i64, i64, i64) = sqlx::query_as(STATS)
            .bind(queue)
            .bind(now_ms())
            .fetch_one(&self.pool)
            .await
            .map_err(engine)?;
        Ok(QueueStats {
            ready: sql::to_u64(ready),
            delayed: sql::to_u64(delayed),
            leased: sql::to_u64(leased),
            dead: sql::to_u64(dead),
        })
    }

    async fn purge(&self, queue: &str) -> Result<u64> {
        validate_queue_name(queue)?;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(engine)?;
        let mut removed = 0;
        for statement in [PURGE_LIVE, PURGE_DEAD] {
            let done = sqlx::query(statement)
                .bind(queue)
                .execute(&mut *tx)
                .await
                .map_err(engine)?;
            removed += done.rows_affected();
        }
        tx.commit().await.map_err(engine)?;
        Ok(removed)
    }

    async fn dead(&self, queue: &str, limit: usize) -> Result<Vec<DeadMessage>> {
        validate_queue_name(queue)?;
        self.sweep(queue).await?;
        let rows: Vec<DeadRow> = sqlx::query_as(DEAD)
            .bind(queue)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(engine)?;
        rows.into_iter()
            .map(|r| {
                Ok(DeadMessage {
                    payload: sql::decode_payload(&r.payload)?,
                    priority: sql::to_i32(r.priority)?,
                    deliveries: sql::to_u32(r.deliveries)?,
                    enqueued_at: time(r.enqueued_at)?,
                    died_at: time(r.died_at)?,
                    id: r.id,
                })
            })
            .collect()
    }

    async fn requeue_dead(&self, queue: &str, ids: &[String]) -> Result<u64> {
        validate_queue_name(queue)?;
        self.sweep(queue).await?;
        let ids = if ids.is_empty() {
            None
        } else {
            Some(serde_json::to_string(ids).map_err(Error::internal)?)
        };
        let done = sqlx::query(REQUEUE)
            .bind(queue)
            .bind(now_ms())
            .bind(ids)
            .execute(&self.pool)
            .await
            .map_err(engine)?;
        if done.rows_affected() > 0 {
            self.waiters.wake(queue);
        }
        Ok(done.rows_affected())
    }

    fn name(&self) -> &'static str {
        "embedded"
    }

    fn capabilities(&self) -> QueueCapabilities {
        QueueCapabilities {
            shared: false,
            lease_per_claim: true,
            exact_stats: true,
        }
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(engine)?;
        Ok(())
    }
}

#[cfg(test)]
mod sql_tests {
    use keel_core::queue::{MAX_PRIORITY, MIN_PRIORITY};

    use super::{NEXT_DUE, SELECT_READY};

    #[test]
    fn the_claim_and_next_due_sql_list_every_priority() {
        // Both statements spell the priorities out (one index range each): a priority the
        // contract allows but the SQL does not list would never be claimed.
        let listed: Vec<String> = (MIN_PRIORITY..=MAX_PRIORITY).rev().map(|p| p.to_string()).collect();
        let wanted = format!("priority IN ({})", listed.join(", "));
        assert!(SELECT_READY.contains(&wanted), "{SELECT_READY}");
        for p in MIN_PRIORITY..=MAX_PRIORITY {
            assert!(NEXT_DUE.contains(&format!("({p})")), "priority {p}: {NEXT_DUE}");
        }
    }
}
