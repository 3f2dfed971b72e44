//! Runbooks (`ops:read` to read, `ops:manage` to change): each change is checked whole
//! (`keel_ops::runbook::check`: a 400 naming every problem's path) and makes a new version;
//! every version stays readable in `_opsRunbookVersions`, and a run records the one it ran.
//! Import takes JSON or YAML and creates the runbook or adds a version to the one of that
//! name; export gives either.

use keel_core::{Error, Result};
use keel_data::system::{OPS_RUNBOOKS, OPS_RUNBOOK_VERSIONS};
use keel_data::Record;
use keel_ops::runbook::{self, Checked, Runbook};
use serde_json::{json, Value};

use super::may;
use crate::audit;
use crate::authz::Permission;
use crate::caller::Caller;
use crate::rows::{find, get, insert, lit, patch, remove, str_of};
use crate::{App, Origin};

/// The runbook `id_or_name`, or a 404.
pub(crate) async fn load(app: &App, id_or_name: &str) -> Result<Record> {
    if let Some(r) = get(app, OPS_RUNBOOKS, id_or_name).await? {
        return Ok(r);
    }
    find(app, OPS_RUNBOOKS, &format!("name = {}", lit(id_or_name)))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| Error::NotFound(format!("No runbook {id_or_name:?}.")))
}

/// Version `version` of the runbook `runbook_id`, checked again (a version was checked when
/// written; this reads it back as the engine needs it).
pub(crate) async fn load_version(app: &App, runbook_id: &str, version: i64) -> Result<Checked> {
    let rows = find(
        app,
        OPS_RUNBOOK_VERSIONS,
        &format!("runbook = {} && version = {version}", lit(runbook_id)),
    )
    .await?;
    let row = rows
        .into_iter()
        .next()
        .ok_or_else(|| Error::NotFound(format!("No version {version} of runbook {runbook_id:?}.")))?;
    let definition: Runbook = serde_json::from_value(row.data.get("definition").cloned().unwrap_or(Value::Null))
        .map_err(|e| Error::internal(format!("a stored runbook version does not read back: {e}")))?;
    runbook::check(definition)
}

/// A runbook as the API shows it.
pub fn view_json(r: &Record) -> Value {
    json!({
        "id": r.id(),
        "name": str_of(&r.data, "name"),
        "description": str_of(&r.data, "description"),
        "version": r.data.get("version").cloned().unwrap_or(json!(0)),
        "definition": r.data.get("definition").cloned().unwrap_or(Value::Null),
        "createdBy": str_of(&r.data, "createdBy"),
        "updatedBy": str_of(&r.data, "updatedBy"),
        "created": str_of(&r.data, "created"),
        "updated": str_of(&r.data, "updated"),
    })
}

/// Reads a runbook from the API's JSON body.
fn from_json(body: Value) -> Result<Checked> {
    let parsed: Runbook = serde_json::from_value(body)
        .map_err(|e| Error::field("runbook", "validation_invalid_runbook", format!("Not a runbook: {e}")))?;
    runbook::check(parsed)
}

async fn write_version(app: &App, runbook_id: &str, version: i64, checked: &Checked, author: &str) -> Result<()> {
    let definition = serde_json::to_value(&checked.runbook).map_err(Error::internal)?;
    insert(
        app,
        OPS_RUNBOOK_VERSIONS,
        json!({"runbook": runbook_id, "version": version, "definition": definition, "author": author}),
    )
    .await
    .map(|_| ())
}

/// Creates a runbook (version 1).
pub async fn create(app: &App, caller: &Caller, origin: &Origin, body: Value) -> Result<Value> {
    may(caller, Permission::OpsManage)?;
    let checked = from_json(body)?;
    create_checked(app, caller, origin, checked).await
}

async fn create_checked(app: &App, caller: &Caller, origin: &Origin, checked: Checked) -> Result<Value> {
    let name = checked.runbook.name.trim().to_string();
    if !find(app, OPS_RUNBOOKS, &format!("name = {}", lit(&name)))
        .await?
        .is_empty()
    {
        return Err(Error::field(
            "name",
            "validation_not_unique",
            "A runbook has this name.",
        ));
    }
    let id = keel_core::id::new_id();
    let actor = caller.actor();
    write_version(app, &id, 1, &checked, &actor).await?;
    let definition = serde_json::to_value(&checked.runbook).map_err(Error::internal)?;
    let row = insert(
        app,
        OPS_RUNBOOKS,
        json!({"id": id, "name": name, "description": checked.runbook.description, "version": 1,
               "definition": definition, "createdBy": actor, "updatedBy": actor}),
    )
    .await?;
    app.identity
        .audit(
            audit::entry(caller, origin, "ops.runbook.create")
                .detail("runbook", row.id().to_string())
                .detail("version", 1),
        )
        .await;
    Ok(view_json(&row))
}

/// Replaces the definition of `id_or_name`: a new version.
pub async fn update(app: &App, caller: &Caller, origin: &Origin, id_or_name: &str, body: Value) -> Result<Value> {
    may(caller, Permission::OpsManage)?;
    let current = load(app, id_or_name).await?;
    let checked = from_json(body)?;
    update_checked(app, caller, origin, &current, checked).await
}

