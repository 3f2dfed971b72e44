//! The jobs forwarder task: turns the jobs service's lifecycle events into messages for the
//! clients subscribed to `jobs/{queue}` or `jobs/*` whose bound auth holds `jobs:read`.
//!
//! The message is the SSE event named by the subscription string as the client sent it, with
//! data `{"action": "enqueued" | "active" | "progress" | "completed" | "failed" | "dead" |
//! "cancelled" | "retried", "record": {job}}`. Events are those of jobs changed through any
//! process, heard on the event bus as `jobs.<queue>` with exactly that data as payload.

use std::sync::Weak;

use super::Message;
use keel_core::bus::{BusDelivery, BusSubscription};
use tokio_util::sync::CancellationToken;

use super::Realtime;
use crate::authz::{authorize, Permission};

/// Consumes the bus's `jobs.*` messages until shutdown, until the broker or the bus is gone.
pub(super) async fn run(realtime: Weak<Realtime>, mut events: BusSubscription, shutdown: CancellationToken) {
    loop {
        let delivery = tokio::select! {
            _ = shutdown.cancelled() => break,
            d = events.recv() => d,
        };
        let Some(rt) = realtime.upgrade() else { break };
        match delivery {
            Some(BusDelivery::Message(msg)) => {
                let queue = msg.topic.strip_prefix(crate::sync::JOBS_TOPIC).unwrap_or_default();
                match std::str::from_utf8(&msg.payload) {
                    Ok(data) => dispatch(&rt, queue, data),
                    Err(_) => tracing::warn!(topic = %msg.topic, "unreadable job event on the event bus"),
                }
            }
            Some(BusDelivery::Gap) => {
                tracing::warn!("realtime jobs forwarder may have missed job events");
            }
            None => break,
        }
    }
    tracing::debug!("realtime jobs forwarder stopped");
}

/// Delivers one job event of `queue` (its JSON `data`) to every client with a matching
/// subscription that may read jobs.
pub(super) fn dispatch(rt: &Realtime, queue: &str, data: &str) {
    for client in rt.snapshot() {
        if client.is_closed() {
            continue;
        }
        let (subs, caller) = client.snapshot_caller();
        let mut matching = subs
            .iter()
            .filter(|s| s.jobs_topic().is_some_and(|t| t.matches(queue)))
            .peekable();
        if matching.peek().is_none() || authorize(&caller, Permission::JobsRead).is_err() {
            continue;
        }
        for sub in matching {
            let msg = Message::new(client.id(), &sub.raw, data);
            if !client.send(msg) {
                rt.disconnect(client.id());
                break;
            }
        }
    }
}

/// Consumes the bus's `ops.runs.*` messages (a run's log pieces and state changes, from the
/// process running it) until shutdown, for `ops/runs/{id}` subscribers holding `ops:read`.
/// A follower that missed some (it subscribed late, or the bus had a gap) reads the log by
/// cursor: every message carries its `seq`.
pub(super) async fn run_ops(realtime: Weak<Realtime>, mut events: BusSubscription, shutdown: CancellationToken) {
    loop {
        let delivery = tokio::select! {
            _ = shutdown.cancelled() => break,
            d = events.recv() => d,
        };
        let Some(rt) = realtime.upgrade() else { break };
        match delivery {
            Some(BusDelivery::Message(msg)) => {
                let run = msg.topic.strip_prefix(crate::ops::log::TOPIC).unwrap_or_default();
                let Ok(data) = std::str::from_utf8(&msg.payload) else {
                    continue;
                };
                for client in rt.snapshot() {
                    if client.is_closed() {
                        continue;
                    }
                    let (subs, caller) = client.snapshot_caller();
                    let mut matching = subs.iter().filter(|s| s.ops_run() == Some(run)).peekable();
                    if matching.peek().is_none() || authorize(&caller, Permission::OpsRead).is_err() {
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
            Some(BusDelivery::Gap) => tracing::warn!("realtime ops forwarder may have missed run messages"),
            None => break,
        }
    }
}
