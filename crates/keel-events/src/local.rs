//! The `local` bus: one process, no engine. Publishing hands the message straight to this
//! process's subscriptions; nothing crosses a process boundary, so it is the right choice
//! only when one Keel process serves the deployment (the default on one machine).

use async_trait::async_trait;
use bytes::Bytes;
use keel_core::bus::{check, BusSubscription, EventBus, Fanout};
use keel_core::Result;

/// The in-process bus.
#[derive(Default)]
pub struct LocalBus {
    fanout: Fanout,
}

impl LocalBus {
    pub fn new() -> LocalBus {
        LocalBus::default()
    }
}

#[async_trait]
impl EventBus for LocalBus {
    fn name(&self) -> &'static str {
        "local"
    }

    async fn publish(&self, topic: &str, payload: Bytes) -> Result<()> {
        check(topic, &payload)?;
        self.fanout.deliver(topic, payload);
        Ok(())
    }

    async fn subscribe(&self, prefix: &str) -> Result<BusSubscription> {
        Ok(self.fanout.subscribe(prefix))
    }

    fn subscriptions(&self) -> usize {
        self.fanout.len()
    }
}
