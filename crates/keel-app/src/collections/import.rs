//! `PUT /api/collections/import`: PocketBase's import of a whole set of collections.
//!
//! Each imported collection is matched to an existing one by `id`, else by `name`: a match is
//! updated with the imported definition on top of it, anything else is created. Fields are
//! merged as PocketBase merges them: an existing field the import leaves out is kept (its
//! column and data with it), unless `deleteMissing`; an imported field with another field's
//! name and type takes that field's id, so its column is kept, not dropped and re-added.
//! With `deleteMissing`, every non-system collection not in the import is deleted with its
//! records and files.
//!
//! Order: view collections after the others, and a collection whose relation names one not
//! made yet waits for it (each round applies what it can). Deletions come last, once every
//! upsert held. If a change is refused, the changes already made are undone (created
//! collections dropped, updated ones put back) and the answer is PocketBase's 400 on
//! `collections` (`validation_collections_import_failure`) naming the collection and why.
//! Unlike PocketBase, the import is not one database transaction: a crash in the middle can
//! leave part of it applied (run it again: it is idempotent).

use std::collections::HashSet;
use std::sync::Arc;

use keel_core::Error;
use keel_data::Collection;
use serde_json::{json, Map, Value};

use super::{create_via, delete_via, update_via};
use crate::audit::{self, Origin};
use crate::authz::{authorize, Permission};
use crate::caller::Caller;
use crate::changes::history::Source;
use crate::App;

/// One planned change.
enum Change {
    Create(Map<String, Value>),
    /// The existing collection (as it was), and the patch.
    Update(Arc<Collection>, Map<String, Value>),
}

impl Change {
    fn name(&self) -> String {
        match self {
            Change::Create(data) => data.get("name").and_then(Value::as_str).unwrap_or_default().to_string(),
            Change::Update(before, _) => before.name.clone(),
        }
    }

    fn is_view(&self) -> bool {
        let data = match self {
            Change::Create(d) | Change::Update(_, d) => d,
        };
        data.get("type").and_then(Value::as_str) == Some("view")
    }
}

/// What was done, to undo on a failure.
enum Done {
    Created(String),
    Updated(Arc<Collection>),
}

fn import_failure(message: String) -> Error {
    Error::field("collections", "validation_collections_import_failure", message)
}

/// The reason of `e` with its field problems, for the import's message.
fn reason(e: &Error) -> String {
    match e {
        Error::BadRequest { message, fields } if !fields.is_empty() => {
            let parts: Vec<String> = fields.iter().map(|(k, f)| format!("{k}: {}", f.message)).collect();
            format!("{message} ({})", parts.join("; "))
        }
        other => other.to_string(),
    }
}

/// The imported fields, merged with `existing`'s as described above.
fn merge_fields(existing: &Collection, imported: Option<&Value>, delete_missing: bool) -> Option<Value> {
    let existing_json = existing.public_json();
    let old: Vec<Value> = existing_json["fields"].as_array().cloned().unwrap_or_default();
    let mut fields: Vec<Value> = match imported {
        Some(Value::Array(f)) => f.clone(),
        // No `fields`: kept as they are, unless every field not in the import goes.
        _ if !delete_missing => return None,
        _ => Vec::new(),
    };
    for f in &old {
        let system = f["system"].as_bool().unwrap_or(false);
        if delete_missing && !system {
            continue;
        }
        if fields.iter().any(|n| n.get("id").is_some() && n["id"] == f["id"]) {
            continue;
        }
        if let Some(same) = fields
            .iter_mut()
            .find(|n| n["name"] == f["name"] && n["type"] == f["type"])
        {
            if let Some(obj) = same.as_object_mut() {
                obj.insert("id".into(), f["id"].clone());
            }
            continue;
        }
        fields.push(f.clone());
    }
    Some(Value::Array(fields))
}

