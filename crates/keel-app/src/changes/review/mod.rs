//! Review of collection changes (issue 17, part 3): a change is *proposed* as a `_changes`
//! row, reviewed, then applied through the same recorded store path as a direct change.
//!
//! States: `draft` → `in_review` → `approved` → `applied` → `rolled_back`, or `rejected`
//! from `draft`, `in_review` or `approved`. A proposal row carries the classifier's findings
//! and verdict at proposal time, `previousVersion` = the collection's version it was based
//! on, `version` = the version it would give, `before` / `after` (secrets masked) and
//! `review` (`{submitted, approvals: [{by, at}], quorum, rejected, applied, rolledBack,
//! comments}`). Until applied, its `version` is not one the collection had: the versions,
//! stats and changelog read only `applied` and `rolled_back` rows.
//!
//! Who: proposing, applying and rolling back need `collections:manage` (superusers: system
//! collections too); submitting is the author's; approving and rejecting need
//! `changes:approve`, and an author never approves their own change. Settings
//! (`changes.review`): `required` `off|all|listed` makes a direct change of those collections
//! by anyone but a superuser a 403 that says to propose it (a superuser's direct change goes
//! through and is recorded as usual); `quorum` approvals, `breakingQuorum` for a major one.
//!
//! - mod.rs: the gate, propose, reading a proposal;
//! - transitions.rs: submit, approve, reject;
//! - apply.rs: apply (409 "rebase needed" when the collection moved on) and rollback;
//! - comments.rs: threaded comments with `@mentions`.

mod apply;
pub mod comments;
mod transitions;

pub use apply::{apply, rollback};
pub use transitions::{approve, reject, submit};

use keel_core::Error;
use keel_data::{Collection, RecordData};
use serde_json::{json, Map, Value};

use super::classify;
use super::history::{self, Version};
use super::{Level, Report};
use crate::audit::{self, Origin};
use crate::authz::{authorize, Permission};
use crate::caller::Caller;
use crate::collections::schema_actor;
use crate::redact::{collection_json, masked_path, redact_secrets, MASK};
use crate::App;

/// A proposal's states.
pub const DRAFT: &str = "draft";
pub const IN_REVIEW: &str = "in_review";
pub const APPROVED: &str = "approved";
pub const REJECTED: &str = "rejected";
pub const APPLIED: &str = "applied";
pub const ROLLED_BACK: &str = "rolled_back";

/// 403 when `changes.review` requires a proposal for the collection `id` / `name` and
/// `caller` is not a superuser (a superuser's direct change is allowed, and recorded).
pub fn refuse_unreviewed(app: &App, caller: &Caller, id: &str, name: &str) -> Result<(), Error> {
    if caller.is_superuser() || !app.settings.get().changes.review.required_for(id, name) {
        return Ok(());
    }
    Err(Error::Forbidden(format!(
        "Changes of collection {name} need a review (settings changes.review): propose it with POST /api/changes \
         (`keel changes propose`), have it approved, then apply it."
    )))
}

/// Proposes a change: `{"collection": {…target…}}` or `{"delete": "<id or name>"}` (as
/// `POST /api/changes/classify` takes), `"submit": true` to go straight to review. Nothing
/// is applied. Returns the proposal's row.
pub async fn propose(
    app: &App,
    caller: &Caller,
    origin: &Origin,
    input: Map<String, Value>,
) -> Result<RecordData, Error> {
    authorize(caller, Permission::CollectionsManage)?;
    let submit = match input.get("submit") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(Error::field(
                "submit",
                "validation_invalid_value",
                "Must be true or false.",
            ))
        }
    };
    let mut row = if let Some(target) = input.get("delete") {
        propose_delete(app, caller, target).await?
    } else {
        match input.get("collection") {
            Some(Value::Object(target)) => propose_target(app, caller, target.clone()).await?,
            _ => {
                return Err(Error::field(
                    "collection",
                    "validation_required",
                    "Send the target collection as a JSON object in `collection` (or `delete` with a collection's id or name).",
                ))
            }
        }
    };
    let now = keel_core::time::now();
    row.insert("source".into(), Value::from("review"));
    row.insert("author".into(), Value::from(caller.actor()));
    row.insert("state".into(), Value::from(if submit { IN_REVIEW } else { DRAFT }));
    let quorum = quorum(app, &row);
    row.insert(
        "review".into(),
        json!({"submitted": if submit { Value::from(now) } else { Value::Null }, "approvals": [], "quorum": quorum, "comments": []}),
    );
    let stored = app.store.insert_change(row).await?;
    announce(app, caller, origin, &stored, "proposed").await;
    Ok(stored)
}

/// The approvals the change `row` needs under the current settings.
fn quorum(app: &App, row: &RecordData) -> u32 {
    let breaking = row.get("verdict").and_then(Value::as_str) == Some("major");
    app.settings.get().changes.review.quorum_for(breaking)
}

