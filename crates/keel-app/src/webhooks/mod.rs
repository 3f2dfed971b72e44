//! Webhooks ([Standard Webhooks v1](https://www.standardwebhooks.com/)): endpoints that get a
//! signed POST for each event they subscribe to, all under `webhooks:manage`.
//!
//! - [`endpoint`]: the `_webhooks` rows (secrets hidden) and what a caller may submit;
//! - [`consumer`]: the [`crate::events::EventConsumer`] turning each event into one delivery
//!   job per endpoint on `_keel-webhook` (keyed `{eventId}:{endpointId}`);
//! - [`deliver`]: the worker sending, signing, retrying, recording each attempt in
//!   `_webhookDeliveries`, disabling endpoints that are gone or keep failing;
//! - this module: the API's rules (list, view, create, change, delete, rotate the secret,
//!   list deliveries, redeliver, test), each change audited (`webhook.create|update|delete|
//!   rotate|redeliver|test`) and followed by [`crate::events::changed`].

pub mod consumer;
pub mod deliver;
pub mod endpoint;

use keel_core::Error;
use keel_data::system::WEBHOOK_DELIVERIES;
use keel_data::{Access, ListParams, Page, Record, RequestInfo};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::audit::{self, Origin};
use crate::authz::{authorize, Permission};
use crate::caller::Caller;
use crate::outbox::queue_of;
use crate::App;
pub use consumer::WebhookConsumer;
pub use deliver::DeliveryWorker;
use endpoint::{Endpoint, EndpointInput};

/// The outbox kind / job name of deliveries (the queue is `_keel-webhook`).
pub const OUTBOX_KIND: &str = "webhook";

/// A delivery job's payload: which endpoint, which message, what to send. Never a secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryJob {
    pub webhook: String,
    /// `msg_<event id>`: the `webhook-id` of every attempt.
    pub message_id: String,
    pub event_type: String,
    /// `{"type", "timestamp", "data"}`.
    pub body: Value,
    /// Attempts of this message made before this job (a redelivery continues the count).
    #[serde(default)]
    pub attempt_base: u32,
}

/// 403 unless `caller` may manage webhooks; entry points may call it before reading a body.
pub fn may_manage(caller: &Caller) -> Result<(), Error> {
    authorize(caller, Permission::WebhooksManage)
}

/// 403 unless `caller` may read what an endpoint listening to `fields["events"]` receives: the
/// records of a collection as a superuser sees them (`records:manage`, which skips every
/// non-system collection's rules) and jobs with their payloads (`jobs:read`). Without it,
/// `webhooks:manage` alone would read every record past its collection's rules.
fn may_hear(caller: &Caller, fields: &Map<String, Value>) -> Result<(), Error> {
    let events: Vec<&str> = fields
        .get("events")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let hears = |kinds: &[&str]| {
        kinds
            .iter()
            .any(|k| events.iter().any(|p| endpoint::pattern_matches(p, k)))
    };
    if hears(&["record.created", "record.updated", "record.deleted"]) {
        authorize(caller, Permission::RecordsManage)?;
    }
    if hears(&["job.completed", "job.failed", "job.dead", "schedule.missed"]) {
        authorize(caller, Permission::JobsRead)?;
    }
    if hears(&["run.started", "run.succeeded", "run.failed"]) {
        authorize(caller, Permission::OpsRead)?;
    }
    Ok(())
}

async fn endpoint_or_404(app: &App, id: &str) -> Result<Endpoint, Error> {
    endpoint::load(app, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("No webhook endpoint with the id {id:?}.")))
}

fn page_json<T>(page: &Page<T>, items: Vec<Value>) -> Value {
    json!({
        "page": page.page,
        "perPage": page.per_page,
        "totalItems": page.total_items,
        "totalPages": page.total_pages,
        "items": items,
    })
}

/// The endpoint's JSON with its secret added (only on create and rotate).
fn with_secret(app: &App, e: &Endpoint) -> Value {
    let mut out = e.json(app);
    out["secret"] = Value::from(e.secret.clone());
    out
}

/// A page of endpoints, oldest first.
pub async fn list(app: &App, caller: &Caller, page: u64, per_page: u64) -> Result<Value, Error> {
    may_manage(caller)?;
    let c = app.store.collection(keel_data::system::WEBHOOKS)?;
    let params = ListParams {
        page: page.max(1),
        per_page: per_page.clamp(1, 1000),
        sort: Some("created,id".into()),
        ..Default::default()
    };
    let p = app
        .store
        .list_records(&c, &params, &RequestInfo::default(), Access::Superuser)
        .await?;
    let items = p.items.iter().map(|r| Endpoint::from_record(r).json(app)).collect();
    Ok(page_json(&p, items))
}

