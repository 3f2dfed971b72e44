//! The PostgreSQL provider: one table, `_queue_messages`, shared by every Keel process that
//! points at the database. The state model (`ready_at`, `lease`, `died_at`) is described in
//! `sql.rs`.
//!
//! How it keeps the contract:
//!
//! - **Durable**: every write is one committed statement (or transaction).
//! - **One holder per message**: a claim is one statement. Its `SELECT … FOR UPDATE SKIP
//!   LOCKED` picks ready rows that no other transaction holds, and the `UPDATE` of the same
//!   statement leases them, so claimers in any number of processes never get the same message
//!   and never wait for each other.
//! - **Fenced leases**: `ack`, `nack` and `extend` are one statement each that matches the
//!   message id, the queue, the token and an unexpired lease; anything else changes no row
//!   and is a `Conflict`.
//! - **Time** comes from the database's clock only (`now()`, `clock_timestamp()`), so
//!   processes with skewed clocks agree on leases and delays.
//! - **Waiting claims**: pushes, retries and requeues `pg_notify('keel_queue', queue)`; one
//!   `PgListener` per provider (it holds one connection of the pool) wakes this process's
//!   claims waiting on that queue. They otherwise sleep until the queue's next message comes
//!   due. When the listener's connection drops, every waiting claim is woken, since
//!   notifications sent meanwhile are lost.
//! - **Schema**: created if missing when connecting, under `pg_advisory_xact_lock`, so
//!   processes starting together do not race on `CREATE`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keel_core::queue::{
    stale_lease, validate_queue_name, ClaimRequest, DeadMessage, Delivery, Nack, NewMessage, Queue, QueueCapabilities,
    QueueStats, MAX_CLAIM_WAIT,
};
use keel_core::{Error, Result};
use sqlx::postgres::{PgListener, PgPool};

use crate::sql::{self, Claims, Waiters};

/// The channel pushes, retries and requeues notify, with the queue name as payload (spelled
/// out in `PUSH` and `NOTIFY`).
const CHANNEL: &str = "keel_queue";

/// The advisory lock key that serializes schema creation ("keelqueu").
const SCHEMA_LOCK: i64 = 0x6b65_656c_7175_6575;

/// The table and its indexes, created if missing.
const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS _queue_messages (
        seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- push order, the FIFO tie-break
        id             TEXT NOT NULL UNIQUE,
        queue          TEXT NOT NULL,
        payload        TEXT NOT NULL,            -- JSON, as pushed
        priority       INTEGER NOT NULL,
        max_deliveries BIGINT NOT NULL,
        deliveries     BIGINT NOT NULL DEFAULT 0,
        enqueued_at    TIMESTAMPTZ NOT NULL,
        ready_at       TIMESTAMPTZ NOT NULL,     -- next claimable: push + delay, retry time or lease expiry
        lease          TEXT,                     -- the last delivery's token
        died_at        TIMESTAMPTZ               -- set once dead-lettered
    )",
    // Claims and next-due times.
    "CREATE INDEX IF NOT EXISTS _queue_messages_ready
        ON _queue_messages (queue, priority DESC, ready_at, seq) WHERE died_at IS NULL",
    // Last deliveries, the only messages an expired lease dead-letters: few rows.
    "CREATE INDEX IF NOT EXISTS _queue_messages_last
        ON _queue_messages (queue, ready_at) WHERE died_at IS NULL AND deliveries >= max_deliveries",
    "CREATE INDEX IF NOT EXISTS _queue_messages_dead
        ON _queue_messages (queue, died_at) WHERE died_at IS NOT NULL",
];

/// Inserts a batch (arrays `$2`–`$6`, in push order) into queue `$1` and notifies it.
const PUSH: &str = "WITH pushed AS (
        INSERT INTO _queue_messages (id, queue, payload, priority, max_deliveries, enqueued_at, ready_at)
        SELECT m.id, $1, m.payload, m.priority, m.max_deliveries, now(), now() + m.delay_us * interval '1 microsecond'
        FROM UNNEST($2::text[], $3::text[], $4::int4[], $5::int8[], $6::int8[])
            WITH ORDINALITY AS m(id, payload, priority, max_deliveries, delay_us, n)
        ORDER BY m.n
    )
    SELECT pg_notify('keel_queue', $1)";

