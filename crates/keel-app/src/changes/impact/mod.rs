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
//! - the callers of the collection's records API in the last `days` days (at most the
//!   `logs.maxDays` the logs keep), from the request logs, to superusers only (callers.rs; per
//!   collection, the logs name no fields). They are looked up only by [`of_id`]
//!   (`GET /api/changes/{id}/impact`): the scan reads up to a year of logs, too slow for the
//!   answers that carry an impact along (classify, a proposal, a change viewed), whose notes
//!   say where to get them.
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
    /// webhook's URL (without credentials or query), the rule's event, the runbook step, the
    /// request count.
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
    /// The days of request logs looked at for callers (absent when none were).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
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

/// The impact of the change from `before` to `after` for `caller` (who may read changes),
/// without callers: a note says where to get them.
pub async fn of_change(
    app: &App,
    caller: &Caller,
    before: Option<&Collection>,
    after: Option<&Collection>,
) -> Result<Impact, Error> {
    let (mut impact, t) = dependents(app, caller, before, after).await?;
    if t.is_none() {
        return Ok(impact);
    }
    impact.notes.push(if caller.is_superuser() {
        "Callers from the request logs are not looked up here: GET /api/changes/{id}/impact lists them.".into()
    } else {
        "Callers from the request logs are shown to superusers only, by GET /api/changes/{id}/impact.".into()
    });
    Ok(impact)
}

/// The dependents of the change other than callers, and what it touches (`None`: nothing
/// others depend on).
async fn dependents(
    app: &App,
    caller: &Caller,
    before: Option<&Collection>,
    after: Option<&Collection>,
) -> Result<(Impact, Option<Touched>), Error> {
    let mut impact = Impact {
        items: Vec::new(),
        notes: Vec::new(),
        days: None,
    };
    let Some(t) = Touched::of(before, after) else {
        return Ok((impact, None));
    };
    if t.is_empty() {
        return Ok((impact, None));
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
    Ok((impact, Some(t)))
}

/// Adds the callers of what `t` touches in the last `asked` days, cut to the days the request
/// logs keep (`logs.maxDays`), for superusers.
async fn add_callers(
    app: &App,
    caller: &Caller,
    t: Option<&Touched>,
    asked: u32,
    impact: &mut Impact,
) -> Result<(), Error> {
    let Some(t) = t else { return Ok(()) };
    if !caller.is_superuser() {
        impact
            .notes
            .push("Callers from the request logs are shown to superusers only.".into());
        return Ok(());
    }
    let kept = app.settings.get().logs.max_days;
    if kept <= 0 || !crate::logs::enabled(app) {
        impact
            .notes
            .push("Request logs are off (logs.maxDays is 0), so no callers are listed.".into());
        return Ok(());
    }
    let days = u32::try_from(kept).map_or(asked, |kept| asked.min(kept));
    impact.days = Some(days);
    if days < asked {
        impact.notes.push(format!(
            "{asked} days were asked, but the request logs keep {days} (logs.maxDays): the last {days} days were looked at."
        ));
    }
    if let Some(items) = callers::caller_items(app, t, days).await? {
        impact.notes.push(format!(
            "Callers are matched per collection from the request logs of the last {days} days: \
             the logs do not record which fields a request used."
        ));
        impact.items.extend(items);
    }
    Ok(())
}

/// A collection JSON kept in the history (secrets masked) as a collection; `None` when there
/// is none (a create's before, a delete's after) or it does not read as one.
fn collection_of(v: Option<&Value>) -> Option<Collection> {
    match v {
        Some(v @ Value::Object(_)) => serde_json::from_value(v.clone()).ok(),
        _ => None,
    }
}

/// The impact of the recorded change or proposal `row` (its `before` and `after`), without
/// callers.
pub async fn of_row(app: &App, caller: &Caller, row: &RecordData) -> Result<Impact, Error> {
    let before = collection_of(row.get("before"));
    let after = collection_of(row.get("after"));
    of_change(app, caller, before.as_ref(), after.as_ref()).await
}

/// The impact of the change `id` with the callers of the last `days` days (at most
/// `logs.maxDays`; `changes:read`; system collections' for superusers only).
pub async fn of_id(app: &App, caller: &Caller, id: &str, days: u32) -> Result<Impact, Error> {
    super::may_read(caller)?;
    let row = super::history::row(app, caller, id).await?;
    let before = collection_of(row.data.get("before"));
    let after = collection_of(row.data.get("after"));
    let (mut impact, t) = dependents(app, caller, before.as_ref(), after.as_ref()).await?;
    add_callers(app, caller, t.as_ref(), days, &mut impact).await?;
    Ok(impact)
}

/// A change as `GET /api/changes/{id}` and `POST /api/changes` answer it: its row, and its
/// impact now (`impact`, without callers).
pub async fn change_with_impact(app: &App, caller: &Caller, row: &RecordData) -> Result<Value, Error> {
    let mut v = super::history::change_json(row);
    let impact = of_row(app, caller, row).await?;
    if let Value::Object(m) = &mut v {
        m.insert("impact".into(), serde_json::to_value(impact).map_err(Error::internal)?);
    }
    Ok(v)
}
