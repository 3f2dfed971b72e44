//! Delivering: one signed POST per attempt through the outbound guard (no redirects: a 3xx
//! is a failure), each attempt recorded as an insert-only `_webhookDeliveries` row; the
//! `_keel-webhook` worker retries on `[webhooks] retry_schedule_secs` (or the answer's
//! `Retry-After`, capped to a day), disables an endpoint that answers `410 Gone` or whose
//! deliveries kept failing for `disable_after_hours`, and completes without sending when the
//! endpoint was disabled or deleted meanwhile.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use keel_core::outbound::{explain, read_capped};
use keel_data::system::WEBHOOK_DELIVERIES;
use keel_data::{Access, RequestInfo};
use keel_jobs::{Job, JobContext, JobFailure, JobHandler};
use keel_notify::webhook;
use serde_json::{json, Map, Value};

use super::endpoint::{self, Endpoint};
use super::DeliveryJob;
use crate::App;

/// The most of an answer's body kept with its attempt.
pub const RESPONSE_EXCERPT_BYTES: usize = 1024;
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);
/// The longest error message kept with an attempt.
const MAX_ERROR_CHARS: usize = 1000;

/// What one attempt got.
#[derive(Debug, Clone, Default)]
pub struct Attempt {
    /// The answer's status; `None` when there was no answer.
    pub http_status: Option<u16>,
    pub duration_ms: u64,
    /// The first [`RESPONSE_EXCERPT_BYTES`] of the answer's body.
    pub response: String,
    /// Why it failed ("" on success).
    pub error: String,
    /// The answer's `Retry-After`, capped.
    pub retry_after: Option<Duration>,
}

impl Attempt {
    pub fn succeeded(&self) -> bool {
        self.http_status.is_some_and(|s| (200..300).contains(&s))
    }

    pub fn gone(&self) -> bool {
        self.http_status == Some(410)
    }
}

/// A `Retry-After` value: seconds or an HTTP date; capped to a day.
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    let d = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
        (at.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO)
    };
    Some(d.min(MAX_RETRY_AFTER))
}

fn capped(mut s: String, max_chars: usize) -> String {
    if let Some((i, _)) = s.char_indices().nth(max_chars) {
        s.truncate(i);
    }
    s
}

/// Sends `body` to `endpoint` once as message `message_id`, signed with its secrets.
pub async fn send(app: &App, endpoint: &Endpoint, message_id: &str, body: &Value) -> Attempt {
    let started = Instant::now();
    let mut out = Attempt::default();
    let bytes = match serde_json::to_vec(body) {
        Ok(b) => b,
        Err(e) => {
            out.error = format!("cannot serialize the payload: {e}");
            return out;
        }
    };
    let now = chrono::Utc::now();
    let timestamp = now.timestamp();
    let signature = webhook::signature_header(&endpoint.signing_secrets(now), message_id, timestamp, &bytes);
    let mut request = match app.outbound.post(&endpoint.url) {
        Ok(r) => r,
        Err(refusal) => {
            out.error = refusal.to_string();
            return out;
        }
    };
    for (name, value) in &endpoint.headers {
        if !endpoint::reserved_header(name) {
            request = request.header(name.as_str(), value.as_str());
        }
    }
    let request = request
        .header("content-type", "application/json")
        .header(webhook::HEADER_ID, message_id)
        .header(webhook::HEADER_TIMESTAMP, timestamp.to_string())
        .header(webhook::HEADER_SIGNATURE, signature)
        .timeout(Duration::from_secs(app.config.webhooks.timeout_secs.max(1)))
        .body(bytes);
    match request.send().await {
        Err(e) => out.error = capped(explain(&e), MAX_ERROR_CHARS),
        Ok(mut resp) => {
            let status = resp.status();
            out.http_status = Some(status.as_u16());
            out.retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, now));
            match read_capped(&mut resp, RESPONSE_EXCERPT_BYTES).await {
                Ok((excerpt, _)) => out.response = String::from_utf8_lossy(&excerpt).into_owned(),
                Err(e) => out.error = capped(format!("reading the answer: {}", explain(&e)), MAX_ERROR_CHARS),
            }
            if status.is_redirection() {
                out.error = format!("answered {status}: redirects are not followed");
            } else if !status.is_success() {
                out.error = format!("answered {status}");
            }
        }
    }
    out.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    out
}