/// The endpoint `id` (404 when absent).
pub async fn view(app: &App, caller: &Caller, id: &str) -> Result<Value, Error> {
    may_manage(caller)?;
    Ok(endpoint_or_404(app, id).await?.json(app))
}

/// Creates an endpoint from `body` (400 naming the field); returns it with its secret.
pub async fn create(app: &App, caller: &Caller, origin: &Origin, body: Value) -> Result<Value, Error> {
    may_manage(caller)?;
    let input = EndpointInput::parse(body)?;
    let active = input.active.unwrap_or(true);
    let mut fields = endpoint::validate(app, &Endpoint::default(), input).await?;
    may_hear(caller, &fields)?;
    fields.insert("active".into(), Value::Bool(active));
    fields.insert("secret".into(), Value::from(keel_notify::webhook::new_secret()));
    let e = endpoint::insert(app, fields).await?;
    crate::events::changed(app).await?;
    audited(app, caller, origin, "webhook.create", &e).await;
    Ok(with_secret(app, &e))
}

/// Changes the endpoint `id` with `body` (every field optional).
pub async fn update(app: &App, caller: &Caller, origin: &Origin, id: &str, body: Value) -> Result<Value, Error> {
    may_manage(caller)?;
    let current = endpoint_or_404(app, id).await?;
    let input = EndpointInput::parse(body)?;
    let fields = endpoint::validate(app, &current, input).await?;
    may_hear(caller, &fields)?;
    let e = endpoint::update(app, id, fields).await?;
    crate::events::changed(app).await?;
    audited(app, caller, origin, "webhook.update", &e).await;
    Ok(e.json(app))
}

/// Deletes the endpoint `id`; its pending deliveries complete without sending.
pub async fn delete(app: &App, caller: &Caller, origin: &Origin, id: &str) -> Result<(), Error> {
    may_manage(caller)?;
    let e = endpoint_or_404(app, id).await?;
    endpoint::delete(app, id).await?;
    crate::events::changed(app).await?;
    audited(app, caller, origin, "webhook.delete", &e).await;
    Ok(())
}

/// A new secret for the endpoint `id`; the old one keeps signing beside it for
/// `[webhooks] secret_grace_hours`. Returns the endpoint with its new secret.
pub async fn rotate(app: &App, caller: &Caller, origin: &Origin, id: &str) -> Result<Value, Error> {
    may_manage(caller)?;
    let current = endpoint_or_404(app, id).await?;
    let grace = i64::try_from(app.config.webhooks.secret_grace_hours).unwrap_or(i64::MAX / 7200);
    let until = chrono::Utc::now() + chrono::Duration::hours(grace.min(24 * 365 * 100));
    let mut fields = Map::new();
    fields.insert("secret".into(), Value::from(keel_notify::webhook::new_secret()));
    fields.insert("previousSecret".into(), Value::from(current.secret.clone()));
    fields.insert(
        "previousSecretUntil".into(),
        Value::from(keel_core::time::format(until)),
    );
    let e = endpoint::update(app, id, fields).await?;
    crate::events::changed(app).await?;
    audited(app, caller, origin, "webhook.rotate", &e).await;
    Ok(with_secret(app, &e))
}

/// A delivery attempt's JSON.
fn delivery_json(r: &Record) -> Value {
    let mut out = crate::serialize::record_json(r, &RequestInfo::default());
    if let Value::Object(m) = &mut out {
        m.remove("collectionId");
        m.remove("collectionName");
        m.remove("updated");
    }
    out
}

/// A page of the endpoint's delivery attempts, newest first.
pub async fn deliveries(app: &App, caller: &Caller, id: &str, page: u64, per_page: u64) -> Result<Value, Error> {
    may_manage(caller)?;
    let e = endpoint_or_404(app, id).await?;
    let c = app.store.collection(WEBHOOK_DELIVERIES)?;
    let params = ListParams {
        page: page.max(1),
        per_page: per_page.clamp(1, 1000),
        sort: Some("-created,-attempt".into()),
        filter: Some(format!("webhook = {}", Value::from(e.id.clone()))),
        skip_total: false,
    };
    let p = app
        .store
        .list_records(&c, &params, &RequestInfo::default(), Access::Superuser)
        .await?;
    let items = p.items.iter().map(delivery_json).collect();
    Ok(page_json(&p, items))
}

