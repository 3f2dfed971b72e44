//! Collections for a caller: listing (`collections:read`; `list`, with its filter language in
//! `filter`) and changes of the schema (`collections:manage`; only superusers touch system
//! collections, the store refuses a manager through `SchemaActor`), masked secrets refused,
//! files of a dropped or emptied collection deleted, every change audited with the
//! collection before and after, secrets masked.

use std::sync::Arc;

use keel_core::Error;
use keel_data::{Collection, SchemaActor};
use serde_json::{Map, Value};

use crate::audit::{self, Origin};
use crate::authz::{authorize, Permission};
use crate::caller::Caller;
use crate::changes::history::{self, Recorder, Source};
use crate::redact::{collection_json, masked_path};
use crate::App;

pub mod code;
pub mod filter;
mod import;
mod list;

pub use import::import;
pub use list::{list, may_read};

/// The collection `id_or_name` as `caller` may see it (`collections:read`; 404 when absent).
pub fn view(app: &App, caller: &Caller, id_or_name: &str) -> Result<Value, Error> {
    may_read(caller)?;
    let collection = app.store.collection(id_or_name)?;
    Ok(shown(caller, &collection))
}

/// Creates a collection from PocketBase's JSON.
pub async fn create(
    app: &App,
    caller: &Caller,
    origin: &Origin,
    input: Map<String, Value>,
) -> Result<Arc<Collection>, Error> {
    create_via(app, caller, origin, input, Source::Api).await
}

/// [`create`], recorded in the change history as coming from `source`.
pub(crate) async fn create_via(
    app: &App,
    caller: &Caller,
    origin: &Origin,
    input: Map<String, Value>,
    source: Source,
) -> Result<Arc<Collection>, Error> {
    authorize(caller, Permission::CollectionsManage)?;
    let id = input.get("id").and_then(Value::as_str).unwrap_or_default();
    let name = input.get("name").and_then(Value::as_str).unwrap_or_default();
    crate::changes::review::refuse_unreviewed(app, caller, id, name)?;
    create_recorded(app, caller, origin, input, &Recorder::new(caller.actor(), source)).await
}

/// [`create`] recorded by `recorder`, whatever `changes.review` requires (a reviewed
/// proposal being applied).
pub(crate) async fn create_recorded(
    app: &App,
    caller: &Caller,
    origin: &Origin,
    input: Map<String, Value>,
    recorder: &dyn keel_data::ChangeRecorder,
) -> Result<Arc<Collection>, Error> {
    authorize(caller, Permission::CollectionsManage)?;
    refuse_masked(&input)?;
    crate::search::check_input(app, &input)?;
    let (collection, change) = app
        .store
        .create_collection_recorded(Value::Object(input), schema_actor(caller), recorder)
        .await?;
    let entry = audit::entry(caller, origin, "collection.create")
        .detail("collection", collection.name.clone())
        .detail("collectionId", collection.id.clone())
        .detail("before", Value::Null)
        .detail("after", collection_json(&collection));
    changed(app, entry, change.as_ref()).await;
    automigrate(app, &format!("created_{}", collection.name), None, Some(&collection)).await;
    crate::search::collections_changed(app).await;
    Ok(collection)
}

/// Updates the collection `id_or_name` with a partial definition.
pub async fn update(
    app: &App,
    caller: &Caller,
    origin: &Origin,
    id_or_name: &str,
    patch: Map<String, Value>,
) -> Result<Arc<Collection>, Error> {
    update_via(app, caller, origin, id_or_name, patch, Source::Api).await
}

/// [`update`], recorded in the change history as coming from `source`.
pub(crate) async fn update_via(
    app: &App,
    caller: &Caller,
    origin: &Origin,
    id_or_name: &str,
    patch: Map<String, Value>,
    source: Source,
) -> Result<Arc<Collection>, Error> {
    authorize(caller, Permission::CollectionsManage)?;
    let current = app.store.collection(id_or_name)?;
    crate::changes::review::refuse_unreviewed(app, caller, &current.id, &current.name)?;
    let counted = count_checks(app, caller, &current.id, &patch).await;
    let recorder = Recorder::new(caller.actor(), source).with_counts(counted);
    update_recorded(app, caller, origin, id_or_name, patch, &recorder).await
}

/// The data checks of an update (`affectedRows`), counted on the rows just before it, for its
/// history entry. Best effort: a target the update will refuse counts nothing (the update
/// answers its own 400), and a failed count is logged and left out.
async fn count_checks(
    app: &App,
    caller: &Caller,
    id: &str,
    patch: &Map<String, Value>,
) -> Vec<crate::changes::Finding> {
    let Ok((before, after)) = app
        .store
        .preview_update(id, Value::Object(patch.clone()), schema_actor(caller))
    else {
        return Vec::new();
    };
    let mut findings = crate::changes::classify::classify(Some(&before), Some(&after));
    if !findings.iter().any(|f| f.probe.is_some()) {
        return Vec::new();
    }
    match crate::changes::classify::data::run(&app.store, &before.id, &mut findings).await {
        Ok(()) => findings,
        Err(e) => {
            tracing::warn!(error = %e, collection = %before.name, "could not count the data checks of a collection change");
            Vec::new()
        }
    }
}