async fn update_checked(
    app: &App,
    caller: &Caller,
    origin: &Origin,
    current: &Record,
    checked: Checked,
) -> Result<Value> {
    let name = checked.runbook.name.trim().to_string();
    if name != str_of(&current.data, "name") {
        let taken = find(app, OPS_RUNBOOKS, &format!("name = {}", lit(&name))).await?;
        if taken.iter().any(|r| r.id() != current.id()) {
            return Err(Error::field(
                "name",
                "validation_not_unique",
                "A runbook has this name.",
            ));
        }
    }
    let version = current.data.get("version").and_then(Value::as_i64).unwrap_or(0) + 1;
    let actor = caller.actor();
    write_version(app, current.id(), version, &checked, &actor)
        .await
        .map_err(|e| match e {
            Error::BadRequest { .. } => {
                Error::Conflict("The runbook changed meanwhile; read it again and retry.".into())
            }
            other => other,
        })?;
    let definition = serde_json::to_value(&checked.runbook).map_err(Error::internal)?;
    let row = patch(
        app,
        OPS_RUNBOOKS,
        current.id(),
        json!({"name": name, "description": checked.runbook.description, "version": version,
               "definition": definition, "updatedBy": actor}),
    )
    .await?;
    app.identity
        .audit(
            audit::entry(caller, origin, "ops.runbook.update")
                .detail("runbook", row.id().to_string())
                .detail("version", version),
        )
        .await;
    Ok(view_json(&row))
}

/// Deletes a runbook and its versions (its runs stay, naming it).
pub async fn delete(app: &App, caller: &Caller, origin: &Origin, id_or_name: &str) -> Result<()> {
    may(caller, Permission::OpsManage)?;
    let current = load(app, id_or_name).await?;
    remove(app, OPS_RUNBOOKS, current.id()).await?;
    for v in find(app, OPS_RUNBOOK_VERSIONS, &format!("runbook = {}", lit(current.id()))).await? {
        remove(app, OPS_RUNBOOK_VERSIONS, v.id()).await?;
    }
    app.identity
        .audit(audit::entry(caller, origin, "ops.runbook.delete").detail("runbook", current.id().to_string()))
        .await;
    Ok(())
}

/// Every runbook, by name.
pub async fn list(app: &App, caller: &Caller) -> Result<Value> {
    may(caller, Permission::OpsRead)?;
    let mut rows = find(app, OPS_RUNBOOKS, "").await?;
    rows.sort_by(|a, b| str_of(&a.data, "name").cmp(str_of(&b.data, "name")));
    let items: Vec<Value> = rows.iter().map(view_json).collect();
    Ok(json!({"items": items, "totalItems": items.len()}))
}

/// One runbook.
pub async fn view(app: &App, caller: &Caller, id_or_name: &str) -> Result<Value> {
    may(caller, Permission::OpsRead)?;
    Ok(view_json(&load(app, id_or_name).await?))
}

/// Every version of a runbook, newest first (without definitions).
pub async fn versions(app: &App, caller: &Caller, id_or_name: &str) -> Result<Value> {
    may(caller, Permission::OpsRead)?;
    let current = load(app, id_or_name).await?;
    let mut rows = find(app, OPS_RUNBOOK_VERSIONS, &format!("runbook = {}", lit(current.id()))).await?;
    rows.sort_by_key(|r| std::cmp::Reverse(r.data.get("version").and_then(Value::as_i64).unwrap_or(0)));
    let items: Vec<Value> = rows
        .iter()
        .map(|r| json!({"version": r.data.get("version"), "author": str_of(&r.data, "author"), "created": str_of(&r.data, "created")}))
        .collect();
    Ok(json!({"items": items}))
}

/// Version `version` of a runbook, with its definition.
pub async fn version(app: &App, caller: &Caller, id_or_name: &str, version: i64) -> Result<Value> {
    may(caller, Permission::OpsRead)?;
    let current = load(app, id_or_name).await?;
    let checked = load_version(app, current.id(), version).await?;
    Ok(json!({"runbook": current.id(), "version": version, "definition": checked.runbook}))
}

/// Creates the runbook `text` (JSON or YAML) describes, or adds a version to the runbook of
/// its name.
pub async fn import(app: &App, caller: &Caller, origin: &Origin, text: &str) -> Result<Value> {
    may(caller, Permission::OpsManage)?;
    let checked = runbook::check(runbook::parse(text)?)?;
    let existing = find(
        app,
        OPS_RUNBOOKS,
        &format!("name = {}", lit(checked.runbook.name.trim())),
    )
    .await?;
    match existing.into_iter().next() {
        Some(current) => update_checked(app, caller, origin, &current, checked).await,
        None => create_checked(app, caller, origin, checked).await,
    }
}

/// A runbook's current definition as `yaml` or `json` text, with its content type.
pub async fn export(app: &App, caller: &Caller, id_or_name: &str, format: &str) -> Result<(String, &'static str)> {
    may(caller, Permission::OpsRead)?;
    let current = load(app, id_or_name).await?;
    let definition = current.data.get("definition").cloned().unwrap_or(Value::Null);
    match format {
        "" | "json" => Ok((
            serde_json::to_string_pretty(&definition).map_err(Error::internal)?,
            "application/json",
        )),
        "yaml" | "yml" => Ok((
            serde_norway::to_string(&definition).map_err(Error::internal)?,
            "application/yaml",
        )),
        _ => Err(Error::field(
            "format",
            "validation_invalid_value",
            "format is json or yaml.",
        )),
    }
}
