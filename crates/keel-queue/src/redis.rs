//! The Redis provider: every state change is one Lua script, so it is atomic on the server
//! and any number of Keel processes can share a queue without ever handing one message to
//! two consumers. Scripts read the clock with `TIME`, so processes with skewed clocks agree
//! on when a delay ends or a lease expires.
//!
//! Layout of a queue `Q` (the braces are literal: a Redis Cluster hash tag, so a queue lives
//! in one slot; scripts build message keys from the prefix, which Cluster allows within a slot):
//!
//! - `keel:q:{Q}:m:ID` — a hash per message: `payload` (JSON text), `pri`, `n` (deliveries so
//!   far), `max`, `at` (enqueued, ms), `tok` (the current lease token), `died` (ms);
//! - `keel:q:{Q}:ready` — claimable messages. Score `(9 - pri) · 2^44 + (ms the message became
//!   ready − 2024-01-01)`, an exact integer in a double (< 2^48), so a higher priority comes
//!   first, then the earlier ready time. Members are `SEQ:ID`, `SEQ` 16 hex digits of an
//!   `INCR` counter (`keel:q:{Q}:seq`) taken at push (or retry/requeue), so equal scores fall
//!   back to push order through Redis's lexicographic tie-break;
//! - `keel:q:{Q}:delayed` — `SEQ:ID` scored by the ms the delay (or retry time) ends. Due
//!   members move to `ready` keeping their due time in the score, so they rank by when they
//!   came due, not by when a claim noticed;
//! - `keel:q:{Q}:leased` — `ID` scored by lease expiry (ms); a lease holds while expiry > now;
//! - `keel:q:{Q}:dead` — `ID` scored by death time (ms), the order `dead` lists them in.
//!
//! `claim` promotes every due delayed message (all of them, so the order stays exact), reaps
//! up to 1000 expired leases (back to ready at their expiry time, or dead if out of
//! deliveries; no order is promised for redeliveries), then `ZPOPMIN`s up to `max`. A lease
//! token is `ID.SECRET` with a fresh random secret per claim call, stored in the hash: `ack`,
//! `nack` and `extend` look the message up under the queue they are called on and accept the
//! token only if it is the hash's current one and its lease has not expired by server time.
//! `stats` is a read-only script that counts what `claim` would do (a due delayed message or an
//! expired lease is ready, or dead when out of deliveries). `purge` deletes the queue's keys in
//! one script (it blocks Redis for as long as it takes on a very large queue).
//!
//! **Waiting claims**: a dedicated RESP3 connection per `RedisQueue` subscribes to one channel,
//! `keel:q:wake`. A claim that finds nothing and may wait sets `keel:q:{Q}:waiting` (expiring
//! with the longest wait), and every script that makes a message claimable (push, nack,
//! requeue) publishes the queue name on that channel when the flag is there: no traffic while
//! nobody waits, and the flag is set in the same script as the empty claim, so no push can slip
//! between the check and the wait. A waiter then sleeps until a notice for its queue, the next
//! delayed message's due time or lease's expiry (never under 25 ms), its deadline, or 1 s — the
//! last bounds a notice lost while the subscriber reconnects (or the flag was purged). This
//! beats a `BLPOP` per waiter, which would take a Redis connection for each waiting claim.
//! The subscriber needs Redis 6 or later (RESP3).
//!
//! Redis must run with `maxmemory-policy noeviction`: an evicting Redis drops messages.
//! Durability is the server's (RDB/AOF settings).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keel_core::id::{is_valid_id, new_id, random_string, SECRET_ALPHABET};
use keel_core::queue::{
    stale_lease, validate_queue_name, ClaimRequest, DeadMessage, Delivery, Nack, NewMessage, Queue, QueueCapabilities,
    QueueStats,
};
use keel_core::{Error, Result};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, Msg, ProtocolVersion, PushInfo, PushKind, RedisError, Script, ScriptInvocation};
use serde_json::Value;
use tokio::sync::Notify;
use tokio::time::Instant;

