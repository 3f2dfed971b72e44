//! Creating, changing and deleting collections: the `_collections` row, the table and its
//! indexes in one transaction, then the cache.

use std::sync::Arc;

use keel_core::{Error, Result};
use serde_json::Value;

use super::cache::Overlay;
use super::changelog::{self, ChangeRecorder};
use super::collection_check::{check_view_options, complete_fields, new_field_id, parse, validate};
use super::journal::Journal;
use super::{alter, ddl, migrate, view, view_query, Store};
use crate::request::{is_system_name, SchemaActor};
use crate::schema::{Collection, CollectionType, RecordData};
use crate::system::AUDIT;
use keel_sql::{Dialect, Tx};

/// The token options of an auth collection, each with a signing `secret`.
const TOKEN_KEYS: &[&str] = &[
    "authToken",
    "passwordResetToken",
    "emailChangeToken",
    "verificationToken",
    "fileToken",
];

/// 403 unless `actor` may change the system collection `name` (only superusers may).
fn check_system(actor: SchemaActor, name: &str, system: bool, auth: bool) -> Result<()> {
    if actor != SchemaActor::Manager {
        return Ok(());
    }
    if system || is_system_name(name) {
        return Err(Error::Forbidden(format!(
            "Only superusers may change the system collection {name} (its rules, options, fields and records)."
        )));
    }
    // An auth collection's rules and options decide who signs in as whom (`manageRule`,
    // OAuth2 and LDAP endpoints, …): changing them could take over records holding roles the
    // manager does not hold.
    if auth {
        return Err(Error::Forbidden(format!(
            "Only superusers may create, change or delete the auth collection {name}: its rules and \
             options decide who may sign in as whom."
        )));
    }
    Ok(())
}

/// 400 when a new collection's id could be taken for another collection: collections are
/// found by id or name, so an id may not be any collection's name or id (in any case), nor
/// start with `_` (reserved for the system collections) unless a superuser chose it.
fn check_new_id(schema: &super::cache::Schema, id: &str, actor: SchemaActor) -> Result<()> {
    let taken = schema
        .list
        .iter()
        .any(|o| o.id.eq_ignore_ascii_case(id) || o.name.eq_ignore_ascii_case(id));
    if taken {
        return Err(Error::field(
            "id",
            "validation_collection_id_exists",
            "The id is already in use as a collection's id or name.",
        ));
    }
    if actor == SchemaActor::Manager && id.starts_with('_') {
        return Err(Error::field(
            "id",
            "validation_invalid_id",
            "Ids starting with _ are reserved for system collections.",
        ));
    }
    Ok(())
}

/// 403 when a non-superuser sets a token secret in `input`: whoever knows a collection's
/// secret can sign tokens for any of its records.
fn check_secrets(actor: SchemaActor, input: &Value) -> Result<()> {
    if actor == SchemaActor::Superuser {
        return Ok(());
    }
    for key in TOKEN_KEYS {
        if input.get(key).and_then(|t| t.get("secret")).is_some() {
            return Err(Error::Forbidden(format!(
                "Only superusers may set token secrets ({key}.secret)."
            )));
        }
    }
    Ok(())
}

/// A collection change as committed, with its `_changes` row when one was recorded.
pub type Recorded = (Arc<Collection>, Option<RecordData>);

pub(crate) async fn create(
    store: &Store,
    input: Value,
    actor: SchemaActor,
    recorder: Option<&dyn ChangeRecorder>,
) -> Result<Recorded> {
    let _guard = store.ddl.lock().await;
    let _lock = lock_schema(store).await?;
    let schema = store.schema();
    let d = store.engine.dialect();
    let mut c = new_collection(&schema, input, actor)?;
    if c.is_view() {
        view::prepare(store, &*schema, &mut c, None).await?;
    }
    let now = keel_core::time::now();
    c.created = now.clone();
    c.updated = now;
    validate(&schema, None, &mut c, d)?;

    let mut journal = Journal::default();
    let created = if c.is_view() {
        create_view(store, &schema, &c, &mut journal, recorder).await
    } else {
        create_table(store, &c, &mut journal, recorder).await
    };
    let change = match created {
        Ok(change) => change,
        Err(e) => {
            // MySQL committed the CREATE TABLE (VIEW): drop it so the name stays free.
            if !d.transactional_ddl() {
                if c.is_view() {
                    alter::undo(store, &c, &c, journal, false).await;
                } else {
                    alter::undo_create(store, &c, journal).await;
                }
            }
            return Err(e);
        }
    };

    let c = Arc::new(c);
    let mut list = schema.list.clone();
    list.push(c.clone());
    store.set_schema(list);
    store.schema_changed();
    Ok((c, change))
}

