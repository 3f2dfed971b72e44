//! The `_keel-notify` worker. Three kinds of job:
//!
//! - `deliver` (one delivery): waits (retry-after) while the service clock is before its
//!   `dueAt`; takes a token of the provider's rate (none left → retry after the wait, the
//!   delivery stays `queued`); sends through the channel's provider. `Retry` → attempted
//!   again (after the service's `Retry-After` when given); `Rejected` → `failed`, dead at
//!   once; `Gone` → `gone`, the push device dropped.
//! - `digest` (one bucket of one recipient and channel): sends every `deferred` member as one
//!   message when the window closes, and marks them all.
//! - `escalate` (one notification): if it is still not acknowledged, sends it to the
//!   escalation's recipients.
//!
//! Each job is idempotent: a delivery already `sent`, `failed`, `gone` or `skipped` is not
//! sent again.

use std::time::Duration;

use async_trait::async_trait;
use keel_core::notify::{Channel, Message, NotifyError, Recipient};
use keel_data::system::{NOTIFICATIONS, NOTIFICATION_DELIVERIES as DELIVERIES};
use keel_data::Record;
use keel_jobs::{Job, JobContext, JobFailure, JobHandler};
use serde_json::{json, Value};

use super::send::{dispatch, Escalation, SendRequest, To};
use super::{devices, find, get, lit, patch, str_of};
use crate::App;

/// Runs `_keel-notify` jobs.
pub struct NotifyWorker {
    app: App,
}

impl NotifyWorker {
    pub fn new(app: App) -> NotifyWorker {
        NotifyWorker { app }
    }
}

fn failure(e: keel_core::Error) -> JobFailure {
    format!("{e}").into()
}

#[async_trait]
impl JobHandler for NotifyWorker {
    async fn run(&self, job: &Job, _ctx: &JobContext) -> Result<Option<Value>, JobFailure> {
        let app = &self.app;
        let p = &job.payload;
        if let Some(due) = p.get("due").and_then(Value::as_str).and_then(keel_core::time::parse) {
            if let Some(wait) = app.notifications.delay_until(due) {
                return Err(JobFailure::retry_after("not due yet", wait));
            }
        }
        match p.get("kind").and_then(Value::as_str) {
            Some("deliver") => deliver(app, p["delivery"].as_str().unwrap_or_default()).await,
            Some("digest") => {
                digest(
                    app,
                    p["key"].as_str().unwrap_or_default(),
                    p["topic"].as_str().unwrap_or_default(),
                )
                .await
            }
            Some("escalate") => escalate(app, p["notification"].as_str().unwrap_or_default()).await,
            _ => Err(JobFailure::permanent("not a notification job")),
        }
    }
}

const FINAL: &[&str] = &["sent", "failed", "gone", "skipped"];

/// The rendered content of `notification` for `channel`.
fn content(n: &Record, channel: Channel) -> (Option<String>, String, Option<String>) {
    let c = n.data.get("content").and_then(|c| c.get(channel.as_str()));
    let s = |k: &str| c.and_then(|c| c.get(k)).and_then(Value::as_str).map(str::to_string);
    (
        s("subject")
            .or_else(|| Some(str_of(&n.data, "subject").to_string()))
            .filter(|s| !s.is_empty()),
        s("text").unwrap_or_else(|| str_of(&n.data, "body").to_string()),
        s("html"),
    )
}

fn channel_of(d: &Record) -> Option<Channel> {
    serde_json::from_value(json!(str_of(&d.data, "channel"))).ok()
}

fn recipient_of(d: &Record) -> Option<(Recipient, Option<String>)> {
    let r = d.data.get("recipient")?;
    let to = serde_json::from_value(r.get("to")?.clone()).ok()?;
    Some((to, r.get("device").and_then(Value::as_str).map(str::to_string)))
}

