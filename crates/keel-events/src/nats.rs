//! The `nats` bus: core NATS on the process's shared client.
//!
//! - **One subscription per process** on the subject `keel.<channel>.bus` (topics travel in
//!   the frame: a contract topic such as `a..b` is not a valid NATS subject); what it hears
//!   goes to this process's subscriptions through the shared [`Fanout`].
//! - **Publishing** hands the frame to the client, then flushes, so `publish` returns once
//!   the message is written to the server's connection (while the client reconnects it
//!   waits, up to 10 s, then fails as `Unavailable`). NATS delivers one
//!   connection's messages to a subscriber in order, so messages one process publishes one
//!   after the other arrive in order.
//! - **Payloads over the server's `max_payload`** (1 MiB by default, and a frame is a little
//!   larger than its payload) are cut into chunks the subscriber puts back together (see
//!   `frame.rs`), so the contract's 1 MiB holds on any server whose `max_payload` is at least
//!   [`MIN_MAX_PAYLOAD`]; a smaller one is refused when the bus opens.
//! - **A lost connection**: the client reconnects and resubscribes by itself. Its events
//!   reach the bus through [`NatsEvents`] (give every event of the client's
//!   `event_callback` to [`NatsEvents::observe`]): after a reconnection (or a slow-consumer
//!   drop in the client) the bus makes one round trip to the server (a request nobody
//!   answers: the server says so once it has processed the resubscription sent before it),
//!   then every subscription gets [`BusDelivery::Gap`].
//! - A crash loses the messages in flight, as the contract allows.
//!
//! [`BusDelivery::Gap`]: keel_core::bus::BusDelivery::Gap

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use keel_core::bus::{check, check_channel, BusSubscription, EventBus, Fanout};
use keel_core::{Error, Result};
use tokio::sync::watch;

use crate::frame::{self, Piece, Reassembly};

/// The smallest server `max_payload` the bus works with.
pub const MIN_MAX_PAYLOAD: usize = 4096;
/// How long a publish (or the flush after a reconnection) may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// What the bus must know of the client's connection. Give it every event of the client
/// (`ConnectOptions::event_callback`) where the client is made; clones share it.
#[derive(Clone)]
pub struct NatsEvents {
    inner: Arc<EventsInner>,
}

struct EventsInner {
    disconnected: AtomicBool,
    /// Bumped on every reconnection after a disconnection and every slow-consumer drop.
    losses: watch::Sender<u64>,
}

impl Default for NatsEvents {
    fn default() -> Self {
        NatsEvents::new()
    }
}

impl NatsEvents {
    pub fn new() -> NatsEvents {
        NatsEvents {
            inner: Arc::new(EventsInner {
                disconnected: AtomicBool::new(false),
                losses: watch::Sender::new(0),
            }),
        }
    }

    /// Takes one event of the client. The first connection is not a loss; a connection after
    /// a disconnection is, and so is a slow-consumer drop.
    pub fn observe(&self, event: &async_nats::Event) {
        match event {
            async_nats::Event::Disconnected => self.inner.disconnected.store(true, Ordering::Release),
            async_nats::Event::Connected if self.inner.disconnected.swap(false, Ordering::AcqRel) => {
                self.inner.losses.send_modify(|n| *n += 1);
            }
            async_nats::Event::SlowConsumer(_) => self.inner.losses.send_modify(|n| *n += 1),
            _ => {}
        }
    }
}

/// The core NATS bus.
pub struct NatsBus {
    client: async_nats::Client,
    subject: String,
    fanout: Arc<Fanout>,
    /// This instance's id in chunk headers, and its next message number.
    sender: u64,
    next: AtomicU64,
    task: tokio::task::AbortHandle,
}