/// Only superusers propose changes of system collections.
fn may_touch(caller: &Caller, name: &str) -> Result<(), Error> {
    if !caller.is_superuser() && keel_data::request::is_system_name(name) {
        return Err(Error::Forbidden(
            "Only superusers may propose changes of system collections (names starting with _).".into(),
        ));
    }
    Ok(())
}

/// The version the collection `id` has now: its newest applied change's, `1.0.0` for one
/// older than the history, `None` when it does not exist.
async fn current_version(app: &App, id: &str) -> Result<Option<String>, Error> {
    if app.store.collection(id).is_err() {
        return Ok(None);
    }
    Ok(Some(
        history::current_version(&app.store, id)
            .await?
            .unwrap_or_else(|| Version::FIRST.to_string()),
    ))
}

fn base_row(c: &Collection, kind: &str, report: &Report, api: &Report) -> RecordData {
    let mut row = RecordData::new();
    row.insert("collectionRef".into(), Value::from(c.id.clone()));
    row.insert("collection".into(), Value::from(c.name.clone()));
    row.insert(
        "system".into(),
        Value::Bool(c.system || keel_data::request::is_system_name(&c.name)),
    );
    row.insert("kind".into(), Value::from(kind));
    row.insert("verdict".into(), Value::from(report.verdict.clone()));
    row.insert(
        "findings".into(),
        serde_json::to_value(&report.findings).unwrap_or(Value::Array(vec![])),
    );
    row.insert("apiVerdict".into(), Value::from(api.verdict.clone()));
    row.insert(
        "apiFindings".into(),
        serde_json::to_value(&api.findings).unwrap_or(Value::Array(vec![])),
    );
    row
}

/// The version a change at `level` gives a collection at `previous`.
fn next_version(previous: &str, level: Level) -> String {
    Version::parse(previous)
        .unwrap_or(Version::FIRST)
        .bump(level)
        .to_string()
}

async fn propose_delete(app: &App, caller: &Caller, target: &Value) -> Result<RecordData, Error> {
    let Some(name) = target.as_str().filter(|s| !s.is_empty()) else {
        return Err(Error::field(
            "delete",
            "validation_required",
            "Give the id or name of the collection to delete.",
        ));
    };
    let current = app.store.collection(name)?;
    may_touch(caller, &current.name)?;
    let mut findings = classify::classify(Some(&current), None);
    classify::data::run(&app.store, &current.id, &mut findings).await?;
    let report = Report::new(findings);
    let previous = current_version(app, &current.id).await?.unwrap_or_default();
    let api = history::record::api_report(Some(&current), None);
    let mut row = base_row(&current, "delete", &report, &api);
    row.insert("version".into(), Value::from(next_version(&previous, Level::Major)));
    row.insert("previousVersion".into(), Value::from(previous));
    row.insert("diff".into(), json!([]));
    row.insert("before".into(), collection_json(&current));
    row.insert("after".into(), Value::Null);
    Ok(row)
}

async fn propose_target(app: &App, caller: &Caller, mut target: Map<String, Value>) -> Result<RecordData, Error> {
    if let Some(path) = masked_path(&Value::Object(target.clone())) {
        return Err(Error::field(
            format!("collection.{path}"),
            "validation_masked_secret",
            "This is a masked secret: leave it out to keep the stored one.",
        ));
    }
    let by = |key: &str| {
        target
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .and_then(|k| app.store.collection(k).ok())
    };
    let Some(current) = by("id").or_else(|| by("name")) else {
        return propose_create(caller, target);
    };
    may_touch(caller, &current.name)?;
    let actor = schema_actor(caller);
    let preview = |t: Map<String, Value>| {
        app.store
            .preview_update(&current.id, Value::Object(t), actor)
            .map_err(|e| super::prefix_fields(e, "collection"))
    };
    target.remove("created");
    target.remove("updated");
    let (before, after) = preview(target)?;
    // What is stored (and applied) is the target with its secrets masked: a proposal that
    // changes a secret would lose it, so it is refused instead.
    let after_json = collection_json(&after);
    let (_, again) = preview(applicable(&after_json))?;
    if comparable(&again) != comparable(&after) {
        return Err(Error::field(
            "collection",
            "validation_secret_in_proposal",
            "A proposal cannot set a secret (token secrets, OAuth2 client secrets, the LDAP bind password): \
             it would be kept in the change history. Leave secrets out of the proposal and set them with a direct change by a superuser.",
        ));
    }
    let before_json = collection_json(&before);
    let diff = super::history::diff_json(&before_json, &after_json);
    let mut findings = classify::classify(Some(&before), Some(&after));
    if findings.is_empty() && diff.is_empty() {
        return Err(Error::field(
            "collection",
            "validation_no_change",
            "The target is the collection as it is: there is nothing to propose.",
        ));
    }
    if findings.is_empty() {
        findings.push(super::Finding::new(
            "other-change",
            Level::Patch,
            before.name.clone(),
            format!(
                "Collection {} changes in a way no rule rates (see the diff).",
                before.name
            ),
        ));
    }
    classify::data::run(&app.store, &before.id, &mut findings).await?;
    let report = Report::new(findings);
    let level = super::verdict(&report.findings).unwrap_or(Level::Patch);
    let previous = current_version(app, &before.id).await?.unwrap_or_default();
    let kind = if before.name != after.name { "rename" } else { "update" };
    let api = history::record::api_report(Some(&before), Some(&after));
    let mut row = base_row(&before, kind, &report, &api);
    row.insert("version".into(), Value::from(next_version(&previous, level)));
    row.insert("previousVersion".into(), Value::from(previous));
    row.insert("diff".into(), Value::Array(diff));
    row.insert("before".into(), before_json);
    row.insert("after".into(), after_json);
    Ok(row)
}

