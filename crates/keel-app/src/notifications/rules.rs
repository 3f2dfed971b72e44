//! Rules (`_notificationRules`, `notifications:manage`): an event type (`record.created`,
//! `job.dead`, …), for record events an optional collection and filter in the rule language
//! (evaluated on the record as the realtime broker evaluates rules), and a notification:
//! a template or subject/body (rendered with `{event, record}`), channels, and recipients:
//! user ids, `@record.<field>` (a relation or user id on the record), or `topic:<name>`.
//! [`RuleConsumer`] is the events registry's consumer; each firing is keyed by the rule and
//! the event's id (`source`), so an event seen twice notifies once.

use std::sync::RwLock;

use async_trait::async_trait;
use keel_core::notify::Channel;
use keel_core::{Error, Result};
use keel_data::schema::{Collection, FieldKind};
use keel_data::system::NOTIFICATION_RULES as RULES;
use keel_data::{Record, RequestInfo};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::send::{dispatch, Escalation, SendRequest, To};
use super::{find, get, insert, not_found, patch, remove, str_of};
use crate::authz::{authorize, Permission};
use crate::caller::Caller;
use crate::events::{self, Event, EventConsumer};
use crate::App;

/// A rule as created or changed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleInput {
    pub event: Option<String>,
    pub collection: Option<String>,
    pub filter: Option<String>,
    pub template: Option<String>,
    pub subject: Option<String>,
    pub body: Option<String>,
    pub recipients: Option<Vec<String>>,
    pub channels: Option<Vec<Channel>>,
    pub escalation: Option<Escalation>,
    pub ack_required: Option<bool>,
    pub critical: Option<bool>,
    pub active: Option<bool>,
}

/// 403 unless `caller` may manage rules.
pub fn may_manage(caller: &Caller) -> Result<()> {
    authorize(caller, Permission::NotificationsManage)
}

fn validate(app: &App, r: &RuleInput) -> Result<()> {
    let event = r.event.as_deref().unwrap_or_default();
    if event.is_empty() || event.len() > 64 || !event.contains('.') {
        return Err(Error::field(
            "event",
            "validation_invalid_event",
            "event is an event type such as record.created or job.dead.",
        ));
    }
    if let Some(c) = r.collection.as_deref().filter(|c| !c.is_empty()) {
        if app.store.collection(c).is_err() {
            return Err(Error::field(
                "collection",
                "validation_unknown_collection",
                format!("No collection {c:?}."),
            ));
        }
    }
    if r.template.as_deref().unwrap_or_default().is_empty()
        && r.subject.as_deref().unwrap_or_default().is_empty()
        && r.body.as_deref().unwrap_or_default().is_empty()
    {
        return Err(Error::field(
            "body",
            "validation_required",
            "Give a template, or a subject and body.",
        ));
    }
    if r.recipients.as_ref().is_none_or(Vec::is_empty) {
        return Err(Error::field(
            "recipients",
            "validation_required",
            "Name at least one recipient.",
        ));
    }
    Ok(())
}

fn row(r: &RuleInput) -> Value {
    let mut m = Map::new();
    let v = serde_json::to_value(r).unwrap_or(Value::Null);
    if let Value::Object(o) = v {
        for (k, v) in o {
            if !v.is_null() {
                m.insert(k, v);
            }
        }
    }
    Value::Object(m)
}

/// Every rule.
pub async fn list(app: &App, caller: &Caller) -> Result<Vec<Record>> {
    may_manage(caller)?;
    find(app, RULES, "").await
}

/// The rule `id`.
pub async fn view(app: &App, caller: &Caller, id: &str) -> Result<Record> {
    may_manage(caller)?;
    get(app, RULES, id).await?.ok_or_else(|| not_found("rule", id))
}

/// Creates a rule (active unless `active: false`) and reloads what consumers want.
pub async fn create(app: &App, caller: &Caller, mut input: RuleInput) -> Result<Record> {
    may_manage(caller)?;
    validate(app, &input)?;
    input.active.get_or_insert(true);
    let r = insert(app, RULES, row(&input)).await?;
    events::changed(app).await?;
    Ok(r)
}

/// Changes the given fields of the rule `id`.
pub async fn update(app: &App, caller: &Caller, id: &str, input: RuleInput) -> Result<Record> {
    let before = view(app, caller, id).await?;
    let mut merged: RuleInput = serde_json::from_value(rule_json(&before)).unwrap_or_default();
    let patch_v = row(&input);
    if let (Value::Object(p), Ok(Value::Object(mut m))) = (&patch_v, serde_json::to_value(&merged)) {
        m.extend(p.clone());
        merged = serde_json::from_value(Value::Object(m)).unwrap_or_default();
    }
    validate(app, &merged)?;
    let r = patch(app, RULES, id, patch_v).await?;
    events::changed(app).await?;
    Ok(r)
}

/// Deletes the rule `id`.
pub async fn delete(app: &App, caller: &Caller, id: &str) -> Result<()> {
    view(app, caller, id).await?;
    remove(app, RULES, id).await?;
    events::changed(app).await
}

