//! What must happen at least once because of a change (auth emails today; webhooks and
//! notifications next) goes through the outbox, never a bare `tokio::spawn`:
//!
//! 1. the cause writes an outbox row (`keel_data::Store::outbox_put`, or a record write's own
//!    transaction) — durable before the HTTP answer;
//! 2. the [`relay`] moves rows into the jobs service as jobs of the system queue
//!    `_keel-{kind}` (the row's id is the job's unique key), then deletes them. It is woken by
//!    this process's commits and sweeps every [`relay::SWEEP`] for rows another process or a
//!    crash left;
//! 3. system workers ([`mail`] for `_keel-mail`) claim those jobs and do the work, with the
//!    jobs service's retries, backoff and dead letters; their jobs show in the jobs API
//!    (`GET /api/queues/_keel-mail/jobs?state=failed`) like any other, and only Keel enqueues
//!    into or claims from a `_keel-` queue.
//!
//! The contract for a new kind: a `kind` of `[A-Za-z0-9_-]{1,64}` and a JSON payload of at
//! most 64 KiB that names what to do without secrets (job payloads are readable with
//! `jobs:read`); delivery is **at least once** (a worker may see the same entry twice, after a
//! crash at the wrong moment) and **in no particular order**. Register a [`JobHandler`] for
//! `_keel-{kind}` in [`start`].

pub mod mail;
pub mod relay;

use std::sync::Arc;

use keel_jobs::JobHandler;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::App;

/// The jobs queue an outbox `kind` becomes.
pub fn queue_of(kind: &str) -> String {
    format!("{}{kind}", keel_jobs::SYSTEM_QUEUE_PREFIX)
}

/// The system workers: `(kind, handler, concurrency)`.
fn workers(app: &App) -> Vec<(&'static str, Arc<dyn JobHandler>, usize)> {
    vec![
        (
            crate::auth::mail::OUTBOX_KIND,
            Arc::new(mail::MailWorker::new(app.clone())),
            4,
        ),
        (
            keel_data::store::EVENT_KIND,
            Arc::new(crate::events::worker::EventWorker::new(app.clone())),
            16,
        ),
        (
            crate::webhooks::OUTBOX_KIND,
            Arc::new(crate::webhooks::DeliveryWorker::new(app.clone())),
            64,
        ),
        (
            crate::notifications::KIND,
            Arc::new(crate::notifications::worker::NotifyWorker::new(app.clone())),
            8,
        ),
        (
            crate::ops::KIND,
            Arc::new(crate::ops::worker::RunWorker::new(app.clone())),
            16,
        ),
    ]
}

/// Starts the event consumers ([`crate::events::start`]), the relay and the system workers of
/// this process; they stop when `shutdown` turns true (or its sender is dropped). Work in
/// flight then is left to its lease: it is done again by the next process to run, never lost.
pub async fn start(app: &App, shutdown: watch::Receiver<bool>) -> keel_core::Result<Vec<JoinHandle<()>>> {
    let mut tasks = crate::events::start(app, shutdown.clone()).await?;
    tasks.push(relay::spawn(app.clone(), shutdown.clone()));
    tasks.push(crate::notifications::recover::spawn(app.clone(), shutdown.clone()));
    tasks.push(crate::retention::spawn(app.clone(), shutdown.clone()));
    for (kind, handler, concurrency) in workers(app) {
        tasks.push(app.jobs.work(&queue_of(kind), handler, concurrency, shutdown.clone()));
    }
    Ok(tasks)
}

/// Whether nothing is left to do: the outbox is empty and no job of a system queue is
/// waiting, running or waiting for a retry (tests wait for this instead of sleeping).
pub async fn settled(app: &App) -> keel_core::Result<bool> {
    if app.store.outbox_len().await? > 0 {
        return Ok(false);
    }
    for (kind, _, _) in workers(app) {
        let c = app.jobs.store().counts(&queue_of(kind)).await?;
        if c.waiting + c.delayed + c.active + c.failed > 0 {
            return Ok(false);
        }
    }
    Ok(true)
}