/// Records an attempt as a `_webhookDeliveries` row (`status`: `succeeded`, `failed` or
/// `pending` = failed and retried at `next_attempt_at`); returns the row's id.
#[allow(clippy::too_many_arguments)]
pub async fn record(
    app: &App,
    webhook_id: &str,
    job: &DeliveryJob,
    attempt_no: u32,
    status: &str,
    attempt: &Attempt,
    next_attempt_at: Option<chrono::DateTime<chrono::Utc>>,
) -> keel_core::Result<String> {
    let c = app.store.collection(WEBHOOK_DELIVERIES)?;
    let mut row = Map::new();
    row.insert("webhook".into(), Value::from(webhook_id));
    row.insert("messageId".into(), Value::from(job.message_id.clone()));
    row.insert("eventType".into(), Value::from(job.event_type.clone()));
    row.insert("payload".into(), job.body.clone());
    row.insert("attempt".into(), Value::from(attempt_no));
    row.insert("status".into(), Value::from(status));
    row.insert("httpStatus".into(), Value::from(attempt.http_status.unwrap_or(0)));
    row.insert("durationMs".into(), Value::from(attempt.duration_ms));
    row.insert("response".into(), Value::from(attempt.response.clone()));
    row.insert("error".into(), Value::from(attempt.error.clone()));
    row.insert(
        "nextAttemptAt".into(),
        Value::from(next_attempt_at.map(keel_core::time::format).unwrap_or_default()),
    );
    let r = app
        .store
        .create_record(&c, row, &RequestInfo::default(), Access::Superuser)
        .await?;
    Ok(r.id().to_string())
}

/// Turns `endpoint` off for `reason`, and emits `webhook.disabled`.
pub async fn disable(app: &App, endpoint: &Endpoint, reason: &str) -> keel_core::Result<()> {
    let mut fields = Map::new();
    fields.insert("active".into(), Value::Bool(false));
    fields.insert("disabledAt".into(), Value::from(keel_core::time::now()));
    fields.insert("disabledReason".into(), Value::from(reason));
    let disabled = endpoint::update(app, &endpoint.id, fields).await?;
    tracing::warn!(webhook = %endpoint.id, url = %keel_core::outbound::shown_url(&endpoint.url), "webhook endpoint disabled: {reason}");
    if let Err(e) = crate::events::changed(app).await {
        tracing::warn!(error = %e, "cannot reload the webhook endpoints");
    }
    crate::events::emit(
        app,
        "webhook.disabled",
        json!({"webhook": disabled.json(app), "reason": reason}),
    )
    .await?;
    Ok(())
}

/// Sets or clears the endpoint's `failingSince`.
async fn set_failing_since(app: &App, endpoint: &Endpoint, value: String) {
    let mut fields = Map::new();
    fields.insert("failingSince".into(), Value::from(value));
    if let Err(e) = endpoint::update(app, &endpoint.id, fields).await {
        tracing::warn!(webhook = %endpoint.id, error = %e, "cannot record whether the webhook endpoint is failing");
    }
}

/// The `_keel-webhook` worker: one delivery attempt per run.
pub struct DeliveryWorker {
    app: App,
}

impl DeliveryWorker {
    pub fn new(app: App) -> DeliveryWorker {
        DeliveryWorker { app }
    }
}

fn skipped(reason: &str) -> Option<Value> {
    Some(json!({"sent": false, "reason": reason}))
}

