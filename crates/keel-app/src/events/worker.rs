//! The `_keel-event` worker: hands each event the relay enqueued to every consumer that wants
//! it. A consumer's failure fails the attempt (retried with backoff); consumers that already
//! enqueued their work see the event again and must key that work by the event's id.

use async_trait::async_trait;
use keel_jobs::{Job, JobContext, JobFailure, JobHandler};
use serde_json::{json, Value};

use super::Event;
use crate::App;

/// Runs one event per job.
pub struct EventWorker {
    app: App,
}

impl EventWorker {
    pub fn new(app: App) -> EventWorker {
        EventWorker { app }
    }
}

#[async_trait]
impl JobHandler for EventWorker {
    async fn run(&self, job: &Job, _ctx: &JobContext) -> Result<Option<Value>, JobFailure> {
        let app = &self.app;
        let event: Event = serde_json::from_value(job.payload.clone())
            .map_err(|e| JobFailure::permanent(format!("not an event: {e}")))?;
        let collection = match event.collection_id() {
            Some(id) => match app.store.collection(id) {
                Ok(c) => Some(c),
                // The collection is gone: nobody can be told about its records any more.
                Err(_) => return Ok(Some(json!({"consumers": [], "reason": "the collection was deleted"}))),
            },
            None => None,
        };
        let mut reached = Vec::new();
        let mut errors = Vec::new();
        for consumer in app.events.consumers() {
            if !consumer.wants(&event.kind, collection.as_deref()) {
                continue;
            }
            match consumer.consume(app, &event).await {
                Ok(()) => reached.push(consumer.name()),
                Err(e) => errors.push(format!("{}: {e}", consumer.name())),
            }
        }
        if errors.is_empty() {
            Ok(Some(json!({ "consumers": reached })))
        } else {
            Err(errors.join("; ").into())
        }
    }
}
