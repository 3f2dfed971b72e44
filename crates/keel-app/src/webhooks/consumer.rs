//! The webhooks [`EventConsumer`]: the active endpoints in memory; each event becomes one
//! delivery job per endpoint that wants it (and whose filter the record passes) on
//! `_keel-webhook`, keyed `{eventId}:{endpointId}`.

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use keel_core::Result;
use keel_data::schema::Collection;
use keel_data::{Access, Record, RequestInfo};
use keel_jobs::{Backoff, BackoffKind, NewJob};
use serde_json::{json, Map, Value};

use super::endpoint::{self, Endpoint};
use super::{DeliveryJob, OUTBOX_KIND};
use crate::events::{Event, EventConsumer};
use crate::outbox::queue_of;
use crate::App;

/// The webhooks consumer (one per process, in `Events::default()`).
#[derive(Default)]
pub struct WebhookConsumer {
    active: RwLock<Arc<Vec<Endpoint>>>,
}

impl WebhookConsumer {
    fn endpoints(&self) -> Arc<Vec<Endpoint>> {
        self.active.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The request a superuser makes: how a delivered record is shown (hidden fields never).
fn superuser_view() -> RequestInfo {
    RequestInfo {
        manages_records: true,
        ..Default::default()
    }
}

/// The delivery job of `body` for `endpoint`.
pub(super) fn delivery_job(app: &App, job: &DeliveryJob, unique_key: String) -> Result<NewJob> {
    let mut new = NewJob::new(
        OUTBOX_KIND,
        serde_json::to_value(job).map_err(keel_core::Error::internal)?,
    );
    new.unique_key = Some(unique_key);
    let cfg = &app.config.webhooks;
    new.max_attempts = Some(u32::try_from(cfg.retry_schedule_secs.len() + 1).unwrap_or(u32::MAX));
    new.timeout_ms = Some(cfg.timeout_secs.saturating_add(30).saturating_mul(1000));
    // Used only when an attempt ends without an answer of the worker's (a crash, a timeout).
    new.backoff = Some(Backoff {
        kind: BackoffKind::Exponential,
        delay_ms: 5_000,
        max_delay_ms: 3_600_000,
        jitter: true,
    });
    Ok(new)
}

/// The record of a record event as a superuser sees it; read again when the event carried
/// only its id (`partial`) and it still exists.
async fn record_of(app: &App, collection: &Arc<Collection>, event: &Event) -> Result<Value> {
    let data: Map<String, Value> = match event.data.get("record") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    let partial = event.data.get("partial").and_then(Value::as_bool).unwrap_or(false);
    let record = if partial && event.kind != "record.deleted" {
        let id = data.get("id").and_then(Value::as_str).unwrap_or_default();
        match app
            .store
            .get_record(collection, id, &RequestInfo::default(), Access::Superuser)
            .await
        {
            Ok(r) => r,
            Err(keel_core::Error::NotFound(_)) => return Ok(Value::Object(data)),
            Err(e) => return Err(e),
        }
    } else {
        Record {
            collection: collection.clone(),
            data,
            expand: Default::default(),
            expand_shown: false,
        }
    };
    Ok(crate::serialize::record_json(&record, &superuser_view()))
}

#[async_trait]
impl EventConsumer for WebhookConsumer {
    fn name(&self) -> &'static str {
        "webhooks"
    }

    fn wants(&self, kind: &str, collection: Option<&Collection>) -> bool {
        if collection.is_some_and(|c| c.system || c.name.starts_with('_')) {
            return false;
        }
        let id = collection.map(|c| c.id.as_str());
        self.endpoints().iter().any(|e| e.wants(kind, id))
    }

    async fn reload(&self, app: &App) -> Result<()> {
        let active: Vec<Endpoint> = endpoint::load_all(app)
            .await?
            .into_iter()
            .filter(|e| e.active)
            .collect();
        *self.active.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(active);
        Ok(())
    }

    async fn consume(&self, app: &App, event: &Event) -> std::result::Result<(), String> {
        let collection = match event.collection_id() {
            Some(id) => match app.store.collection(id) {
                Ok(c) => Some(c),
                Err(_) => return Ok(()),
            },
            None => None,
        };
        let endpoints = self.endpoints();
        let mut wanting: Vec<&Endpoint> = endpoints
            .iter()
            .filter(|e| e.wants(&event.kind, collection.as_ref().map(|c| c.id.as_str())))
            .collect();
        if wanting.is_empty() {
            return Ok(());
        }
        let data = match &collection {
            Some(c) => {
                // The filter sees the record as the event carries it (for deletes too).
                let record: Map<String, Value> = match event.data.get("record") {
                    Some(Value::Object(m)) => m.clone(),
                    _ => Map::new(),
                };
                let mut kept = Vec::with_capacity(wanting.len());
                for e in wanting {
                    if e.filter.is_empty() {
                        kept.push(e);
                        continue;
                    }
                    match app
                        .store
                        .record_matches(c, &record, &e.filter, &RequestInfo::default())
                        .await
                    {
                        Ok(true) => kept.push(e),
                        Ok(false) => {}
                        Err(err) => {
                            tracing::debug!(webhook = %e.id, error = %err, "webhook filter failed; not delivering")
                        }
                    }
                }
                wanting = kept;
                if wanting.is_empty() {
                    return Ok(());
                }
                let record = record_of(app, c, event)
                    .await
                    .map_err(|e| format!("cannot read the record: {e}"))?;
                json!({"collection": c.name, "record": record})
            }
            None => event.data.clone(),
        };
        let body = json!({"type": event.kind, "timestamp": event.timestamp, "data": data});
        let message_id = keel_notify::webhook::message_id(&event.id);
        let mut jobs = Vec::with_capacity(wanting.len());
        for e in wanting {
            let job = DeliveryJob {
                webhook: e.id.clone(),
                message_id: message_id.clone(),
                event_type: event.kind.clone(),
                body: body.clone(),
                attempt_base: 0,
            };
            jobs.push(delivery_job(app, &job, format!("{}:{}", event.id, e.id)).map_err(|e| e.to_string())?);
        }
        app.jobs
            .enqueue(&queue_of(OUTBOX_KIND), jobs)
            .await
            .map_err(|e| format!("cannot enqueue the deliveries: {e}"))?;
        Ok(())
    }
}
