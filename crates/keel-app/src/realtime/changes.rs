//! The change-history forwarder: every recorded collection change (heard on the event bus
//! as `changes.<collectionId>`, from whichever process made it) goes to the clients
//! subscribed to `changes/*` or `changes/{collection id or name}` whose bound auth holds
//! `changes:read`; a change of a system collection (`_…`) only to superusers.
//!
//! The message is the SSE event named by the subscription as the client sent it, with data
//! `{"action": "applied", "record": {change}}` (the change as `GET /api/changes/{id}` shows
//! it). `action` is the change's state, so review states can follow on the same topic.

use std::sync::Weak;

use keel_core::bus::{BusDelivery, BusSubscription};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{Message, Realtime, Subscription};
use crate::authz::{authorize, Permission};

/// What a `changes/…` subscription follows: `None` for any other topic, `Some(None)` for
/// `changes/*`, `Some(Some(x))` for one collection's id or name.
fn followed(sub: &Subscription) -> Option<Option<&str>> {
    let topic = sub.raw.split_once('?').map_or(sub.raw.as_str(), |(t, _)| t);
    match topic.strip_prefix("changes/")? {
        "*" => Some(None),
        c if !c.is_empty() && !c.contains('/') => Some(Some(c)),
        _ => None,
    }
}

/// Consumes the bus's `changes.*` messages until shutdown, or until the broker or the bus
/// is gone.
pub(super) async fn run(realtime: Weak<Realtime>, mut events: BusSubscription, shutdown: CancellationToken) {
    loop {
        let delivery = tokio::select! {
            _ = shutdown.cancelled() => break,
            d = events.recv() => d,
        };
        let Some(rt) = realtime.upgrade() else { break };
        match delivery {
            Some(BusDelivery::Message(msg)) => match std::str::from_utf8(&msg.payload) {
                Ok(data) => dispatch(&rt, data),
                Err(_) => tracing::warn!(topic = %msg.topic, "unreadable change event on the event bus"),
            },
            Some(BusDelivery::Gap) => tracing::warn!("realtime changes forwarder may have missed recorded changes"),
            None => break,
        }
    }
    tracing::debug!("realtime changes forwarder stopped");
}

/// Delivers one recorded change (its JSON `data`) to every client allowed to follow it.
pub(super) fn dispatch(rt: &Realtime, data: &str) {
    let Ok(event) = serde_json::from_str::<Value>(data) else {
        tracing::warn!("a change event on the event bus is not JSON");
        return;
    };
    let record = &event["record"];
    let text = |k: &str| record.get(k).and_then(Value::as_str).unwrap_or_default();
    let (id, name) = (text("collectionRef"), text("collection"));
    let system = record.get("system").and_then(Value::as_bool).unwrap_or(true);
    for client in rt.snapshot() {
        if client.is_closed() {
            continue;
        }
        let (subs, caller) = client.snapshot_caller();
        let mut matching = subs
            .iter()
            .filter(|s| match followed(s) {
                Some(None) => true,
                Some(Some(c)) => c == id || c == name,
                None => false,
            })
            .peekable();
        if matching.peek().is_none() || authorize(&caller, Permission::ChangesRead).is_err() {
            continue;
        }
        if system && !caller.is_superuser() {
            continue;
        }
        for sub in matching {
            if !client.send(Message::new(client.id(), &sub.raw, data)) {
                rt.disconnect(client.id());
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics() {
        let f = |raw: &str| Subscription::parse(raw).map(|s| followed(&s).map(|o| o.map(str::to_string)));
        assert_eq!(f("changes/*"), Some(Some(None)));
        assert_eq!(f("changes/posts?options=%7B%7D"), Some(Some(Some("posts".into()))));
        assert_eq!(f("changes/a/b"), Some(None));
        assert_eq!(f("posts/*"), Some(None));
    }
}
