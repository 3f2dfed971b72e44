//! The `redis` bus: pub/sub on the process's shared Redis engine.
//!
//! - **One subscription per process**: a dedicated pub/sub connection (from the shared
//!   client) SUBSCRIBEs to `keel:<channel>:bus`; what it hears goes to this process's
//!   subscriptions through the shared [`Fanout`].
//! - **Publishing** is one `PUBLISH` through the shared connection manager. Redis delivers
//!   one connection's publishes to a subscriber in the order it executed them, so messages one
//!   process publishes one after the other arrive in order. Payloads up to the contract's
//!   1 MiB fit a Redis message as they are.
//! - **A lost subscription** (Redis restarted, the connection was killed, or Redis dropped a
//!   subscriber whose output buffer overflowed) is re-established with backoff (0.1 s doubling
//!   to 5 s); once subscribed again every subscription gets [`BusDelivery::Gap`], so a reload
//!   after the gap sees everything published while it was away.
//! - A crash loses the messages in flight, as the contract allows.
//!
//! [`BusDelivery::Gap`]: keel_core::bus::BusDelivery::Gap

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use keel_core::bus::{check, check_channel, BusSubscription, EventBus, Fanout};
use keel_core::{Error, Result};
use redis::aio::{ConnectionManager, PubSub};

use crate::frame;

/// How long a publish may take before it fails as `Unavailable`.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);

/// The Redis pub/sub bus.
pub struct RedisBus {
    manager: ConnectionManager,
    channel: String,
    fanout: Arc<Fanout>,
    listener: tokio::task::AbortHandle,
}

impl Drop for RedisBus {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl RedisBus {
    /// A bus on the process's shared Redis engine (`client` for the dedicated pub/sub
    /// connection, `manager` for publishing) in the namespace `channel` (`[events] channel`).
    /// Subscribes before returning.
    pub async fn new(client: &redis::Client, manager: ConnectionManager, channel: &str) -> Result<RedisBus> {
        check_channel(channel)?;
        let channel = format!("keel:{channel}:bus");
        let pubsub = subscribe(client, &channel)
            .await
            .map_err(|e| Error::internal(format!("redis bus: cannot subscribe: {e}")))?;
        let fanout = Arc::new(Fanout::new());
        let task = tokio::spawn(forward(client.clone(), channel.clone(), pubsub, fanout.clone()));
        Ok(RedisBus {
            manager,
            channel,
            fanout,
            listener: task.abort_handle(),
        })
    }
}

#[async_trait]
impl EventBus for RedisBus {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn publish(&self, topic: &str, payload: Bytes) -> Result<()> {
        check(topic, &payload)?;
        let frame = frame::encode(topic, &payload);
        let mut conn = self.manager.clone();
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(&self.channel).arg(frame.as_ref());
        let publish = cmd.query_async::<i64>(&mut conn);
        match tokio::time::timeout(PUBLISH_TIMEOUT, publish).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(Error::Unavailable(format!(
                "event bus: Redis refused the publish ({e})"
            ))),
            Err(_) => Err(Error::Unavailable("event bus: Redis did not answer within 10 s".into())),
        }
    }

    async fn subscribe(&self, prefix: &str) -> Result<BusSubscription> {
        Ok(self.fanout.subscribe(prefix))
    }

    fn subscriptions(&self) -> usize {
        self.fanout.len()
    }
}

async fn subscribe(client: &redis::Client, channel: &str) -> redis::RedisResult<PubSub> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    Ok(pubsub)
}

/// Hands every message to this process's subscriptions until the bus is dropped; subscribes
/// again when the subscription ends and reports the gap.
async fn forward(client: redis::Client, channel: String, first: PubSub, fanout: Arc<Fanout>) {
    let mut pubsub = first;
    loop {
        let mut stream = pubsub.into_on_message();
        while let Some(msg) = stream.next().await {
            match frame::decode(&Bytes::copy_from_slice(msg.get_payload_bytes())) {
                Some((topic, payload)) => fanout.deliver(&topic, payload),
                None => {
                    tracing::warn!("redis bus: a message could not be read; gap");
                    fanout.gap();
                }
            }
        }
        drop(stream);
        tracing::warn!("redis bus: the subscription ended; subscribing again");
        let mut wait = Duration::from_millis(100);
        pubsub = loop {
            match subscribe(&client, &channel).await {
                Ok(p) => break p,
                Err(e) => tracing::warn!(error = %e, "redis bus: subscribing again failed; retrying"),
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(5));
        };
        fanout.gap();
    }
}
