//! The `postgres` bus: LISTEN/NOTIFY on the process's shared pool.
//!
//! - **One listening connection per process**: a `PgListener` holds one connection of the
//!   pool and LISTENs on `keel_bus_<channel>`; what it hears goes to this process's
//!   subscriptions through the shared [`Fanout`].
//! - **Publishing** is one `pg_notify` statement through the pool. NOTIFY is delivered in
//!   commit order, so messages one process publishes one after the other arrive in order.
//! - **Large payloads**: a NOTIFY payload is text under 8,000 bytes. A frame whose base64
//!   form fits goes inline (`m<base64>`); a larger one is written to the unlogged table
//!   `keel_bus_spill` and the notification carries its id (`s<id>`), in one statement, so the
//!   row is committed when the notification is sent. Listeners read it by id, in the order the
//!   notifications come. Rows older than a minute are deleted (by publishers, at most every
//!   ten seconds): a listener that far behind reports a gap instead.
//! - **A dropped listener connection** is re-established (LISTEN again, retried with
//!   backoff); once it listens again, every subscription gets [`BusDelivery::Gap`], so a reload
//!   after the gap sees everything published while it was away.
//! - A crash loses the notifications in flight, as the contract allows.
//!
//! [`BusDelivery::Gap`]: keel_core::bus::BusDelivery::Gap

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use bytes::Bytes;
use keel_core::bus::{check, check_channel, BusSubscription, EventBus, Fanout};
use keel_core::{Error, Result};
use sqlx::postgres::{PgListener, PgPool};

use crate::frame;

/// The longest NOTIFY payload PostgreSQL takes (it must be shorter than 8,000 bytes).
const NOTIFY_MAX: usize = 7_999;
/// How long a publish may take before it fails as `Unavailable`.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);
/// How often one process deletes expired spilled payloads, at most.
const SWEEP_EVERY: Duration = Duration::from_secs(10);
/// The advisory lock key that serializes creating the spill table ("keelbus\0").
const SCHEMA_LOCK: i64 = 0x6b65_656c_6275_7300;

const SCHEMA: &[&str] = &[
    "CREATE UNLOGGED TABLE IF NOT EXISTS keel_bus_spill (
        id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        frame      BYTEA NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS keel_bus_spill_created ON keel_bus_spill (created_at)",
];

const NOTIFY: &str = "SELECT pg_notify($1, $2)";
const SPILL: &str = "WITH s AS (INSERT INTO keel_bus_spill (frame) VALUES ($2) RETURNING id) \
                     SELECT pg_notify($1, 's' || id) FROM s";
/// Spilled payloads are kept a minute for listeners to read.
const SWEEP: &str = "DELETE FROM keel_bus_spill WHERE created_at < now() - interval '1 minute'";
const READ_SPILL: &str = "SELECT frame FROM keel_bus_spill WHERE id = $1";

/// The PostgreSQL LISTEN/NOTIFY bus.
pub struct PostgresBus {
    pool: PgPool,
    channel: String,
    fanout: Arc<Fanout>,
    listener: tokio::task::AbortHandle,
    last_sweep: Mutex<Option<Instant>>,
}

impl Drop for PostgresBus {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl PostgresBus {
    /// A bus on the process's shared pool in the namespace `channel` (`[events] channel`):
    /// creates the spill table if missing and starts listening (the listener keeps one of the
    /// pool's connections).
    pub async fn new(pool: PgPool, channel: &str) -> Result<PostgresBus> {
        check_channel(channel)?;
        let channel = format!("keel_bus_{channel}");
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

        let listener = listen(&pool, &channel).await.map_err(engine)?;
        let fanout = Arc::new(Fanout::new());
        let task = tokio::spawn(forward(listener, pool.clone(), channel.clone(), fanout.clone()));
        Ok(PostgresBus {
            pool,
            channel,
            fanout,
            listener: task.abort_handle(),
            last_sweep: Mutex::new(None),
        })
    }

    /// Deletes expired spilled payloads, at most every [`SWEEP_EVERY`] per process; a failure
    /// is logged (the next sweep catches up).
    async fn sweep(&self) {
        {
            let mut last = self.last_sweep.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| t.elapsed() < SWEEP_EVERY) {
                return;
            }
            *last = Some(Instant::now());
        }
        if let Err(e) = sqlx::query(SWEEP).execute(&self.pool).await {
            tracing::warn!(error = %e, "postgres bus: deleting expired spilled payloads failed");
        }
    }