/// A rule row's fields as [`RuleInput`] JSON.
fn rule_json(r: &Record) -> Value {
    let mut m = Map::new();
    for k in [
        "event",
        "collection",
        "filter",
        "template",
        "subject",
        "body",
        "recipients",
        "channels",
        "escalation",
        "ackRequired",
        "critical",
        "active",
    ] {
        if let Some(v) = r.data.get(k).filter(|v| !v.is_null() && *v != &json!("")) {
            m.insert(k.into(), v.clone());
        }
    }
    Value::Object(m)
}

/// A loaded rule.
#[derive(Debug, Clone)]
struct Rule {
    id: String,
    input: RuleInput,
}

/// The events consumer of notification rules.
#[derive(Default)]
pub struct RuleConsumer {
    rules: RwLock<Vec<Rule>>,
}

impl RuleConsumer {
    fn matching(&self, kind: &str, collection: Option<&Collection>) -> Vec<Rule> {
        let Ok(rules) = self.rules.read() else {
            return Vec::new();
        };
        rules
            .iter()
            .filter(|r| r.input.event.as_deref() == Some(kind))
            .filter(
                |r| match (r.input.collection.as_deref().filter(|c| !c.is_empty()), collection) {
                    (None, _) => true,
                    (Some(want), Some(c)) => c.id == want || c.name == want,
                    (Some(_), None) => false,
                },
            )
            .cloned()
            .collect()
    }
}

#[async_trait]
impl EventConsumer for RuleConsumer {
    fn name(&self) -> &'static str {
        "notification rules"
    }

    fn wants(&self, kind: &str, collection: Option<&Collection>) -> bool {
        !self.matching(kind, collection).is_empty()
    }

    async fn reload(&self, app: &App) -> Result<()> {
        let rows = find(app, RULES, "active = true").await?;
        let loaded = rows
            .iter()
            .filter_map(|r| {
                Some(Rule {
                    id: r.id().to_string(),
                    input: serde_json::from_value(rule_json(r)).ok()?,
                })
            })
            .collect();
        if let Ok(mut rules) = self.rules.write() {
            *rules = loaded;
        }
        Ok(())
    }

    async fn consume(&self, app: &App, event: &Event) -> std::result::Result<(), String> {
        let collection = match event.collection_id() {
            Some(id) => app.store.collection(id).ok(),
            None => None,
        };
        let record = event
            .data
            .get("record")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for rule in self.matching(&event.kind, collection.as_deref()) {
            fire(app, &rule, event, collection.as_ref(), &record)
                .await
                .map_err(|e| format!("rule {}: {e}", rule.id))?;
        }
        Ok(())
    }
}

async fn fire(
    app: &App,
    rule: &Rule,
    event: &Event,
    collection: Option<&std::sync::Arc<Collection>>,
    record: &Map<String, Value>,
) -> Result<()> {
    let r = &rule.input;
    if let (Some(filter), Some(c)) = (r.filter.as_deref().filter(|f| !f.trim().is_empty()), collection) {
        if !app
            .store
            .record_matches(c, record, filter, &RequestInfo::default())
            .await?
        {
            return Ok(());
        }
    }
    // Recipients grouped by auth collection, plus topics.
    let mut groups: Vec<(Option<String>, Vec<String>)> = Vec::new();
    let mut topics = Vec::new();
    let mut add = |collection: Option<String>, id: String| match groups.iter_mut().find(|(c, _)| *c == collection) {
        Some((_, ids)) => ids.push(id),
        None => groups.push((collection, vec![id])),
    };
    for who in r.recipients.clone().unwrap_or_default() {
        if let Some(topic) = who.strip_prefix("topic:") {
            topics.push(topic.to_string());
        } else if let Some(field) = who.strip_prefix("@record.") {
            let target = collection.and_then(|c| c.field(field)).and_then(|f| match &f.kind {
                FieldKind::Relation(o) => app.store.collection(&o.collection_id).ok().map(|c| c.name.clone()),
                _ => None,
            });
            match record.get(field) {
                Some(Value::String(id)) if !id.is_empty() => add(target, id.clone()),
                Some(Value::Array(ids)) => {
                    for id in ids.iter().filter_map(Value::as_str) {
                        add(target.clone(), id.to_string());
                    }
                }
                _ => {}
            }
        } else {
            add(None, who);
        }
    }
    let data = json!({"event": event, "record": record});
    let base = SendRequest {
        template: r.template.clone().filter(|t| !t.is_empty()),
        subject: r.subject.clone(),
        body: r.body.clone(),
        data,
        channels: r.channels.clone(),
        critical: r.critical.unwrap_or(false),
        ack_required: r.ack_required.unwrap_or(false),
        escalation: r.escalation.clone(),
        ..SendRequest::default()
    };
    for (i, (collection, users)) in groups.into_iter().enumerate() {
        let req = SendRequest {
            to: To {
                users,
                collection,
                ..To::default()
            },
            ..base.clone()
        };
        // A recipient that no longer exists is skipped, not retried forever.
        match dispatch(app, req, &format!("rule:{}:{}:{i}", rule.id, event.id)).await {
            Ok(_) | Err(Error::BadRequest { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    for topic in topics {
        let req = SendRequest {
            to: To {
                topic: Some(topic.clone()),
                ..To::default()
            },
            ..base.clone()
        };
        match dispatch(app, req, &format!("rule:{}:{}:topic:{topic}", rule.id, event.id)).await {
            Ok(_) | Err(Error::BadRequest { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let _ = str_of;
    Ok(())
}