/// Only auth collections carry auth options (always), only views a `viewQuery` (always).
fn normalize_options(c: &mut Collection) {
    c.keep_own_options();
}

/// 403 unless a superuser defines the view: its query reads any table, system ones included.
fn check_view_actor(actor: SchemaActor) -> Result<()> {
    if actor == SchemaActor::Manager {
        return Err(Error::Forbidden(
            "Only superusers may create or change view collections: a view query can read any table.".into(),
        ));
    }
    Ok(())
}

/// The `type` of a collection as its JSON names it.
fn type_name(kind: CollectionType) -> &'static str {
    match kind {
        CollectionType::Base => "base",
        CollectionType::Auth => "auth",
        CollectionType::View => "view",
    }
}

/// OAuth2 client secrets are never shown ([`Collection::public_json`]), so a provider sent
/// back without one (or with an empty one) keeps the secret stored for the same provider name.
fn keep_oauth2_secrets(before: &Value, after: &mut Value) {
    let providers = |v: &Value| v.pointer("/oauth2/providers").and_then(Value::as_array).cloned();
    let Some(old) = providers(before) else { return };
    let Some(Value::Array(new)) = after.pointer_mut("/oauth2/providers") else {
        return;
    };
    for p in new.iter_mut() {
        let Some(obj) = p.as_object_mut() else { continue };
        let blank = obj
            .get("clientSecret")
            .is_none_or(|s| s.as_str().is_some_and(str::is_empty) || s.is_null());
        if !blank {
            continue;
        }
        let name = obj.get("name").cloned();
        let stored = old
            .iter()
            .find(|o| o.get("name") == name.as_ref())
            .and_then(|o| o.get("clientSecret"))
            .cloned();
        if let Some(secret) = stored {
            obj.insert("clientSecret".into(), secret);
        }
    }
}

/// Merges `patch` into `base`: objects merge key by key, anything else is replaced.
fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(&k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

pub(crate) async fn update(
    store: &Store,
    name_or_id: &str,
    patch: Value,
    actor: SchemaActor,
    recorder: Option<&dyn ChangeRecorder>,
) -> Result<Recorded> {
    let _guard = store.ddl.lock().await;
    let _lock = lock_schema(store).await?;
    let schema = store.schema();
    let d = store.engine.dialect();
    let (old, mut c) = merged_update(&schema, name_or_id, patch, actor)?;
    if c.is_view() {
        view::prepare(store, &*schema, &mut c, Some(&old)).await?;
        validate(&schema, Some(&old), &mut c, d)?;
        return save_update(store, &schema, &old, c, recorder).await;
    }
    match_fields(&old, &mut c)?;
    validate(&schema, Some(&old), &mut c, d)?;
    save_update(store, &schema, &old, c, recorder).await
}

/// The collection `input` would create, checked as [`create`] checks it but not applied
/// (nothing is written; a view's query is not run, so its fields and rules are not checked).
pub(crate) fn preview_create(store: &Store, input: Value, actor: SchemaActor) -> Result<Collection> {
    let schema = store.schema();
    let mut c = new_collection(&schema, input, actor)?;
    if !c.is_view() {
        validate(&schema, None, &mut c, store.engine.dialect())?;
    }
    Ok(c)
}

/// A new collection from `input`: who may make it, its id, name and options, and its fields
/// completed with the ones its type needs (a view's fields come from its query, later).
fn new_collection(schema: &super::cache::Schema, input: Value, actor: SchemaActor) -> Result<Collection> {
    let name = input.get("name").and_then(Value::as_str).unwrap_or("");
    let auth = input.get("type").and_then(Value::as_str) == Some("auth");
    check_system(actor, name, false, auth)?;
    check_secrets(actor, &input)?;
    let mut c = parse(input)?;
    if c.id.is_empty() {
        c.id = format!("pbc_{}", keel_core::id::random_string(10, b"0123456789"));
    } else if !c.id.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_') || c.id.len() > 100 {
        return Err(Error::field("id", "validation_invalid_id", "Invalid collection id."));
    } else {
        check_new_id(schema, &c.id, actor)?;
    }
    // Likewise a name may not be another collection's id.
    if schema.list.iter().any(|o| o.id.eq_ignore_ascii_case(&c.name)) {
        return Err(Error::field(
            "name",
            "validation_collection_name_exists",
            "The name is already in use as a collection's id.",
        ));
    }
    c.system = false;
    normalize_options(&mut c);
    if c.is_view() {
        check_view_actor(actor)?;
        check_view_options(&c)?;
    } else {
        c.fields = complete_fields(c.kind, std::mem::take(&mut c.fields), true)?;
    }
    Ok(c)
}