/// Imports `collections` (PocketBase's import); see the module's documentation.
pub async fn import(
    app: &App,
    caller: &Caller,
    origin: &Origin,
    collections: Vec<Value>,
    delete_missing: bool,
) -> Result<(), Error> {
    authorize(caller, Permission::CollectionsManage)?;
    if collections.is_empty() {
        return Err(Error::field("collections", "validation_required", "Cannot be blank."));
    }
    let mut plan = Vec::new();
    let mut kept: HashSet<String> = HashSet::new();
    for (i, item) in collections.into_iter().enumerate() {
        let Value::Object(mut data) = item else {
            return Err(import_failure(format!("collections[{i}] is not a collection object.")));
        };
        let ident = [data.get("id"), data.get("name")]
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .find(|s| !s.is_empty())
            .unwrap_or_default()
            .to_string();
        match app.store.collection(&ident).ok().or_else(|| {
            let name = data.get("name").and_then(Value::as_str)?;
            app.store.collection(name).ok()
        }) {
            Some(existing) => {
                kept.insert(existing.id.clone());
                let fields = merge_fields(&existing, data.get("fields"), delete_missing);
                match fields {
                    Some(f) => data.insert("fields".into(), f),
                    None => data.remove("fields"),
                };
                // The id stays the existing one's (a match by name keeps its table).
                data.remove("id");
                data.remove("created");
                data.remove("updated");
                plan.push(Change::Update(existing, data));
            }
            None => {
                data.remove("created");
                data.remove("updated");
                plan.push(Change::Create(data));
            }
        }
    }
    // Views read the other collections: they go last.
    plan.sort_by_key(Change::is_view);

    let mut done: Vec<Done> = Vec::new();
    let mut pending = plan;
    while !pending.is_empty() {
        let mut next = Vec::new();
        let mut first_error: Option<(String, Error)> = None;
        let before = pending.len();
        for change in pending {
            let result = match &change {
                Change::Create(data) => create_via(app, caller, origin, data.clone(), Source::Import)
                    .await
                    .map(|c| Done::Created(c.id.clone())),
                Change::Update(old, patch) => update_via(app, caller, origin, &old.id, patch.clone(), Source::Import)
                    .await
                    .map(|_| Done::Updated(old.clone())),
            };
            match result {
                Ok(d) => {
                    if let Done::Created(id) = &d {
                        kept.insert(id.clone());
                    }
                    done.push(d);
                }
                Err(e @ (Error::Forbidden(_) | Error::Unauthorized(_))) => {
                    undo(app, caller, origin, done).await;
                    return Err(e);
                }
                Err(e) => {
                    if first_error.is_none() {
                        first_error = Some((change.name(), e));
                    }
                    next.push(change);
                }
            }
        }
        if next.len() == before {
            // No progress: what is left cannot be applied.
            undo(app, caller, origin, done).await;
            let (name, e) = first_error.unwrap_or_else(|| (String::new(), Error::internal("import stalled")));
            return Err(match e {
                Error::Internal(_) => e,
                other => import_failure(format!(
                    "Data validations failed for collection {name:?}: {}",
                    reason(&other)
                )),
            });
        }
        pending = next;
    }

    let mut deleted = Vec::new();
    if delete_missing {
        // Collections others still point at go after those pointing at them.
        let mut gone: Vec<Arc<Collection>> = app
            .store
            .collections()
            .into_iter()
            .filter(|c| !c.system && !c.name.starts_with('_') && !kept.contains(&c.id))
            .collect();
        while !gone.is_empty() {
            let before = gone.len();
            let mut left = Vec::new();
            let mut last_error = None;
            for c in gone {
                match delete_via(app, caller, origin, &c.id, Source::Import).await {
                    Ok(()) => deleted.push(c.name.clone()),
                    Err(e) => {
                        last_error = Some((c.name.clone(), e));
                        left.push(c);
                    }
                }
            }
            if left.len() == before {
                let (name, e) = last_error.unwrap_or_else(|| (String::new(), Error::internal("import stalled")));
                return Err(import_failure(format!(
                    "The import was applied, but collection {name:?} could not be deleted: {}",
                    reason(&e)
                )));
            }
            gone = left;
        }
    }
    let entry = audit::entry(caller, origin, "collections.import")
        .detail("deleteMissing", delete_missing)
        .detail("deleted", json!(deleted));
    app.identity.audit(entry).await;
    crate::search::collections_changed(app).await;
    Ok(())
}

/// Undoes `done`, newest first (best effort: a step that cannot be undone is logged).
async fn undo(app: &App, caller: &Caller, origin: &Origin, done: Vec<Done>) {
    for d in done.into_iter().rev() {
        let result = match &d {
            Done::Created(id) => delete_via(app, caller, origin, id, Source::Import).await,
            Done::Updated(old) => {
                let Value::Object(mut back) = old.public_json() else {
                    continue;
                };
                back.remove("id");
                back.remove("created");
                back.remove("updated");
                update_via(app, caller, origin, &old.id, back, Source::Import)
                    .await
                    .map(|_| ())
            }
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "a refused import could not undo one of its changes");
        }
    }
}