async fn deliver(app: &App, id: &str) -> Result<Option<Value>, JobFailure> {
    let Some(d) = get(app, DELIVERIES, id).await.map_err(failure)? else {
        return Ok(Some(json!({"sent": false, "reason": "the delivery was deleted"})));
    };
    if FINAL.contains(&str_of(&d.data, "status")) {
        return Ok(Some(json!({"sent": false, "reason": "already done"})));
    }
    let Some(n) = get(app, NOTIFICATIONS, str_of(&d.data, "notification"))
        .await
        .map_err(failure)?
    else {
        return Ok(Some(json!({"sent": false, "reason": "the notification was deleted"})));
    };
    let (Some(channel), Some((to, device))) = (channel_of(&d), recipient_of(&d)) else {
        return Err(JobFailure::permanent("the delivery has no channel or recipient"));
    };
    let (subject, text, html) = content(&n, channel);
    let data = n.data.get("data").cloned().unwrap_or(Value::Null);
    let message = Message {
        to,
        subject,
        text,
        html,
        data,
    };
    send_and_record(app, &[d], channel, &message, device.as_deref()).await
}

/// Sends `message` for the deliveries `ds` (one, or a digest's members) and records the outcome.
async fn send_and_record(
    app: &App,
    ds: &[Record],
    channel: Channel,
    message: &Message,
    device: Option<&str>,
) -> Result<Option<Value>, JobFailure> {
    let mark = |status: &'static str, extra: Value| async move {
        for d in ds {
            let mut set = json!({"status": status});
            if let (Value::Object(s), Value::Object(e)) = (&mut set, &extra) {
                s.extend(e.clone());
            }
            // Each provider attempt is appended to the delivery's log.
            if let Some(attempt) = extra.get("attempts") {
                let mut log = d.data.get("log").and_then(Value::as_array).cloned().unwrap_or_default();
                log.push(json!({
                    "attempt": attempt,
                    "status": status,
                    "provider": extra.get("provider"),
                    "error": extra.get("error").and_then(Value::as_str).unwrap_or_default(),
                    "at": keel_core::time::format(app.notifications.now()),
                }));
                set["log"] = Value::Array(log);
            }
            if let Err(e) = patch(app, DELIVERIES, d.id(), set).await {
                tracing::warn!(delivery = d.id(), error = %e, "cannot record a notification delivery");
            }
        }
    };
    let provider = match channel {
        Channel::Email => super::email_channel(app),
        _ => app.notifications.notifier(channel),
    };
    let Some(notifier) = provider else {
        let reason = format!("no provider is configured for the {} channel", channel.as_str());
        mark("failed", json!({"error": reason})).await;
        return Err(JobFailure::permanent(reason));
    };
    if let Err(wait) = app.notifications.take_token(notifier.as_ref()) {
        mark("queued", json!({"provider": notifier.name()})).await;
        return Err(JobFailure::retry_after(
            format!("{} is at its rate limit", notifier.name()),
            wait.max(Duration::from_millis(50)),
        ));
    }
    let attempts = ds
        .first()
        .and_then(|d| d.data.get("attempts"))
        .and_then(Value::as_u64)
        .unwrap_or(0)
        + 1;
    let provider = notifier.name().to_string();
    match notifier.send(message).await {
        Ok(sent) => {
            mark(
                "sent",
                json!({"provider": provider, "providerId": sent.provider_id.unwrap_or_default(), "attempts": attempts, "error": ""}),
            )
            .await;
            Ok(Some(
                json!({"sent": true, "provider": provider, "deliveries": ds.len()}),
            ))
        }
        Err(NotifyError::Retry { message: m, after }) => {
            mark(
                "queued",
                json!({"provider": provider, "attempts": attempts, "error": m}),
            )
            .await;
            let msg = format!("{provider}: {m}");
            Err(match after {
                Some(a) => JobFailure::retry_after(msg, a),
                None => msg.into(),
            })
        }
        Err(NotifyError::Rejected(m)) => {
            mark(
                "failed",
                json!({"provider": provider, "attempts": attempts, "error": m}),
            )
            .await;
            Err(JobFailure::permanent(format!("{provider} rejected the message: {m}")))
        }
        Err(NotifyError::Gone(m)) => {
            mark("gone", json!({"provider": provider, "attempts": attempts, "error": m})).await;
            if let Some(device) = device {
                devices::gone(app, device).await.map_err(failure)?;
            }
            Ok(Some(json!({"sent": false, "reason": "the address or device is gone"})))
        }
    }
}

