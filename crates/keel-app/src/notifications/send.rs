//! Sending: recipients → one `_notifications` row each → one `_notificationDeliveries` row
//! per channel → one `_keel-notify` job per delivery (or per digest bucket).
//!
//! Durability: rows are written before their jobs are enqueued; a crash between the two
//! leaves a delivery `queued` without a job, never a job without a row, and
//! [`super::recover`] enqueues the missing job within minutes. Each job's unique key is its
//! delivery id (or its digest bucket), so enqueueing twice runs once.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use keel_core::notify::{Channel, Recipient};
use keel_core::{Error, Result};
use keel_data::system::{NOTIFICATIONS, NOTIFICATION_DELIVERIES as DELIVERIES};
use keel_data::Record;
use keel_jobs::NewJob;
use keel_notify::render::{self, Rendered, Source};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{devices, find, insert, lit, prefs, str_of, templates, topics, user_owner, Owner, KIND};
use crate::authz::{authorize, Permission};
use crate::caller::Caller;
use crate::App;

/// Who a notification goes to.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct To {
    /// Auth record ids of `collection` (default `users`).
    #[serde(default)]
    pub users: Vec<String>,
    pub collection: Option<String>,
    /// Raw email addresses (email channel only).
    #[serde(default)]
    pub emails: Vec<String>,
    /// Raw E.164 phone numbers (sms channel only).
    #[serde(default)]
    pub phones: Vec<String>,
    /// Every subscriber of this topic.
    pub topic: Option<String>,
}

/// Escalation of an unacknowledged notification.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Escalation {
    pub after_minutes: u32,
    /// User ids (of the first recipient's collection) told next.
    #[serde(default)]
    pub recipients: Vec<String>,
    pub channels: Option<Vec<Channel>>,
}

/// `POST /api/notifications/send`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendRequest {
    #[serde(default)]
    pub to: To,
    pub template: Option<String>,
    pub subject: Option<String>,
    pub body: Option<String>,
    pub html: Option<String>,
    #[serde(default)]
    pub data: Value,
    pub channels: Option<Vec<Channel>>,
    #[serde(default)]
    pub critical: bool,
    #[serde(default)]
    pub ack_required: bool,
    pub escalation: Option<Escalation>,
    pub locale: Option<String>,
}

/// What a send did.
#[derive(Debug, Clone, Serialize)]
pub struct SendResult {
    /// The send's id (each recipient's notification has its own, in `recipients`).
    pub id: String,
    pub recipients: Vec<Value>,
    pub deliveries: Vec<Value>,
}

/// One recipient.
enum Target {
    User(Owner, Record),
    Address(Channel, Recipient),
}

/// Sends as `caller` (`notifications:send`).
pub async fn send(app: &App, caller: &Caller, req: SendRequest) -> Result<SendResult> {
    authorize(caller, Permission::NotificationsSend)?;
    dispatch(app, req, &keel_core::id::new_id()).await
}

