//! The jobs forwarder task: turns the jobs service's lifecycle events into messages for the
//! clients subscribed to `jobs/{queue}` or `jobs/*` whose bound auth holds `jobs:read`.
//!
//! The message is the SSE event named by the subscription string as the client sent it, with
//! data `{"action": "enqueued" | "active" | "progress" | "completed" | "failed" | "dead" |
//! "cancelled" | "retried", "record": {job}}`. Events are those of jobs changed through this
//! process (the jobs service's broadcast channel).

use std::sync::Weak;

use super::Message;
use keel_jobs::JobEvent;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use super::Realtime;
use crate::authz::{authorize, Permission};

/// Consumes `events` until shutdown, until the broker is gone or the jobs service is dropped.
pub(super) async fn run(
    realtime: Weak<Realtime>,
    mut events: broadcast::Receiver<JobEvent>,
    shutdown: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => break,
            e = events.recv() => e,
        };
        match event {
            Ok(event) => {
                let Some(rt) = realtime.upgrade() else { break };
                dispatch(&rt, &event);
            }
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(
                    skipped = n,
                    "realtime broker lagged behind job events; some messages were dropped"
                );
            }
            Err(RecvError::Closed) => break,
        }
    }
    tracing::debug!("realtime jobs forwarder stopped");
}

/// Delivers one job event to every client with a matching subscription that may read jobs.
pub(super) fn dispatch(rt: &Realtime, event: &JobEvent) {
    let mut data: Option<String> = None;
    for client in rt.snapshot() {
        if client.is_closed() {
            continue;
        }
        let (subs, caller) = client.snapshot_caller();
        let mut matching = subs
            .iter()
            .filter(|s| s.jobs_topic().is_some_and(|t| t.matches(&event.job.queue)))
            .peekable();
        if matching.peek().is_none() || authorize(&caller, Permission::JobsRead).is_err() {
            continue;
        }
        if data.is_none() {
            match serde_json::to_string(event) {
                Ok(d) => data = Some(d),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot serialize a job event; not delivering it");
                    return;
                }
            }
        }
        let Some(data) = data.as_deref() else { return };
        for sub in matching {
            let msg = Message::new(client.id(), &sub.raw, data);
            if !client.send(msg) {
                rt.disconnect(client.id());
                break;
            }
        }
    }
}