/// The collection `patch` would make of `name_or_id`, checked as [`update`] checks it but
/// not applied (nothing is written; a view keeps the fields it was sent, its query is not
/// run). Returns the current collection and the one the update would save.
pub(crate) fn preview_update(
    store: &Store,
    name_or_id: &str,
    patch: Value,
    actor: SchemaActor,
) -> Result<(Arc<Collection>, Collection)> {
    let schema = store.schema();
    let d = store.engine.dialect();
    let (old, mut c) = merged_update(&schema, name_or_id, patch, actor)?;
    if !c.is_view() {
        match_fields(&old, &mut c)?;
        validate(&schema, Some(&old), &mut c, d)?;
    }
    Ok((old, c))
}

/// The current collection and `patch` merged into it, with what an update may not change
/// refused or kept (type, id, system, created).
fn merged_update(
    schema: &super::cache::Schema,
    name_or_id: &str,
    patch: Value,
    actor: SchemaActor,
) -> Result<(Arc<Collection>, Collection)> {
    let old = schema.get(name_or_id).ok_or_else(Error::not_found)?;
    check_secrets(actor, &patch)?;
    check_system(actor, &old.name, old.system, old.is_auth())?;
    if old.name == AUDIT {
        return Err(Error::Forbidden(
            "The audit trail (_audit) is append-only: its collection cannot be changed.".into(),
        ));
    }
    if old.name == crate::system::CHANGES {
        return Err(Error::Forbidden(
            "The change history (_changes) is append-only: its collection cannot be changed.".into(),
        ));
    }
    let Value::Object(mut patch) = patch else {
        return Err(Error::bad_request("The collection data must be a JSON object."));
    };
    if let Some(t) = patch.get("type").and_then(Value::as_str) {
        if t != type_name(old.kind) {
            return Err(Error::field(
                "type",
                "validation_collection_type_change",
                "The collection type cannot be changed.",
            ));
        }
    }
    for k in ["id", "system", "created", "updated"] {
        patch.remove(k);
    }
    let before = serde_json::to_value(&*old).map_err(Error::internal)?;
    let mut merged = before.clone();
    merge(&mut merged, Value::Object(patch));
    keep_oauth2_secrets(&before, &mut merged);
    let mut c = parse(merged)?;
    c.id = old.id.clone();
    if schema
        .list
        .iter()
        .any(|o| o.id != old.id && o.id.eq_ignore_ascii_case(&c.name))
    {
        return Err(Error::field(
            "name",
            "validation_collection_name_exists",
            "The name is already in use as a collection's id.",
        ));
    }
    c.kind = old.kind;
    c.system = old.system;
    c.created = old.created.clone();
    c.updated = keel_core::time::now();
    normalize_options(&mut c);
    if c.is_view() {
        check_view_actor(actor)?;
        check_view_options(&c)?;
    }
    Ok((old, c))
}

/// Matches the fields of `c` to the old ones (by id, then, for fields sent without an id, by
/// name), refuses removing or renaming a system field, and completes the field list.
fn match_fields(old: &Collection, c: &mut Collection) -> Result<()> {
    for f in &mut c.fields {
        if f.id.is_empty() {
            match old.fields.iter().find(|o| o.name == f.name) {
                Some(o) => f.id = o.id.clone(),
                None => f.id = new_field_id(f),
            }
        }
    }
    for o in old.fields.iter().filter(|o| o.system) {
        if !c.fields.iter().any(|f| f.id == o.id) {
            return Err(Error::field(
                "fields",
                "validation_system_field_remove",
                format!("System field {} cannot be removed.", o.name),
            ));
        }
        if let Some(f) = c.fields.iter().find(|f| f.id == o.id) {
            if f.name != o.name {
                return Err(Error::field(
                    "fields",
                    "validation_system_field_rename",
                    format!("System field {} cannot be renamed.", o.name),
                ));
            }
        }
    }
    c.fields = complete_fields(c.kind, std::mem::take(&mut c.fields), false)?;
    Ok(())
}