/// Sends on Keel's own behalf (rules, escalation). `source` identifies the send: a send with
/// the `source` of an earlier one does nothing and returns that one's id.
pub async fn dispatch(app: &App, mut req: SendRequest, source: &str) -> Result<SendResult> {
    if req.data.is_null() {
        req.data = json!({});
    }
    if !req.data.is_object() {
        return Err(Error::field(
            "data",
            "validation_invalid_data",
            "data must be a JSON object.",
        ));
    }
    let done = find(app, NOTIFICATIONS, &format!("source = {}", lit(source))).await?;
    if !done.is_empty() {
        return Ok(SendResult {
            id: source.into(),
            recipients: done.iter().map(|r| json!({"id": r.id()})).collect(),
            deliveries: Vec::new(),
        });
    }
    let targets = resolve(app, &req).await?;
    let channels = req.channels.clone().unwrap_or_else(|| {
        let mut c = Vec::new();
        if !req.to.users.is_empty() || req.to.topic.is_some() {
            c.push(Channel::InApp);
        }
        if !req.to.emails.is_empty() {
            c.push(Channel::Email);
        }
        if !req.to.phones.is_empty() {
            c.push(Channel::Sms);
        }
        c
    });
    if channels.is_empty() {
        return Err(Error::field(
            "channels",
            "validation_required",
            "Name at least one channel.",
        ));
    }
    let content = render_all(app, &req, &channels).await?;
    let topic = req.to.topic.clone().unwrap_or_default();
    let digest_secs = match topics::topic(app, &topic).await? {
        Some(t) => t.data.get("digestSecs").and_then(Value::as_u64).unwrap_or(0),
        None => 0,
    };
    let svc = &app.notifications;
    let now = svc.now();
    let first = content.values().next().cloned().unwrap_or_default();
    let main = content.get(&Channel::InApp).cloned().unwrap_or(first);
    let mut out = SendResult {
        id: source.into(),
        recipients: Vec::new(),
        deliveries: Vec::new(),
    };
    let mut jobs = Vec::new();
    for target in targets {
        let (owner, address) = match &target {
            Target::User(o, _) => (Some(o.clone()), Value::Null),
            Target::Address(_, to) => (None, json!(to)),
        };
        let row = insert(
            app,
            NOTIFICATIONS,
            json!({
                "collectionRef": owner.as_ref().map(|o| o.collection.clone()).unwrap_or_default(),
                "recordRef": owner.as_ref().map(|o| o.record.clone()).unwrap_or_default(),
                "address": if address.is_null() { String::new() } else { address.to_string() },
                "topic": topic,
                "template": req.template.clone().unwrap_or_default(),
                "subject": main.subject.clone().unwrap_or_default(),
                "body": main.text,
                "content": content.iter().map(|(c, r)| (c.as_str().to_string(), json!(r))).collect::<serde_json::Map<_, _>>(),
                "data": req.data,
                "channels": channels,
                "critical": req.critical,
                "ackRequired": req.ack_required,
                "escalation": req.escalation,
                "status": "sent",
                "source": source,
            }),
        )
        .await?;
        let prefs = match &owner {
            Some(o) => prefs::load(app, o).await?,
            None => prefs::Prefs::default(),
        };
        for &channel in &channels {
            let recipients: Vec<(Option<String>, Recipient)> = match (&target, channel) {
                (Target::User(..), Channel::InApp) => vec![(None, Recipient::Chat { channel: None })],
                (Target::User(_, r), Channel::Email) => match str_of(&r.data, "email") {
                    "" => Vec::new(),
                    e => vec![(None, Recipient::Email { address: e.into() })],
                },
                (Target::User(_, r), Channel::Sms) => match str_of(&r.data, "phone") {
                    "" => Vec::new(),
                    p => vec![(None, Recipient::Phone { number: p.into() })],
                },
                (Target::User(o, _), Channel::Push) => devices::recipients(app, o)
                    .await?
                    .into_iter()
                    .map(|(id, r)| (Some(id), r))
                    .collect(),
                (Target::User(..), Channel::Chat) => vec![(None, Recipient::Chat { channel: None })],
                (Target::Address(c, to), ch) if *c == ch => vec![(None, to.clone())],
                (Target::Address(..), _) => continue,
            };
            let mut base = json!({"notification": row.id(), "channel": channel, "attempts": 0, "log": []});
            let skip = if prefs.opted_out(&topic, channel) {
                Some("the recipient opted out of this channel for this topic")
            } else if recipients.is_empty() {
                Some("the recipient has no address on this channel")
            } else {
                None
            };
            if let Some(reason) = skip {
                base["status"] = json!("skipped");
                base["error"] = json!(reason);
                let d = insert(app, DELIVERIES, base).await?;
                out.deliveries.push(delivery_json(&d));
                continue;
            }
            for (device, to) in recipients {
                let mut d = base.clone();
                d["recipient"] = json!({"to": to, "device": device});
                if channel == Channel::InApp {
                    d["status"] = json!("sent");
                    d["recipient"] = Value::Null;
                    let d = insert(app, DELIVERIES, d).await?;
                    out.deliveries.push(delivery_json(&d));
                    continue;
                }
                let key = owner
                    .as_ref()
                    .map(|o| format!("{}/{}", o.collection, o.record))
                    .unwrap_or_else(|| to_key(&to));
                if digest_secs > 0 && !req.critical {
                    let b = keel_notify::digest::bucket(now, digest_secs);
                    let digest_key = format!(
                        "{}:{}",
                        keel_notify::digest::bucket_key(&topic, &key, &b),
                        channel.as_str()
                    );
                    d["status"] = json!("deferred");
                    d["dueAt"] = json!(keel_core::time::format(b.due));
                    d["digestKey"] = json!(digest_key);
                    let row = insert(app, DELIVERIES, d).await?;
                    out.deliveries.push(delivery_json(&row));
                    jobs.push(job(
                        app,
                        json!({"kind": "digest", "key": digest_key, "topic": topic}),
                        &digest_key,
                        b.due,
                    ));
                    continue;
                }
                let due = if req.critical {
                    None
                } else {
                    prefs.quiet.and_then(|q| q.deliver_at(now))
                };
                d["status"] = json!(if due.is_some() { "deferred" } else { "queued" });
                if let Some(due) = due {
                    d["dueAt"] = json!(keel_core::time::format(due));
                }
                let row = insert(app, DELIVERIES, d).await?;
                out.deliveries.push(delivery_json(&row));
                jobs.push(job(
                    app,
                    json!({"kind": "deliver", "delivery": row.id()}),
                    row.id(),
                    due.unwrap_or(now),
                ));
            }
        }
        if req.ack_required {
            if let Some(e) = req.escalation.as_ref().filter(|e| !e.recipients.is_empty()) {
                let due = now + chrono::Duration::minutes(i64::from(e.after_minutes));
                jobs.push(job(
                    app,
                    json!({"kind": "escalate", "notification": row.id()}),
                    &format!("escalate:{}", row.id()),
                    due,
                ));
            }
        }
        out.recipients.push(json!({
            "id": row.id(),
            "collectionRef": str_of(&row.data, "collectionRef"),
            "recordRef": str_of(&row.data, "recordRef"),
            "address": address,
        }));
    }
    if !jobs.is_empty() {
        app.jobs.enqueue(&crate::outbox::queue_of(KIND), jobs).await?;
    }
    Ok(out)
}