#[async_trait]
impl JobHandler for DeliveryWorker {
    async fn run(&self, job: &Job, _ctx: &JobContext) -> Result<Option<Value>, JobFailure> {
        let app = &self.app;
        let d: DeliveryJob = serde_json::from_value(job.payload.clone())
            .map_err(|e| JobFailure::permanent(format!("not a webhook delivery: {e}")))?;
        let endpoint = match endpoint::load(app, &d.webhook).await {
            Ok(Some(e)) => e,
            Ok(None) => return Ok(skipped("the endpoint was deleted")),
            Err(e) => return Err(format!("cannot read the endpoint: {e}").into()),
        };
        if !endpoint.active {
            return Ok(skipped("the endpoint is disabled"));
        }
        let attempt_no = d.attempt_base + job.attempts;
        let attempt = send(app, &endpoint, &d.message_id, &d.body).await;
        let outcome = json!({"status": attempt.http_status, "durationMs": attempt.duration_ms});
        let record_it = |status: &'static str, next: Option<chrono::DateTime<chrono::Utc>>| {
            let (d, attempt) = (&d, &attempt);
            async move {
                if let Err(e) = record(app, &d.webhook, d, attempt_no, status, attempt, next).await {
                    tracing::warn!(webhook = %d.webhook, error = %e, "cannot record a webhook delivery attempt");
                }
            }
        };
        if attempt.succeeded() {
            record_it("succeeded", None).await;
            if !endpoint.failing_since.is_empty() {
                set_failing_since(app, &endpoint, String::new()).await;
            }
            return Ok(Some(outcome));
        }
        let message = if attempt.error.is_empty() {
            "the delivery failed".to_string()
        } else {
            attempt.error.clone()
        };
        if attempt.gone() {
            record_it("failed", None).await;
            if let Err(e) = disable(app, &endpoint, "the endpoint answered 410 Gone").await {
                tracing::warn!(webhook = %endpoint.id, error = %e, "cannot disable the webhook endpoint");
            }
            return Err(JobFailure::permanent(message));
        }
        let now = chrono::Utc::now();
        let cfg = &app.config.webhooks;
        let failing_too_long = cfg.disable_after_hours > 0
            && keel_core::time::parse(&endpoint.failing_since).is_some_and(|since| {
                now - since >= chrono::Duration::hours(i64::try_from(cfg.disable_after_hours).unwrap_or(i64::MAX))
            });
        if failing_too_long {
            record_it("failed", None).await;
            let reason = format!(
                "every delivery failed for {} hours (since {})",
                cfg.disable_after_hours, endpoint.failing_since
            );
            if let Err(e) = disable(app, &endpoint, &reason).await {
                tracing::warn!(webhook = %endpoint.id, error = %e, "cannot disable the webhook endpoint");
            }
            return Err(JobFailure::permanent(message));
        }
        if endpoint.failing_since.is_empty() {
            set_failing_since(app, &endpoint, keel_core::time::format(now)).await;
        }
        if job.attempts >= job.max_attempts {
            record_it("failed", None).await;
            return Err(JobFailure::permanent(message));
        }
        let scheduled = cfg
            .retry_schedule_secs
            .get(job.attempts.saturating_sub(1) as usize)
            .or(cfg.retry_schedule_secs.last())
            .copied()
            .unwrap_or(60);
        let delay = attempt.retry_after.unwrap_or(Duration::from_secs(scheduled));
        let next = now + chrono::Duration::from_std(delay).unwrap_or_default();
        record_it("pending", Some(next)).await;
        Err(JobFailure::retry_after(message, delay))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date_capped_to_a_day() {
        let now = chrono::Utc::now();
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("999999", now), Some(MAX_RETRY_AFTER));
        let at = (now + chrono::Duration::seconds(30)).to_rfc2822();
        let d = parse_retry_after(&at, now).unwrap();
        assert!(d <= Duration::from_secs(30) && d >= Duration::from_secs(29), "{d:?}");
        let past = (now - chrono::Duration::seconds(30)).to_rfc2822();
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn excerpts_are_cut_on_characters() {
        assert_eq!(capped("héllo".into(), 2), "hé");
        assert_eq!(capped("hi".into(), 5), "hi");
    }
}
