//! The change history (issue 17, part 2): every committed collection change, recorded in
//! `_changes` in the change's own transaction (`record.rs` is what a row holds; the store
//! writes it), read here under `changes:read` (superusers always):
//!
//! - [`list`] / [`view`]: the changes, PocketBase-style paging, `filter` and `sort` over the
//!   row's fields (`collection`, `collectionRef`, `author`, `verdict`, `kind`, `source`,
//!   `version`, `created`, …), newest first by default;
//! - [`versions`] / [`version`]: a collection's versions (newest first) and its JSON at one
//!   of them; a collection is found by id or name, also after it was renamed or deleted;
//! - [`stats`](stats::stats) and [`export`](export::export): counts and the changelog;
//! - [`announce`]: the realtime event of a recorded change (`changes.<collectionId>` on the
//!   bus, delivered to `changes/*` subscribers by `realtime/jobs.rs`).
//!
//! Changes of system collections (names starting with `_`) are shown to superusers only.
//! The history is append-only: nothing here (nor the records API) changes or deletes it.

mod diff;
pub mod export;
pub mod record;
pub mod stats;

pub use record::{Recorder, Source, Version};

use bytes::Bytes;
use keel_core::Error;
use keel_data::{Access, ListParams, Page, Record, RecordData, RequestInfo};
use serde_json::{Map, Value};

use crate::caller::Caller;
use crate::App;

pub use super::may_read;

/// The bus topic prefix of recorded changes (`changes.<collectionId>`).
pub const TOPIC: &str = "changes.";

/// The filter of the rows that are versions a collection had (not proposals).
pub(crate) const IN_HISTORY: &str = "(state = 'applied' || state = 'rolled_back')";

/// The rule non-superusers read the history under: no system collection's changes.
const NOT_SYSTEM: &str = "system = false";

fn access(caller: &Caller) -> Access<'static> {
    if caller.is_superuser() {
        Access::Superuser
    } else {
        Access::Rule(NOT_SYSTEM)
    }
}

fn history(app: &App) -> Result<std::sync::Arc<keel_data::Collection>, Error> {
    app.store
        .collection(keel_data::system::CHANGES)
        .map_err(|_| Error::internal("the _changes collection is missing"))
}

/// A change as the API shows it: every field of its row, in the collection's order.
pub fn change_json(data: &RecordData) -> Value {
    Value::Object(data.clone())
}

/// A page of the history (newest first unless `params` sorts). `req` is the caller's own
/// request context (a filter may not reach `@collection` unless they are a superuser).
pub async fn list(app: &App, caller: &Caller, params: &ListParams, req: &RequestInfo) -> Result<Page<Record>, Error> {
    may_read(caller)?;
    let c = history(app)?;
    let mut params = params.clone();
    if params.sort.is_none() {
        params.sort = Some("-seq".into());
    }
    app.store.list_records(&c, &params, req, access(caller)).await
}

/// One change by id (404 when absent or not the caller's to see).
pub async fn view(app: &App, caller: &Caller, id: &str) -> Result<Record, Error> {
    may_read(caller)?;
    row(app, caller, id).await
}

/// One change by id as `caller` may see it (system collections' for superusers only),
/// whatever permission they hold: the review checks its own.
pub(crate) async fn row(app: &App, caller: &Caller, id: &str) -> Result<Record, Error> {
    let c = history(app)?;
    app.store
        .get_record(&c, id, &RequestInfo::default(), access(caller))
        .await
}

/// The version of the collection `id` left by its newest applied change (`None` when the
/// history has none).
pub(crate) async fn current_version(store: &keel_data::Store, id: &str) -> Result<Option<String>, Error> {
    if !plain(id) {
        return Ok(None);
    }
    let c = store
        .collection(keel_data::system::CHANGES)
        .map_err(|_| Error::internal("the _changes collection is missing"))?;
    let params = ListParams {
        page: 1,
        per_page: 1,
        sort: Some("-seq".into()),
        filter: Some(format!("collectionRef = '{id}' && {IN_HISTORY}")),
        skip_total: true,
    };
    let page = store
        .list_records(&c, &params, &RequestInfo::default(), Access::Superuser)
        .await?;
    Ok(page
        .items
        .first()
        .and_then(|r| r.data.get("version").and_then(Value::as_str))
        .map(str::to_string))
}

/// The diff of two collection JSONs, as the history keeps it (see `diff.rs`).
pub(crate) fn diff_json(before: &Value, after: &Value) -> Vec<Value> {
    diff::diff(before, after)
}

/// Whether `s` can be put in a filter as a quoted literal: collection ids and names, and
/// versions, are made of letters, digits, `_` and `.` only.
fn plain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 255 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
}

fn not_found(what: impl Into<String>) -> Error {
    Error::NotFound(what.into())
}

/// The rows of `filter` (a filter made here from [`plain`] values), sorted by `sort`.
async fn rows(
    app: &App,
    caller: &Caller,
    filter: String,
    sort: &str,
    page: u64,
    per_page: u64,
) -> Result<Page<Record>, Error> {
    let params = ListParams {
        page,
        per_page,
        sort: Some(sort.into()),
        filter: Some(filter),
        skip_total: false,
    };
    app.store
        .list_records(&history(app)?, &params, &RequestInfo::default(), access(caller))
        .await
}

/// The id of the collection `id_or_name`: a current collection, else one the history knows
/// by id or by a name it had (the newest change wins: a name reused later is the new one).
async fn collection_id(app: &App, caller: &Caller, id_or_name: &str) -> Result<String, Error> {
    if let Ok(c) = app.store.collection(id_or_name) {
        return Ok(c.id.clone());
    }
    let unknown = || not_found(format!("No collection {id_or_name:?} now or in the change history."));
    if !plain(id_or_name) {
        return Err(unknown());
    }
    let filter = format!("collectionRef = '{id_or_name}' || collection = '{id_or_name}'");
    let page = rows(app, caller, filter, "-seq", 1, 1).await?;
    page.items
        .first()
        .and_then(|r| r.data.get("collectionRef").and_then(Value::as_str))
        .map(str::to_string)
        .ok_or_else(unknown)
}

