//! The `EventBus` contract: small messages fanned out to every process of one deployment.
//!
//! Callers hold a provider as `Arc<dyn EventBus>`. Providers live in `keel-events` (`local`,
//! `postgres` LISTEN/NOTIFY, `redis` pub/sub, `nats` core NATS) and every one passes the
//! behaviour suite in `keel-testkit`. What every provider guarantees:
//!
//! - **At-most-once fan-out to live subscribers.** A message published on a topic reaches
//!   every subscription (in this process and in every other process on the same engine) that
//!   existed when it was published and whose prefix the topic starts with; the publishing
//!   process's own subscriptions receive it too. Nothing is stored for a subscriber that is
//!   not there: the bus is for telling live processes that something changed, never the only
//!   record of a change (that is the database, or the jobs service's outbox).
//! - **Per-topic order from one publisher**: messages one process publishes on one topic, one
//!   `publish` awaited after the other, arrive in that order.
//! - **A gap is never silent**: when a subscription may have missed messages (its buffer
//!   overflowed because it read too slowly, or the provider's connection to its engine dropped
//!   and was re-established), the subscription yields [`BusDelivery::Gap`] before the next
//!   message, so the subscriber reloads whatever it derives from the messages instead of
//!   serving stale state.
//! - **Payloads up to [`MAX_PAYLOAD`] bytes** are delivered whole, whatever the engine's own
//!   limit (PostgreSQL's NOTIFY takes 8,000 bytes: its provider carries larger ones another way).
//! - `publish` returns once the engine accepted the message; an engine that is down is an
//!   `Error::Unavailable`, never a hang longer than the provider's timeout.
//! - A crash loses messages in flight. Nothing on the bus is durable by contract.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::{mpsc, Notify};

use crate::Result;

/// The largest payload every provider delivers.
pub const MAX_PAYLOAD: usize = 1024 * 1024;

/// How many undelivered messages one subscription holds before it drops and reports a gap.
pub const SUBSCRIPTION_BUFFER: usize = 4096;

/// Fan-out of small messages between processes. See the module docs for the guarantees.
#[async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// The provider's name as configured (`local`, `postgres`, `redis`, `nats`).
    fn name(&self) -> &'static str;

    /// Publishes `payload` on `topic`. A topic is 1 to 200 bytes of `A-Z a-z 0-9 _ - . : /`
    /// (anything else is `Error::BadRequest`); a payload over [`MAX_PAYLOAD`] is refused too.
    async fn publish(&self, topic: &str, payload: Bytes) -> Result<()>;

    /// Receives every message published after this returns on a topic that starts with
    /// `prefix` (`""` receives everything). Dropping the subscription ends it.
    async fn subscribe(&self, prefix: &str) -> Result<BusSubscription>;

    /// How many subscriptions of this process are live (dropped ones no longer count).
    fn subscriptions(&self) -> usize;
}

/// Checks `[events] channel`, the namespace of one deployment on a shared engine: 1 to 40
/// bytes of `a-z 0-9 _`, so it fits a PostgreSQL channel, a Redis key and a NATS subject token.
pub fn check_channel(channel: &str) -> Result<()> {
    if channel.is_empty()
        || channel.len() > 40
        || !channel
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(crate::Error::field(
            "channel",
            "validation_invalid_channel",
            "[events] channel: use 1 to 40 of `a-z 0-9 _` (e.g. \"keel\")",
        ));
    }
    Ok(())
}

/// One message as published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusMessage {
    pub topic: String,
    pub payload: Bytes,
}

/// What a subscription yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusDelivery {
    Message(BusMessage),
    /// Messages may have been missed since the last delivery: reload derived state.
    Gap,
}

/// Checks a topic and a payload against the contract's limits.
pub fn check(topic: &str, payload: &[u8]) -> Result<()> {
    if topic.is_empty() || topic.len() > 200 {
        return Err(crate::Error::bad_request("bus topic: must be 1 to 200 bytes"));
    }
    if !topic
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b'/'))
    {
        return Err(crate::Error::bad_request(
            "bus topic: use only letters, digits and `_ - . : /`",
        ));
    }
    if payload.len() > MAX_PAYLOAD {
        return Err(crate::Error::bad_request("bus payload: larger than 1 MiB"));
    }
    Ok(())
}

/// A live subscription. `recv` yields deliveries in arrival order; `None` once the bus is
/// gone (the process is shutting down).
pub struct BusSubscription {
    rx: mpsc::Receiver<BusMessage>,
    lagged: Arc<Lagged>,
}

/// A subscription's gap flag, and what wakes a `recv` that waits for messages when it is set.
#[derive(Default)]
struct Lagged {
    flag: AtomicBool,
    wake: Notify,
}

