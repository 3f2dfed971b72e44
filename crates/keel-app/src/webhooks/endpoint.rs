//! A webhook endpoint (a `_webhooks` row): what it wants, where it goes, how it is signed;
//! reading and writing the rows, and validating what a caller submits.

use std::collections::BTreeMap;
use std::sync::Arc;

use keel_core::Error;
use keel_data::schema::Collection;
use keel_data::system::WEBHOOKS;
use keel_data::{Access, ListParams, Record, RequestInfo};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::App;

/// The event types an endpoint may subscribe to (besides the wildcards of [`valid_pattern`]).
pub const EVENT_TYPES: &[&str] = &[
    "record.created",
    "record.updated",
    "record.deleted",
    "job.completed",
    "job.failed",
    "job.dead",
    "schedule.missed",
    "webhook.disabled",
    "run.started",
    "run.awaiting_approval",
    "run.succeeded",
    "run.failed",
    "run.cancelled",
    "run.interrupted",
];

/// The groups a `group.*` wildcard may name.
const GROUPS: &[&str] = &["record", "job", "schedule", "webhook", "run"];

/// Headers an endpoint's custom `headers` may not set (Keel sets them, or the HTTP client).
const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "host",
    "transfer-encoding",
    "connection",
];

/// Whether `pattern` is an event type, `group.*` or `*`.
pub fn valid_pattern(pattern: &str) -> bool {
    pattern == "*"
        || EVENT_TYPES.contains(&pattern)
        || pattern.strip_suffix(".*").is_some_and(|group| GROUPS.contains(&group))
}

/// Whether `pattern` (valid) covers the event type `kind`.
pub fn pattern_matches(pattern: &str, kind: &str) -> bool {
    pattern == "*"
        || pattern == kind
        || pattern
            .strip_suffix('*')
            .is_some_and(|prefix| prefix.ends_with('.') && kind.starts_with(prefix))
}

/// Whether a custom header name is one Keel sets itself.
pub fn reserved_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    RESERVED_HEADERS.contains(&name.as_str()) || name.starts_with("webhook-")
}

/// One endpoint, secrets included (never shown: see [`Endpoint::json`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Endpoint {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    /// The collection (id) whose record events it receives ("" = none).
    pub collection: String,
    /// A rule-language filter on the record ("" = every record).
    pub filter: String,
    pub headers: BTreeMap<String, String>,
    pub active: bool,
    pub description: String,
    pub secret: String,
    pub previous_secret: String,
    pub previous_secret_until: String,
    pub disabled_at: String,
    pub disabled_reason: String,
    pub failing_since: String,
    pub created: String,
    pub updated: String,
}

fn text(r: &Record, name: &str) -> String {
    r.data.get(name).and_then(Value::as_str).unwrap_or_default().to_string()
}

/// A JSON column's value: stored as JSON, or as its text.
fn json_of(r: &Record, name: &str) -> Value {
    match r.data.get(name) {
        Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::Null),
        Some(v) => v.clone(),
        None => Value::Null,
    }
}

impl Endpoint {
    /// The endpoint a `_webhooks` record holds.
    pub fn from_record(r: &Record) -> Endpoint {
        let events = match json_of(r, "events") {
            Value::Array(a) => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
            _ => Vec::new(),
        };
        let headers = match json_of(r, "headers") {
            Value::Object(m) => m
                .into_iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_string())))
                .collect(),
            _ => BTreeMap::new(),
        };
        Endpoint {
            id: text(r, "id"),
            url: text(r, "url"),
            events,
            collection: text(r, "collection"),
            filter: text(r, "filter"),
            headers,
            active: r.data.get("active").and_then(Value::as_bool).unwrap_or(false),
            description: text(r, "description"),
            secret: text(r, "secret"),
            previous_secret: text(r, "previousSecret"),
            previous_secret_until: text(r, "previousSecretUntil"),
            disabled_at: text(r, "disabledAt"),
            disabled_reason: text(r, "disabledReason"),
            failing_since: text(r, "failingSince"),
            created: text(r, "created"),
            updated: text(r, "updated"),
        }
    }

    /// The endpoint as the API shows it: never a secret.
    pub fn json(&self, app: &App) -> Value {
        let collection_name = if self.collection.is_empty() {
            String::new()
        } else {
            app.store
                .collection(&self.collection)
                .map(|c| c.name.clone())
                .unwrap_or_default()
        };
        json!({
            "id": self.id,
            "url": self.url,
            "events": self.events,
            "collection": collection_name,
            "collectionId": self.collection,
            "filter": self.filter,
            "headers": self.headers,
            "active": self.active,
            "description": self.description,
            "previousSecretUntil": self.previous_secret_until,
            "disabledAt": self.disabled_at,
            "disabledReason": self.disabled_reason,
            "failingSince": self.failing_since,
            "created": self.created,
            "updated": self.updated,
        })
    }

    /// Whether it wants an event of type `kind` (for record events, of the collection with
    /// id `collection`). Says nothing of `active` or the filter.
    pub fn wants(&self, kind: &str, collection: Option<&str>) -> bool {
        if !self.events.iter().any(|p| pattern_matches(p, kind)) {
            return false;
        }
        if kind.starts_with("record.") {
            return collection.is_some_and(|c| c == self.collection);
        }
        true
    }

    /// The secrets that sign now: the current one, and the previous one during its grace.
    pub fn signing_secrets(&self, now: chrono::DateTime<chrono::Utc>) -> Vec<&str> {
        let mut out = vec![self.secret.as_str()];
        if !self.previous_secret.is_empty()
            && keel_core::time::parse(&self.previous_secret_until).is_some_and(|until| until > now)
        {
            out.push(self.previous_secret.as_str());
        }
        out
    }
}