/// One entry of a collection's version list.
fn version_json(r: &Record) -> Value {
    let mut out = Map::new();
    for (key, from) in [
        ("version", "version"),
        ("previousVersion", "previousVersion"),
        ("changeId", "id"),
        ("kind", "kind"),
        ("verdict", "verdict"),
        ("author", "author"),
        ("collection", "collection"),
        ("created", "created"),
    ] {
        out.insert(key.into(), r.data.get(from).cloned().unwrap_or(Value::Null));
    }
    Value::Object(out)
}

/// The versions of the collection `id_or_name`, newest first, a page at a time:
/// `{version, previousVersion, changeId, kind, verdict, author, collection, created}`.
pub async fn versions(
    app: &App,
    caller: &Caller,
    id_or_name: &str,
    page: u64,
    per_page: u64,
) -> Result<Page<Value>, Error> {
    may_read(caller)?;
    let id = collection_id(app, caller, id_or_name).await?;
    let p = rows(
        app,
        caller,
        format!("collectionRef = '{id}' && {IN_HISTORY}"),
        "-seq",
        page,
        per_page,
    )
    .await?;
    Ok(Page {
        page: p.page,
        per_page: p.per_page,
        total_items: p.total_items,
        total_pages: p.total_pages,
        items: p.items.iter().map(version_json).collect(),
    })
}

/// The collection `id_or_name` as it was at `version` (its JSON, secrets masked). The
/// version before the first recorded change of a collection older than the history is that
/// change's `before`. A version that deleted the collection has no definition (404).
pub async fn version(app: &App, caller: &Caller, id_or_name: &str, version: &str) -> Result<Value, Error> {
    may_read(caller)?;
    let id = collection_id(app, caller, id_or_name).await?;
    let missing = || {
        not_found(format!(
            "The collection has no version {version:?} in the change history."
        ))
    };
    if Version::parse(version).is_none() || !plain(version) {
        return Err(missing());
    }
    let at = rows(
        app,
        caller,
        format!("collectionRef = '{id}' && version = '{version}' && {IN_HISTORY}"),
        "-seq",
        1,
        1,
    )
    .await?;
    if let Some(r) = at.items.first() {
        return match r.data.get("after") {
            Some(v @ Value::Object(_)) => Ok(v.clone()),
            _ => Err(not_found(format!(
                "Version {version} is the collection's deletion: it has no definition (see the version before it)."
            ))),
        };
    }
    let first = rows(
        app,
        caller,
        format!("collectionRef = '{id}' && {IN_HISTORY}"),
        "seq",
        1,
        1,
    )
    .await?;
    match first.items.first() {
        Some(r) if r.data.get("previousVersion").and_then(Value::as_str) == Some(version) => {
            match r.data.get("before") {
                Some(v @ Value::Object(_)) => Ok(v.clone()),
                _ => Err(missing()),
            }
        }
        _ => Err(missing()),
    }
}

/// Publishes a recorded change for realtime followers (`changes/*`, `changes/{collection}`)
/// on every process. Best effort after the commit: the history itself is already durable.
pub async fn announce(app: &App, change: &RecordData) {
    announce_as(app, change, "applied").await
}

/// [`announce`] with another `action`: the review transition that happened (`proposed`,
/// `submitted`, `approved`, `rejected`, `rolled_back`, `commented`).
pub async fn announce_as(app: &App, change: &RecordData, action: &str) {
    let collection = change.get("collectionRef").and_then(Value::as_str).unwrap_or_default();
    let payload = serde_json::json!({ "action": action, "record": change_json(change) });
    let topic = format!("{TOPIC}{collection}");
    if let Err(e) = app.bus.publish(&topic, Bytes::from(payload.to_string())).await {
        tracing::warn!(error = %e, "could not publish a recorded collection change");
    }
}

/// For the CLI, which opens the data dir directly (whoever can read it reads every change):
/// a page of the history, newest first unless `params` sorts, optionally only the changes of
/// the collection `collection` (an id, or a name it has or had).
pub async fn page_for_operator(
    store: &keel_data::Store,
    collection: Option<&str>,
    params: &ListParams,
) -> Result<Page<Record>, Error> {
    let c = store
        .collection(keel_data::system::CHANGES)
        .map_err(|_| Error::internal("the _changes collection is missing"))?;
    let mut params = params.clone();
    if params.sort.is_none() {
        params.sort = Some("-seq".into());
    }
    if let Some(name) = collection {
        if !plain(name) {
            return Err(Error::field(
                "collection",
                "validation_invalid_value",
                "A collection id or name is made of letters, digits and _.",
            ));
        }
        let id = store.collection(name).map(|c| c.id.clone()).unwrap_or_default();
        let only = format!("(collectionRef = '{name}' || collection = '{name}' || collectionRef = '{id}')");
        params.filter = Some(
            match params.filter.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
                Some(f) => format!("{only} && ({f})"),
                None => only,
            },
        );
    }
    store
        .list_records(&c, &params, &RequestInfo::default(), Access::Superuser)
        .await
}

/// For the CLI: one change by id.
pub async fn get_for_operator(store: &keel_data::Store, id: &str) -> Result<Record, Error> {
    let c = store
        .collection(keel_data::system::CHANGES)
        .map_err(|_| Error::internal("the _changes collection is missing"))?;
    store
        .get_record(&c, id, &RequestInfo::default(), Access::Superuser)
        .await
}