/// Saves the validated change of `old` into `c` (table or view, and the views that read it),
/// then the cache.
async fn save_update(
    store: &Store,
    schema: &super::cache::Schema,
    old: &Arc<Collection>,
    c: Collection,
    recorder: Option<&dyn ChangeRecorder>,
) -> Result<Recorded> {
    let d = store.engine.dialect();
    let mut journal = Journal::default();
    let (views, change) = match update_table(store, schema, old, &c, &mut journal, recorder).await {
        Ok(views) => views,
        Err(e) => {
            // MySQL committed each DDL statement: put the table back the way `_collections` says.
            if !d.transactional_ddl() {
                alter::undo(store, old, &c, journal, false).await;
            }
            return Err(e);
        }
    };

    let c = Arc::new(c);
    let list = schema
        .list
        .iter()
        .map(|x| {
            if x.id == c.id {
                c.clone()
            } else {
                views
                    .iter()
                    .find(|v| v.id == x.id)
                    .cloned()
                    .unwrap_or_else(|| x.clone())
            }
        })
        .collect();
    store.set_schema(list);
    store.schema_changed();
    Ok((c, change))
}

/// Moves the table (or view) of `old` to `c`, recreates the indexes and the views reading it
/// and saves the `_collections` rows, in one transaction (on engines whose DDL is
/// transactional); `journal` records how to undo each DDL step that ran. Returns the views
/// whose fields changed with it, and the recorded change.
async fn update_table(
    store: &Store,
    schema: &super::cache::Schema,
    old: &Collection,
    c: &Collection,
    journal: &mut Journal,
    recorder: Option<&dyn ChangeRecorder>,
) -> Result<(Vec<Arc<Collection>>, Option<RecordData>)> {
    let d = store.engine.dialect();
    let mut tx = store.engine.begin().await?;
    *journal = Journal::start(store, tx.as_mut(), Some(old), c).await?;
    let mut readers: Vec<Arc<Collection>> = view::dependents(&schema.list, &[old.name.as_str()])
        .into_iter()
        .filter(|v| v.id != c.id)
        .collect();
    if old.is_view() {
        readers.insert(0, schema.get(&old.id).ok_or_else(Error::not_found)?);
    }
    view::drop_all(tx.as_mut(), d, &readers, journal).await?;
    if c.is_view() {
        readers.remove(0);
    } else {
        alter::alter_table(tx.as_mut(), old, c, d, journal).await?;
        let creates = ddl::create_indexes(c, d);
        run_indexes(tx.as_mut(), c, &creates, d).await?;
    }
    let overlay = Overlay {
        base: schema,
        extra: Arc::new(c.clone()),
    };
    if c.is_view() {
        view::create(tx.as_mut(), d, &overlay, c, journal).await?;
    }
    let mut changed = Vec::new();
    for v in &readers {
        let fields = view::recreate(tx.as_mut(), d, &overlay, v, journal).await?;
        let same = serde_json::to_value(&fields).ok() == serde_json::to_value(&v.fields).ok();
        if !same {
            let mut nv = (**v).clone();
            nv.fields = fields;
            nv.updated = keel_core::time::now();
            changed.push(Arc::new(nv));
        }
    }
    journal.forward(tx.as_mut()).await?;
    if !c.is_view() {
        alter::drop_removed(tx.as_mut(), old, c, d).await?;
    }
    migrate::save_row(store, tx.as_mut(), c, false).await?;
    for v in &changed {
        migrate::save_row(store, tx.as_mut(), v, false).await?;
    }
    let change = changelog::record(store, tx.as_mut(), recorder, Some(old), Some(c)).await?;
    journal.finish(tx.as_mut()).await?;
    tx.commit().await?;
    Ok((changed, change))
}

/// Creates the view of `c` and saves its `_collections` row.
async fn create_view(
    store: &Store,
    schema: &super::cache::Schema,
    c: &Collection,
    journal: &mut Journal,
    recorder: Option<&dyn ChangeRecorder>,
) -> Result<Option<RecordData>> {
    let d = store.engine.dialect();
    let mut tx = store.engine.begin().await?;
    *journal = Journal::start(store, tx.as_mut(), None, c).await?;
    view::create(tx.as_mut(), d, schema, c, journal).await?;
    journal.forward(tx.as_mut()).await?;
    migrate::save_row(store, tx.as_mut(), c, true).await?;
    let change = changelog::record(store, tx.as_mut(), recorder, None, Some(c)).await?;
    journal.finish(tx.as_mut()).await?;
    tx.commit().await?;
    Ok(change)
}