/// One claim of up to `$2` messages of queue `$1`, leased for `$4` µs with tokens
/// `sql::lease_token(id, $3)`:
/// 1. `expired_last` dead-letters the queue's expired last deliveries (dated at the expiry);
/// 2. `picked` locks the next ready messages, skipping those another transaction holds;
/// 3. `claimed` leases them; the result comes in claim order.
const CLAIM: &str = "WITH expired_last AS (
        UPDATE _queue_messages SET died_at = ready_at, lease = NULL
        WHERE seq = ANY(ARRAY(
            SELECT seq FROM _queue_messages
            WHERE queue = $1 AND died_at IS NULL AND deliveries >= max_deliveries AND ready_at <= now()
            FOR UPDATE SKIP LOCKED))
    ),
    picked AS (
        SELECT seq, ready_at FROM _queue_messages
        WHERE queue = $1 AND died_at IS NULL AND deliveries < max_deliveries AND ready_at <= now()
        ORDER BY priority DESC, ready_at, seq
        LIMIT $2
        FOR UPDATE SKIP LOCKED
    ),
    claimed AS (
        UPDATE _queue_messages m
        SET deliveries = m.deliveries + 1,
            lease = m.id || '.' || $3,
            ready_at = now() + $4::int8 * interval '1 microsecond'
        FROM picked WHERE m.seq = picked.seq
        RETURNING m.seq, m.id, m.payload, m.priority, m.deliveries, m.max_deliveries, m.enqueued_at, m.lease,
            m.ready_at AS lease_expires_at, picked.ready_at AS was_ready_at
    )
    SELECT id, payload, priority, deliveries, max_deliveries, enqueued_at, lease, lease_expires_at
    FROM claimed ORDER BY priority DESC, was_ready_at, seq";

/// Dead-letters the queue's expired last deliveries (for `dead` and `requeue_dead`; a claim
/// does it in its own statement). `= ANY(ARRAY(…))` rather than `IN (…)`: the planner then
/// always fetches the few rows by key instead of possibly hash-joining the whole table.
const SWEEP: &str = "UPDATE _queue_messages SET died_at = ready_at, lease = NULL
    WHERE seq = ANY(ARRAY(
        SELECT seq FROM _queue_messages
        WHERE queue = $1 AND died_at IS NULL AND deliveries >= max_deliveries AND ready_at <= now()
        FOR UPDATE SKIP LOCKED))";

/// Seconds until the queue's earliest live message is due: one index probe per priority.
const NEXT_DUE: &str = "SELECT EXTRACT(EPOCH FROM MIN(d.due) - clock_timestamp())::float8
    FROM generate_series(0, 9) AS p(priority),
    LATERAL (SELECT MIN(m.ready_at) AS due FROM _queue_messages m
             WHERE m.queue = $1 AND m.died_at IS NULL AND m.priority = p.priority) AS d";

/// `ack`, `nack` and `extend` match `$1` id, `$2` queue, `$3` token and an unexpired lease.
const ACK: &str = "DELETE FROM _queue_messages
    WHERE id = $1 AND queue = $2 AND lease = $3 AND died_at IS NULL AND ready_at > now()";

/// `$4`: dead now; `$5`: µs until the retry. Returns whether the message will be retried.
const NACK: &str = "UPDATE _queue_messages
    SET died_at = CASE WHEN $4 OR deliveries >= max_deliveries THEN now() END,
        ready_at = now() + $5::int8 * interval '1 microsecond',
        lease = NULL
    WHERE id = $1 AND queue = $2 AND lease = $3 AND died_at IS NULL AND ready_at > now()
    RETURNING died_at IS NULL";

/// `$4`: the new lease length in µs. Returns the new expiry.
const EXTEND: &str = "UPDATE _queue_messages SET ready_at = now() + $4::int8 * interval '1 microsecond'
    WHERE id = $1 AND queue = $2 AND lease = $3 AND died_at IS NULL AND ready_at > now()
    RETURNING ready_at";

/// Counts by state; an expired last delivery counts as dead, as a claim would make it.
const STATS: &str = "SELECT
        COUNT(*) FILTER (WHERE ready_at <= now() AND deliveries < max_deliveries),
        COUNT(*) FILTER (WHERE ready_at > now() AND lease IS NULL),
        COUNT(*) FILTER (WHERE ready_at > now() AND lease IS NOT NULL),
        COUNT(*) FILTER (WHERE ready_at <= now() AND deliveries >= max_deliveries)
            + (SELECT COUNT(*) FROM _queue_messages WHERE queue = $1 AND died_at IS NOT NULL)
    FROM _queue_messages WHERE queue = $1 AND died_at IS NULL";

const DEAD: &str = "SELECT id, payload, priority, deliveries, enqueued_at, died_at FROM _queue_messages
    WHERE queue = $1 AND died_at IS NOT NULL ORDER BY died_at, seq LIMIT $2";

