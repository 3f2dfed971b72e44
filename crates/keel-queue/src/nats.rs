//! The NATS JetStream provider: messages live in JetStream streams, shared by every Keel
//! process pointed at the same server; claims are JetStream pull-consumer deliveries, so
//! "two consumers never hold the same message at once" is JetStream's own guarantee.
//! Written for nats-server 2.9 (no JetStream feature newer than 2.9 is used).
//!
//! # Layout of a queue `Q` (prefix `KEEL`, subjects in lower case)
//!
//! - `KEEL_Q_Q`, work-queue retention, subjects `keel.q.Q.p0` … `keel.q.Q.p9`: the ready and
//!   leased messages, one subject per priority. Ten durable pull consumers `p0` … `p9`, each
//!   filtered on its priority's subject (a work-queue stream needs non-overlapping filters),
//!   explicit acks, ack wait = the lease, unlimited redeliveries and ack-pending. An ack
//!   removes the message from the stream.
//! - `KEEL_D_Q`, work-queue retention, subject `keel.d.Q`: delayed messages (pushed with a
//!   delay, or nacked with a retry time), with a `Keel-Not-Before` header. One durable pull
//!   consumer `mover`.
//! - `KEEL_X_Q`, limits retention, subject `keel.x.Q`: the dead letters, in order of death.
//! - `KEEL_L_Q`, limits retention, one message per subject `keel.l.Q.<id>.<seq>.<delivery>`,
//!   max age 13 h: the new expiry of each extended lease (created on the first `extend`).
//!
//! Every copy of a message carries headers `Keel-Id`, `Keel-Priority`, `Keel-Max-Deliveries`,
//! `Keel-Enqueued-At` and `Keel-Deliveries` (deliveries used *before* this copy existed);
//! the payload is the JSON text. Streams are created on the first push (all three at once),
//! consumers on the first claim; both are cached per queue and looked up again when the
//! server says they are gone (another process purged the queue). `purge` deletes the four
//! streams; a queue that was never pushed to has no stream and counts all zeros.
//!
//! # Claims, leases and fencing
//!
//! A claim first moves due delayed messages (below), then fetches (`no_wait`) from `p9` down
//! to `p0` until it has `max` messages. JetStream's ack wait is fixed per consumer, so every
//! lease lasts the configured `lease` (`lease_per_claim = false`; the consumer's real ack
//! wait is read back from the server, in case another process created it with another
//! lease). `lease_expires_at` is the time just *before* the fetch was sent plus the ack wait,
//! minus a small margin (1/50 of the lease, at most 200 ms): never later than the server's
//! redelivery. A claim with a `wait` subscribes (core NATS) to the queue's work subjects and
//! retries when anything is published there (a push or a move, from any process), when a
//! delayed message it saw comes due, and at least every second (to notice expired leases).
//!
//! The lease token is opaque (base64url of JSON): the queue, message id, the ack reply
//! subject JetStream gave the delivery (checked to be one of this queue's consumers), the
//! stream sequence, the server's delivery count and the expiry. JetStream 2.9 does not
//! fence acks by delivery (an ack of an old delivery acks the current one) and confirms a
//! double ack even for a message it no longer holds, so `ack`/`nack`/`extend` check, in
//! this order, and answer `409` otherwise:
//! 1. the token decodes (else `400`) and names this queue;
//! 2. the message is still in the work stream at that sequence with that id (an acked,
//!    nacked, dead-lettered or purged message is gone: a work-queue stream deletes on ack);
//! 3. the lease has not expired by this process's clock: the token's expiry, or, once past
//!    it, the expiry `extend` recorded in `KEEL_L_Q` (so a lease extended through one Keel
//!    process can be acked through another);
//! 4. the ack itself is a request (double ack) so a server that did not get it is an error;
//!    no responder means the consumer is gone (`409`).
//!
//! Between check 3 and the server applying the ack there is one network trip; the expiry
//! margin covers it. `extend` sends `+WPI`, which restarts the full ack wait, records
//! now + lease − margin in `KEEL_L_Q` and returns it.
//!
//! # Deliveries, delays and retries
//!
//! JetStream has no per-message delay and its NAK-with-delay would count a server delivery
//! for every wait, so delays never touch the work stream: a delayed push or a retry with a
//! time goes to `KEEL_D_Q`. Each claim fetches (`no_wait`) from the `mover` consumer: a copy
//! not yet due is NAKed with exactly its remaining delay (at most an hour at a time), so the
//! server hands it back when it is due and a claim does not re-read waiting copies; a due
//! copy is published to the work stream with `Nats-Msg-Id` `d-<id>-<delayed seq>` and then
//! acked away. If two processes race on a copy (or one dies between publish and ack), the
//! duplicate window (2 min) drops the second publish. The mover's own delivery count is
//! never used.
//!
//! Real deliveries of a work copy = its `Keel-Deliveries` header + the server's delivery
//! count of that copy, so a first delivery after a delay is 1, and a lease expiry
//! (server redelivery) or a nack (new copy with the header raised) each add one.
//! `Nack::Retry(0)` publishes the new copy straight into the work stream, `Retry(d)` into
//! the delayed stream; then the old copy is acked. If the ack fails, the new copy is deleted
//! again. Ids (`Nats-Msg-Id` `r-<id>-<seq>-<delivery>`) make a repeated nack a duplicate.
//!
//! # Dead letters
//!
//! `nack(Dead)`, a retry past `max_deliveries`, or a claim that fetches a copy whose lease
//! expired on its last allowed delivery, publish the copy (with `Keel-Died-At`) to
//! `KEEL_X_Q` and then remove the work copy (`+TERM`, confirmed). `dead` reads the stream
//! oldest first through a short-lived ephemeral consumer; `requeue_dead` republishes into
//! the work stream with zero deliveries used (`Nats-Msg-Id` `q-<id>-<dead seq>`, so two
//! processes requeueing at once publish once) and deletes the dead copy.
//!
//! # Stats
//!
//! `delayed` and `dead` are the message counts of their streams; `leased` is the sum of the
//! priority consumers' ack-pending counts; `ready` is the work stream's count minus that.
//! Categories are never mixed (`exact_stats`), but transitions are applied lazily, by
//! claims: a lease that expired counts as `leased`, and a delay that ended counts as
//! `delayed`, until the next claim on the queue redelivers or moves the message. The counts
//! come from four info requests, not one snapshot, so they may be off while the queue
//! changes.
//!
//! # Limits
//!
//! - `push_many` validates every message first, then publishes the batch pipelined and waits
//!   for every acknowledgement. JetStream 2.9 has no atomic batch: if the server refuses a
//!   message mid-batch, the ones already stored are deleted again (best effort) and the
//!   error is returned; a consumer may have claimed one of them in that instant.
//! - A message is payload + headers in one NATS message: the server's `max_payload` (1 MiB
//!   by default) must exceed `MAX_PAYLOAD_BYTES` by a few hundred bytes for the largest
//!   payloads; otherwise such a push fails with `413` naming the server's limit.
//! - A message in the work stream without Keel's headers (published there by something
//!   else) is terminated with a warning.
//! - Clock-based fencing assumes the Keel processes' clocks agree to well under a lease.
//! - A 2.9 server does not answer a fetch on a deleted consumer, so the first claim in a
//!   process after another process purged the queue waits out the fetch timeout (5 s),
//!   then looks the queue up afresh.
//! - Two concurrent acks of the same token can both pass check 2 and both succeed.