/// The pub/sub channel waiting claims listen on; a message's payload is the queue name.
const WAKE_CHANNEL: &str = "keel:q:wake";
/// The longest a waiting claim sleeps without checking again (covers a lost notice).
const RECHECK: Duration = Duration::from_secs(1);
/// The shortest nap before a due time, so a stream of due messages others take cannot spin us.
const MIN_NAP: Duration = Duration::from_millis(25);
/// Scripts on big batches (a 1000-message push, a purge) can take longer than the client's
/// default 500 ms response timeout.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// A queue provider on Redis, shared by every process pointed at the same server.
pub struct RedisQueue {
    conn: ConnectionManager,
    wakeups: Wakeups,
}

fn engine(e: RedisError) -> Error {
    Error::internal(format!("redis: {e}"))
}

fn corrupt(what: &str) -> Error {
    Error::internal(format!("redis: a queue message has an invalid {what}"))
}

/// A duration in whole milliseconds, clamped to 2^43 ms (278 years) so that any time the
/// scripts compute stays an exact integer.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).min(1 << 43)
}

fn timestamp(ms: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| corrupt("timestamp"))
}

fn count<T: TryFrom<i64>>(n: i64, what: &str) -> Result<T> {
    T::try_from(n).map_err(|_| corrupt(what))
}

/// The message id a lease token names, or `None` for a token this provider never made.
fn token_id(token: &str) -> Option<&str> {
    let (id, secret) = token.split_once('.')?;
    (is_valid_id(id) && !secret.is_empty()).then_some(id)
}

/// `ID.SECRET`: unique per delivery, since every claim call draws a new secret.
fn lease_secret() -> String {
    random_string(24, SECRET_ALPHABET)
}

/// Starts a script call on `queue`: every script gets the same keys and first arguments.
fn invocation<'a>(script: &'a Script, queue: &str) -> ScriptInvocation<'a> {
    let base = format!("keel:q:{{{queue}}}:");
    let mut inv = script.prepare_invoke();
    for key in ["ready", "delayed", "leased", "dead", "seq", "waiting"] {
        inv.key(format!("{base}{key}"));
    }
    inv.arg(format!("{base}m:")).arg(WAKE_CHANNEL).arg(queue);
    inv
}

impl RedisQueue {
    /// A queue on the process's shared Redis engine: commands go through `conn` (its one
    /// connection manager, whose response timeout must allow [`RESPONSE_TIMEOUT`] for big
    /// batches); waiting claims get a subscriber connection of their own from `client`.
    /// Checks the server answers.
    pub async fn new(client: &redis::Client, conn: ConnectionManager) -> Result<Self> {
        let wakeups = Wakeups::connect(client).await?;
        let queue = Self { conn, wakeups };
        queue.ping().await?;
        Ok(queue)
    }

    async fn run<T: FromRedisValue>(&self, inv: &ScriptInvocation<'_>) -> Result<T> {
        inv.invoke_async(&mut self.conn.clone()).await.map_err(engine)
    }

    async fn push_all(&self, queue: &str, msgs: &[NewMessage]) -> Result<Vec<String>> {
        validate_queue_name(queue)?;
        for msg in msgs {
            msg.validate()?;
        }
        if msgs.is_empty() {
            return Ok(Vec::new());
        }
        let mut inv = invocation(&PUSH, queue);
        let mut ids = Vec::with_capacity(msgs.len());
        for msg in msgs {
            let id = new_id();
            let payload = serde_json::to_string(&msg.payload).map_err(Error::internal)?;
            inv.arg(&id)
                .arg(payload)
                .arg(msg.priority)
                .arg(millis(msg.delay))
                .arg(msg.max_deliveries);
            ids.push(id);
        }
        let _: i64 = self.run(&inv).await?;
        Ok(ids)
    }

