//! Job outcomes as events: `job.completed`, `job.failed` and `job.dead` of the jobs this
//! process ran or changed (every process reports its own, so each outcome is reported once),
//! for the queues callers own (Keel's `_keel-` queues never). `data` is the job as the jobs
//! API shows it.
//!
//! An outcome is written to the outbox after the jobs store committed it, from the jobs
//! service's in-process events: a process killed between the two loses that event, and a
//! burst beyond the service's event buffer (4096) is logged as lost. Record events have no
//! such gap (they are written in the record's transaction).

use std::sync::Arc;

use keel_jobs::JobEvent;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::App;

/// The job actions that become events, and their event types.
fn event_type(action: &str) -> Option<&'static str> {
    match action {
        "completed" => Some("job.completed"),
        "failed" => Some("job.failed"),
        "dead" => Some("job.dead"),
        _ => None,
    }
}

/// Follows this process's job events (and the schedule ticks its scheduler recorded as
/// missed: `schedule.missed`) until `shutdown`.
pub fn spawn(app: App, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    let mut events = app.jobs.subscribe();
    let mut missed = app.jobs.subscribe_missed();
    tokio::spawn(async move {
        loop {
            let event: Arc<JobEvent> = tokio::select! {
                r = missed.recv() => {
                    match r {
                        Ok(tick) => emit_missed(&app, &tick).await,
                        Err(RecvError::Lagged(n)) => tracing::warn!(missed = n, "{n} schedule.missed events were not written"),
                        Err(RecvError::Closed) => return,
                    }
                    continue;
                }
                r = events.recv() => match r {
                    Ok(e) => e,
                    Err(RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "job events came faster than they were written as events; {n} were not");
                        continue;
                    }
                    Err(RecvError::Closed) => return,
                },
                r = shutdown.changed() => {
                    if r.is_err() || *shutdown.borrow() { return }
                    continue;
                }
            };
            let Some(kind) = event_type(event.action) else { continue };
            if keel_jobs::is_system_queue(&event.job.queue) || !app.events.wanted(kind, None) {
                continue;
            }
            let data = match serde_json::to_value(&event.job) {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot serialize a job event");
                    continue;
                }
            };
            if let Err(e) = super::emit(&app, kind, data).await {
                tracing::warn!(job = %event.job.id, error = %e, "cannot write the {kind} event");
            }
        }
    })
}

/// Writes a `schedule.missed` event: `{"schedule", "name", "queue", "tick"}`.
async fn emit_missed(app: &App, tick: &keel_jobs::schedule::MissedTick) {
    let data = match serde_json::to_value(tick) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "cannot serialize a missed schedule tick");
            return;
        }
    };
    if let Err(e) = super::emit(app, "schedule.missed", data).await {
        tracing::warn!(schedule = %tick.schedule, error = %e, "cannot write the schedule.missed event");
    }
}