use std::collections::{HashMap, HashSet};
use std::future::IntoFuture;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::context::{
    CreateStreamErrorKind, GetStreamErrorKind, PublishAckFuture, PublishError, PublishErrorKind,
};
use async_nats::jetstream::message::StreamMessage;
use async_nats::jetstream::stream::{self, LastRawMessageErrorKind, RetentionPolicy, StorageType};
use async_nats::jetstream::{self, AckKind};
use async_nats::{HeaderMap, RequestErrorKind};
use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use futures::future::join_all;
use futures::{FutureExt, StreamExt};
use keel_core::queue::{
    stale_lease, validate_queue_name, ClaimRequest, DeadMessage, Delivery, Nack, NewMessage, Queue, QueueCapabilities,
    QueueStats, MAX_LEASE, MAX_PRIORITY, MIN_LEASE, MIN_PRIORITY,
};
use keel_core::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The NATS provider's settings (the connection is the process's shared NATS client).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct NatsQueueConfig {
    /// The lease of every claim (the consumers' ack wait), 100 ms to 12 h.
    pub lease: Duration,
    /// Streams are named `{PREFIX}_Q_{queue}` … and subjects `{prefix}.q.{queue}.p5` …
    /// (upper and lower case of this). 1–32 letters or digits.
    pub prefix: String,
    /// Replicas of each stream (1 on a single server).
    pub replicas: usize,
}

impl Default for NatsQueueConfig {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(30),
            prefix: "KEEL".into(),
            replicas: 1,
        }
    }
}

const H_ID: &str = "Keel-Id";
const H_PRIORITY: &str = "Keel-Priority";
const H_MAX: &str = "Keel-Max-Deliveries";
const H_DELIVERIES: &str = "Keel-Deliveries";
const H_ENQUEUED: &str = "Keel-Enqueued-At";
const H_NOT_BEFORE: &str = "Keel-Not-Before";
const H_DIED: &str = "Keel-Died-At";
const H_MSG_ID: &str = "Nats-Msg-Id";

/// How long a `no_wait` fetch may take before it is given up (a fetch on a consumer deleted
/// meanwhile gets no answer at all from a 2.9 server).
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a waiting claim retries without being woken.
const WAIT_POLL: Duration = Duration::from_secs(1);
/// The longest a not-yet-due delayed copy is NAKed for at a time.
const MAX_NAK_DELAY: Duration = Duration::from_secs(3600);
/// The mover consumer's ack wait (how long a claim may take to move a due copy).
const MOVER_ACK_WAIT: Duration = Duration::from_secs(30);
/// Due delayed copies moved per fetch, and fetches per claim.
const MOVE_BATCH: usize = 100;
const MOVE_ROUNDS: usize = 10;
/// Duplicate window of the work and delayed streams (idempotent moves and retries).
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
/// How long lease-extension records are kept (longer than the longest lease).
const LEASE_RECORD_AGE: Duration = Duration::from_secs(13 * 3600);
const PRIORITIES: usize = (MAX_PRIORITY - MIN_PRIORITY + 1) as usize;

/// A queue in NATS JetStream, shared by every process pointed at the same server.
pub struct NatsQueue {
    client: async_nats::Client,
    js: jetstream::Context,
    lease: Duration,
    /// Upper-case prefix for stream names, lower-case for subjects.
    streams: String,
    subjects: String,
    replicas: usize,
    /// Queues whose consumers this process has looked up.
    handles: Mutex<HashMap<String, Arc<Handles>>>,
    /// Queues whose streams this process created or saw (push skips the create requests).
    known: Mutex<HashSet<String>>,
    /// Queues whose lease-record stream exists.
    lease_streams: Mutex<HashSet<String>>,
    /// Serializes looking up consumers, so concurrent first claims do it once.
    init: tokio::sync::Mutex<()>,
}

/// The consumers of one queue.
struct Handles {
    /// Index = priority.
    work: Vec<PullConsumer>,
    /// Each priority consumer's real ack wait.
    ack_wait: Vec<Duration>,
    mover: PullConsumer,
}

/// What the headers of a copy say.
#[derive(Debug, Clone)]
struct Meta {
    id: String,
    priority: i32,
    max_deliveries: u32,
    /// Deliveries used before this copy.
    deliveries: u32,
    enqueued_ms: i64,
    not_before_ms: Option<i64>,
    died_ms: Option<i64>,
}

impl Meta {
    fn read(headers: Option<&HeaderMap>) -> Option<Self> {
        let h = headers?;
        let get = |name: &str| h.get(name).map(|v| v.as_str().to_string());
        let num = |name: &str| get(name).and_then(|v| v.parse::<i64>().ok());
        let priority = i32::try_from(num(H_PRIORITY)?).ok()?;
        if !(MIN_PRIORITY..=MAX_PRIORITY).contains(&priority) {
            return None;
        }
        Some(Self {
            id: get(H_ID).filter(|id| !id.is_empty())?,
            priority,
            max_deliveries: u32::try_from(num(H_MAX)?).ok()?.max(1),
            deliveries: u32::try_from(num(H_DELIVERIES)?).ok()?,
            enqueued_ms: num(H_ENQUEUED)?,
            not_before_ms: num(H_NOT_BEFORE),
            died_ms: num(H_DIED),
        })
    }

    fn headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(H_ID, self.id.as_str());
        h.insert(H_PRIORITY, self.priority.to_string());
        h.insert(H_MAX, self.max_deliveries.to_string());
        h.insert(H_DELIVERIES, self.deliveries.to_string());
        h.insert(H_ENQUEUED, self.enqueued_ms.to_string());
        if let Some(nb) = self.not_before_ms {
            h.insert(H_NOT_BEFORE, nb.to_string());
        }
        if let Some(d) = self.died_ms {
            h.insert(H_DIED, d.to_string());
        }
        h
    }
}

/// The lease token's content.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Lease {
    /// Queue.
    q: String,
    /// Message id.
    i: String,
    /// The delivery's ack reply subject.
    r: String,
    /// Stream sequence of the work copy.
    s: u64,
    /// The server's delivery count of the copy.
    d: u64,
    /// The consumer's ack wait, ms.
    l: u64,
    /// Expiry, ms since the epoch.
    x: i64,
}

const TOKEN_PREFIX: &str = "n1.";

impl Lease {
    fn encode(&self) -> Result<String> {
        let json = serde_json::to_vec(self).map_err(Error::internal)?;
        Ok(format!("{TOKEN_PREFIX}{}", b64_encode(&json)))
    }

    fn decode(token: &str) -> Option<Self> {
        let body = token.strip_prefix(TOKEN_PREFIX)?;
        serde_json::from_slice(&b64_decode(body)?).ok()
    }
}