    /// One claim script run; `wait_ms` > 0 marks the queue as awaited when nothing is ready.
    async fn claim_once(&self, queue: &str, req: &ClaimRequest, wait_ms: u64) -> Result<Claimed> {
        let secret = lease_secret();
        let mut inv = invocation(&CLAIM, queue);
        inv.arg(req.max).arg(millis(req.lease)).arg(&secret).arg(wait_ms);
        type Row = (String, String, i64, i64, i64, i64);
        let (expires, next_due, rows): (i64, i64, Vec<Row>) = self.run(&inv).await?;
        let lease_expires_at = timestamp(expires)?;
        let deliveries = rows
            .into_iter()
            .map(|(id, payload, priority, n, max, at)| {
                Ok(Delivery {
                    payload: serde_json::from_str(&payload).map_err(|_| corrupt("payload"))?,
                    priority: count(priority, "priority")?,
                    deliveries: count(n, "delivery count")?,
                    max_deliveries: count(max, "max deliveries")?,
                    enqueued_at: timestamp(at)?,
                    lease: format!("{id}.{secret}"),
                    lease_expires_at,
                    id,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let next_due = u64::try_from(next_due).ok().map(Duration::from_millis);
        Ok(Claimed { deliveries, next_due })
    }

    /// Runs a lease script (`ack`, `nack`, `extend`) for `token`: its positive result, or the
    /// stale-lease `Conflict` when the token is not a live lease of this queue.
    async fn with_lease(&self, script: &Script, queue: &str, token: &str, extra: Option<String>) -> Result<i64> {
        validate_queue_name(queue)?;
        let id = token_id(token).ok_or_else(stale_lease)?;
        let mut inv = invocation(script, queue);
        inv.arg(id).arg(token);
        if let Some(extra) = extra {
            inv.arg(extra);
        }
        let result: i64 = self.run(&inv).await?;
        if result <= 0 {
            return Err(stale_lease());
        }
        Ok(result)
    }
}

struct Claimed {
    deliveries: Vec<Delivery>,
    /// How long until the next delayed message comes due or lease expires, if any.
    next_due: Option<Duration>,
}

#[async_trait]
impl Queue for RedisQueue {
    async fn push(&self, queue: &str, msg: NewMessage) -> Result<String> {
        let mut ids = self.push_all(queue, std::slice::from_ref(&msg)).await?;
        ids.pop().ok_or_else(|| Error::internal("redis: push returned no id"))
    }

    async fn push_many(&self, queue: &str, msgs: Vec<NewMessage>) -> Result<Vec<String>> {
        self.push_all(queue, &msgs).await
    }

    async fn claim(&self, queue: &str, req: ClaimRequest) -> Result<Vec<Delivery>> {
        validate_queue_name(queue)?;
        req.validate()?;
        if req.wait.is_zero() {
            return Ok(self.claim_once(queue, &req, 0).await?.deliveries);
        }
        let deadline = Instant::now() + req.wait;
        let watch = self.wakeups.watch(queue);
        loop {
            // Listen before looking, so a notice sent after the claim script is not missed.
            let notified = watch.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            self.wakeups.revive_if_needed();

            let left = deadline.saturating_duration_since(Instant::now());
            let claimed = self.claim_once(queue, &req, millis(left).max(1)).await?;
            if !claimed.deliveries.is_empty() {
                return Ok(claimed.deliveries);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Vec::new());
            }
            let mut nap = left.min(RECHECK);
            if let Some(due) = claimed.next_due {
                nap = nap.min(due.max(MIN_NAP));
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep(nap) => {}
            }
        }
    }

    async fn ack(&self, queue: &str, lease: &str) -> Result<()> {
        self.with_lease(&ACK, queue, lease, None).await.map(|_| ())
    }

    async fn ack_many(&self, queue: &str, leases: &[String]) -> Result<Vec<bool>> {
        validate_queue_name(queue)?;
        let ids: Vec<Option<&str>> = leases.iter().map(|l| token_id(l)).collect();
        let mut inv = invocation(&ACK_MANY, queue);
        let mut sent = 0;
        for (lease, id) in leases.iter().zip(&ids) {
            if let Some(id) = id {
                inv.arg(*id).arg(lease);
                sent += 1;
            }
        }
        if sent == 0 {
            return Ok(vec![false; leases.len()]);
        }
        let acked: Vec<i64> = self.run(&inv).await?;
        let mut acked = acked.into_iter();
        Ok(ids
            .iter()
            .map(|id| id.is_some() && acked.next().is_some_and(|n| n > 0))
            .collect())
    }

    async fn nack(&self, queue: &str, lease: &str, then: Nack) -> Result<()> {
        let then = match then {
            Nack::Retry(after) => millis(after).to_string(),
            Nack::Dead => "dead".to_owned(),
        };
        self.with_lease(&NACK, queue, lease, Some(then)).await.map(|_| ())
    }

    async fn extend(&self, queue: &str, lease: &str, lease_for: Duration) -> Result<DateTime<Utc>> {
        // The same bounds as a claim's lease (a 400 naming `lease` otherwise).
        ClaimRequest::new(1, lease_for).validate()?;
        let expires = self
            .with_lease(&EXTEND, queue, lease, Some(millis(lease_for).to_string()))
            .await?;
        timestamp(expires)
    }

    async fn stats(&self, queue: &str) -> Result<QueueStats> {
        validate_queue_name(queue)?;
        let (ready, delayed, leased, dead): (u64, u64, u64, u64) = self.run(&invocation(&STATS, queue)).await?;
        Ok(QueueStats {
            ready,
            delayed,
            leased,
            dead,
        })
    }

    async fn purge(&self, queue: &str) -> Result<u64> {
        validate_queue_name(queue)?;
        self.run(&invocation(&PURGE, queue)).await
    }

    async fn dead(&self, queue: &str, limit: usize) -> Result<Vec<DeadMessage>> {
        validate_queue_name(queue)?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut inv = invocation(&DEAD, queue);
        inv.arg(limit.min(1 << 31) - 1);
        let rows: Vec<(String, String, i64, i64, i64, i64)> = self.run(&inv).await?;
        rows.into_iter()
            .map(|(id, payload, priority, n, at, died)| {
                Ok(DeadMessage {
                    id,
                    payload: serde_json::from_str::<Value>(&payload).map_err(|_| corrupt("payload"))?,
                    priority: count(priority, "priority")?,
                    deliveries: count(n, "delivery count")?,
                    enqueued_at: timestamp(at)?,
                    died_at: timestamp(died)?,
                })
            })
            .collect()
    }

    async fn requeue_dead(&self, queue: &str, ids: &[String]) -> Result<u64> {
        validate_queue_name(queue)?;
        let mut inv = invocation(&REQUEUE, queue);
        if !ids.is_empty() {
            let known: Vec<&String> = ids.iter().filter(|id| is_valid_id(id)).collect();
            if known.is_empty() {
                return Ok(0);
            }
            inv.arg(known);
        }
        self.run(&inv).await
    }

    fn name(&self) -> &'static str {
        "redis"
    }

    fn capabilities(&self) -> QueueCapabilities {
        QueueCapabilities {
            shared: true,
            lease_per_claim: true,
            exact_stats: true,
        }
    }

    async fn ping(&self) -> Result<()> {
        let pong: String = redis::cmd("PING")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(engine)?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(Error::internal(format!("redis answered {pong:?} to PING")))
        }
    }
}

/// Wakes this process's waiting claims when a script publishes their queue's name.
struct Wakeups {
    /// The subscriber: RESP3 so one connection manager can carry pushes and resubscribe itself
    /// after a reconnect.
    sub: ConnectionManager,
    waiters: Arc<Waiters>,
    /// Set while a revival `PING` is in flight.
    reviving: Arc<AtomicBool>,
}

#[derive(Default)]
struct Waiters {
    /// Queue name → its notifier and how many claims of this process wait on it.
    by_queue: Mutex<HashMap<String, (Arc<Notify>, usize)>>,
    /// False after the subscriber lost its connection, until a `PING` on it succeeds again.
    healthy: AtomicBool,
}

impl Waiters {
    fn on_push(&self, push: PushInfo) {
        let map = self.by_queue.lock().unwrap_or_else(|e| e.into_inner());
        if push.kind == PushKind::Disconnection {
            self.healthy.store(false, Ordering::SeqCst);
            // Nothing will be heard for a while: let every waiter look for itself.
            for (notify, _) in map.values() {
                notify.notify_waiters();
            }
        } else if let Some(msg) = Msg::from_push_info(push) {
            if let Ok(queue) = std::str::from_utf8(msg.get_payload_bytes()) {
                if let Some((notify, _)) = map.get(queue) {
                    notify.notify_waiters();
                }
            }
        }
    }
}

/// One waiting claim's registration; unregisters on drop (also when the claim is cancelled).
struct Watch<'a> {
    waiters: &'a Waiters,
    queue: String,
    notify: Arc<Notify>,
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        let mut map = self.waiters.by_queue.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, n)) = map.get_mut(&self.queue) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.queue);
            }
        }
    }
}

