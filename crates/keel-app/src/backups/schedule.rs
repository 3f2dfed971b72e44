//! Scheduled backups: `settings.backups.cron` (UTC, read through the jobs service's cron
//! parser, the one Keel has) makes a backup named `@auto_pb_backup_<app>_<time>.zip` at each
//! tick and keeps the newest `cronMaxKeep` of them.
//!
//! Several processes: each process's [`spawn`]ed loop notices the tick, and each enqueues the
//! same job into the system queue `_keel-backup` with the tick as its unique key (checked with
//! `find_unique` first, so a tick already done is not enqueued again); the jobs store lets one
//! job per key exist and one worker claim it (SKIP LOCKED / the embedded store's single
//! writer). So one backup per tick, whichever process runs it; no lock of Keel's own.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keel_jobs::schedule::spec::Spec;
use keel_jobs::{Job, JobContext, JobFailure, JobHandler, NewJob};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{name, storage, BackupsSettings, Contents};
use crate::App;

/// The outbox-style kind, and so the system queue `_keel-backup`.
pub const KIND: &str = "backup";

/// The parsed cron of `settings.backups.cron`, or the problem with it.
pub fn parse_cron(expr: &str) -> Result<Spec, String> {
    Spec::cron(expr, "UTC").map_err(|e| e.to_string())
}

/// Starts the tick loop and the `_keel-backup` worker; both stop when `shutdown` turns true.
pub fn spawn(app: &App, shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let queue = crate::outbox::queue_of(KIND);
    let worker = app
        .jobs
        .work(&queue, Arc::new(BackupWorker { app: app.clone() }), 1, shutdown.clone());
    vec![worker, tokio::spawn(ticks(app.clone(), shutdown))]
}

/// Every second: when the cron has a tick between the last look and now, enqueue its job.
async fn ticks(app: App, mut shutdown: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    let mut last: Option<(String, DateTime<Utc>)> = None;
    loop {
        tokio::select! {
            _ = every.tick() => {}
            r = shutdown.changed() => if r.is_err() || *shutdown.borrow() { return },
        }
        let expr = BackupsSettings::of(&app).cron.trim().to_string();
        let now = Utc::now();
        if expr.is_empty() {
            last = None;
            continue;
        }
        let since = match &last {
            Some((e, t)) if *e == expr => *t,
            // A new or changed cron counts from now.
            _ => {
                last = Some((expr, now));
                continue;
            }
        };
        last = Some((expr.clone(), now));
        let Ok(spec) = parse_cron(&expr) else { continue };
        let Some(tick) = spec.next_after(since, since) else {
            continue;
        };
        if tick > now {
            continue;
        }
        if let Err(e) = enqueue(&app, tick).await {
            tracing::warn!(error = %e, "scheduled backup not enqueued");
        }
    }
}

/// Enqueues the backup of `tick` unless one was enqueued for it already (by any process).
pub async fn enqueue(app: &App, tick: DateTime<Utc>) -> keel_core::Result<()> {
    let queue = crate::outbox::queue_of(KIND);
    let key = format!("auto:{}", tick.timestamp());
    if app.jobs.store().find_unique(&queue, &key).await?.is_some() {
        return Ok(());
    }
    let mut job = NewJob::new("backup", json!({"tick": keel_core::time::format(tick)}));
    job.unique_key = Some(key);
    // A failed scheduled backup is not retried: the next tick makes a new one.
    job.max_attempts = Some(1);
    job.timeout_ms = Some(6 * 3600 * 1000);
    app.jobs.enqueue(&queue, vec![job]).await?;
    Ok(())
}

/// Runs a scheduled backup, then removes the oldest scheduled ones beyond `cronMaxKeep`.
struct BackupWorker {
    app: App,
}

#[async_trait]
impl JobHandler for BackupWorker {
    async fn run(&self, _job: &Job, _ctx: &JobContext) -> Result<Option<Value>, JobFailure> {
        let app = &self.app;
        let settings = BackupsSettings::of(app);
        let contents = Contents::of(&app.config);
        let fail = |e: keel_core::Error| JobFailure::permanent(format!("scheduled backup failed: {e}"));
        super::refuse_unless_sqlite(&contents, &app.config.data.engine.to_string()).map_err(fail)?;
        let store = storage::open(&contents.root, &settings).map_err(fail)?;
        let name = name::generate(name::AUTO_PREFIX, &app.settings.get().meta.app_name, Utc::now());
        if let Err(e) = super::make(&contents, store.as_ref(), &name).await {
            tracing::error!(backup = %name, error = %e, "scheduled backup failed");
            return Err(fail(e));
        }
        let removed = prune(store.as_ref(), settings.cron_max_keep).await.map_err(fail)?;
        Ok(Some(json!({"name": name, "removed": removed})))
    }
}

/// Deletes the oldest scheduled backups beyond the newest `keep` (0: keeps all).
pub async fn prune(store: &dyn keel_core::files::FileStore, keep: u32) -> keel_core::Result<Vec<String>> {
    if keep == 0 {
        return Ok(Vec::new());
    }
    let mut auto = storage::list(store, name::AUTO_PREFIX).await?;
    // Newest first; the name (which holds the time) breaks ties of the same second.
    auto.sort_by(|a, b| b.last_modified.cmp(&a.last_modified).then(b.key.cmp(&a.key)));
    let mut removed = Vec::new();
    for old in auto.into_iter().skip(keep as usize) {
        store.delete(&old.key).await?;
        removed.push(old.key);
    }
    Ok(removed)
}
