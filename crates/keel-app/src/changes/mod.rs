//! Schema-change governance (issue 17): the engines that rate a change, and the history.
//!
//! - [`classify`]: a collection before and after → findings with stable codes and semver
//!   levels, data checks counted on the real rows (`classify/`);
//! - [`api_diff`]: two OpenAPI 3.x documents → findings in oasdiff's vocabulary (`api_diff/`);
//! - [`classify_proposal`] and [`diff_documents`]: what the HTTP API and the CLI call, with
//!   the caller's permission (`changes:read`, superusers always) and 400s naming the field;
//! - [`history`]: every committed collection change recorded with its findings, verdict and
//!   the collection's semver version; read, versions, stats, changelog, realtime events.
//!
//! - [`review`]: proposals, approvals with a quorum, apply (refused when the collection moved
//!   on), rollback, comments with `@mentions`;
//! - [`impact`]: what depends on what a change touches (rules, relations, views, indexes,
//!   webhooks, notification rules, runbooks, recent callers);
//! - [`collection_api`]: a collection's records API as an OpenAPI document, diffed for every
//!   change (`apiVerdict`, `apiFindings`) and served at `/api/collections/{c}/openapi.json`.

pub mod api_diff;
pub mod classify;
pub mod collection_api;
mod finding;
pub mod history;
pub mod impact;
pub mod review;

pub use finding::{verdict, Finding, Level, Report};

use keel_core::Error;
use keel_data::{Collection, SchemaActor};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::authz::{authorize, Permission};
use crate::caller::Caller;
use crate::redact::masked_path;
use crate::App;

/// `Ok` if `caller` may read change classifications and API diffs (`changes:read`).
pub fn may_read(caller: &Caller) -> Result<(), Error> {
    authorize(caller, Permission::ChangesRead)
}

/// What `classify` answers: the schema's verdict and findings, the records API's
/// (`apiVerdict`, `apiFindings`: [`collection_api`] documents before and after, diffed), and
/// the [`impact`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Classification {
    #[serde(flatten)]
    pub report: Report,
    pub api_verdict: String,
    pub api_findings: Vec<Finding>,
    pub impact: impact::Impact,
}

impl Classification {
    async fn of(
        app: &App,
        caller: &Caller,
        before: Option<&Collection>,
        after: Option<&Collection>,
        findings: Vec<Finding>,
    ) -> Result<Classification, Error> {
        let api = history::record::api_report(before, after);
        Ok(Classification {
            report: Report::new(findings),
            api_verdict: api.verdict,
            api_findings: api.findings,
            impact: impact::of_change(app, caller, before, after).await?,
        })
    }
}

/// Classifies, without applying it, the change from the current collection to the target in
/// `input`: `{"collection": {…}}` (PocketBase's JSON, matched to a current collection by `id`,
/// else by `name`; a partial definition is merged as an update would merge it), or
/// `{"delete": "<id or name>"}`. The data checks run on the current rows; the impact has no
/// callers (see [`impact`]).
pub async fn classify_proposal(app: &App, caller: &Caller, input: Map<String, Value>) -> Result<Classification, Error> {
    may_read(caller)?;
    if let Some(target) = input.get("delete") {
        let Some(name) = target.as_str().filter(|s| !s.is_empty()) else {
            return Err(Error::field(
                "delete",
                "validation_required",
                "Give the id or name of the collection whose deletion to classify.",
            ));
        };
        let current = app.store.collection(name)?;
        may_classify(caller, &current)?;
        let mut findings = classify::classify(Some(&current), None);
        if may_count(caller) {
            classify::data::run(&app.store, &current.id, &mut findings).await?;
        }
        return Classification::of(app, caller, Some(&current), None, findings).await;
    }
    let Some(Value::Object(target)) = input.get("collection") else {
        return Err(Error::field(
            "collection",
            "validation_required",
            "Send the target collection as a JSON object in `collection` (or `delete` with a collection's id or name).",
        ));
    };
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
        let name = target.get("name").and_then(Value::as_str).unwrap_or_default();
        if name.is_empty() {
            return Err(Error::field(
                "collection.name",
                "validation_required",
                "Give the collection's id or name.",
            ));
        }
        // Checked as its creation would be, so a bad field or rule is a 400 naming it.
        let created = app
            .store
            .preview_create(Value::Object(target.clone()), SchemaActor::Superuser)
            .map_err(|e| prefix_fields(e, "collection"))?;
        let findings = classify::classify(None, Some(&created));
        return Classification::of(app, caller, None, Some(&created), findings).await;
    };
    may_classify(caller, &current)?;
    // Nothing is applied, so the preview checks the target as a superuser's update would be
    // checked (a reviewer may rate a change of an auth collection they could not make).
    let (before, after) = app
        .store
        .preview_update(&current.id, Value::Object(target.clone()), SchemaActor::Superuser)
        .map_err(|e| prefix_fields(e, "collection"))?;
    let mut findings = classify::classify(Some(&before), Some(&after));
    if may_count(caller) {
        classify::data::run(&app.store, &before.id, &mut findings).await?;
    }
    Classification::of(app, caller, Some(&before), Some(&after), findings).await
}

/// 403 unless a superuser asks about a system collection (`_…`): the counts read its rows.
/// Whether the data checks run for `caller`: their counts read rows whatever the collection's
/// rules, so only for those who could change those rules anyway (superusers and holders of
/// `collections:manage`); others get the findings without `affectedRows`.
fn may_count(caller: &Caller) -> bool {
    authorize(caller, Permission::CollectionsManage).is_ok()
}

fn may_classify(caller: &Caller, c: &Collection) -> Result<(), Error> {
    if !caller.is_superuser() && keel_data::request::is_system_name(&c.name) {
        return Err(Error::Forbidden(
            "Only superusers may classify changes of system collections (names starting with _).".into(),
        ));
    }
    Ok(())
}

/// A 400's field names under `prefix` (`name` → `collection.name`).
fn prefix_fields(e: Error, prefix: &str) -> Error {
    match e {
        Error::BadRequest { message, fields } => Error::BadRequest {
            message,
            fields: fields.into_iter().map(|(k, v)| (format!("{prefix}.{k}"), v)).collect(),
        },
        other => other,
    }
}

/// Diffs `input`'s `old` and `new` OpenAPI 3.x documents for `caller` (`changes:read`).
pub fn diff_documents(caller: &Caller, input: &Map<String, Value>) -> Result<Report, Error> {
    may_read(caller)?;
    let old = input.get("old").unwrap_or(&Value::Null);
    let new = input.get("new").unwrap_or(&Value::Null);
    api_diff::check_document("old", old)?;
    api_diff::check_document("new", new)?;
    Ok(Report::new(api_diff::diff(old, new)))
}