impl Wakeups {
    async fn connect(client: &redis::Client) -> Result<Self> {
        let info = client.get_connection_info().clone();
        let settings = info.redis_settings().clone().set_protocol(ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(settings)).map_err(engine)?;
        let waiters = Arc::new(Waiters::default());
        let sink = waiters.clone();
        let config = ConnectionManagerConfig::new()
            .set_push_sender(move |push: PushInfo| {
                sink.on_push(push);
                Ok::<(), ()>(())
            })
            .set_automatic_resubscription();
        let mut sub = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(engine)?;
        sub.subscribe(WAKE_CHANNEL).await.map_err(engine)?;
        waiters.healthy.store(true, Ordering::SeqCst);
        Ok(Self {
            sub,
            waiters,
            reviving: Arc::new(AtomicBool::new(false)),
        })
    }

    fn watch(&self, queue: &str) -> Watch<'_> {
        let mut map = self.waiters.by_queue.lock().unwrap_or_else(|e| e.into_inner());
        let (notify, n) = map
            .entry(queue.to_owned())
            .or_insert_with(|| (Arc::new(Notify::new()), 0));
        *n += 1;
        Watch {
            waiters: &self.waiters,
            queue: queue.to_owned(),
            notify: notify.clone(),
        }
    }

    /// After the subscriber lost its connection: the manager reconnects (and resubscribes) on
    /// its own for a few seconds, then only when used; a background `PING` makes sure it does.
    fn revive_if_needed(&self) {
        if self.waiters.healthy.load(Ordering::SeqCst) || self.reviving.swap(true, Ordering::SeqCst) {
            return;
        }
        let mut sub = self.sub.clone();
        let waiters = self.waiters.clone();
        let reviving = self.reviving.clone();
        tokio::spawn(async move {
            let pong: std::result::Result<String, RedisError> = redis::cmd("PING").query_async(&mut sub).await;
            if pong.is_ok() {
                waiters.healthy.store(true, Ordering::SeqCst);
            }
            reviving.store(false, Ordering::SeqCst);
        });
    }
}