/// A delivery row as the API shows it.
pub fn delivery_json(r: &Record) -> Value {
    let d = &r.data;
    json!({
        "id": r.id(),
        "notification": str_of(d, "notification"),
        "channel": str_of(d, "channel"),
        "status": str_of(d, "status"),
        "provider": str_of(d, "provider"),
        "error": str_of(d, "error"),
        "providerId": str_of(d, "providerId"),
        "attempts": d.get("attempts").cloned().unwrap_or(json!(0)),
        "dueAt": str_of(d, "dueAt"),
        "log": d.get("log").cloned().unwrap_or(json!([])),
        "updated": str_of(d, "updated"),
    })
}

fn to_key(to: &Recipient) -> String {
    match to {
        Recipient::Email { address } => address.to_lowercase(),
        Recipient::Phone { number } => number.clone(),
        other => json!(other).to_string(),
    }
}

/// A `_keel-notify` job keyed `key`, run at the service's `due` (delayed in real time by the
/// same amount). Its payload carries `due` so [`super::timers::release_due`] can find it.
pub(crate) fn job(app: &App, mut payload: Value, key: &str, due: DateTime<Utc>) -> NewJob {
    payload["due"] = json!(keel_core::time::format(due));
    let mut j = NewJob::new(payload["kind"].as_str().unwrap_or("deliver").to_string(), payload);
    j.unique_key = Some(key.to_string());
    j.max_attempts = Some(50);
    if let Some(d) = app.notifications.delay_until(due) {
        j.delay_ms = Some(i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    }
    j
}

/// The recipients of `req`, each once.
async fn resolve(app: &App, req: &SendRequest) -> Result<Vec<Target>> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let mut add_user = |out: &mut Vec<Target>, owner: Owner, r: Record| {
        if seen.insert(owner.clone()) {
            out.push(Target::User(owner, r));
        }
    };
    for id in &req.to.users {
        let (c, r) = user_owner(app, req.to.collection.as_deref(), id, "to.users").await?;
        let owner = Owner {
            collection: c.id.clone(),
            record: r.id().into(),
        };
        add_user(&mut out, owner, r);
    }
    if let Some(topic) = &req.to.topic {
        if topics::topic(app, topic).await?.is_none() {
            return Err(Error::field(
                "to.topic",
                "validation_unknown_topic",
                format!("No topic named {topic:?}."),
            ));
        }
        for owner in topics::subscribers(app, topic).await? {
            let Ok(c) = app.store.collection(&owner.collection) else {
                continue;
            };
            let Ok((_, r)) = user_owner(app, Some(&c.name), &owner.record, "to.topic").await else {
                continue;
            };
            add_user(&mut out, owner, r);
        }
    }
    for e in &req.to.emails {
        if !e.contains('@') || e.chars().any(char::is_whitespace) {
            return Err(Error::field(
                "to.emails",
                "validation_invalid_email",
                format!("{e:?} is not an email address."),
            ));
        }
        out.push(Target::Address(Channel::Email, Recipient::Email { address: e.clone() }));
    }
    for p in &req.to.phones {
        let digits = p.strip_prefix('+').unwrap_or("");
        if digits.is_empty() || digits.len() > 15 || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(Error::field(
                "to.phones",
                "validation_invalid_phone",
                format!("{p:?} is not an E.164 number (+14155550100)."),
            ));
        }
        out.push(Target::Address(Channel::Sms, Recipient::Phone { number: p.clone() }));
    }
    if out.is_empty() && req.to.topic.is_none() {
        return Err(Error::field(
            "to",
            "validation_required",
            "Name at least one recipient (users, emails, phones or topic).",
        ));
    }
    Ok(out)
}

