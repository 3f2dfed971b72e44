//! Dependents stored by other Keel services: webhook endpoints (`_webhooks`: the collection
//! whose record events they receive, their filter), notification rules
//! (`_notificationRules`: collection, filter, subject/body templates, `@record.<field>`
//! recipients) and runbooks (`_opsRunbooks`: steps whose text calls the collection's records
//! API). Keel has no saved filters to look at.

use std::sync::Arc;

use keel_core::Error;
use keel_data::{Access, Collection, ListParams, Record, RequestInfo};
use serde_json::Value;

use super::refs::{references, Schema};
use super::schema::consequence;
use super::touched::Touched;
use super::Item;
use crate::App;

/// Most rows of one kind looked at.
const MAX_ROWS: u64 = 1000;

/// The rows of the system collection `name` matching `filter` (none when it does not exist).
async fn rows(app: &App, name: &str, filter: Option<String>) -> Result<Vec<Record>, Error> {
    let Ok(c) = app.store.collection(name) else {
        return Ok(Vec::new());
    };
    let params = ListParams {
        page: 1,
        per_page: MAX_ROWS,
        sort: None,
        filter,
        skip_total: true,
    };
    Ok(app
        .store
        .list_records(&c, &params, &RequestInfo::default(), Access::Superuser)
        .await?
        .items)
}

fn text<'a>(r: &'a Record, key: &str) -> &'a str {
    r.data.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Whether ids and names can go in a filter literal (letters, digits, `_`).