impl Drop for NatsBus {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl NatsBus {
    /// A bus on the process's shared client in the namespace `channel` (`[events] channel`),
    /// hearing about reconnections through `events`. Subscribes before returning.
    pub async fn new(client: async_nats::Client, events: &NatsEvents, channel: &str) -> Result<NatsBus> {
        check_channel(channel)?;
        let max = client.server_info().max_payload;
        if max < MIN_MAX_PAYLOAD {
            return Err(Error::internal(format!(
                "nats bus: the server's max_payload is {max} bytes; the bus needs at least {MIN_MAX_PAYLOAD}"
            )));
        }
        let subject = format!("keel.{channel}.bus");
        let sub = client
            .subscribe(subject.clone())
            .await
            .map_err(|e| Error::internal(format!("nats bus: cannot subscribe: {e}")))?;
        sync(&client).await?;
        let fanout = Arc::new(Fanout::new());
        let task = tokio::spawn(forward(client.clone(), sub, events.clone(), fanout.clone()));
        Ok(NatsBus {
            client,
            subject,
            fanout,
            sender: rand::random(),
            next: AtomicU64::new(0),
            task: task.abort_handle(),
        })
    }
}

#[async_trait]
impl EventBus for NatsBus {
    fn name(&self) -> &'static str {
        "nats"
    }

    async fn publish(&self, topic: &str, payload: Bytes) -> Result<()> {
        check(topic, &payload)?;
        let frame = frame::encode(topic, &payload);
        let max = self.client.server_info().max_payload.max(MIN_MAX_PAYLOAD);
        let message = self.next.fetch_add(1, Ordering::Relaxed);
        for piece in frame::chunks(frame, max, self.sender, message) {
            self.client
                .publish(self.subject.clone(), piece)
                .await
                .map_err(|e| Error::Unavailable(format!("event bus: NATS refused the publish ({e})")))?;
        }
        flush(&self.client).await
    }

    async fn subscribe(&self, prefix: &str) -> Result<BusSubscription> {
        Ok(self.fanout.subscribe(prefix))
    }

    fn subscriptions(&self) -> usize {
        self.fanout.len()
    }
}

/// Waits until the server has everything sent so far.
async fn flush(client: &async_nats::Client) -> Result<()> {
    match tokio::time::timeout(TIMEOUT, client.flush()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Error::Unavailable(format!("event bus: NATS is unreachable ({e})"))),
        Err(_) => Err(Error::Unavailable("event bus: NATS did not answer within 10 s".into())),
    }
}

/// One round trip: returns once the server has processed everything this client sent
/// before (a request to an inbox nobody listens on, answered "no responders").
async fn sync(client: &async_nats::Client) -> Result<()> {
    use async_nats::client::RequestErrorKind;
    match tokio::time::timeout(TIMEOUT, client.request(client.new_inbox(), Bytes::new())).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) if e.kind() == RequestErrorKind::NoResponders => Ok(()),
        Ok(Err(e)) => Err(Error::Unavailable(format!("event bus: NATS is unreachable ({e})"))),
        Err(_) => Err(Error::Unavailable("event bus: NATS did not answer within 10 s".into())),
    }
}

/// Hands every message to this process's subscriptions until the bus is dropped; reports a
/// gap after every loss once the resubscription is in effect.
async fn forward(client: async_nats::Client, mut sub: async_nats::Subscriber, events: NatsEvents, fanout: Arc<Fanout>) {
    // `events` is held here, so its sender outlives this receiver.
    let mut losses = events.inner.losses.subscribe();
    let mut chunks = Reassembly::default();
    loop {
        tokio::select! {
            msg = sub.next() => {
                let Some(msg) = msg else { return };
                match chunks.push(msg.payload) {
                    Piece::Message(topic, payload) => fanout.deliver(&topic, payload),
                    Piece::Pending => {}
                    Piece::Lost => {
                        tracing::warn!("nats bus: a message was lost or could not be read; gap");
                        fanout.gap();
                    }
                }
            }
            changed = losses.changed() => {
                if changed.is_err() {
                    return;
                }
                tracing::warn!("nats bus: the connection was re-established; gap");
                let (client, fanout) = (client.clone(), fanout.clone());
                tokio::spawn(async move {
                    if let Err(e) = sync(&client).await {
                        tracing::warn!(error = %e, "nats bus: the round trip after a reconnection failed");
                    }
                    fanout.gap();
                });
            }
        }
    }
}
