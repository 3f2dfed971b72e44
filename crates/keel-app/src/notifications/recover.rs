//! Deliveries a crash left without their job. A send writes its `_notificationDeliveries`
//! rows, then enqueues their `_keel-notify` jobs; a process killed in between leaves rows
//! `queued` or `deferred` that no job will ever run. Every [`SWEEP`] each process looks for
//! such rows older than [`GRACE`] whose job does not exist (in any state: the jobs store is
//! asked by the job's unique key, so a delivery whose job ran is never sent again) and
//! enqueues it. Several processes may sweep at once: a job's unique key makes a second
//! enqueue of a pending job a no-op.
//!
//! The same holds for escalation timers: an unacknowledged `ackRequired` notification with an
//! escalation, created in the last [`ESCALATION_WINDOW_DAYS`] days and more than `grace` ago,
//! whose `escalate:{id}` job does not exist gets it, due when it was first due.

use std::time::Duration;

use keel_core::Result;
use keel_data::system::{NOTIFICATIONS, NOTIFICATION_DELIVERIES as DELIVERIES};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::send::{job, Escalation};
use super::{find, get, lit, str_of, KIND};
use crate::App;

/// How often each process sweeps.
pub const SWEEP: Duration = Duration::from_secs(60);
/// How old an unfinished delivery must be before its job is looked for.
pub const GRACE: Duration = Duration::from_secs(120);

/// How far back the sweep looks for escalation timers a crash lost.
pub const ESCALATION_WINDOW_DAYS: i64 = 30;

/// Enqueues the job of every delivery and escalation older than `grace` that has none;
/// returns how many.
pub async fn recover_once(app: &App, grace: Duration) -> Result<usize> {
    Ok(recover_deliveries(app, grace).await? + recover_escalations(app, grace).await?)
}

async fn recover_escalations(app: &App, grace: Duration) -> Result<usize> {
    let queue = crate::outbox::queue_of(KIND);
    let now = chrono::Utc::now();
    let cutoff = now - chrono::Duration::from_std(grace).unwrap_or_default();
    let since = now - chrono::Duration::days(ESCALATION_WINDOW_DAYS);
    let filter = format!(
        "ackRequired = true && ackedAt = '' && created < {} && created > {}",
        lit(&keel_core::time::format(cutoff)),
        lit(&keel_core::time::format(since))
    );
    let mut enqueued = 0;
    for row in find(app, NOTIFICATIONS, &filter).await? {
        let Some(escalation) = row
            .data
            .get("escalation")
            .and_then(|e| serde_json::from_value::<Escalation>(e.clone()).ok())
            .filter(|e| !e.recipients.is_empty())
        else {
            continue;
        };
        let key = format!("escalate:{}", row.id());
        if app.jobs.store().find_unique(&queue, &key).await?.is_some() {
            continue;
        }
        let created = keel_core::time::parse(str_of(&row.data, "created")).unwrap_or(now);
        let due = created + chrono::Duration::minutes(i64::from(escalation.after_minutes));
        let new = job(
            app,
            serde_json::json!({"kind": "escalate", "notification": row.id()}),
            &key,
            due,
        );
        app.jobs.enqueue(&queue, vec![new]).await?;
        tracing::info!(
            notification = row.id(),
            "a notification's escalation timer was lost (a crash after the send); set it again"
        );
        enqueued += 1;
    }
    Ok(enqueued)
}

async fn recover_deliveries(app: &App, grace: Duration) -> Result<usize> {
    let queue = crate::outbox::queue_of(KIND);
    let cutoff = chrono::Utc::now() - chrono::Duration::from_std(grace).unwrap_or_default();
    let filter = format!(
        "(status = 'queued' || status = 'deferred') && updated < {}",
        lit(&keel_core::time::format(cutoff))
    );
    let mut enqueued = 0;
    for row in find(app, DELIVERIES, &filter).await? {
        let digest_key = str_of(&row.data, "digestKey");
        let key = if digest_key.is_empty() { row.id() } else { digest_key };
        if app.jobs.store().find_unique(&queue, key).await?.is_some() {
            continue;
        }
        let due = keel_core::time::parse(str_of(&row.data, "dueAt")).unwrap_or_else(|| app.notifications.now());
        let new = if digest_key.is_empty() {
            job(
                app,
                serde_json::json!({"kind": "deliver", "delivery": row.id()}),
                key,
                due,
            )
        } else {
            let notification = get(app, NOTIFICATIONS, str_of(&row.data, "notification")).await?;
            let topic = notification
                .as_ref()
                .map(|n| str_of(&n.data, "topic").to_string())
                .unwrap_or_default();
            job(
                app,
                serde_json::json!({"kind": "digest", "key": digest_key, "topic": topic}),
                key,
                due,
            )
        };
        app.jobs.enqueue(&queue, vec![new]).await?;
        tracing::info!(
            delivery = row.id(),
            "a notification delivery had no job (a crash after the send); enqueued it"
        );
        enqueued += 1;
    }
    Ok(enqueued)
}

/// Sweeps every [`SWEEP`] until `shutdown`.
pub fn spawn(app: App, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
            if let Err(e) = recover_once(&app, GRACE).await {
                tracing::warn!(error = %e, "cannot look for notification deliveries without a job");
            }
        }
    })
}