fn propose_create(caller: &Caller, mut target: Map<String, Value>) -> Result<RecordData, Error> {
    let name = target
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if name.is_empty() {
        return Err(Error::field(
            "collection.name",
            "validation_required",
            "Give the collection's id or name.",
        ));
    }
    may_touch(caller, &name)?;
    let mut redacted = Value::Object(target.clone());
    redact_secrets(&mut redacted);
    if redacted != Value::Object(target.clone()) {
        return Err(Error::field(
            "collection",
            "validation_secret_in_proposal",
            "A proposal cannot set a secret: it would be kept in the change history. Leave it out (Keel generates token secrets) and set it with a direct change by a superuser.",
        ));
    }
    let id = match target.get("id").and_then(Value::as_str).filter(|s| !s.is_empty()) {
        Some(id) => id.to_string(),
        None => format!("pbc_{}", keel_core::id::random_string(10, b"0123456789")),
    };
    target.insert("id".into(), Value::from(id.clone()));
    let kind = match target.get("type").and_then(Value::as_str) {
        Some("auth") => keel_data::CollectionType::Auth,
        Some("view") => keel_data::CollectionType::View,
        _ => keel_data::CollectionType::Base,
    };
    let mut blank = Collection::blank(&name, kind);
    blank.id = id;
    let report = Report::new(classify::classify(None, Some(&blank)));
    // The API the new collection would have, as far as its definition reads as one.
    let planned: Option<Collection> = serde_json::from_value(Value::Object(target.clone())).ok();
    let api = history::record::api_report(None, Some(planned.as_ref().unwrap_or(&blank)));
    let mut row = base_row(&blank, "create", &report, &api);
    row.insert("version".into(), Value::from(Version::FIRST.to_string()));
    row.insert("previousVersion".into(), Value::from(""));
    row.insert("diff".into(), json!([]));
    row.insert("before".into(), Value::Null);
    row.insert("after".into(), Value::Object(target));
    Ok(row)
}

/// A stored (masked) collection JSON as a patch to apply: masked secrets and the autodates
/// left out, so the stored secrets are kept.
fn applicable(masked: &Value) -> Map<String, Value> {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.retain(|_, c| c.as_str() != Some(MASK));
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v = masked.clone();
    strip(&mut v);
    let mut m = match v {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    m.remove("created");
    m.remove("updated");
    m
}

/// A collection as JSON without its timestamps, to compare two previews.
fn comparable(c: &Collection) -> Value {
    let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.remove("created");
        m.remove("updated");
    }
    v
}

/// The change `id` as `caller` may see it (404 otherwise); 401 for guests.
async fn load(app: &App, caller: &Caller, id: &str) -> Result<RecordData, Error> {
    if caller.is_guest() {
        return Err(Error::Unauthorized(crate::caller::INVALID_TOKEN.into()));
    }
    Ok(history::row(app, caller, id).await?.data)
}

/// The row's `review` object (empty for a change recorded without a proposal).
fn review_of(row: &RecordData) -> Map<String, Value> {
    match row.get("review") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    }
}

fn state_of(row: &RecordData) -> &str {
    row.get("state").and_then(Value::as_str).unwrap_or_default()
}

fn text<'a>(row: &'a RecordData, key: &str) -> &'a str {
    row.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// 409 naming the current state when `row` is not in one of `allowed`.
fn expect_state(row: &RecordData, action: &str, allowed: &[&str]) -> Result<(), Error> {
    let state = state_of(row);
    if allowed.contains(&state) {
        return Ok(());
    }
    Err(Error::Conflict(format!(
        "Change {} is {state}: it cannot be {action} (only a change that is {}).",
        text(row, "id"),
        allowed.join(" or ")
    )))
}

/// The audit entry (`change.<action>`) and the realtime event of a review transition.
async fn announce(app: &App, caller: &Caller, origin: &Origin, row: &RecordData, action: &str) {
    let entry = audit::entry(caller, origin, &format!("change.{action}"))
        .detail("changeId", row.get("id").cloned().unwrap_or(Value::Null))
        .detail("collection", row.get("collection").cloned().unwrap_or(Value::Null))
        .detail("state", row.get("state").cloned().unwrap_or(Value::Null));
    app.identity.audit(entry).await;
    history::announce_as(app, row, action).await;
    comments::notify_watchers(app, caller, row, action).await;
}