/// Every script starts with these. `KEYS`: 1 ready, 2 delayed, 3 leased, 4 dead, 5 seq,
/// 6 waiting; `ARGV`: 1 message key prefix, 2 wake channel, 3 queue name, then the script's own.
const PRELUDE: &str = r#"
local P = ARGV[1]
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- Exact decimal text: Lua's default formatting keeps 14 significant digits only.
local function int(n) return string.format('%.0f', n) end
local EPOCH = 1704067200000   -- 2024-01-01T00:00:00Z in ms
local SPAN = 17592186044416   -- 2^44 ms (557 years): one band per priority
local function ready_score(pri, at)
  local t = math.min(math.max(at - EPOCH, 0), SPAN - 1)
  return int((9 - pri) * SPAN + t)
end
local function member_id(m) return string.sub(m, 18) end
-- Makes message `id` ready at `at` (or delayed until then), after every earlier push.
local function schedule(id, pri, at, now)
  local m = string.format('%016x', redis.call('INCR', KEYS[5])) .. ':' .. id
  if at <= now then
    redis.call('ZADD', KEYS[1], ready_score(pri, at), m)
  else
    redis.call('ZADD', KEYS[2], int(at), m)
  end
end
local function bury(id, at)
  redis.call('ZADD', KEYS[4], int(at), id)
  redis.call('HSET', P .. id, 'died', int(at))
end
local function wake()
  if redis.call('EXISTS', KEYS[6]) == 1 then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
end
-- Whether `token` is the current lease of message `id` and has not expired.
local function lease_ok(id, token, now)
  if redis.call('HGET', P .. id, 'tok') ~= token then return false end
  local exp = redis.call('ZSCORE', KEYS[3], id)
  return exp ~= false and tonumber(exp) > now
end
"#;

fn script(body: &str) -> Script {
    Script::new(&format!("{PRELUDE}{body}"))
}

/// ARGV 4..: (id, payload, priority, delay ms, max deliveries) per message. All or none: the
/// only failure (an id collision) is checked before anything is written.
static PUSH: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local now = now_ms()
for i = 4, #ARGV, 5 do
  if redis.call('EXISTS', P .. ARGV[i]) == 1 then return redis.error_reply('message id collision') end