/// Renders the message for each channel: its template variant, or the inline subject/body.
async fn render_all(app: &App, req: &SendRequest, channels: &[Channel]) -> Result<BTreeMap<Channel, Rendered>> {
    let mut out = BTreeMap::new();
    for &ch in channels {
        let source = match &req.template {
            Some(name) => templates::resolve(app, name, ch, req.locale.as_deref())
                .await?
                .ok_or_else(|| {
                    Error::field(
                        "template",
                        "validation_unknown_template",
                        format!("No template {name:?} for the channel {}.", ch.as_str()),
                    )
                })?,
            None => {
                if req.subject.is_none() && req.body.is_none() {
                    return Err(Error::field(
                        "body",
                        "validation_required",
                        "Give a template, or a subject and body.",
                    ));
                }
                Source {
                    subject: req.subject.clone().unwrap_or_default(),
                    text: req.body.clone().unwrap_or_default(),
                    html: req.html.clone().unwrap_or_default(),
                }
            }
        };
        let prefix = if req.template.is_some() { "template." } else { "" };
        let rendered = render::render(&source, &req.data).map_err(|e| {
            let field = match (prefix, e.field) {
                ("", "text") => "body".to_string(),
                (p, f) => format!("{p}{f}"),
            };
            Error::field(field, "validation_invalid_template", e.to_string())
        })?;
        out.insert(ch, rendered);
    }
    Ok(out)
}