/// Puts dead messages back, ready now; `$2`: the ids, or empty for all.
const REQUEUE: &str = "UPDATE _queue_messages SET died_at = NULL, deliveries = 0, lease = NULL, ready_at = now()
    WHERE queue = $1 AND died_at IS NOT NULL AND (cardinality($2::text[]) = 0 OR id = ANY($2))";

/// Two deletes, so each uses its partial index.
const PURGE: &str = "WITH live AS (DELETE FROM _queue_messages WHERE queue = $1 AND died_at IS NULL RETURNING 1),
        dead AS (DELETE FROM _queue_messages WHERE queue = $1 AND died_at IS NOT NULL RETURNING 1)
    SELECT (SELECT COUNT(*) FROM live) + (SELECT COUNT(*) FROM dead)";

const NOTIFY: &str = "SELECT pg_notify('keel_queue', $1)";

/// A queue in PostgreSQL, shared by every process pointed at the same database.
pub struct PostgresQueue {
    pool: PgPool,
    waiters: Arc<Waiters>,
    /// The task forwarding notifications to `waiters`; stopped on drop.
    listener: tokio::task::AbortHandle,
}

impl Drop for PostgresQueue {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

#[derive(sqlx::FromRow)]
struct ClaimedRow {
    id: String,
    payload: String,
    priority: i32,
    deliveries: i64,
    max_deliveries: i64,
    enqueued_at: DateTime<Utc>,
    lease: String,
    lease_expires_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct DeadRow {
    id: String,
    payload: String,
    priority: i32,
    deliveries: i64,
    enqueued_at: DateTime<Utc>,
    died_at: DateTime<Utc>,
}

fn engine(e: sqlx::Error) -> Error {
    Error::internal(format!("postgres queue: {e}"))
}

impl PostgresQueue {
    /// A queue on the process's shared PostgreSQL pool: creates the table if missing and
    /// starts listening for pushes (the listener keeps one of the pool's connections).
    pub async fn new(pool: PgPool) -> Result<Self> {
        let mut tx = pool.begin().await.map_err(engine)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(SCHEMA_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(engine)?;
        for statement in SCHEMA {
            sqlx::query(*statement).execute(&mut *tx).await.map_err(engine)?;
        }
        tx.commit().await.map_err(engine)?;

        let mut listener = PgListener::connect_with(&pool).await.map_err(engine)?;
        listener.listen(CHANNEL).await.map_err(engine)?;
        let waiters = Arc::new(Waiters::default());
        let listener = tokio::spawn(forward_notifications(listener, waiters.clone())).abort_handle();
        Ok(Self {
            pool,
            waiters,
            listener,
        })
    }

    async fn sweep(&self, queue: &str) -> Result<()> {
        sqlx::query(SWEEP)
            .bind(queue)
            .execute(&self.pool)
            .await
            .map_err(engine)?;
        Ok(())
    }

    /// Wakes the claims waiting on `queue` in every process, after a write that committed on
    /// its own: a failure is logged, not returned (the write stands; waiting claims then find
    /// the message when their wait ends or the next message comes due).
    async fn notify(&self, queue: &str) {
        if let Err(e) = sqlx::query(NOTIFY).bind(queue).execute(&self.pool).await {
            tracing::warn!(error = %e, queue, "postgres queue: could not notify waiting claims");
        }
    }
}

/// Wakes this process's claims waiting on the queue each notification names, until the
/// pool closes.
async fn forward_notifications(mut listener: PgListener, waiters: Arc<Waiters>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => waiters.wake(notification.payload()),
            // The connection dropped and was re-established: notifications were lost.
            Ok(None) => waiters.wake_all(),
            Err(sqlx::Error::PoolClosed) => {
                waiters.wake_all();
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "postgres queue: the notification listener failed; retrying in 1 s");
                waiters.wake_all();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

impl Claims for PostgresQueue {
    fn waiters(&self) -> &Waiters {
        &self.waiters
    }

    async fn claim_ready(&self, queue: &str, req: &ClaimRequest) -> Result<Vec<Delivery>> {
        let secret = sql::new_lease_secret();
        let rows: Vec<ClaimedRow> = sqlx::query_as(CLAIM)
            .bind(queue)
            .bind(i64::try_from(req.max).unwrap_or(i64::MAX))
            .bind(&secret)
            .bind(sql::micros(req.lease))
            .fetch_all(&self.pool)
            .await
            .map_err(engine)?;
        rows.into_iter()
            .map(|r| {
                Ok(Delivery {
                    id: r.id,
                    payload: sql::decode_payload(&r.payload)?,
                    priority: r.priority,
                    deliveries: sql::to_u32(r.deliveries)?,
                    max_deliveries: sql::to_u32(r.max_deliveries)?,
                    enqueued_at: r.enqueued_at,
                    lease: r.lease,
                    lease_expires_at: r.lease_expires_at,
                })
            })
            .collect()
    }

    async fn next_due(&self, queue: &str) -> Result<Option<Duration>> {
        let secs: Option<f64> = sqlx::query_scalar(NEXT_DUE)
            .bind(queue)
            .fetch_one(&self.pool)
            .await
            .map_err(engine)?;
        Ok(secs.map(|s| Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(MAX_CLAIM_WAIT)))
    }
}

#[async_trait]
impl Queue for PostgresQueue {
    async fn push(&self, queue: &str, msg: NewMessage) -> Result<String> {
        let mut ids = self.push_many(queue, vec![msg]).await?;
        ids.pop()
            .ok_or_else(|| Error::internal("postgres queue: a push returned no id"))
    }

    async fn push_many(&self, queue: &str, msgs: Vec<NewMessage>) -> Result<Vec<String>> {
        sql::check_push(queue, &msgs)?;
        if msgs.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = msgs.iter().map(|_| keel_core::id::new_id()).collect();
        let payloads = msgs
            .iter()
            .map(|m| sql::encode_payload(&m.payload))
            .collect::<Result<Vec<_>>>()?;
        let priorities: Vec<i32> = msgs.iter().map(|m| m.priority).collect();
        let max_deliveries: Vec<i64> = msgs.iter().map(|m| i64::from(m.max_deliveries)).collect();
        let delays: Vec<i64> = msgs.iter().map(|m| sql::micros(m.delay)).collect();
        sqlx::query(PUSH)
            .bind(queue)
            .bind(&ids)
            .bind(payloads)
            .bind(priorities)
            .bind(max_deliveries)
            .bind(delays)
            .execute(&self.pool)
            .await
            .map_err(engine)?;
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
        let retried: Option<bool> = sqlx::query_scalar(NACK)
            .bind(id)
            .bind(queue)
            .bind(lease)
            .bind(dead)
            .bind(sql::micros(retry_in))
            .fetch_optional(&self.pool)
            .await
            .map_err(engine)?;
        match retried {
            None => Err(stale_lease()),
            Some(retried) => {
                if retried {
                    self.notify(queue).await;
                }
                Ok(())
            }
        }
    }

    async fn extend(&self, queue: &str, lease: &str, lease_for: Duration) -> Result<DateTime<Utc>> {
        validate_queue_name(queue)?;
        sql::check_lease_for(lease_for)?;
        let id = sql::lease_message_id(lease)?;
        let until: Option<DateTime<Utc>> = sqlx::query_scalar(EXTEND)
            .bind(id)
            .bind(queue)
            .bind(lease)
            .bind(sql::micros(lease_for))
            .fetch_optional(&self.pool)
            .await
            .map_err(engine)?;
        until.ok_or_else(stale_lease)
    }

    async fn stats(&self, queue: &str) -> Result<QueueStats> {
        validate_queue_name(queue)?;
        let (ready, delayed, leased, dead): (i64, i64, i64, i64) = sqlx::query_as(STATS)
            .bind(queue)
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
        let removed: i64 = sqlx::query_scalar(PURGE)
            .bind(queue)
            .fetch_one(&self.pool)
            .await
            .map_err(engine)?;
        Ok(sql::to_u64(removed))
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
                    id: r.id,
                    payload: sql::decode_payload(&r.payload)?,
                    priority: r.priority,
                    deliveries: sql::to_u32(r.deliveries)?,
                    enqueued_at: r.enqueued_at,
                    died_at: r.died_at,
                })
            })
            .collect()
    }

    async fn requeue_dead(&self, queue: &str, ids: &[String]) -> Result<u64> {
        validate_queue_name(queue)?;
        self.sweep(queue).await?;
        let done = sqlx::query(REQUEUE)
            .bind(queue)
            .bind(ids)
            .execute(&self.pool)
            .await
            .map_err(engine)?;
        if done.rows_affected() > 0 {
            self.notify(queue).await;
        }
        Ok(done.rows_affected())
    }

    fn name(&self) -> &'static str {
        "postgres"
    }

    fn capabilities(&self) -> QueueCapabilities {
        QueueCapabilities {
            shared: true,
            lease_per_claim: true,
            exact_stats: true,
        }
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(engine)?;
        Ok(())
    }
}
