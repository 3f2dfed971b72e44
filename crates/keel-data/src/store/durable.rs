//! Durable record events: a committed record change that someone outside the process must
//! hear about (a webhook endpoint, a notification rule) is written as an outbox row of kind
//! [`EVENT_KIND`] **in the transaction of the write itself**, so it commits or rolls back
//! with the record and a `kill -9` right after the commit loses nothing.
//!
//! Which changes are written is asked of the [`EventTap`] the application sets
//! ([`Store::set_event_tap`]); with no tap, or a tap that wants nothing, a write costs nothing
//! more. The row's payload is the event as Keel delivers it:
//!
//! ```json
//! {"id": "<the event's id>", "type": "record.created", "timestamp": "2026-12-02T18:00:00.000Z",
//!  "data": {"collectionId": "…", "collectionName": "posts", "record": {…}}}
//! ```
//!
//! `record` holds every stored column **except hidden and encrypted fields** (the outbox row
//! is stored in the database: an encrypted field's plaintext must not be written there). A record too large for an
//! outbox row is replaced by `{"id": …}` with `"partial": true`; the consumer reads it again.

use std::sync::Arc;

use keel_core::events::{RecordAction, RecordEvent};
use keel_core::Result;
use serde_json::{json, Map, Value};

use super::outbox::MAX_PAYLOAD_BYTES;
use super::records::Write;
use super::Store;
use crate::schema::Collection;

/// The outbox kind of durable events (relayed to the system queue `_keel-event`).
pub const EVENT_KIND: &str = "event";

/// Decides which committed record changes become durable events. Called inside the write
/// transaction for each change: it must answer from memory, quickly.
pub trait EventTap: Send + Sync + 'static {
    /// Whether a change `action` to a record of `collection` is wanted.
    fn wants(&self, collection: &Collection, action: RecordAction) -> bool;
}

/// The event type of a record change (`record.created`, `record.updated`, `record.deleted`).
pub fn record_event_type(action: RecordAction) -> &'static str {
    match action {
        RecordAction::Create => "record.created",
        RecordAction::Update => "record.updated",
        RecordAction::Delete => "record.deleted",
    }
}

/// The payload of a durable event (see the module docs); `id` is the event's id.
pub fn event_payload(id: &str, kind: &str, data: Value) -> Value {
    json!({
        "id": id,
        "type": kind,
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": data,
    })
}

/// The `data` of a record event: the record without its hidden and encrypted fields.
fn record_data(collection: &Collection, event: &RecordEvent) -> Value {
    let record: Map<String, Value> = event
        .record
        .iter()
        .filter(|(k, _)| {
            !collection
                .fields
                .iter()
                .any(|f| (f.hidden || f.is_encrypted()) && &f.name == *k)
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    json!({
        "collectionId": collection.id,
        "collectionName": collection.name,
        "record": record,
    })
}

impl Store {
    /// Sets what decides which record changes become durable events (once per process; a
    /// later call replaces it).
    pub fn set_event_tap(&self, tap: Arc<dyn EventTap>) {
        *self.tap.write().unwrap_or_else(|p| p.into_inner()) = Some(tap);
    }

    fn event_tap(&self) -> Option<Arc<dyn EventTap>> {
        self.tap.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Write<'_> {
    /// Writes the durable events of this write's changes into its transaction (called by
    /// `commit`, before the commit).
    pub(super) async fn write_durable_events(&mut self) -> Result<()> {
        if self.events.is_empty() {
            return Ok(());
        }
        let Some(tap) = self.store.event_tap() else {
            return Ok(());
        };
        let schema = self.store.schema();
        let mut rows = Vec::new();
        for event in &self.events {
            let Some(collection) = schema.get(&event.collection_id) else {
                continue;
            };
            if !tap.wants(&collection, event.action) {
                continue;
            }
            let id = keel_core::id::new_id();
            let kind = record_event_type(event.action);
            let mut payload = event_payload(&id, kind, record_data(&collection, event));
            if serde_json::to_string(&payload).map_or(0, |s| s.len()) > MAX_PAYLOAD_BYTES {
                let rid = event.record.get("id").cloned().unwrap_or(Value::Null);
                payload["data"]["record"] = json!({ "id": rid });
                payload["data"]["partial"] = Value::Bool(true);
            }
            rows.push((id, payload));
        }
        for (id, payload) in rows {
            self.outbox_with_id(&id, EVENT_KIND, &payload).await?;
        }
        Ok(())
    }
}