end
for i = 4, #ARGV, 5 do
  local id = ARGV[i]
  redis.call('HSET', P .. id, 'payload', ARGV[i + 1], 'pri', ARGV[i + 2], 'n', '0', 'max', ARGV[i + 4], 'at', int(now))
  schedule(id, tonumber(ARGV[i + 2]), now + tonumber(ARGV[i + 3]), now)
end
wake()
return 1
"#,
    )
});

/// ARGV 4: max, 5: lease ms, 6: token secret, 7: wait ms (0: not waiting).
/// Returns {lease expiry ms, ms until the next due time or -1, {{id, payload, pri, n, max, at}…}}.
static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local now = now_ms()
-- Due delayed messages become ready, ranked by when they came due.
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', int(now), 'WITHSCORES')
for i = 1, #due, 2 do
  local pri = redis.call('HGET', P .. member_id(due[i]), 'pri')
  if pri then redis.call('ZADD', KEYS[1], ready_score(tonumber(pri), tonumber(due[i + 1])), due[i]) end
end
if #due > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', int(now)) end
-- Expired leases: ready again from their expiry, or dead when out of deliveries.
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', int(now), 'WITHSCORES', 'LIMIT', 0, 1000)
for i = 1, #expired, 2 do
  local id, exp = expired[i], tonumber(expired[i + 1])
  local f = redis.call('HMGET', P .. id, 'n', 'max', 'pri')
  redis.call('ZREM', KEYS[3], id)
  if f[1] then
    redis.call('HDEL', P .. id, 'tok')
    if tonumber(f[1]) >= tonumber(f[2]) then bury(id, exp) else schedule(id, tonumber(f[3]), exp, now) end
  end
end
-- Lease the best ready messages.
local exp = now + tonumber(ARGV[5])
local out = {}
local popped = redis.call('ZPOPMIN', KEYS[1], tonumber(ARGV[4]))
for i = 1, #popped, 2 do
  local id = member_id(popped[i])
  local k = P .. id
  local f = redis.call('HMGET', k, 'payload', 'pri', 'n', 'max', 'at')
  if f[1] then
    local n = tonumber(f[3]) + 1
    if n > tonumber(f[4]) then
      bury(id, now)
    else
      redis.call('HSET', k, 'n', n, 'tok', id .. '.' .. ARGV[6])
      redis.call('ZADD', KEYS[3], int(exp), id)
      out[#out + 1] = {id, f[1], tonumber(f[2]), n, tonumber(f[4]), tonumber(f[5])}
    end
  end
end
local wait = tonumber(ARGV[7])
if #out == 0 and wait > 0 and redis.call('PTTL', KEYS[6]) < wait then
  redis.call('SET', KEYS[6], '1', 'PX', wait)
end
local next_due = -1
for _, key in ipairs({KEYS[2], KEYS[3]}) do
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if first[2] then
    local d = math.max(tonumber(first[2]) - now, 0)
    if next_due < 0 or d < next_due then next_due = d end
  end
end
return {exp, next_due, out}
"#,
    )
});

/// ARGV 4: id, 5: token. Returns 1, or 0 for a stale lease.
static ACK: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local id = ARGV[4]
if not lease_ok(id, ARGV[5], now_ms()) then return 0 end
redis.call('ZREM', KEYS[3], id)
redis.call('DEL', P .. id)
return 1
"#,
    )
});

/// ARGV 4..: (id, token) per lease. Returns a 1 (acked) or 0 (stale) per pair: a group of
/// completions in one script run instead of one run each.
static ACK_MANY: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local now = now_ms()
local out = {}
for i = 4, #ARGV, 2 do
  local id = ARGV[i]
  if lease_ok(id, ARGV[i + 1], now) then
    redis.call('ZREM', KEYS[3], id)
    redis.call('DEL', P .. id)
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
"#,
    )
});