/// What a caller submits to create or change an endpoint (every field optional on a change).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndpointInput {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    /// The collection's name or id.
    pub collection: Option<String>,
    pub filter: Option<String>,
    pub headers: Option<BTreeMap<String, String>>,
    pub active: Option<bool>,
    pub description: Option<String>,
}

impl EndpointInput {
    /// Parses a submitted body (400 naming what is wrong).
    pub fn parse(body: Value) -> Result<EndpointInput, Error> {
        serde_json::from_value(body).map_err(|e| Error::bad_request(format!("Invalid webhook endpoint: {e}.")))
    }
}

/// Checks `input` applied over `current` (a new, empty endpoint on create) and returns the
/// fields to write: 400 naming `url`, `events`, `collection`, `filter`, `headers` or
/// `description`.
pub async fn validate(app: &App, current: &Endpoint, input: EndpointInput) -> Result<Map<String, Value>, Error> {
    let mut out = Map::new();
    let url = input
        .url
        .map(|u| u.trim().to_string())
        .unwrap_or_else(|| current.url.clone());
    if url.is_empty() {
        return Err(Error::field("url", "validation_required", "Give the endpoint's URL."));
    }
    if let Err(refusal) = app.outbound.check_url(&url) {
        return Err(Error::field("url", "validation_invalid_url", format!("{refusal}.")));
    }
    out.insert("url".into(), Value::from(url));

    let events = input.events.unwrap_or_else(|| current.events.clone());
    if events.is_empty() {
        return Err(Error::field(
            "events",
            "validation_required",
            format!("Name at least one event type: {}.", EVENT_TYPES.join(", ")),
        ));
    }
    if let Some(bad) = events.iter().find(|e| !valid_pattern(e)) {
        return Err(Error::field(
            "events",
            "validation_unknown_event",
            format!(
                "Unknown event type {bad:?}: use {}, a group wildcard like record.* or *.",
                EVENT_TYPES.join(", ")
            ),
        ));
    }
    let wants_records = events.iter().any(|e| e == "*" || e.starts_with("record."));
    out.insert("events".into(), json!(events));

    let collection = match input.collection {
        Some(c) => c.trim().to_string(),
        None => current.collection.clone(),
    };
    let collection: Option<Arc<Collection>> = if collection.is_empty() {
        None
    } else {
        match app.store.collection(&collection) {
            Ok(c) if !c.system && !c.name.starts_with('_') => Some(c),
            Ok(_) => {
                return Err(Error::field(
                    "collection",
                    "validation_system_collection",
                    "System collections have no webhooks.",
                ))
            }
            Err(_) => {
                return Err(Error::field(
                    "collection",
                    "validation_unknown_collection",
                    format!("No collection named {collection:?}."),
                ))
            }
        }
    };
    if wants_records && collection.is_none() {
        return Err(Error::field(
            "collection",
            "validation_required",
            "Record events need the collection whose records they are about.",
        ));
    }
    out.insert(
        "collection".into(),
        Value::from(collection.as_ref().map(|c| c.id.clone()).unwrap_or_default()),
    );

    let filter = input
        .filter
        .unwrap_or_else(|| current.filter.clone())
        .trim()
        .to_string();
    if !filter.is_empty() {
        let Some(c) = &collection else {
            return Err(Error::field(
                "filter",
                "validation_filter_without_collection",
                "A filter applies to record events: set the collection too.",
            ));
        };
        if let Err(e) = app
            .store
            .record_matches(c, &Map::new(), &filter, &RequestInfo::default())
            .await
        {
            return Err(Error::field(
                "filter",
                "validation_invalid_filter",
                format!("Invalid filter: {e}"),
            ));
        }
    }
    out.insert("filter".into(), Value::from(filter));

    let headers = input.headers.unwrap_or_else(|| current.headers.clone());
    for (name, value) in &headers {
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err()
            || reqwest::header::HeaderValue::from_str(value).is_err()
        {
            return Err(Error::field(
                "headers",
                "validation_invalid_header",
                format!("{name:?} is not a valid header name and value."),
            ));
        }
        if reserved_header(name) {
            return Err(Error::field(
                "headers",
                "validation_reserved_header",
                format!("Keel sets {name:?} itself."),
            ));
        }
    }
    out.insert("headers".into(), json!(headers));

    let description = input.description.unwrap_or_else(|| current.description.clone());
    if description.chars().count() > 500 {
        return Err(Error::field(
            "description",
            "validation_max_text_constraint",
            "Keep the description under 500 characters.",
        ));
    }
    out.insert("description".into(), Value::from(description));

    if let Some(active) = input.active {
        out.insert("active".into(), Value::Bool(active));
        if active {
            // Turned back on: whatever disabled it is over.
            out.insert("disabledAt".into(), Value::from(""));
            out.insert("disabledReason".into(), Value::from(""));
            out.insert("failingSince".into(), Value::from(""));
        }
    }
    Ok(out)
}