/// Sends the message of the attempt `delivery_id` again (same `webhook-id`), as a new job;
/// answers `{"messageId", "jobId"}`.
pub async fn redeliver(
    app: &App,
    caller: &Caller,
    origin: &Origin,
    id: &str,
    delivery_id: &str,
) -> Result<Value, Error> {
    may_manage(caller)?;
    let e = endpoint_or_404(app, id).await?;
    let c = app.store.collection(WEBHOOK_DELIVERIES)?;
    let not_found = || Error::NotFound(format!("No delivery {delivery_id:?} of this webhook endpoint."));
    let row = match app
        .store
        .get_record(&c, delivery_id, &RequestInfo::default(), Access::Superuser)
        .await
    {
        Ok(r) if r.data.get("webhook").and_then(Value::as_str) == Some(e.id.as_str()) => r,
        Ok(_) | Err(Error::NotFound(_)) => return Err(not_found()),
        Err(err) => return Err(err),
    };
    let text = |name: &str| {
        row.data
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let message_id = text("messageId");
    // The attempts of this message so far: the new ones continue the count.
    let params = ListParams {
        per_page: 1,
        sort: Some("-attempt".into()),
        filter: Some(format!(
            "webhook = {} && messageId = {}",
            Value::from(e.id.clone()),
            Value::from(message_id.clone())
        )),
        skip_total: true,
        ..Default::default()
    };
    let last = app
        .store
        .list_records(&c, &params, &RequestInfo::default(), Access::Superuser)
        .await?;
    let attempt_base = last
        .items
        .first()
        .and_then(|r| r.data.get("attempt").and_then(Value::as_u64))
        .unwrap_or(0);
    let body = match row.data.get("payload") {
        Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::Null),
        Some(v) => v.clone(),
        None => Value::Null,
    };
    let job = DeliveryJob {
        webhook: e.id.clone(),
        message_id: message_id.clone(),
        event_type: text("eventType"),
        body,
        attempt_base: u32::try_from(attempt_base).unwrap_or(0),
    };
    let key = format!("{message_id}:{}:redeliver:{}", e.id, keel_core::id::new_id());
    let new = consumer::delivery_job(app, &job, key)?;
    let enqueued = app.jobs.enqueue(&queue_of(OUTBOX_KIND), vec![new]).await?;
    let job_id = enqueued.first().map(|j| j.job.id.clone()).unwrap_or_default();
    let entry = audit::entry(caller, origin, "webhook.redeliver")
        .detail("webhook", e.id.clone())
        .detail("messageId", message_id.clone());
    app.identity.audit(entry).await;
    Ok(json!({"messageId": message_id, "jobId": job_id}))
}

/// Sends a `webhook.test` event to the endpoint now (whether active or not) and answers with
/// the attempt: `{messageId, status, httpStatus, durationMs, response, error}`. Recorded
/// with the deliveries; it neither retries nor disables the endpoint.
pub async fn test(app: &App, caller: &Caller, origin: &Origin, id: &str) -> Result<Value, Error> {
    may_manage(caller)?;
    let e = endpoint_or_404(app, id).await?;
    let event_id = keel_core::id::new_id();
    let job = DeliveryJob {
        webhook: e.id.clone(),
        message_id: keel_notify::webhook::message_id(&event_id),
        event_type: "webhook.test".into(),
        body: json!({
            "type": "webhook.test",
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "data": {"webhook": e.id},
        }),
        attempt_base: 0,
    };
    let attempt = deliver::send(app, &e, &job.message_id, &job.body).await;
    let status = if attempt.succeeded() { "succeeded" } else { "failed" };
    let delivery = deliver::record(app, &e.id, &job, 1, status, &attempt, None).await?;
    let entry = audit::entry(caller, origin, "webhook.test")
        .detail("webhook", e.id.clone())
        .detail("status", status);
    app.identity.audit(entry).await;
    Ok(json!({
        "id": delivery,
        "messageId": job.message_id,
        "status": status,
        "httpStatus": attempt.http_status.unwrap_or(0),
        "durationMs": attempt.duration_ms,
        "response": attempt.response,
        "error": attempt.error,
    }))
}

async fn audited(app: &App, caller: &Caller, origin: &Origin, event: &str, e: &Endpoint) {
    let entry = audit::entry(caller, origin, event)
        .detail("webhook", e.id.clone())
        .detail("url", keel_core::outbound::shown_url(&e.url))
        .detail("events", e.events.clone());
    app.identity.audit(entry).await;
}