/// ARGV 4: id, 5: token, 6: retry after ms, or `dead`. Returns 1, or 0 for a stale lease.
static NACK: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local now = now_ms()
local id = ARGV[4]
if not lease_ok(id, ARGV[5], now) then return 0 end
redis.call('ZREM', KEYS[3], id)
redis.call('HDEL', P .. id, 'tok')
local f = redis.call('HMGET', P .. id, 'n', 'max', 'pri')
if ARGV[6] == 'dead' or tonumber(f[1]) >= tonumber(f[2]) then
  bury(id, now)
else
  schedule(id, tonumber(f[3]), now + tonumber(ARGV[6]), now)
  wake()
end
return 1
"#,
    )
});

/// ARGV 4: id, 5: token, 6: lease ms. Returns the new expiry (ms), or 0 for a stale lease.
static EXTEND: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local now = now_ms()
local id = ARGV[4]
if not lease_ok(id, ARGV[5], now) then return 0 end
local exp = now + tonumber(ARGV[6])
redis.call('ZADD', KEYS[3], int(exp), id)
return exp
"#,
    )
});

/// Returns {ready, delayed, leased, dead} as a claim at this instant would see them.
static STATS: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local now = int(now_ms())
local ready = redis.call('ZCARD', KEYS[1]) + redis.call('ZCOUNT', KEYS[2], '-inf', now)
local delayed = redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf')
local leased = redis.call('ZCOUNT', KEYS[3], '(' .. now, '+inf')
local dead = redis.call('ZCARD', KEYS[4])
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)) do
  local f = redis.call('HMGET', P .. id, 'n', 'max')
  if f[1] then
    if tonumber(f[1]) >= tonumber(f[2]) then dead = dead + 1 else ready = ready + 1 end
  end
end
return {ready, delayed, leased, dead}
"#,
    )
});

/// Deletes every message and state key of the queue; returns how many messages there were.
static PURGE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local total = 0
for k = 1, 4 do
  local members = redis.call('ZRANGE', KEYS[k], 0, -1)
  for i = 1, #members, 500 do
    local batch = {}
    for j = i, math.min(i + 499, #members) do
      local id = members[j]
      if k <= 2 then id = member_id(id) end
      batch[#batch + 1] = P .. id
    end
    redis.call('UNLINK', unpack(batch))
  end
  total = total + #members
end
redis.call('UNLINK', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
return total
"#,
    )
});

/// ARGV 4: the last rank to list. Returns {{id, payload, pri, n, at, died}…}, oldest death first.
static DEAD: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local dead = redis.call('ZRANGE', KEYS[4], 0, ARGV[4], 'WITHSCORES')
local out = {}
for i = 1, #dead, 2 do
  local f = redis.call('HMGET', P .. dead[i], 'payload', 'pri', 'n', 'at')
  if f[1] then
    out[#out + 1] = {dead[i], f[1], tonumber(f[2]), tonumber(f[3]), tonumber(f[4]), tonumber(dead[i + 1])}
  end
end
return out
"#,
    )
});

/// ARGV 4..: the ids to requeue (none: every dead message). Returns how many were requeued.
static REQUEUE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local now = now_ms()
local ids = {}
if #ARGV > 3 then
  for i = 4, #ARGV do ids[#ids + 1] = ARGV[i] end
else
  ids = redis.call('ZRANGE', KEYS[4], 0, -1)
end
local n = 0
for _, id in ipairs(ids) do
  if redis.call('ZREM', KEYS[4], id) == 1 then
    local pri = redis.call('HGET', P .. id, 'pri')
    if pri then
      redis.call('HSET', P .. id, 'n', '0')
      redis.call('HDEL', P .. id, 'died')
      schedule(id, tonumber(pri), now, now)
      n = n + 1
    end
  end
end
if n > 0 then wake() end
return n
"#,
    )
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_tokens_name_no_message() {
        assert_eq!(token_id(""), None);
        assert_eq!(token_id("nonsense"), None);
        assert_eq!(token_id("0:0:0"), None);
        assert_eq!(token_id("abcdefghijklmno."), None);
        assert_eq!(token_id("ABCDEFGHIJKLMNO.x"), None);
        assert_eq!(token_id("abcdefghijklmno.x"), Some("abcdefghijklmno"));
    }

    #[test]
    fn huge_durations_saturate() {
        assert_eq!(millis(Duration::from_millis(1500)), 1500);
        assert_eq!(millis(Duration::MAX), 1 << 43);
    }
}