fn plain(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Whether `text` holds `word` with no letter, digit or `_` right after it.
fn has_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let after = text[i + word.len()..].chars().next();
        let before = text[..i].chars().next_back();
        !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
            && !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// The touched fields a template text reads as `record.<field>` (or `@record.<field>`).
fn template_fields(t: &Touched, text: &str) -> Vec<String> {
    t.fields
        .iter()
        .filter(|f| has_word(text, &format!("record.{}", f.name)))
        .map(|f| f.name.clone())
        .collect()
}

/// Webhook endpoints receiving the touched collection's record events.
pub async fn webhook_items(app: &App, schema: &Schema, t: &Touched) -> Result<Vec<Item>, Error> {
    if !plain(t.id()) {
        return Ok(Vec::new());
    }
    let hooks = rows(
        app,
        keel_data::system::WEBHOOKS,
        Some(format!("collection = '{}'", t.id())),
    )
    .await?;
    let mut out = Vec::new();
    for h in &hooks {
        let id = h.id().to_string();
        // URLs can carry credentials (user info, query tokens): shown as the audit shows them.
        let url = keel_core::outbound::shown_url(text(h, "url"));
        let subject = |field: Option<&str>| t.subject(field);
        if t.deleted() {
            out.push(
                Item::new(
                    "webhook",
                    id.clone(),
                    url.clone(),
                    format!(
                        "Webhook {id} ({url}) receives record events of {}, which this change deletes: it receives nothing more.",
                        t.name()
                    ),
                )
                .touching(subject(None)),
            );
            continue;
        }
        let refs = references(text(h, "filter"), &t.before, schema, t);
        for r in &refs {
            out.push(
                Item::new(
                    "webhook",
                    id.clone(),
                    url.clone(),
                    format!(
                        "The filter of webhook {id} ({url}) reads {} through `{}`: {}.",
                        t.describe(r.field.as_deref()),
                        r.path,
                        consequence(t, r.field.as_deref())
                    ),
                )
                .touching(subject(r.field.as_deref())),
            );
        }
        let mut changes: Vec<String> = t
            .fields
            .iter()
            .filter(|f| !refs.iter().any(|r| r.field.as_deref() == Some(&f.name)))
            .map(|f| t.describe(Some(&f.name)))
            .collect();
        if t.renamed() {
            changes.push(format!(
                "their `collection` is {} instead of {}",
                t.new_name.as_deref().unwrap_or_default(),
                t.name()
            ));
        }
        if !changes.is_empty() {
            out.push(
                Item::new(
                    "webhook",
                    id.clone(),
                    url.clone(),
                    format!(
                        "Webhook {id} ({url}) receives {} records in its payloads, which change: {}.",
                        t.name(),
                        changes.join(", ")
                    ),
                )
                .touching(subject(None)),
            );
        }
    }
    Ok(out)
}

/// Notification rules about the touched collection's record events.
pub async fn notification_items(app: &App, schema: &Schema, t: &Touched) -> Result<Vec<Item>, Error> {
    if !plain(t.id()) || !plain(t.name()) {
        return Ok(Vec::new());
    }
    let filter = format!("collection = '{}' || collection = '{}'", t.id(), t.name());
    let rules = rows(app, keel_data::system::NOTIFICATION_RULES, Some(filter)).await?;
    let mut out = Vec::new();
    for r in &rules {
        let id = r.id().to_string();
        let event = text(r, "event").to_string();
        let item = |message: String, field: Option<&str>| {
            Item::new("notification-rule", id.clone(), event.clone(), message).touching(t.subject(field))
        };
        if t.deleted() {
            out.push(item(
                format!(
                    "Notification rule {id} ({event}) is about {}, which this change deletes: it fires no more.",
                    t.name()
                ),
                None,
            ));
            continue;
        }
        if t.renamed() && text(r, "collection").eq_ignore_ascii_case(t.name()) {
            out.push(item(
                format!(
                    "Notification rule {id} ({event}) names collection {} by name: once it is {}, the rule no longer matches its events.",
                    t.name(),
                    t.new_name.as_deref().unwrap_or_default()
                ),
                None,
            ));
        }
        for re in references(text(r, "filter"), &t.before, schema, t) {
            out.push(item(
                format!(
                    "The filter of notification rule {id} ({event}) reads {} through `{}`: {}.",
                    t.describe(re.field.as_deref()),
                    re.path,
                    consequence(t, re.field.as_deref())
                ),
                re.field.as_deref(),
            ));
        }
        let mut written = String::new();
        for key in ["subject", "body"] {
            written.push_str(text(r, key));
            written.push('\n');
        }
        if let Some(Value::Array(list)) = r.data.get("recipients") {
            for v in list.iter().filter_map(Value::as_str) {
                written.push_str(v);
                written.push('\n');
            }
        }
        for f in template_fields(t, &written) {
            out.push(item(
                format!(
                    "Notification rule {id} ({event}) uses record.{f} in its subject, body or recipients: {} makes it render empty or fail.",
                    t.describe(Some(&f))
                ),
                Some(&f),
            ));
        }
    }
    Ok(out)
}

/// Every string in `v`.
fn strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

/// Runbook steps whose text calls the touched collection's records API.
pub async fn runbook_items(app: &App, t: &Touched) -> Result<Vec<Item>, Error> {
    let books = rows(app, keel_data::system::OPS_RUNBOOKS, None).await?;
    let paths = [
        format!("/api/collections/{}/", t.name()),
        format!("/api/collections/{}/", t.id()),
    ];
    let mut out = Vec::new();
    for b in &books {
        let name = text(b, "name").to_string();
        let steps = b
            .data
            .get("definition")
            .and_then(|d| d.get("steps"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for (i, step) in steps.iter().enumerate() {
            let mut texts = Vec::new();
            strings(step, &mut texts);
            if !texts.iter().any(|s| paths.iter().any(|p| s.contains(p.as_str()))) {
                continue;
            }
            let step_id = step.get("id").and_then(Value::as_str).unwrap_or_default();
            let detail = format!("steps[{i}] ({step_id})");
            let fields: Vec<&str> = t
                .fields
                .iter()
                .filter(|f| texts.iter().any(|s| has_word(s, &f.name)))
                .map(|f| f.name.as_str())
                .collect();
            let message = if fields.is_empty() {
                format!(
                    "Step {step_id} of runbook {name} calls the records API of {}: {}.",
                    t.name(),
                    if t.deleted() {
                        "the collection is deleted".to_string()
                    } else if t.renamed() {
                        "its path changes with the collection's name".to_string()
                    } else {
                        "the records it reads or writes change (the step does not name a touched field)".to_string()
                    }
                )
            } else {
                let what: Vec<String> = fields.iter().map(|f| t.describe(Some(f))).collect();
                format!(
                    "Step {step_id} of runbook {name} calls the records API of {} and names {}.",
                    t.name(),
                    what.join(", ")
                )
            };
            out.push(Item::new("runbook", name.clone(), detail, message).touching(t.subject(fields.first().copied())));
        }
    }
    Ok(out)
}

/// The collections `caller` may see dependents in: system ones for superusers only.
pub fn visible(all: Vec<Arc<Collection>>, superuser: bool) -> Vec<Arc<Collection>> {
    all.into_iter()
        .filter(|c| superuser || !keel_data::request::is_system_name(&c.name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::has_word;

    #[test]
    fn words_end_at_non_word_characters() {
        assert!(has_word("Hi {{ record.title }}", "record.title"));
        assert!(!has_word("Hi {{ record.titles }}", "record.title"));
        assert!(has_word("@record.owner", "record.owner"));
        assert!(!has_word("subtitle", "title"));
    }
}