/// [`update`] recorded by `recorder`, whatever `changes.review` requires.
pub(crate) async fn update_recorded(
    app: &App,
    caller: &Caller,
    origin: &Origin,
    id_or_name: &str,
    patch: Map<String, Value>,
    recorder: &dyn keel_data::ChangeRecorder,
) -> Result<Arc<Collection>, Error> {
    authorize(caller, Permission::CollectionsManage)?;
    refuse_masked(&patch)?;
    crate::search::check_input(app, &patch)?;
    let before = app.store.collection(id_or_name)?;
    let (after, change) = app
        .store
        .update_collection_recorded(&before.id, Value::Object(patch), schema_actor(caller), recorder)
        .await?;
    let entry = audit::entry(caller, origin, "collection.update")
        .detail("collection", after.name.clone())
        .detail("collectionId", after.id.clone())
        .detail("before", collection_json(&before))
        .detail("after", collection_json(&after));
    changed(app, entry, change.as_ref()).await;
    automigrate(app, &format!("updated_{}", after.name), Some(&before), Some(&after)).await;
    crate::search::collections_changed(app).await;
    Ok(after)
}

/// Deletes a collection, its table and its files.
pub async fn delete(app: &App, caller: &Caller, origin: &Origin, id_or_name: &str) -> Result<(), Error> {
    delete_via(app, caller, origin, id_or_name, Source::Api).await
}

/// [`delete`], recorded in the change history as coming from `source`.
pub(crate) async fn delete_via(
    app: &App,
    caller: &Caller,
    origin: &Origin,
    id_or_name: &str,
    source: Source,
) -> Result<(), Error> {
    authorize(caller, Permission::CollectionsManage)?;
    let current = app.store.collection(id_or_name)?;
    crate::changes::review::refuse_unreviewed(app, caller, &current.id, &current.name)?;
    delete_recorded(app, caller, origin, id_or_name, &Recorder::new(caller.actor(), source)).await
}

/// [`delete`] recorded by `recorder`, whatever `changes.review` requires.
pub(crate) async fn delete_recorded(
    app: &App,
    caller: &Caller,
    origin: &Origin,
    id_or_name: &str,
    recorder: &dyn keel_data::ChangeRecorder,
) -> Result<(), Error> {
    authorize(caller, Permission::CollectionsManage)?;
    let (deleted, change) = app
        .store
        .delete_collection_recorded(id_or_name, schema_actor(caller), recorder)
        .await?;
    delete_files(app, &deleted.id).await;
    let entry = audit::entry(caller, origin, "collection.delete")
        .detail("collection", deleted.name.clone())
        .detail("collectionId", deleted.id.clone())
        .detail("before", collection_json(&deleted))
        .detail("after", Value::Null);
    changed(app, entry, change.as_ref()).await;
    automigrate(app, &format!("deleted_{}", deleted.name), Some(&deleted), None).await;
    crate::search::collections_changed(app).await;
    Ok(())
}

/// After a committed collection change: its audit entry (naming the recorded change and
/// the collection's new version) and the realtime event of the recorded change.
async fn changed(app: &App, mut entry: keel_auth::AuditEntry, change: Option<&keel_data::RecordData>) {
    if let Some(ch) = change {
        for key in ["id", "version", "verdict"] {
            let name = if key == "id" { "changeId" } else { key };
            entry = entry.detail(name, ch.get(key).cloned().unwrap_or(Value::Null));
        }
    }
    app.identity.audit(entry).await;
    if let Some(ch) = change {
        history::announce(app, ch).await;
    }
}

/// With `[data] automigrate`, writes the change as a migration file (recorded as applied).
/// Keel's own collections (`_…`) are not part of an application's schema: never written.
async fn automigrate(app: &App, name: &str, before: Option<&Collection>, after: Option<&Collection>) {
    let own = before.or(after).is_some_and(|c| c.name.starts_with('_'));
    if !app.config.data.automigrate || own {
        return;
    }
    let file = code::change(before, after);
    match code::write_applied(&app.store, &app.config.data.migrations_dir, name, &file).await {
        Ok(path) => tracing::info!(file = %path.display(), "wrote a collection migration"),
        Err(e) => tracing::warn!(error = %e, "cannot write a collection migration"),
    }
}

/// Deletes every record of a collection and their files.
pub async fn truncate(app: &App, caller: &Caller, origin: &Origin, id_or_name: &str) -> Result<(), Error> {
    authorize(caller, Permission::CollectionsManage)?;
    let col = app.store.collection(id_or_name)?;
    app.store.truncate_collection(&col.id).await?;
    delete_files(app, &col.id).await;
    if col.search.is_some() && app.search.is_open(&col.id) {
        if let Err(e) = crate::search::rebuild(&app.store, &app.search, &col).await {
            tracing::error!(collection = %col.name, error = %e, "cannot rebuild a search index after a truncate");
        }
    }
    let entry = audit::entry(caller, origin, "collection.truncate")
        .detail("collection", col.name.clone())
        .detail("collectionId", col.id.clone());
    app.identity.audit(entry).await;
    Ok(())
}

/// A collection as `caller` may see it: superusers get its public JSON (no token secrets);
/// everyone else also gets every other secret (OAuth2 client secrets) masked.
pub fn shown(caller: &Caller, c: &Collection) -> Value {
    if caller.is_superuser() {
        c.public_json()
    } else {
        collection_json(c)
    }
}

/// Who changes the schema, for the store's system-collection check.
pub fn schema_actor(caller: &Caller) -> SchemaActor {
    if caller.is_superuser() {
        SchemaActor::Superuser
    } else {
        SchemaActor::Manager
    }
}

/// 400 when a caller (superusers included) sends back a masked secret as if it were the
/// secret.
fn refuse_masked(input: &Map<String, Value>) -> Result<(), Error> {
    match masked_path(&Value::Object(input.clone())) {
        None => Ok(()),
        Some(path) => Err(Error::field(
            path,
            "validation_masked_secret",
            "This is the masked value shown instead of the secret: send the secret itself, or leave it out.",
        )),
    }
}

async fn delete_files(app: &App, collection_id: &str) {
    if let Err(e) = app.files.delete_prefix(collection_id).await {
        tracing::warn!(collection_id, error = %e, "could not delete the files of a collection");
    }
}