fn webhooks(app: &App) -> Result<Arc<Collection>, Error> {
    app.store.collection(WEBHOOKS)
}

/// The endpoint `id`, if there is one.
pub async fn load(app: &App, id: &str) -> Result<Option<Endpoint>, Error> {
    match app
        .store
        .get_record(&webhooks(app)?, id, &RequestInfo::default(), Access::Superuser)
        .await
    {
        Ok(r) => Ok(Some(Endpoint::from_record(&r))),
        Err(Error::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Every endpoint, oldest first.
pub async fn load_all(app: &App) -> Result<Vec<Endpoint>, Error> {
    let c = webhooks(app)?;
    let mut out = Vec::new();
    let mut params = ListParams {
        per_page: 1000,
        sort: Some("created,id".into()),
        skip_total: true,
        ..Default::default()
    };
    loop {
        let page = app
            .store
            .list_records(&c, &params, &RequestInfo::default(), Access::Superuser)
            .await?;
        let n = page.items.len();
        out.extend(page.items.iter().map(Endpoint::from_record));
        if n < params.per_page as usize {
            return Ok(out);
        }
        params.page += 1;
    }
}

/// Inserts an endpoint from validated `fields`; returns it.
pub async fn insert(app: &App, fields: Map<String, Value>) -> Result<Endpoint, Error> {
    let r = app
        .store
        .create_record(&webhooks(app)?, fields, &RequestInfo::default(), Access::Superuser)
        .await?;
    Ok(Endpoint::from_record(&r))
}

/// Changes `fields` of the endpoint `id`; returns it changed.
pub async fn update(app: &App, id: &str, fields: Map<String, Value>) -> Result<Endpoint, Error> {
    let (_, after) = app
        .store
        .update_record(&webhooks(app)?, id, fields, &RequestInfo::default(), Access::Superuser)
        .await?;
    Ok(Endpoint::from_record(&after))
}

/// Deletes the endpoint `id` (its deliveries stay until their own cleanup).
pub async fn delete(app: &App, id: &str) -> Result<(), Error> {
    app.store
        .delete_record(&webhooks(app)?, id, &RequestInfo::default(), Access::Superuser)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        for p in [
            "record.created",
            "job.dead",
            "record.*",
            "*",
            "schedule.missed",
            "webhook.*",
        ] {
            assert!(valid_pattern(p), "{p}");
        }
        for p in ["record.create", "records.*", "", "record.", "*.*", "webhook.test"] {
            assert!(!valid_pattern(p), "{p}");
        }
        assert!(pattern_matches("record.*", "record.deleted"));
        assert!(!pattern_matches("record.*", "job.dead"));
        assert!(pattern_matches("*", "job.dead"));
        assert!(pattern_matches("job.dead", "job.dead"));
        assert!(!pattern_matches("job.dead", "job.failed"));
    }

    #[test]
    fn record_events_need_the_collection() {
        let e = Endpoint {
            events: vec!["record.*".into(), "job.dead".into()],
            collection: "c1".into(),
            ..Default::default()
        };
        assert!(e.wants("record.created", Some("c1")));
        assert!(!e.wants("record.created", Some("c2")));
        assert!(!e.wants("record.created", None));
        assert!(e.wants("job.dead", None));
        assert!(!e.wants("job.failed", None));
    }

    #[test]
    fn the_previous_secret_signs_during_its_grace_only() {
        let now = chrono::Utc::now();
        let mut e = Endpoint {
            secret: "new".into(),
            previous_secret: "old".into(),
            previous_secret_until: keel_core::time::format(now + chrono::Duration::hours(1)),
            ..Default::default()
        };
        assert_eq!(e.signing_secrets(now), vec!["new", "old"]);
        e.previous_secret_until = keel_core::time::format(now - chrono::Duration::seconds(1));
        assert_eq!(e.signing_secrets(now), vec!["new"]);
    }

    #[test]
    fn webhook_headers_are_reserved() {
        assert!(reserved_header("Webhook-Signature"));
        assert!(reserved_header("Content-Type"));
        assert!(!reserved_header("Authorization"));
    }
}
