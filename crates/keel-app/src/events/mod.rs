//! Events that leave Keel: what webhooks deliver and notification rules act on.
//!
//! An event is `{"id", "type", "timestamp", "data"}` ([`Event`]). Record changes
//! (`record.created|updated|deleted`) are written by the store into the outbox **in the
//! record's own transaction** when some consumer wants them (the [`Events`] registry is the
//! store's [`EventTap`]); other events (`job.dead`, `job.completed`, `job.failed`,
//! `schedule.missed`, `webhook.disabled`, …) are written with [`emit`] in a transaction of
//! their own. Either way the outbox relay turns each into a job of `_keel-event`, whose
//! worker ([`worker::EventWorker`]) hands it to every consumer that wants it. A consumer turns
//! the event into its own work (one delivery job per webhook endpoint, one notification per
//! rule), at least once: the same event may reach it twice, so it keys what it enqueues by
//! the event's id.
//!
//! What a consumer wants is answered from memory ([`EventConsumer::wants`]); after a change to
//! what it answers from (an endpoint created, a rule paused), call [`changed`]: this process
//! reloads at once, the others when they hear `hooks` on the event bus (and on every gap).
//! A process that has not reloaded yet does not write events for a brand-new endpoint: an
//! endpoint hears changes committed after every process loaded it (milliseconds, on a live
//! bus).

pub mod jobs;
pub mod worker;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use keel_core::bus::BusDelivery;
use keel_core::events::RecordAction;
use keel_core::Result;
use keel_data::schema::Collection;
use keel_data::store::{event_payload, record_event_type, EventTap, EVENT_KIND};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::App;

/// The bus topic that tells every process to reload what its consumers want.
pub const TOPIC: &str = "hooks";

/// One event, as delivered (the payload of webhooks, the input of notification rules).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unique per event, stable across retries and processes.
    pub id: String,
    /// `record.created`, `job.dead`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// RFC 3339 with milliseconds, UTC.
    pub timestamp: String,
    /// For record events: `collectionId`, `collectionName`, `record` (no hidden fields);
    /// `partial: true` when the record was too large to carry and must be read again.
    pub data: Value,
}

impl Event {
    /// The collection a record event is about (its id), if it is one.
    pub fn collection_id(&self) -> Option<&str> {
        self.kind
            .starts_with("record.")
            .then(|| self.data.get("collectionId")?.as_str())?
    }
}

/// Something that acts on events: webhook endpoints, notification rules.
#[async_trait]
pub trait EventConsumer: Send + Sync + 'static {
    /// Its name in logs (`webhooks`).
    fn name(&self) -> &'static str;

    /// Whether it wants an event of type `kind`; for a record event, `collection` is the
    /// record's collection. Answered from memory (called inside record write transactions).
    fn wants(&self, kind: &str, collection: Option<&Collection>) -> bool;

    /// Re-reads what `wants` answers from.
    async fn reload(&self, app: &App) -> Result<()>;

    /// Turns one event into its work. An error fails the `_keel-event` job's attempt, which
    /// is retried: what was already enqueued for this event must be keyed by its id.
    async fn consume(&self, app: &App, event: &Event) -> std::result::Result<(), String>;
}

/// The consumers of this process. Cheap to share.
pub struct Events {
    consumers: Vec<Arc<dyn EventConsumer>>,
}

impl Default for Events {
    /// Keel's consumers.
    fn default() -> Self {
        Events::new(vec![
            Arc::new(crate::webhooks::WebhookConsumer::default()),
            Arc::new(crate::notifications::rules::RuleConsumer::default()),
        ])
    }
}

impl Events {
    /// A registry of exactly `consumers` (tests).
    pub fn new(consumers: Vec<Arc<dyn EventConsumer>>) -> Events {
        Events { consumers }
    }

    /// Every consumer.
    pub fn consumers(&self) -> &[Arc<dyn EventConsumer>] {
        &self.consumers
    }

    /// Whether any consumer wants an event of `kind` (of `collection`).
    pub fn wanted(&self, kind: &str, collection: Option<&Collection>) -> bool {
        self.consumers.iter().any(|c| c.wants(kind, collection))
    }

    /// Reloads every consumer; the first error is returned after all were tried.
    pub async fn reload(&self, app: &App) -> Result<()> {
        let mut first = Ok(());
        for c in &self.consumers {
            if let Err(e) = c.reload(app).await {
                tracing::warn!(consumer = c.name(), error = %e, "cannot reload an event consumer");
                if first.is_ok() {
                    first = Err(e);
                }
            }
        }
        first
    }
}

impl EventTap for Events {
    fn wants(&self, collection: &Collection, action: RecordAction) -> bool {
        self.wanted(record_event_type(action), Some(collection))
    }
}

/// Makes the store write wanted record events, loads every consumer and follows `hooks` on
/// the bus until `shutdown`; runs the job-event source ([`jobs`]) until `shutdown`.
pub async fn start(app: &App, shutdown: watch::Receiver<bool>) -> Result<Vec<JoinHandle<()>>> {
    app.store.set_event_tap(app.events.clone());
    crate::vault::fields::install(&app.store, app.vault.clone());
    let mut sub = app.bus.subscribe(TOPIC).await?;
    if let Err(e) = app.events.reload(app).await {
        tracing::warn!(error = %e, "event consumers not loaded at start; retried when `hooks` is heard");
    }
    let follower = {
        let app = app.clone();
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            loop {
                let delivery = tokio::select! {
                    d = sub.recv() => match d {
                        Some(d) => d,
                        None => return,
                    },
                    r = shutdown.changed() => {
                        if r.is_err() || *shutdown.borrow() {
                            return;
                        }
                        continue;
                    }
                };
                if delivery == BusDelivery::Gap {
                    tracing::info!("event bus reported a gap: reloading webhook endpoints and rules");
                }
                let _ = app.events.reload(&app).await;
            }
        })
    };
    Ok(vec![follower, jobs::spawn(app.clone(), shutdown)])
}

/// After a change to what consumers want: reloads this process now, and tells the others.
pub async fn changed(app: &App) -> Result<()> {
    let reloaded = app.events.reload(app).await;
    if let Err(e) = app.bus.publish(TOPIC, Bytes::new()).await {
        tracing::warn!(error = %e, "cannot tell the other processes to reload webhook endpoints and rules");
    }
    reloaded
}

/// Writes an event that is not a record change (`job.dead`, `webhook.disabled`, …) if some
/// consumer wants it; durable when this returns. Returns the event's id when written.
pub async fn emit(app: &App, kind: &str, data: Value) -> Result<Option<String>> {
    if !app.events.wanted(kind, None) {
        return Ok(None);
    }
    let id = keel_core::id::new_id();
    app.store
        .outbox_put_with_id(&id, EVENT_KIND, &event_payload(&id, kind, data))
        .await?;
    Ok(Some(id))
}