impl Lagged {
    fn set(&self) {
        self.flag.store(true, Ordering::Release);
        self.wake.notify_one();
    }
}

impl BusSubscription {
    /// The next delivery. A gap is reported as soon as it is known, possibly before messages
    /// that were buffered ahead of it: a subscriber reloads its state on a gap and keeps
    /// applying the messages that follow.
    pub async fn recv(&mut self) -> Option<BusDelivery> {
        loop {
            if self.lagged.flag.swap(false, Ordering::AcqRel) {
                return Some(BusDelivery::Gap);
            }
            tokio::select! {
                biased;
                msg = self.rx.recv() => return msg.map(BusDelivery::Message),
                () = self.lagged.wake.notified() => {}
            }
        }
    }
}

struct Subscriber {
    prefix: String,
    tx: mpsc::Sender<BusMessage>,
    lagged: Arc<Lagged>,
}

/// The in-process half every provider shares: the subscriptions of this process and the
/// delivery of one received message to each whose prefix matches. A provider feeds it what
/// its engine delivers ([`Fanout::deliver`]) and calls [`Fanout::gap`] when its connection
/// was lost and re-established.
#[derive(Default)]
pub struct Fanout {
    subs: Mutex<Vec<Subscriber>>,
}

impl Fanout {
    pub fn new() -> Fanout {
        Fanout::default()
    }

    /// A new subscription to topics starting with `prefix`.
    pub fn subscribe(&self, prefix: &str) -> BusSubscription {
        let (tx, rx) = mpsc::channel(SUBSCRIPTION_BUFFER);
        let lagged = Arc::new(Lagged::default());
        self.lock().push(Subscriber {
            prefix: prefix.to_string(),
            tx,
            lagged: lagged.clone(),
        });
        BusSubscription { rx, lagged }
    }

    /// Hands one message to every matching live subscription; drops subscriptions whose
    /// receiver is gone, marks a gap on those whose buffer is full.
    pub fn deliver(&self, topic: &str, payload: Bytes) {
        let mut subs = self.lock();
        subs.retain(|s| {
            if !topic.starts_with(s.prefix.as_str()) {
                return !s.tx.is_closed();
            }
            let msg = BusMessage {
                topic: topic.to_string(),
                payload: payload.clone(),
            };
            match s.tx.try_send(msg) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    s.lagged.set();
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
    }

    /// Tells every subscription that messages may have been missed.
    pub fn gap(&self) {
        let mut subs = self.lock();
        subs.retain(|s| {
            s.lagged.set();
            !s.tx.is_closed()
        });
    }

    /// How many subscriptions are live.
    pub fn len(&self) -> usize {
        let mut subs = self.lock();
        subs.retain(|s| !s.tx.is_closed());
        subs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Subscriber>> {
        match self.subs.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn prefix_matching_and_gap_on_overflow() {
        let f = Fanout::new();
        let mut all = f.subscribe("");
        let mut recs = f.subscribe("records.");
        f.deliver("schema", Bytes::from_static(b"s"));
        f.deliver("records.users", Bytes::from_static(b"r"));
        assert_eq!(
            all.recv().await,
            Some(BusDelivery::Message(BusMessage {
                topic: "schema".into(),
                payload: Bytes::from_static(b"s")
            }))
        );
        assert!(matches!(recs.recv().await, Some(BusDelivery::Message(m)) if m.topic == "records.users"));
        for _ in 0..SUBSCRIPTION_BUFFER + 5 {
            f.deliver("records.x", Bytes::new());
        }
        // `all` overflowed: the gap comes first, then what its buffer holds.
        assert_eq!(all.recv().await, Some(BusDelivery::Gap));
        assert!(matches!(all.recv().await, Some(BusDelivery::Message(m)) if m.topic == "records.users"));
    }

    #[tokio::test]
    async fn a_gap_wakes_a_waiting_subscriber() {
        let f = Arc::new(Fanout::new());
        let mut sub = f.subscribe("");
        let waiting = tokio::spawn(async move { sub.recv().await });
        tokio::task::yield_now().await;
        f.gap();
        assert_eq!(waiting.await.unwrap(), Some(BusDelivery::Gap));
    }

    #[test]
    fn channels_are_checked() {
        assert!(check_channel("keel").is_ok());
        assert!(check_channel("t0123456789abcdef_x").is_ok());
        for bad in ["", "Keel", "a.b", "a b", "a-b", &"x".repeat(41)] {
            assert!(check_channel(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn topics_are_checked() {
        assert!(check("records.abc:def/x-y_z", b"{}").is_ok());
        assert!(check("", b"").is_err());
        assert!(check("has space", b"").is_err());
        assert!(check("t", &vec![0u8; MAX_PAYLOAD + 1]).is_err());
    }
}
