//! Keeping the processes of one deployment in step through the event bus (`App.bus`).
//!
//! What this process tells the others, each from one task publishing in order:
//! - every committed record change, as `records.<collectionId>` (JSON of `RecordEvent`); the
//!   write returns only once its changes were handed to the bus, so a change answered to its
//!   caller reaches the other processes even when this one is killed right after;
//! - every committed collection change, as `schema`;
//! - every job lifecycle event, as `jobs.<queue>` (the JSON realtime clients receive);
//! - saved settings, as `settings` (published by `settings::update` itself).
//!
//! What it does with what it hears (its own messages included): reloads the schema on
//! `schema` and the settings on `settings` (a burst of messages is one reload), and both when
//! its subscription reports a gap; wakes its long-polling job claims on `jobs.<queue>`. The
//! realtime broker (`crate::realtime`) delivers `records.*` and `jobs.*` to its clients.
//!
//! Bound: a change is enforced by every process once its message arrived and one reload
//! (one `SELECT` of the collections or settings) ran: milliseconds on a healthy bus.

use std::sync::{Arc, Weak};

use bytes::Bytes;
use keel_core::bus::{BusDelivery, BusSubscription, EventBus, MAX_PAYLOAD};
use keel_core::events::RecordEvent;
use keel_core::Result;
use keel_data::store::Committed;
use keel_data::Store;
use keel_jobs::{JobEvent, Jobs};
use tokio::sync::{broadcast, mpsc, watch, Notify};

use crate::{App, Settings};

/// The bus topic on which a process announces a committed collection change.
pub const SCHEMA_TOPIC: &str = "schema";
/// The prefix of the bus topics carrying job lifecycle events (`jobs.<queue>`).
pub const JOBS_TOPIC: &str = "jobs.";

/// Starts publishing this process's changes and following the other processes' ones. Every
/// subscription exists when this returns. Needs a Tokio runtime; call it once per `App`.
pub async fn start(app: &App) -> Result<()> {
    match app.store.publish_committed() {
        Some(committed) => drop(tokio::spawn(publish_records(
            committed,
            app.bus.clone(),
            app.search.clone(),
        ))),
        None => tracing::warn!("the store's record changes are published already; not twice"),
    }
    tokio::spawn(publish_schema(app.store.schema_changes(), app.bus.clone()));
    tokio::spawn(publish_jobs(app.jobs.subscribe(), app.bus.clone()));

    let schema = app.bus.subscribe(SCHEMA_TOPIC).await?;
    let settings = app.bus.subscribe(crate::settings::TOPIC).await?;
    let jobs = app.bus.subscribe(JOBS_TOPIC).await?;
    let reload_schema = Arc::new(Notify::new());
    let reload_settings = Arc::new(Notify::new());
    tokio::spawn(follow(schema, reload_schema.clone(), reload_settings.clone()));
    tokio::spawn(follow(settings, reload_settings.clone(), reload_schema.clone()));
    tokio::spawn(schema_reloader(Arc::downgrade(&app.store), reload_schema));
    tokio::spawn(settings_reloader(
        Arc::downgrade(&app.store),
        Arc::downgrade(&app.settings),
        reload_settings,
    ));
    tokio::spawn(wake_claims(jobs, Arc::downgrade(&app.jobs)));
    Ok(())
}

/// The most committed writes applied to the search indexes together.
const SEARCH_BATCH: usize = 256;

