//! Impact of a collection change (issue 17, part 4): what depends on what the change touches
//! (touched.rs: the collection deleted or renamed, fields removed, renamed or retyped):
//!
//! - other collections' rules that reach it (refs.rs walks each expression: relations,
//!   back-relations, `@collection.*`, `@request.auth.*`), relation fields targeting the
//!   collection, view collections whose query reads it, its indexes naming a touched field
//!   (schema.rs);
//! - webhook endpoints, notification rules and runbook steps (services.rs), each shown only
//!   to callers holding that service's permission (`webhooks:manage`,
//!   `notifications:manage`, `ops:read`);
//! - the callers of the collection's records API in the last `days` days, from the request
//!   logs, to superusers only (callers.rs; per collection, the logs name no fields).
//!
//! Impact is computed when asked, against the collections, services and logs as they are
//! then, with the touched collection seen as it was before the change; it is not stored.
//! Dependents in system collections (`_…`) are shown to superusers only.

mod callers;
mod refs;
mod schema;
mod services;
mod touched;

pub use touched::{FieldTouch, How, Touched};

use keel_core::Error;
use keel_data::{Collection, RecordData};
use serde::Serialize;
use serde_json::Value;

use crate::authz::{authorize, Permission};
use crate::caller::Caller;
use crate::App;

/// Days of request logs looked at unless asked otherwise.
pub const DEFAULT_DAYS: u32 = 30;
/// Most days of request logs one request may look at.
pub const MAX_DAYS: u32 = 365;

/// One dependent.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    /// `rule`, `relation`, `view`, `index`, `webhook`, `notification-rule`, `runbook`, `caller`.
    pub kind: &'static str,
    /// The dependent: `comments.listRule`, `comments.post`, a view's or index's name, a
    /// webhook's or notification rule's id, a runbook's name, a caller (`users/ID`, `guest`).
    pub name: String,
    /// What it holds that depends: the path in the expression, the index statement, the
    /// webhook's URL, the rule's event, the runbook step, the request count.
    pub detail: String,
    /// A sentence saying what depends on what, and what happens.
    pub message: String,
    /// The collection the dependent belongs to (rules, relations, views, indexes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collection: Option<String>,
    /// What of the change it depends on: `posts.title` or `posts`.
    pub touches: String,
    /// Callers: their requests in the period, and the newest one's time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
}

impl Item {
    pub fn new(kind: &'static str, name: String, detail: String, message: String) -> Item {
        Item {
            kind,
            name,
            detail,
            message,
            collection: None,
            touches: String::new(),
            requests: None,
            last_seen: None,
        }
    }

    fn in_collection(mut self, name: &str) -> Item {
        self.collection = Some(name.to_string());
        self
    }

    fn touching(mut self, what: String) -> Item {
        self.touches = what;
        self
    }
}

/// The impact of a change as the API answers it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Impact {
    pub items: Vec<Item>,
    /// What was not looked at for this caller, and how to read the callers.
    pub notes: Vec<String>,
    /// The days of request logs looked at.
    pub days: u32,
}

/// `days` as asked (`None`: [`DEFAULT_DAYS`]); 400 naming `days` outside 1..=[`MAX_DAYS`].
pub fn days(asked: Option<i64>) -> Result<u32, Error> {
    match asked {
        None => Ok(DEFAULT_DAYS),
        Some(d) if (1..=i64::from(MAX_DAYS)).contains(&d) => Ok(d as u32),
        Some(_) => Err(Error::field(
            "days",
            "validation_invalid_value",
            format!("Give a number of days of request logs from 1 to {MAX_DAYS}."),
        )),
    }
}

/// The impact of the change from `before` to `after` for `caller` (who may read changes).
pub async fn of_change(
    app: &App,
    caller: &Caller,
    before: Option<&Collection>,
    after: Option<&Collection>,
    days: u32,
) -> Result<Impact, Error> {
    let mut impact = Impact {
        items: Vec::new(),
        notes: Vec::new(),
        days,
    };
    let Some(t) = Touched::of(before, after) else {
        return Ok(impact);
    };
    if t.is_empty() {
        return Ok(impact);
    }
    let all = services::visible(app.store.collections(), caller.is_superuser());
    let lookup = refs::Schema::new(&all, &t);
    impact.items.extend(schema::rule_items(&all, &lookup, &t));
    impact.items.extend(schema::relation_items(&all, &t));
    impact.items.extend(schema::view_items(&all, &t));
    impact.items.extend(schema::index_items(&t));
    let mut missing = |what: &str, p: Permission| {
        impact
            .notes
            .push(format!("{what} were not looked at: that needs {}.", p.as_str()));
    };
    let webhooks = authorize(caller, Permission::WebhooksManage).is_ok();
    let notifications = authorize(caller, Permission::NotificationsManage).is_ok();
    let ops = authorize(caller, Permission::OpsRead).is_ok();
    if !webhooks {
        missing("Webhooks", Permission::WebhooksManage);
    }
    if !notifications {
        missing("Notification rules", Permission::NotificationsManage);
    }
    if !ops {
        missing("Runbooks", Permission::OpsRead);
    }
    if webhooks {
        impact.items.extend(services::webhook_items(app, &lookup, &t).await?);
    }
    if notifications {
        impact
            .items
            .extend(services::notification_items(app, &lookup, &t).await?);
    }
    if ops {
        impact.items.extend(services::runbook_items(app, &t).await?);
    }
    if !caller.is_superuser() {
        impact
            .notes
            .push("Callers from the request logs are shown to superusers only.".into());
    } else {
        match callers::caller_items(app, &t, days).await? {
            Some(items) => {
                impact.notes.push(format!(
                    "Callers are matched per collection from the request logs of the last {days} days: \
                     the logs do not record which fields a request used."
                ));
                impact.items.extend(items);
            }
            None => impact
                .notes
                .push("Request logs are off (logs.maxDays is 0), so no callers are listed.".into()),
        }
    }
    Ok(impact)
}

/// A collection JSON kept in the history (secrets masked) as a collection; `None` when there
/// is none (a create's before, a delete's after) or it does not read as one.
fn collection_of(v: Option<&Value>) -> Option<Collection> {
    match v {
        Some(v @ Value::Object(_)) => serde_json::from_value(v.clone()).ok(),
        _ => None,
    }
}

/// The impact of the recorded change or proposal `row` (its `before` and `after`).
pub async fn of_row(app: &App, caller: &Caller, row: &RecordData, days: u32) -> Result<Impact, Error> {
    let before = collection_of(row.get("before"));
    let after = collection_of(row.get("after"));
    of_change(app, caller, before.as_ref(), after.as_ref(), days).await
}

/// The impact of the change `id` (`changes:read`; system collections' for superusers only).
pub async fn of_id(app: &App, caller: &Caller, id: &str, days: u32) -> Result<Impact, Error> {
    super::may_read(caller)?;
    let row = super::history::row(app, caller, id).await?;
    of_row(app, caller, &row.data, days).await
}

/// A change as `GET /api/changes/{id}` and `POST /api/changes` answer it: its row, and its
/// impact now (`impact`, with `days` of request logs).
pub async fn change_with_impact(app: &App, caller: &Caller, row: &RecordData, days: u32) -> Result<Value, Error> {
    let mut v = super::history::change_json(row);
    let impact = of_row(app, caller, row, days).await?;
    if let Value::Object(m) = &mut v {
        m.insert("impact".into(), serde_json::to_value(impact).map_err(Error::internal)?);
    }
    Ok(v)
}
