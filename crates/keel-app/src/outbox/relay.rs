//! The relay: outbox rows → jobs on system queues. At least once: a row is claimed for
//! [`LEASE`], enqueued with its id as the job's unique key, and deleted once the enqueue
//! committed. A relay that dies after the enqueue leaves the row; whoever claims it again sees
//! it `reclaimed` and first asks the jobs store whether a job with that key exists (in any
//! state), so the email is not sent twice. Several processes claim disjoint rows.

use std::collections::BTreeMap;
use std::time::Duration;

use keel_data::store::OutboxEntry;
use keel_jobs::{Backoff, BackoffKind, NewJob};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::queue_of;
use crate::App;

/// How long a claimed row is held before another relay may take it.
pub const LEASE: Duration = Duration::from_secs(60);
/// How often the relay looks for rows nobody woke it for (another process's, a crash's).
pub const SWEEP: Duration = Duration::from_secs(5);
/// Rows moved per round.
const BATCH: usize = 200;

/// Runs the relay until `shutdown` turns true (or its sender is dropped).
pub fn spawn(app: App, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut sweep = tokio::time::interval(SWEEP);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if *shutdown.borrow() {
                return;
            }
            loop {
                match relay_once(&app).await {
                    Ok(n) if n == BATCH => continue,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "the outbox relay failed; its rows are retried at the next sweep");
                        break;
                    }
                }
            }
            tokio::select! {
                () = app.store.outbox_written() => {}
                _ = sweep.tick() => {}
                r = shutdown.changed() => if r.is_err() { return },
            }
        }
    })
}

/// Moves one batch of rows into the jobs service; returns how many rows it claimed.
pub async fn relay_once(app: &App) -> keel_core::Result<usize> {
    let batch = app.store.outbox_claim(BATCH, LEASE).await?;
    let claimed = batch.len();
    let mut by_queue: BTreeMap<String, Vec<OutboxEntry>> = BTreeMap::new();
    for entry in batch {
        by_queue.entry(queue_of(&entry.kind)).or_default().push(entry);
    }
    let mut done = Vec::with_capacity(claimed);
    for (queue, entries) in by_queue {
        let mut jobs = Vec::with_capacity(entries.len());
        let mut ids = Vec::with_capacity(entries.len());
        for e in entries {
            // Enqueued before a crash and since finished? Then it is done; the unique key
            // only covers jobs still pending.
            if e.reclaimed && app.jobs.store().find_unique(&queue, &e.id).await?.is_some() {
                done.push(e.id);
                continue;
            }
            jobs.push(job_for(&e));
            ids.push(e.id);
        }
        if !jobs.is_empty() {
            match app.jobs.enqueue(&queue, jobs).await {
                Ok(_) => done.extend(ids),
                // Left to its lease: retried at a later sweep.
                Err(e) => tracing::warn!(%queue, error = %e, "outbox rows could not be enqueued"),
            }
        }
    }
    app.store.outbox_done(&done).await?;
    Ok(claimed)
}

/// The job of an outbox row: its kind as the name, its payload, its id as the unique key,
/// and the retries of Keel's own work (8 attempts, exponential from 2 s up to 10 min).
fn job_for(e: &OutboxEntry) -> NewJob {
    let mut job = NewJob::new(e.kind.clone(), e.payload.clone());
    job.unique_key = Some(e.id.clone());
    job.max_attempts = Some(8);
    job.timeout_ms = Some(60_000);
    job.backoff = Some(Backoff {
        kind: BackoffKind::Exponential,
        delay_ms: 2_000,
        max_delay_ms: 600_000,
        jitter: true,
    });
    job
}