async fn digest(app: &App, key: &str, topic: &str) -> Result<Option<Value>, JobFailure> {
    let members = find(
        app,
        DELIVERIES,
        &format!("digestKey = {} && status = 'deferred'", lit(key)),
    )
    .await
    .map_err(failure)?;
    let members: Vec<Record> = members
        .into_iter()
        .filter(|d| !FINAL.contains(&str_of(&d.data, "status")))
        .collect();
    let Some(first) = members.first() else {
        return Ok(Some(json!({"sent": false, "reason": "nothing to send"})));
    };
    let (Some(channel), Some((to, device))) = (channel_of(first), recipient_of(first)) else {
        return Err(JobFailure::permanent("the digest has no channel or recipient"));
    };
    let mut lines = Vec::new();
    let mut items = Vec::new();
    for d in &members {
        if let Some(n) = get(app, NOTIFICATIONS, str_of(&d.data, "notification"))
            .await
            .map_err(failure)?
        {
            let (subject, text, _) = content(&n, channel);
            lines.push(match &subject {
                Some(s) => format!("- {s}: {text}"),
                None => format!("- {text}"),
            });
            items.push(json!({"id": n.id(), "subject": subject, "text": text}));
        }
    }
    let message = Message {
        to,
        subject: Some(format!("{} new notifications: {topic}", members.len())),
        text: lines.join("\n"),
        html: None,
        data: json!({"digest": items}),
    };
    send_and_record(app, &members, channel, &message, device.as_deref()).await
}

async fn escalate(app: &App, id: &str) -> Result<Option<Value>, JobFailure> {
    let Some(n) = get(app, NOTIFICATIONS, id).await.map_err(failure)? else {
        return Ok(Some(
            json!({"escalated": false, "reason": "the notification was deleted"}),
        ));
    };
    if !str_of(&n.data, "ackedAt").is_empty() {
        return Ok(Some(json!({"escalated": false, "reason": "acknowledged"})));
    }
    let Some(e) = n
        .data
        .get("escalation")
        .and_then(|e| serde_json::from_value::<Escalation>(e.clone()).ok())
    else {
        return Ok(Some(json!({"escalated": false, "reason": "no escalation"})));
    };
    let collection = app
        .store
        .collection(str_of(&n.data, "collectionRef"))
        .map(|c| c.name.clone())
        .ok();
    let channels = e.channels.clone().or_else(|| {
        n.data
            .get("channels")
            .and_then(|c| serde_json::from_value::<Vec<Channel>>(c.clone()).ok())
    });
    let req = SendRequest {
        to: To {
            users: e.recipients.clone(),
            collection,
            ..To::default()
        },
        subject: Some(str_of(&n.data, "subject").to_string()),
        body: Some(str_of(&n.data, "body").to_string()),
        channels,
        critical: n.data.get("critical").and_then(Value::as_bool).unwrap_or(false),
        data: json!({"escalatedFrom": id}),
        ..SendRequest::default()
    };
    // Raw text, not a template: wrap it so minijinja leaves it as it is.
    let req = SendRequest {
        subject: req.subject.map(|s| raw(&s)),
        body: req.body.map(|s| raw(&s)),
        ..req
    };
    let out = dispatch(app, req, &format!("escalation:{id}")).await.map_err(failure)?;
    Ok(Some(json!({"escalated": true, "send": out.id})))
}

/// `s` as a minijinja source that renders to `s` itself.
pub(crate) fn raw(s: &str) -> String {
    if s.contains("{{") || s.contains("{%") || s.contains("{#") {
        format!("{{% raw %}}{}{{% endraw %}}", s.replace("{% endraw %}", ""))
    } else {
        s.to_string()
    }
}