/// Publishes committed record changes in commit order, telling each write once its changes
/// were applied to the search indexes (`crate::search::apply`, the writes waiting together
/// in one batch) and handed to the bus; ends when the store is gone.
async fn publish_records(
    mut committed: mpsc::UnboundedReceiver<Committed>,
    bus: Arc<dyn EventBus>,
    search: Arc<crate::search::Search>,
) {
    while let Some(first) = committed.recv().await {
        let mut batch = vec![first];
        while batch.len() < SEARCH_BATCH {
            match committed.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        let events: Vec<&RecordEvent> = batch.iter().flat_map(|c| c.events.iter()).collect();
        crate::search::apply(&search, &events).await;
        for Committed { events, done } in batch {
            for event in events {
                publish_record(&event, bus.as_ref()).await;
            }
            let _ = done.send(());
        }
    }
}

async fn publish_record(event: &RecordEvent, bus: &dyn EventBus) {
    let payload = match serde_json::to_vec(&event) {
        Ok(p) if p.len() <= MAX_PAYLOAD => p,
        Ok(p) => {
            tracing::warn!(
                collection = %event.collection_name,
                bytes = p.len(),
                "a record change is larger than the event bus carries; realtime clients do not hear it"
            );
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot encode a record change for the event bus");
            return;
        }
    };
    if let Err(e) = bus.publish(&event.topic(), Bytes::from(payload)).await {
        tracing::warn!(error = %e, collection = %event.collection_name, "cannot publish a record change on the event bus");
    }
}

/// Publishes `schema` after every committed collection change; ends when the store is gone.
async fn publish_schema(mut changes: watch::Receiver<u64>, bus: Arc<dyn EventBus>) {
    while changes.changed().await.is_ok() {
        if let Err(e) = bus.publish(SCHEMA_TOPIC, Bytes::new()).await {
            tracing::warn!(error = %e, "cannot announce a collection change on the event bus");
        }
    }
}

/// Publishes job lifecycle events; ends when the jobs service is gone.
async fn publish_jobs(mut events: broadcast::Receiver<Arc<JobEvent>>, bus: Arc<dyn EventBus>) {
    loop {
        let event = match events.recv().await {
            Ok(e) => e,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(
                    skipped = n,
                    "job events were produced faster than the event bus took them"
                );
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => break,
        };
        let topic = format!("{JOBS_TOPIC}{}", event.job.queue);
        let payload = match serde_json::to_vec(&*event) {
            Ok(p) => Bytes::from(p),
            Err(e) => {
                tracing::warn!(error = %e, "cannot encode a job event for the event bus");
                continue;
            }
        };
        if let Err(e) = bus.publish(&topic, payload).await {
            tracing::warn!(error = %e, queue = %event.job.queue, "cannot publish a job event on the event bus");
        }
    }
}

/// Turns the messages of one subscription into a reload of `mine`; a gap reloads `other` too.
async fn follow(mut sub: BusSubscription, mine: Arc<Notify>, other: Arc<Notify>) {
    while let Some(delivery) = sub.recv().await {
        if delivery == BusDelivery::Gap {
            tracing::info!("event bus reported a gap: reloading schema and settings");
            other.notify_one();
        }
        // `notify_one` keeps one permit: a burst of messages is one reload.
        mine.notify_one();
    }
}

async fn schema_reloader(store: Weak<Store>, wanted: Arc<Notify>) {
    loop {
        wanted.notified().await;
        let Some(store) = store.upgrade() else { break };
        if let Err(e) = store.refresh_schema().await {
            tracing::warn!(error = %e, "cannot reload collections after another process changed them");
        }
    }
}

async fn settings_reloader(store: Weak<Store>, settings: Weak<Settings>, wanted: Arc<Notify>) {
    loop {
        wanted.notified().await;
        let (Some(store), Some(settings)) = (store.upgrade(), settings.upgrade()) else {
            break;
        };
        if let Err(e) = settings.reload(&store).await {
            tracing::warn!(error = %e, "cannot reload settings after another process changed them");
        }
    }
}

/// Wakes this process's claims waiting on a queue another process put a job in (or
/// released one from), so they need not wait for their next poll.
async fn wake_claims(mut sub: BusSubscription, jobs: Weak<Jobs>) {
    #[derive(serde::Deserialize)]
    struct Action {
        action: String,
    }
    while let Some(delivery) = sub.recv().await {
        let BusDelivery::Message(msg) = delivery else { continue };
        let Some(jobs) = jobs.upgrade() else { break };
        let wakes = serde_json::from_slice::<Action>(&msg.payload)
            .is_ok_and(|a| !matches!(a.action.as_str(), "active" | "progress"));
        if let (true, Some(queue)) = (wakes, msg.topic.strip_prefix(JOBS_TOPIC)) {
            jobs.wake(queue);
        }
    }
}