fn bad_lease() -> Error {
    Error::field(
        "lease",
        "validation_invalid_lease",
        "This is not a lease token of this queue provider; use the `lease` a claim returned.",
    )
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64url without padding.
fn b64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b1 = chunk.get(1).copied().unwrap_or(0);
        let b2 = chunk.get(2).copied().unwrap_or(0);
        let n = (u32::from(chunk[0]) << 16) | (u32::from(b1) << 8) | u32::from(b2);
        for i in 0..=chunk.len() {
            out.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = B64.iter().position(|&x| x == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn engine(what: &str, e: impl std::fmt::Display) -> Error {
    Error::internal(format!("nats: {what}: {e}"))
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn to_time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_else(Utc::now)
}

/// How much earlier than the server's redelivery a lease is reported to end.
fn margin(ack_wait: Duration) -> Duration {
    (ack_wait / 50).min(Duration::from_millis(200))
}

/// When a lease of `ack_wait` taken at `sent_at` ends for its holder: the ack wait (at most
/// `MAX_LEASE`, ending the lease early rather than late) minus the margin.
fn lease_end(sent_at: DateTime<Utc>, ack_wait: Duration) -> DateTime<Utc> {
    let ack_wait = ack_wait.min(MAX_LEASE);
    chrono::Duration::from_std(ack_wait - margin(ack_wait))
        .ok()
        .and_then(|d| sent_at.checked_add_signed(d))
        .unwrap_or(sent_at)
}

/// `now + d` in ms, refusing delays past what a timestamp can hold.
fn after(d: Duration, field: &str) -> Result<i64> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| Utc::now().checked_add_signed(d))
        .map(|t| t.timestamp_millis())
        .ok_or_else(|| Error::field(field, "validation_out_of_range", format!("{field} is too long.")))
}

/// Whether `subject` is the ack reply subject of delivery `dc` of sequence `seq` by one of
/// the consumers `p0`…`p9` of `work_stream` (acks are sent there, so a token must not be
/// able to name any other subject). v1: `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.
/// <cseq>.<ts>.<pending>`; v2 inserts `<domain>.<account hash>` and may append a token.
fn ack_subject_ok(subject: &str, work_stream: &str, seq: u64, dc: u64) -> bool {
    let t: Vec<&str> = subject.split('.').collect();
    let plain = |s: &&str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic() && b != b'*' && b != b'>');
    if !t.iter().all(plain) || t.len() > 12 {
        return false;
    }
    let rest = match t.len() {
        9 => &t[2..],
        n if n >= 11 => &t[4..],
        _ => return false,
    };
    let numeric = |s: &&str| s.bytes().all(|b| b.is_ascii_digit());
    t[0] == "$JS"
        && t[1] == "ACK"
        && rest[0] == work_stream
        && rest[1].len() == 2
        && rest[1].starts_with('p')
        && rest[1].as_bytes()[1].is_ascii_digit()
        && rest[2..7].iter().all(numeric)
        && rest[2].parse::<u64>().ok() == Some(dc)
        && rest[3].parse::<u64>().ok() == Some(seq)
}

fn is_stream_not_found(e: &async_nats::jetstream::context::GetStreamError) -> bool {
    matches!(e.kind(), GetStreamErrorKind::JetStream(j) if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND)
}

fn payload_bytes(payload: &Value) -> Result<Vec<u8>> {
    serde_json::to_vec(payload).map_err(Error::internal)
}

/// Where a publish goes when its stream is missing.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Missing {
    /// Create the queue's streams and publish again (push, requeue).
    Create,
    /// The queue was purged meanwhile: a stale lease (nack of a purged message).
    Stale,
}