/// Creates the table of `c` with its indexes and saves its `_collections` row.
async fn create_table(
    store: &Store,
    c: &Collection,
    journal: &mut Journal,
    recorder: Option<&dyn ChangeRecorder>,
) -> Result<Option<RecordData>> {
    let d = store.engine.dialect();
    let mut tx = store.engine.begin().await?;
    *journal = Journal::start(store, tx.as_mut(), None, c).await?;
    let stmts = ddl::create_table(c, d);
    let drop = format!("DROP TABLE IF EXISTS {}", d.quote_ident(&c.name));
    journal.run(tx.as_mut(), &stmts[0], drop).await?;
    run_indexes(tx.as_mut(), c, &stmts[1..], d).await?;
    journal.forward(tx.as_mut()).await?;
    migrate::save_row(store, tx.as_mut(), c, true).await?;
    let change = changelog::record(store, tx.as_mut(), recorder, None, Some(c)).await?;
    journal.finish(tx.as_mut()).await?;
    tx.commit().await?;
    Ok(change)
}

/// The cross-process schema lock (MySQL: collection changes of other processes wait); where
/// one is held, the schema is read again under it, as another process may have changed it.
async fn lock_schema(store: &Store) -> Result<keel_sql::SchemaLock> {
    let lock = store.engine.lock_schema().await?;
    if lock.is_held() {
        store.reload_schema().await?;
    }
    Ok(lock)
}

/// Runs index statements; a failing user index is a 400 naming it.
async fn run_indexes(tx: &mut dyn Tx, c: &Collection, stmts: &[String], d: &dyn Dialect) -> Result<()> {
    for stmt in stmts {
        if let Err(e) = tx.execute(stmt, &[]).await {
            return match c.indexes.iter().position(|i| ddl::executable_index(i, c, d) == *stmt) {
                Some(i) => Err(Error::field(
                    format!("indexes.{i}"),
                    "validation_invalid_index_expression",
                    "The index could not be created (check its columns, its name and, for a unique index, existing duplicates).",
                )),
                None => Err(e),
            };
        }
    }
    Ok(())
}

pub(crate) async fn delete(
    store: &Store,
    name_or_id: &str,
    actor: SchemaActor,
    recorder: Option<&dyn ChangeRecorder>,
) -> Result<Recorded> {
    let _guard = store.ddl.lock().await;
    let _lock = lock_schema(store).await?;
    let schema = store.schema();
    let d = store.engine.dialect();
    let c = schema.get(name_or_id).ok_or_else(Error::not_found)?;
    check_system(actor, &c.name, c.system, c.is_auth())?;
    if c.system {
        return Err(Error::bad_request("System collections cannot be deleted."));
    }
    if let Some(v) = schema
        .list
        .iter()
        .find(|v| v.is_view() && v.id != c.id && view_query::mentions(v.view_query.as_deref().unwrap_or(""), &c.name))
    {
        return Err(Error::bad_request(format!(
            "The collection is used by the view collection {} (its viewQuery); change or delete that view first.",
            v.name
        )));
    }
    // A view's relation fields reach other collections through its query (checked above).
    for other in schema.list.iter().filter(|o| o.id != c.id && !o.is_view()) {
        for f in &other.fields {
            if let crate::schema::FieldKind::Relation(r) = &f.kind {
                if r.collection_id == c.id {
                    return Err(Error::bad_request(format!(
                        "The collection is referenced by the relation field {}.{}; remove that field first.",
                        other.name, f.name
                    )));
                }
            }
        }
    }
    // The table goes last: where DDL commits on its own (MySQL), a failure before it leaves
    // the collection whole, and one after it nothing but an unused table.
    let mut tx = store.engine.begin().await?;
    if c.is_auth() {
        super::records::delete_owned_rows(&mut *tx, d, &schema, &c.id, None).await?;
    }
    tx.execute(
        &format!("DELETE FROM _collections WHERE id = {}", d.placeholder(1)),
        &[Value::from(c.id.clone())],
    )
    .await?;
    // Before the DROP, which commits on its own where DDL is not transactional (MySQL).
    let change = changelog::record(store, tx.as_mut(), recorder, Some(&c), None).await?;
    if c.is_view() {
        view::drop(tx.as_mut(), d, &c.name).await?;
    } else {
        tx.execute(&format!("DROP TABLE IF EXISTS {}", d.quote_ident(&c.name)), &[])
            .await?;
    }
    tx.commit().await?;
    store.set_schema(schema.list.iter().filter(|x| x.id != c.id).cloned().collect());
    store.schema_changed();
    Ok((c, change))
}