    async fn send(&self, frame: Bytes) -> Result<()> {
        let text = format!("m{}", base64::engine::general_purpose::STANDARD_NO_PAD.encode(&frame));
        if text.len() <= NOTIFY_MAX {
            sqlx::query(NOTIFY)
                .bind(&self.channel)
                .bind(text)
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
        } else {
            sqlx::query(SPILL)
                .bind(&self.channel)
                .bind(frame.as_ref())
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
            self.sweep().await;
        }
        Ok(())
    }
}

#[async_trait]
impl EventBus for PostgresBus {
    fn name(&self) -> &'static str {
        "postgres"
    }

    async fn publish(&self, topic: &str, payload: Bytes) -> Result<()> {
        check(topic, &payload)?;
        let frame = frame::encode(topic, &payload);
        tokio::time::timeout(PUBLISH_TIMEOUT, self.send(frame))
            .await
            .map_err(|_| Error::Unavailable("event bus: PostgreSQL did not answer within 10 s".into()))?
    }

    async fn subscribe(&self, prefix: &str) -> Result<BusSubscription> {
        Ok(self.fanout.subscribe(prefix))
    }

    fn subscriptions(&self) -> usize {
        self.fanout.len()
    }
}

fn engine(e: sqlx::Error) -> Error {
    Error::internal(format!("postgres bus: {e}"))
}

/// A publish failure: the engine unreachable is `Unavailable`, anything else internal.
fn unavailable(e: sqlx::Error) -> Error {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_) => Error::Unavailable(format!("event bus: PostgreSQL is unreachable ({e})")),
        other => engine(other),
    }
}

async fn listen(pool: &PgPool, channel: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(channel).await?;
    Ok(listener)
}

/// Hands every notification to this process's subscriptions until the pool closes or the bus
/// is dropped; re-establishes a lost listener and reports the gap.
async fn forward(mut listener: PgListener, pool: PgPool, channel: String, fanout: Arc<Fanout>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(n)) => receive(&pool, &fanout, n.payload()).await,
            // The connection dropped and the listener already listens again on a new one.
            Ok(None) => {
                tracing::warn!("postgres bus: the listener's connection dropped; listening again (gap)");
                fanout.gap();
            }
            Err(sqlx::Error::PoolClosed) => return,
            Err(e) => {
                tracing::warn!(error = %e, "postgres bus: the listener failed; reconnecting");
                drop(listener);
                let Some(again) = relisten(&pool, &channel).await else {
                    return;
                };
                listener = again;
                fanout.gap();
            }
        }
    }
}

/// A new listener, retried with backoff (0.1 s doubling to 5 s); `None` once the pool closed.
async fn relisten(pool: &PgPool, channel: &str) -> Option<PgListener> {
    let mut wait = Duration::from_millis(100);
    loop {
        match listen(pool, channel).await {
            Ok(l) => return Some(l),
            Err(sqlx::Error::PoolClosed) => return None,
            Err(e) => tracing::warn!(error = %e, "postgres bus: listening again failed; retrying"),
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(5));
    }
}

/// One notification: an inline frame or the id of a spilled one.
async fn receive(pool: &PgPool, fanout: &Fanout, text: &str) {
    let frame = match text.split_at_checked(1) {
        Some(("m", b64)) => base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(b64)
            .ok()
            .map(Bytes::from),
        Some(("s", id)) => match id.parse::<i64>() {
            Ok(id) => read_spill(pool, id).await,
            Err(_) => None,
        },
        _ => None,
    };
    match frame.as_ref().and_then(frame::decode) {
        Some((topic, payload)) => fanout.deliver(&topic, payload),
        None => {
            tracing::warn!("postgres bus: a notification could not be read (expired or malformed); gap");
            fanout.gap();
        }
    }
}

async fn read_spill(pool: &PgPool, id: i64) -> Option<Bytes> {
    let read = sqlx::query_scalar::<_, Vec<u8>>(READ_SPILL)
        .bind(id)
        .fetch_optional(pool);
    match tokio::time::timeout(PUBLISH_TIMEOUT, read).await {
        Ok(Ok(frame)) => frame.map(Bytes::from),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "postgres bus: reading a spilled payload failed");
            None
        }
        Err(_) => None,
    }
}
