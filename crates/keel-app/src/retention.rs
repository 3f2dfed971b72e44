//! Retention of the logs Keel keeps in its own system collections: webhook delivery attempts
//! (`[webhooks] retention_days`, 30 by default), notifications with their delivery
//! attempts (`[notify] retention_days`, 90 by default; the in-app inbox is this history) and
//! ops runs with their steps, logs and approvals (`[ops] retention_days`, 90 by default;
//! also by count, `[ops] keep_runs` per runbook).
//! Every [`EVERY`] each process deletes the rows created before the cutoff, a batch per
//! transaction so a large backlog never holds the writer long; 0 days keeps them forever.
//! Processes purging at once do no harm: a row is deleted once. Request logs are purged in
//! the same round by `crate::logs::purge_once` (`settings.logs.maxDays`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use keel_core::Result;
use keel_data::system::{
    NOTIFICATIONS, NOTIFICATION_DELIVERIES, OPS_APPROVALS, OPS_RUNS, OPS_RUN_LOGS, OPS_RUN_STEPS, WEBHOOK_DELIVERIES,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::App;

/// How often each process purges.
pub const EVERY: Duration = Duration::from_secs(3600);
/// Rows deleted per transaction.
const BATCH: u32 = 1000;

/// The collections purged, each with its retention in days (0: kept forever); deliveries
/// before the notifications they belong to.
fn kept(app: &App) -> [(&'static str, u64); 7] {
    let ops = app.config.ops.retention_days;
    [
        (WEBHOOK_DELIVERIES, app.config.webhooks.retention_days),
        (NOTIFICATION_DELIVERIES, app.config.notify.retention_days),
        (NOTIFICATIONS, app.config.notify.retention_days),
        (OPS_RUN_LOGS, ops),
        (OPS_RUN_STEPS, ops),
        (OPS_APPROVALS, ops),
        (OPS_RUNS, ops),
    ]
}

/// Deletes what is older than its retention at `now`; returns how many rows per collection.
pub async fn purge_once(app: &App, now: DateTime<Utc>) -> Result<Vec<(&'static str, u64)>> {
    let mut out = Vec::new();
    for (name, days) in kept(app) {
        if days == 0 {
            continue;
        }
        let days = i64::try_from(days).unwrap_or(i64::MAX).min(365_000);
        let cutoff = keel_core::time::format(now - chrono::Duration::days(days));
        let mut total = 0;
        loop {
            let n = app.store.purge_created_before(name, &cutoff, BATCH).await?;
            total += n;
            if n < u64::from(BATCH) {
                break;
            }
            tokio::task::yield_now().await;
        }
        if total > 0 {
            tracing::info!(
                collection = name,
                deleted = total,
                "deleted rows older than {days} days"
            );
        }
        out.push((name, total));
    }
    let runs = crate::ops::retention::keep_newest(app, app.config.ops.keep_runs).await?;
    out.push((OPS_RUNS, runs));
    Ok(out)
}

/// Purges every [`EVERY`] (the first time a minute after the start) until `shutdown`.
pub fn spawn(app: App, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let start = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut tick = tokio::time::interval_at(start, EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
            if let Err(e) = purge_once(&app, Utc::now()).await {
                tracing::warn!(error = %e, "cannot delete old webhook deliveries and notifications");
            }
            // Request logs past `settings.logs.maxDays` (in their own database).
            if let Err(e) = crate::logs::purge_once(&app, Utc::now()).await {
                tracing::warn!(error = %e, "cannot delete old request logs");
            }
        }
    })
}