impl NatsQueue {
    /// Connects, checks JetStream answers, and warns when the server's `max_payload` is too
    /// small for the largest messages.
    /// `client` is the process's shared NATS connection (opened once by the binary).
    pub async fn new(client: async_nats::Client, cfg: NatsQueueConfig) -> Result<Self> {
        if cfg.lease < MIN_LEASE || cfg.lease > MAX_LEASE {
            return Err(Error::field(
                "lease",
                "validation_out_of_range",
                format!(
                    "The NATS queue lease must be between {} ms and {} s.",
                    MIN_LEASE.as_millis(),
                    MAX_LEASE.as_secs()
                ),
            ));
        }
        if cfg.prefix.is_empty() || cfg.prefix.len() > 32 || !cfg.prefix.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::field(
                "prefix",
                "validation_invalid",
                "The NATS queue prefix is 1 to 32 letters or digits.",
            ));
        }
        let js = jetstream::ContextBuilder::new()
            .timeout(Duration::from_secs(10))
            .ack_timeout(Duration::from_secs(10))
            .build(client.clone());
        let queue = Self {
            client,
            js,
            lease: cfg.lease,
            streams: cfg.prefix.to_ascii_uppercase(),
            subjects: cfg.prefix.to_ascii_lowercase(),
            replicas: cfg.replicas.max(1),
            handles: Mutex::new(HashMap::new()),
            known: Mutex::new(HashSet::new()),
            lease_streams: Mutex::new(HashSet::new()),
            init: tokio::sync::Mutex::new(()),
        };
        queue.ping().await?;
        let max_payload = queue.client.server_info().max_payload;
        if max_payload < keel_core::queue::MAX_PAYLOAD_BYTES + 4096 {
            tracing::warn!(
                max_payload,
                "the NATS server's max_payload is below 1 MiB + headers: the largest queue payloads will be refused"
            );
        }
        Ok(queue)
    }

    // ---- names ----

    fn work_stream(&self, queue: &str) -> String {
        format!("{}_Q_{queue}", self.streams)
    }

    fn delayed_stream(&self, queue: &str) -> String {
        format!("{}_D_{queue}", self.streams)
    }

    fn dead_stream(&self, queue: &str) -> String {
        format!("{}_X_{queue}", self.streams)
    }

    fn lease_stream(&self, queue: &str) -> String {
        format!("{}_L_{queue}", self.streams)
    }

    fn work_subject(&self, queue: &str, priority: i32) -> String {
        format!("{}.q.{queue}.p{priority}", self.subjects)
    }

    fn delayed_subject(&self, queue: &str) -> String {
        format!("{}.d.{queue}", self.subjects)
    }

    fn dead_subject(&self, queue: &str) -> String {
        format!("{}.x.{queue}", self.subjects)
    }

    fn lease_subject(&self, queue: &str, lease: &Lease) -> String {
        format!("{}.l.{queue}.{}.{}.{}", self.subjects, lease.i, lease.s, lease.d)
    }

    // ---- caches ----

    fn forget(&self, queue: &str) {
        if let Ok(mut h) = self.handles.lock() {
            h.remove(queue);
        }
        if let Ok(mut k) = self.known.lock() {
            k.remove(queue);
        }
        if let Ok(mut l) = self.lease_streams.lock() {
            l.remove(queue);
        }
    }

    fn is_known(&self, queue: &str) -> bool {
        self.known.lock().map(|k| k.contains(queue)).unwrap_or(false)
    }

    fn cached_handles(&self, queue: &str) -> Option<Arc<Handles>> {
        self.handles.lock().ok().and_then(|h| h.get(queue).cloned())
    }

    // ---- streams and consumers ----

    async fn create_stream(&self, config: stream::Config) -> Result<()> {
        let name = config.name.clone();
        match self.js.create_stream(config).await {
            Ok(_) => Ok(()),
            Err(e) => match e.kind() {
                // Exists with another configuration (e.g. created with other replicas): use it.
                CreateStreamErrorKind::JetStream(j) if j.error_code() == jetstream::ErrorCode::STREAM_NAME_EXIST => {
                    tracing::debug!(stream = %name, "stream exists with another configuration; using it");
                    Ok(())
                }
                _ => Err(engine(&format!("creating stream {name}"), e)),
            },
        }
    }

    /// Creates the queue's work, delayed and dead streams (idempotent).
    async fn ensure_streams(&self, queue: &str) -> Result<()> {
        let work = stream::Config {
            name: self.work_stream(queue),
            subjects: (MIN_PRIORITY..=MAX_PRIORITY)
                .map(|p| self.work_subject(queue, p))
                .collect(),
            retention: RetentionPolicy::WorkQueue,
            storage: StorageType::File,
            num_replicas: self.replicas,
            duplicate_window: DUPLICATE_WINDOW,
            ..Default::default()
        };
        let delayed = stream::Config {
            name: self.delayed_stream(queue),
            subjects: vec![self.delayed_subject(queue)],
            retention: RetentionPolicy::WorkQueue,
            storage: StorageType::File,
            num_replicas: self.replicas,
            duplicate_window: DUPLICATE_WINDOW,
            ..Default::default()
        };
        let dead = stream::Config {
            name: self.dead_stream(queue),
            subjects: vec![self.dead_subject(queue)],
            retention: RetentionPolicy::Limits,
            storage: StorageType::File,
            num_replicas: self.replicas,
            duplicate_window: DUPLICATE_WINDOW,
            ..Default::default()
        };
        for config in [work, delayed, dead] {
            self.create_stream(config).await?;
        }
        if let Ok(mut k) = self.known.lock() {
            k.insert(queue.to_string());
        }
        Ok(())
    }

    async fn ensure_lease_stream(&self, queue: &str) -> Result<()> {
        self.create_stream(stream::Config {
            name: self.lease_stream(queue),
            subjects: vec![format!("{}.l.{queue}.>", self.subjects)],
            retention: RetentionPolicy::Limits,
            storage: StorageType::File,
            num_replicas: self.replicas,
            max_messages_per_subject: 1,
            max_age: LEASE_RECORD_AGE,
            ..Default::default()
        })
        .await?;
        if let Ok(mut l) = self.lease_streams.lock() {
            l.insert(queue.to_string());
        }
        Ok(())
    }

    async fn consumer(&self, stream_name: &str, name: &str, config: pull::Config) -> Result<PullConsumer> {
        let stream = self
            .js
            .get_stream_no_info(stream_name)
            .await
            .map_err(|e| engine("stream", e))?;
        stream
            .get_or_create_consumer(name, config)
            .await
            .map_err(|e| engine(&format!("consumer {name} of {stream_name}"), e))
    }

    /// The queue's consumers, created on first use; `None` when the queue has no stream.
    async fn handles(&self, queue: &str) -> Result<Option<Arc<Handles>>> {
        if let Some(h) = self.cached_handles(queue) {
            return Ok(Some(h));
        }
        let _init = self.init.lock().await;
        if let Some(h) = self.cached_handles(queue) {
            return Ok(Some(h));
        }
        match self.js.get_stream(self.work_stream(queue)).await {
            Ok(_) => {}
            Err(e) if is_stream_not_found(&e) => return Ok(None),
            Err(e) => return Err(engine("stream info", e)),
        }
        // The delayed and dead streams are created with the work stream; make sure anyway.
        self.ensure_streams(queue).await?;
        let work_stream = self.work_stream(queue);
        let work = join_all((MIN_PRIORITY..=MAX_PRIORITY).map(|p| {
            let config = pull::Config {
                durable_name: Some(format!("p{p}")),
                filter_subject: self.work_subject(queue, p),
                ack_policy: AckPolicy::Explicit,
                ack_wait: self.lease,
                deliver_policy: DeliverPolicy::All,
                max_deliver: -1,
                max_ack_pending: -1,
                ..Default::default()
            };
            let name = format!("p{p}");
            let work_stream = work_stream.clone();
            async move { self.consumer(&work_stream, &name, config).await }
        }))
        .await
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
        let mover = self
            .consumer(
                &self.delayed_stream(queue),
                "mover",
                pull::Config {
                    durable_name: Some("mover".into()),
                    filter_subject: self.delayed_subject(queue),
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: MOVER_ACK_WAIT,
                    deliver_policy: DeliverPolicy::All,
                    max_deliver: -1,
                    max_ack_pending: -1,
                    ..Default::default()
                },
            )
            .await?;
        let ack_wait: Vec<Duration> = work
            .iter()
            .map(|c| {
                let real = c.cached_info().config.ack_wait;
                if real != self.lease {
                    tracing::warn!(
                        queue,
                        consumer = %c.cached_info().name,
                        configured = ?self.lease,
                        actual = ?real,
                        "a NATS queue consumer has another ack wait than this process's lease; using the consumer's"
                    );
                }
                if real.is_zero() {
                    self.lease
                } else {
                    real
                }
            })
            .collect();
        let h = Arc::new(Handles { work, ack_wait, mover });
        if let Ok(mut map) = self.handles.lock() {
            map.insert(queue.to_string(), h.clone());
        }
        Ok(Some(h))
    }

    // ---- publishing ----

    /// Sends one publish; the returned future resolves when JetStream stored it.
    async fn send(&self, subject: String, headers: HeaderMap, payload: Vec<u8>) -> Result<PublishAckFuture> {
        self.js
            .publish_with_headers(subject, headers, payload.into())
            .await
            .map_err(|e| publish_error(&self.client, e))
    }

    /// Publishes one copy and waits for JetStream's acknowledgement. A missing stream is
    /// created (`Missing::Create`, then published again) or a stale lease.
    async fn publish(
        &self,
        queue: &str,
        subject: String,
        headers: HeaderMap,
        payload: Vec<u8>,
        missing: Missing,
    ) -> Result<jetstream::publish::PublishAck> {
        if missing == Missing::Create && !self.is_known(queue) {
            self.ensure_streams(queue).await?;
        }
        for attempt in 0..2 {
            let sent = self.send(subject.clone(), headers.clone(), payload.clone()).await?;
            match sent.await {
                Ok(ack) => return Ok(ack),
                Err(e) if e.kind() == PublishErrorKind::StreamNotFound => {
                    self.forget(queue);
                    if missing == Missing::Stale {
                        return Err(stale_lease());
                    }
                    if attempt == 0 {
                        self.ensure_streams(queue).await?;
                    }
                }
                Err(e) => return Err(publish_error(&self.client, e)),
            }
        }
        Err(Error::internal(
            "nats: the queue's stream disappeared while publishing to it",
        ))
    }

    /// Publishes a batch pipelined; all acknowledged, or the stored ones deleted again.
    async fn publish_batch(&self, queue: &str, items: Vec<(String, HeaderMap, Vec<u8>)>) -> Result<()> {
        if !self.is_known(queue) {
            self.ensure_streams(queue).await?;
        }
        for attempt in 0..2 {
            let mut pending = Vec::with_capacity(items.len());
            let mut send_error = None;
            for (subject, headers, payload) in &items {
                match self.send(subject.clone(), headers.clone(), payload.clone()).await {
                    Ok(f) => pending.push(f),
                    Err(e) => {
                        send_error = Some(e);
                        break;
                    }
                }
            }
            let results = join_all(pending.into_iter().map(|f| f.into_future())).await;
            let mut stored = Vec::new();
            let mut failure: Option<PublishError> = None;
            for r in results {
                match r {
                    Ok(ack) => stored.push(ack),
                    Err(e) => {
                        if failure.is_none() {
                            failure = Some(e);
                        }
                    }
                }
            }
            if send_error.is_none() && failure.is_none() {
                return Ok(());
            }
            // Roll back what was stored.
            for ack in &stored {
                let deleted = match self.js.get_stream_no_info(&ack.stream).await {
                    Ok(s) => s.delete_message(ack.sequence).await.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                if let Err(e) = deleted {
                    tracing::error!(queue, stream = %ack.stream, seq = ack.sequence, error = %e,
                        "push_many failed part-way and a stored message could not be removed again");
                }
            }
            if let Some(e) = send_error {
                return Err(e);
            }
            match failure {
                Some(e) if e.kind() == PublishErrorKind::StreamNotFound && attempt == 0 => {
                    self.forget(queue);
                    self.ensure_streams(queue).await?;
                }
                Some(e) => return Err(publish_error(&self.client, e)),
                None => return Ok(()),
            }
        }
        Err(Error::internal(
            "nats: the queue's stream disappeared while publishing to it",
        ))
    }

    /// Sends an ack (`+ACK`, `+WPI`, `+TERM`, …) as a request, so the server confirms it.
    async fn ack_request(&self, reply: &str, kind: AckKind) -> Result<()> {
        match self.client.request(reply.to_string(), kind.into()).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == RequestErrorKind::NoResponders => Err(stale_lease()),
            Err(e) => Err(engine("ack", e)),
        }
    }

    // ---- fetching ----

    /// A `no_wait` fetch of up to `n` messages, read to its end.
    async fn fetch(&self, consumer: &PullConsumer, n: usize) -> std::result::Result<Vec<jetstream::Message>, String> {
        let mut batch = consumer
            .fetch()
            .max_messages(n)
            .messages()
            .await
            .map_err(|e| e.to_string())?;
        let deadline = tokio::time::Instant::now() + FETCH_TIMEOUT;
        let mut out = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, batch.next()).await {
                Ok(Some(Ok(m))) => out.push(m),
                Ok(None) => return Ok(out),
                Ok(Some(Err(e))) if out.is_empty() => return Err(e.to_string()),
                Err(_) if out.is_empty() => return Err("the fetch timed out".into()),
                Ok(Some(Err(e))) => {
                    tracing::warn!(error = %e, "a NATS fetch failed part-way; keeping what arrived");
                    return Ok(out);
                }
                Err(_) => {
                    tracing::warn!("a NATS fetch timed out part-way; keeping what arrived");
                    return Ok(out);
                }
            }
        }
    }

    /// Moves due delayed copies into the work stream; remembers the earliest not-yet-due.
    async fn promote(&self, queue: &str, h: &Handles, next_due: &mut Option<i64>) -> std::result::Result<(), String> {
        for _ in 0..MOVE_ROUNDS {
            let msgs = self.fetch(&h.mover, MOVE_BATCH).await?;
            let n = msgs.len();
            let now = now_ms();
            let mut moves = Vec::new();
            for m in msgs {
                let Some(meta) = Meta::read(m.headers.as_ref()) else {
                    tracing::warn!(queue, subject = %m.subject, "a delayed NATS message without Keel headers; dropping it");
                    let _ = m.ack_with(AckKind::Term).await;
                    continue;
                };
                let due = meta.not_before_ms.unwrap_or(0);
                if due > now {
                    let wait = Duration::from_millis(u64::try_from(due - now).unwrap_or(0)).min(MAX_NAK_DELAY);
                    if let Err(e) = m.ack_with(AckKind::Nak(Some(wait))).await {
                        tracing::warn!(queue, error = %e, "could not NAK a delayed NATS message");
                    }
                    *next_due = Some(next_due.map_or(due, |d| d.min(due)));
                    continue;
                }
                let seq = m.info().map(|i| i.stream_sequence).unwrap_or(0);
                let mut moved = meta.clone();
                moved.not_before_ms = None;
                let mut headers = moved.headers();
                headers.insert(H_MSG_ID, format!("d-{}-{seq}", meta.id));
                let subject = self.work_subject(queue, meta.priority);
                let sent = self.send(subject, headers, m.payload.to_vec()).await;
                moves.push((m, sent));
            }
            join_all(moves.into_iter().map(|(m, sent)| async move {
                let stored = match sent {
                    Ok(f) => f.await.map(|_| ()).map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                match stored {
                    // Moved: remove the delayed copy (if this fails, the copy comes back to
                    // the mover and its second publish is dropped as a duplicate).
                    Ok(()) => {
                        if let Err(e) = m.double_ack().await {
                            tracing::warn!(error = %e, "could not ack a moved delayed NATS message");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "could not move a due delayed NATS message; it is retried"),
                }
            }))
            .await;
            if n < MOVE_BATCH {
                break;
            }
        }
        Ok(())
    }

    /// Copies a work copy to the dead stream and removes it.
    async fn bury(&self, queue: &str, m: &jetstream::Message, meta: &Meta, used: u32, seq: u64, dc: u64) -> Result<()> {
        let mut dead = meta.clone();
        dead.deliveries = used;
        dead.not_before_ms = None;
        dead.died_ms = Some(now_ms());
        let mut headers = dead.headers();
        headers.insert(H_MSG_ID, format!("x-{}-{seq}-{dc}", meta.id));
        self.publish(
            queue,
            self.dead_subject(queue),
            headers,
            m.payload.to_vec(),
            Missing::Stale,
        )
        .await?;
        m.double_ack_with(AckKind::Term).await.map_err(|e| engine("term", e))
    }

    /// One claim attempt: move due copies, then fetch from the highest priority down.
    async fn claim_once(&self, queue: &str, max: usize, next_due: &mut Option<i64>) -> Result<Vec<Delivery>> {
        let mut out = Vec::new();
        for attempt in 0..2 {
            let Some(h) = self.handles(queue).await? else {
                return Ok(out);
            };
            match self.claim_with(queue, &h, max, next_due, &mut out).await {
                Ok(()) => return Ok(out),
                Err(e) => {
                    // The consumers may be gone (the queue was purged by another process).
                    self.forget(queue);
                    if !out.is_empty() {
                        tracing::warn!(queue, error = %e, "a NATS claim failed part-way; returning what it got");
                        return Ok(out);
                    }
                    if attempt == 1 {
                        return Err(engine("claim", e));
                    }
                }
            }
        }
        Ok(out)
    }

    async fn claim_with(
        &self,
        queue: &str,
        h: &Handles,
        max: usize,
        next_due: &mut Option<i64>,
        out: &mut Vec<Delivery>,
    ) -> std::result::Result<(), String> {
        self.promote(queue, h, next_due).await?;
        for p in (0..PRIORITIES).rev() {
            let ack_wait = h.ack_wait[p];
            while out.len() < max {
                let need = max - out.len();
                let sent_at = Utc::now();
                let msgs = self.fetch(&h.work[p], need).await?;
                let n = msgs.len();
                for m in msgs {
                    if let Some(d) = self.delivery(queue, m, sent_at, ack_wait).await {
                        out.push(d);
                    }
                }
                if n < need {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Turns a fetched work copy into a delivery, or dead-letters it when it is past its
    /// deliveries.
    async fn delivery(
        &self,
        queue: &str,
        m: jetstream::Message,
        sent_at: DateTime<Utc>,
        ack_wait: Duration,
    ) -> Option<Delivery> {
        let Ok(info) = m.info() else {
            return None;
        };
        let (seq, dc) = (info.stream_sequence, u64::try_from(info.delivered).unwrap_or(1).max(1));
        let Some(meta) = Meta::read(m.headers.as_ref()) else {
            tracing::warn!(queue, subject = %m.subject, "a NATS queue message without Keel headers; dropping it");
            let _ = m.double_ack_with(AckKind::Term).await;
            return None;
        };
        let deliveries = u64::from(meta.deliveries).saturating_add(dc);
        if deliveries > u64::from(meta.max_deliveries) {
            let used = u32::try_from(deliveries - 1).unwrap_or(u32::MAX);
            if let Err(e) = self.bury(queue, &m, &meta, used, seq, dc).await {
                tracing::warn!(queue, id = %meta.id, error = %e, "could not dead-letter a NATS queue message; it is retried");
            }
            return None;
        }
        let payload = match serde_json::from_slice::<Value>(&m.payload) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(queue, id = %meta.id, error = %e, "a NATS queue message is not JSON; dead-lettering it");
                let used = u32::try_from(deliveries - 1).unwrap_or(u32::MAX);
                if let Err(e) = self.bury(queue, &m, &meta, used, seq, dc).await {
                    tracing::warn!(queue, error = %e, "could not dead-letter a NATS queue message");
                }
                return None;
            }
        };
        let reply = m.reply.as_ref().map(|r| r.to_string()).unwrap_or_default();
        let expires = lease_end(sent_at, ack_wait);
        let lease = Lease {
            q: queue.to_string(),
            i: meta.id.clone(),
            r: reply,
            s: seq,
            d: dc,
            l: u64::try_from(ack_wait.min(MAX_LEASE).as_millis()).unwrap_or(1).max(1),
            x: expires.timestamp_millis(),
        };
        let token = match lease.encode() {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(queue, error = %e, "could not encode a lease token");
                return None;
            }
        };
        Some(Delivery {
            id: meta.id,
            payload,
            priority: meta.priority,
            deliveries: u32::try_from(deliveries).unwrap_or(u32::MAX),
            max_deliveries: meta.max_deliveries,
            enqueued_at: to_time(meta.enqueued_ms),
            lease: token,
            lease_expires_at: expires,
        })
    }

    // ---- lease checks ----

    /// Decodes a token and checks it is a delivery of this queue's work stream.
    fn lease_of(&self, queue: &str, token: &str) -> Result<Lease> {
        let lease = Lease::decode(token).ok_or_else(bad_lease)?;
        if lease.q != queue {
            return Err(stale_lease());
        }
        let lease_ms = u128::from(lease.l);
        if lease_ms == 0 || lease_ms > MAX_LEASE.as_millis() {
            return Err(bad_lease());
        }
        if !ack_subject_ok(&lease.r, &self.work_stream(queue), lease.s, lease.d) {
            return Err(bad_lease());
        }
        Ok(lease)
    }

    /// The work copy the lease is for, if it is still in the stream (else a stale lease).
    async fn current_copy(&self, queue: &str, lease: &Lease) -> Result<StreamMessage> {
        let stream = self
            .js
            .get_stream_no_info(self.work_stream(queue))
            .await
            .map_err(|e| engine("stream", e))?;
        match stream.get_raw_message(lease.s).await {
            Ok(m) => {
                let id = m.headers.get(H_ID).map(|v| v.as_str().to_string());
                if id.as_deref() == Some(lease.i.as_str()) {
                    Ok(m)
                } else {
                    Err(stale_lease())
                }
            }
            Err(e) => match e.kind() {
                LastRawMessageErrorKind::NoMessageFound => Err(stale_lease()),
                LastRawMessageErrorKind::JetStream(j)
                    if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
                        || j.error_code() == jetstream::ErrorCode::NO_MESSAGE_FOUND =>
                {
                    Err(stale_lease())
                }
                _ => Err(engine("message get", e)),
            },
        }
    }

    /// Checks the lease has not expired (its own expiry, or the one `extend` recorded).
    async fn check_live(&self, queue: &str, lease: &Lease) -> Result<()> {
        let now = now_ms();
        if now < lease.x {
            return Ok(());
        }
        let stream = self
            .js
            .get_stream_no_info(self.lease_stream(queue))
            .await
            .map_err(|e| engine("stream", e))?;
        let recorded = match stream
            .get_last_raw_message_by_subject(&self.lease_subject(queue, lease))
            .await
        {
            Ok(m) => std::str::from_utf8(&m.payload).ok().and_then(|s| s.parse::<i64>().ok()),
            Err(e) => match e.kind() {
                LastRawMessageErrorKind::NoMessageFound | LastRawMessageErrorKind::JetStream(_) => None,
                _ => return Err(engine("lease record", e)),
            },
        };
        match recorded {
            Some(until) if now < until => Ok(()),
            _ => Err(stale_lease()),
        }
    }

    /// Records a lease's new expiry for `check_live`.
    async fn record_extension(&self, queue: &str, lease: &Lease, until_ms: i64) -> Result<()> {
        let known = self.lease_streams.lock().map(|l| l.contains(queue)).unwrap_or(false);
        if !known {
            self.ensure_lease_stream(queue).await?;
        }
        let subject = self.lease_subject(queue, lease);
        for attempt in 0..2 {
            let sent = self
                .send(subject.clone(), HeaderMap::new(), until_ms.to_string().into_bytes())
                .await?;
            match sent.await {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == PublishErrorKind::StreamNotFound && attempt == 0 => {
                    self.ensure_lease_stream(queue).await?;
                }
                Err(e) => return Err(publish_error(&self.client, e)),
            }
        }
        Err(Error::internal("nats: the lease stream disappeared"))
    }

    // ---- dead letters ----

    /// Up to `limit` dead copies, oldest first, through an ephemeral consumer.
    async fn read_dead(&self, queue: &str, limit: usize) -> Result<Vec<StreamMessage>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let stream = match self.js.get_stream(self.dead_stream(queue)).await {
            Ok(s) => s,
            Err(e) if is_stream_not_found(&e) => return Ok(Vec::new()),
            Err(e) => return Err(engine("stream info", e)),
        };
        let total = usize::try_from(stream.cached_info().state.messages).unwrap_or(usize::MAX);
        if total == 0 {
            return Ok(Vec::new());
        }
        let consumer: PullConsumer = stream
            .create_consumer(pull::Config {
                ack_policy: AckPolicy::None,
                deliver_policy: DeliverPolicy::All,
                filter_subject: self.dead_subject(queue),
                inactive_threshold: Duration::from_secs(60),
                ..Default::default()
            })
            .await
            .map_err(|e| engine("dead-letter reader", e))?;
        let want = limit.min(total);
        let mut out = Vec::new();
        let mut failure = None;
        while out.len() < want {
            let need = (want - out.len()).min(256);
            match self.fetch(&consumer, need).await {
                Ok(msgs) => {
                    let n = msgs.len();
                    for m in msgs {
                        let Ok(info) = m.info() else { continue };
                        out.push(StreamMessage {
                            subject: m.subject.clone(),
                            sequence: info.stream_sequence,
                            headers: m.headers.clone().unwrap_or_default(),
                            payload: m.payload.clone(),
                            time: info.published,
                        });
                    }
                    if n < need {
                        break;
                    }
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let name = consumer.cached_info().name.clone();
        if let Err(e) = stream.delete_consumer(&name).await {
            tracing::debug!(error = %e, "could not delete the dead-letter reader; it expires on its own");
        }
        match failure {
            Some(e) => Err(engine("reading dead letters", e)),
            None => Ok(out),
        }
    }

    async fn stream_count(&self, name: String) -> Result<Option<(u64, jetstream::stream::Stream)>> {
        match self.js.get_stream(name).await {
            Ok(s) => Ok(Some((s.cached_info().state.messages, s))),
            Err(e) if is_stream_not_found(&e) => Ok(None),
            Err(e) => Err(engine("stream info", e)),
        }
    }
}

fn publish_error(client: &async_nats::Client, e: PublishError) -> Error {
    match e.kind() {
        PublishErrorKind::MaxPayloadExceeded => Error::TooLarge(format!(
            "The message is larger than the NATS server accepts (max_payload {} bytes, headers included).",
            client.server_info().max_payload
        )),
        _ => engine("publish", e),
    }
}

#[async_trait]
impl Queue for NatsQueue {
    async fn push(&self, queue: &str, msg: NewMessage) -> Result<String> {
        validate_queue_name(queue)?;
        msg.validate()?;
        let payload = payload_bytes(&msg.payload)?;
        let not_before = if msg.delay.is_zero() {
            None
        } else {
            Some(after(msg.delay, "delay")?)
        };
        let meta = Meta {
            id: keel_core::id::new_id(),
            priority: msg.priority,
            max_deliveries: msg.max_deliveries,
            deliveries: 0,
            enqueued_ms: now_ms(),
            not_before_ms: not_before,
            died_ms: None,
        };
        let subject = match not_before {
            Some(_) => self.delayed_subject(queue),
            None => self.work_subject(queue, msg.priority),
        };
        self.publish(queue, subject, meta.headers(), payload, Missing::Create)
            .await?;
        Ok(meta.id)
    }

    async fn push_many(&self, queue: &str, msgs: Vec<NewMessage>) -> Result<Vec<String>> {
        validate_queue_name(queue)?;
        for m in &msgs {
            m.validate()?;
        }
        if msgs.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids = Vec::with_capacity(msgs.len());
        let mut items = Vec::with_capacity(msgs.len());
        let enqueued_ms = now_ms();
        for m in &msgs {
            let not_before = if m.delay.is_zero() {
                None
            } else {
                Some(after(m.delay, "delay")?)
            };
            let meta = Meta {
                id: keel_core::id::new_id(),
                priority: m.priority,
                max_deliveries: m.max_deliveries,
                deliveries: 0,
                enqueued_ms,
                not_before_ms: not_before,
                died_ms: None,
            };
            let subject = match not_before {
                Some(_) => self.delayed_subject(queue),
                None => self.work_subject(queue, m.priority),
            };
            items.push((subject, meta.headers(), payload_bytes(&m.payload)?));
            ids.push(meta.id);
        }
        self.publish_batch(queue, items).await?;
        Ok(ids)
    }

    async fn claim(&self, queue: &str, req: ClaimRequest) -> Result<Vec<Delivery>> {
        validate_queue_name(queue)?;
        req.validate()?;
        let mut next_due = None;
        if req.wait.is_zero() {
            return self.claim_once(queue, req.max, &mut next_due).await;
        }
        let deadline = tokio::time::Instant::now() + req.wait;
        // Subscribe before the first attempt, so a push in between wakes us.
        let mut wake = self
            .client
            .subscribe(format!("{}.q.{queue}.*", self.subjects))
            .await
            .map_err(|e| engine("subscribe", e))?;
        loop {
            if next_due.is_some_and(|d| d <= now_ms()) {
                next_due = None;
            }
            let got = self.claim_once(queue, req.max, &mut next_due).await?;
            let now = tokio::time::Instant::now();
            if !got.is_empty() || now >= deadline {
                return Ok(got);
            }
            let mut nap = (deadline - now).min(WAIT_POLL);
            if let Some(due) = next_due {
                let until_due = Duration::from_millis(u64::try_from(due - now_ms()).unwrap_or(0));
                nap = nap.min(until_due);
            }
            tokio::select! {
                _ = wake.next() => {
                    // Drain whatever else arrived; one attempt serves them all.
                    while let Some(Some(_)) = wake.next().now_or_never() {}
                }
                _ = tokio::time::sleep(nap) => {}
            }
        }
    }

    async fn ack(&self, queue: &str, lease: &str) -> Result<()> {
        validate_queue_name(queue)?;
        let lease = self.lease_of(queue, lease)?;
        self.current_copy(queue, &lease).await?;
        self.check_live(queue, &lease).await?;
        self.ack_request(&lease.r, AckKind::Ack).await
    }

    async fn nack(&self, queue: &str, lease: &str, then: Nack) -> Result<()> {
        validate_queue_name(queue)?;
        let lease = self.lease_of(queue, lease)?;
        let copy = self.current_copy(queue, &lease).await?;
        let meta =
            Meta::read(Some(&copy.headers)).ok_or_else(|| Error::internal("nats: a queue message lost its headers"))?;
        self.check_live(queue, &lease).await?;
        let used = u32::try_from(u64::from(meta.deliveries).saturating_add(lease.d)).unwrap_or(u32::MAX);
        let mut next = meta.clone();
        next.deliveries = used;
        let (subject, msg_id, done) = match then {
            Nack::Retry(delay) if used < meta.max_deliveries => {
                let subject = if delay.is_zero() {
                    next.not_before_ms = None;
                    self.work_subject(queue, meta.priority)
                } else {
                    next.not_before_ms = Some(after(delay, "retry")?);
                    self.delayed_subject(queue)
                };
                (subject, format!("r-{}-{}-{}", meta.id, lease.s, lease.d), AckKind::Ack)
            }
            _ => {
                next.not_before_ms = None;
                next.died_ms = Some(now_ms());
                (
                    self.dead_subject(queue),
                    format!("x-{}-{}-{}", meta.id, lease.s, lease.d),
                    AckKind::Term,
                )
            }
        };
        let mut headers = next.headers();
        headers.insert(H_MSG_ID, msg_id);
        let stored = self
            .publish(queue, subject, headers, copy.payload.to_vec(), Missing::Stale)
            .await?;
        if let Err(e) = self.ack_request(&lease.r, done).await {
            // Undo the new copy, so a failed nack changes nothing.
            let undone = match self.js.get_stream_no_info(&stored.stream).await {
                Ok(s) => s.delete_message(stored.sequence).await.is_ok(),
                Err(_) => false,
            };
            if !undone {
                tracing::error!(queue, id = %meta.id, "a nack failed after its new copy was stored; the message may be delivered twice");
            }
            return Err(e);
        }
        Ok(())
    }

    async fn extend(&self, queue: &str, lease: &str, lease_for: Duration) -> Result<DateTime<Utc>> {
        let _ = lease_for; // the lease is the consumer's fixed ack wait
        validate_queue_name(queue)?;
        let lease = self.lease_of(queue, lease)?;
        self.current_copy(queue, &lease).await?;
        self.check_live(queue, &lease).await?;
        let ack_wait = Duration::from_millis(lease.l);
        let sent_at = Utc::now();
        self.ack_request(&lease.r, AckKind::Progress).await?;
        let until = lease_end(sent_at, ack_wait);
        self.record_extension(queue, &lease, until.timestamp_millis()).await?;
        Ok(until)
    }

    async fn stats(&self, queue: &str) -> Result<QueueStats> {
        validate_queue_name(queue)?;
        let (work, delayed, dead) = futures::join!(
            self.stream_count(self.work_stream(queue)),
            self.stream_count(self.delayed_stream(queue)),
            self.stream_count(self.dead_stream(queue)),
        );
        let mut stats = QueueStats {
            delayed: delayed?.map_or(0, |(n, _)| n),
            dead: dead?.map_or(0, |(n, _)| n),
            ..QueueStats::default()
        };
        if let Some((total, stream)) = work? {
            let mut leased = 0u64;
            let mut consumers = stream.consumers();
            while let Some(info) = consumers.next().await {
                let info = info.map_err(|e| engine("consumer list", e))?;
                leased += u64::try_from(info.num_ack_pending).unwrap_or(0);
            }
            stats.leased = leased.min(total);
            stats.ready = total - stats.leased;
        }
        Ok(stats)
    }

    async fn purge(&self, queue: &str) -> Result<u64> {
        validate_queue_name(queue)?;
        self.forget(queue);
        let mut removed = 0u64;
        for name in [
            self.work_stream(queue),
            self.delayed_stream(queue),
            self.dead_stream(queue),
            self.lease_stream(queue),
        ] {
            let counted = name != self.lease_stream(queue);
            let Some((n, _)) = self.stream_count(name.clone()).await? else {
                continue;
            };
            match self.js.delete_stream(&name).await {
                Ok(_) => {
                    if counted {
                        removed += n;
                    }
                }
                Err(e) if is_stream_not_found(&e) => {}
                Err(e) => return Err(engine("stream delete", e)),
            }
        }
        self.forget(queue);
        Ok(removed)
    }

    async fn dead(&self, queue: &str, limit: usize) -> Result<Vec<DeadMessage>> {
        validate_queue_name(queue)?;
        let copies = self.read_dead(queue, limit).await?;
        Ok(copies
            .into_iter()
            .filter_map(|m| {
                let meta = Meta::read(Some(&m.headers))?;
                let payload = serde_json::from_slice(&m.payload)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&m.payload).into_owned()));
                Some(DeadMessage {
                    id: meta.id,
                    payload,
                    priority: meta.priority,
                    deliveries: meta.deliveries,
                    enqueued_at: to_time(meta.enqueued_ms),
                    died_at: meta
                        .died_ms
                        .map_or_else(|| to_time(m.time.unix_timestamp().saturating_mul(1000)), to_time),
                })
            })
            .collect())
    }

    async fn requeue_dead(&self, queue: &str, ids: &[String]) -> Result<u64> {
        validate_queue_name(queue)?;
        let wanted: HashSet<&str> = ids.iter().map(String::as_str).collect();
        let copies = self.read_dead(queue, usize::MAX).await?;
        let mut requeued = 0u64;
        let dead_stream = self
            .js
            .get_stream_no_info(self.dead_stream(queue))
            .await
            .map_err(|e| engine("stream", e))?;
        for m in copies {
            let Some(meta) = Meta::read(Some(&m.headers)) else {
                continue;
            };
            if !wanted.is_empty() && !wanted.contains(meta.id.as_str()) {
                continue;
            }
            let mut fresh = meta.clone();
            fresh.deliveries = 0;
            fresh.died_ms = None;
            fresh.not_before_ms = None;
            let mut headers = fresh.headers();
            headers.insert(H_MSG_ID, format!("q-{}-{}", meta.id, m.sequence));
            self.publish(
                queue,
                self.work_subject(queue, meta.priority),
                headers,
                m.payload.to_vec(),
                Missing::Create,
            )
            .await?;
            // Count it when this process removed the dead copy (another process requeueing
            // the same one at once had its publish dropped as a duplicate, or ours was).
            if let Ok(true) = dead_stream.delete_message(m.sequence).await {
                requeued += 1;
            }
        }
        Ok(requeued)
    }

    fn name(&self) -> &'static str {
        "nats"
    }

    fn capabilities(&self) -> QueueCapabilities {
        QueueCapabilities {
            shared: true,
            lease_per_claim: false,
            exact_stats: true,
        }
    }

    async fn ping(&self) -> Result<()> {
        // `$JS.API.INFO` (account info): answers only when JetStream is enabled.
        let info: Value = self
            .js
            .request("INFO", &())
            .await
            .map_err(|e| engine("JetStream does not answer (is the server started with -js?)", e))?;
        match info.get("error") {
            Some(e) => Err(engine("JetStream account info", e)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_round_trips() {
        for len in 0..40 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let enc = b64_encode(&data);
            assert!(enc.bytes().all(|b| B64.contains(&b)));
            assert_eq!(b64_decode(&enc).as_deref(), Some(data.as_slice()));
        }
        assert_eq!(b64_decode("a*b"), None);
    }

    #[test]
    fn tokens_round_trip_and_garbage_is_refused() {
        let lease = Lease {
            q: "emails".into(),
            i: "abc".into(),
            r: "$JS.ACK.KEEL_Q_emails.p5.1.7.7.123.0".into(),
            s: 7,
            d: 1,
            l: 2000,
            x: 42,
        };
        let token = lease.encode().unwrap();
        let back = Lease::decode(&token).unwrap();
        assert_eq!((back.q.as_str(), back.s, back.d, back.x), ("emails", 7, 1, 42));
        for bogus in ["", "nonsense", "0:0:0", "n1.", "n1.!!", "n1.e30"] {
            assert!(Lease::decode(bogus).is_none(), "{bogus}");
        }
    }

    #[test]
    fn only_this_queues_ack_subjects_are_accepted() {
        let ok = |s: &str| ack_subject_ok(s, "KEEL_Q_emails", 7, 2);
        assert!(ok("$JS.ACK.KEEL_Q_emails.p5.2.7.7.1795314743026566318.0"));
        assert!(ok(
            "$JS.ACK.hub.ACCHASH.KEEL_Q_emails.p9.2.7.3.1795314743026566318.4.xyz"
        ));
        assert!(!ok("$JS.ACK.KEEL_Q_other.p5.2.7.7.1.0"), "another queue's stream");
        assert!(!ok("$JS.ACK.KEEL_Q_emails.mover.2.7.7.1.0"), "not a priority consumer");
        assert!(!ok("$JS.ACK.KEEL_Q_emails.p5.3.7.7.1.0"), "another delivery");
        assert!(!ok("$JS.ACK.KEEL_Q_emails.p5.2.8.7.1.0"), "another sequence");
        assert!(
            !ok("$JS.API.STREAM.DELETE.KEEL_Q_emails.p5.2.7.7"),
            "not an ack subject"
        );
        assert!(!ok("$JS.ACK.KEEL_Q_emails.p5.2.7.7.1.>"), "wildcards");
        assert!(!ok("$JS.ACK.KEEL_Q_emails.p5.2.7.7.1"), "too short");
        assert!(!ok(""));
    }

    #[test]
    fn meta_survives_headers() {
        let meta = Meta {
            id: "id1".into(),
            priority: 9,
            max_deliveries: 3,
            deliveries: 2,
            enqueued_ms: 1_700_000_000_000,
            not_before_ms: Some(1_700_000_001_000),
            died_ms: None,
        };
        let back = Meta::read(Some(&meta.headers())).unwrap();
        assert_eq!(
            (back.id.as_str(), back.priority, back.max_deliveries, back.deliveries),
            ("id1", 9, 3, 2)
        );
        assert_eq!(back.not_before_ms, Some(1_700_000_001_000));
        assert!(Meta::read(None).is_none());
        assert!(Meta::read(Some(&HeaderMap::new())).is_none());
    }
}
