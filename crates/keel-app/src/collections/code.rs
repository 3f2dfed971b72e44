//! Collections as code: migration files in a directory (`keel_migrations/` by default,
//! `[data] migrations_dir`), applied in name order by `keel migrate up`, reverted by
//! `keel migrate down`, each recorded once applied.
//!
//! A file is `<unix milliseconds>_<name>.json`:
//!
//! ```json
//! {"up":   [{"upsert": {<collection as GET /api/collections/{id} shows it>}}, {"delete": "old_posts"}],
//!  "down": [{"delete": "posts"}, {"upsert": {…old_posts as it was…}}]}
//! ```
//!
//! - `upsert` makes the collection exactly as given: matched by `id`, else `name`, it is
//!   updated with the whole definition (a field it does not list is dropped with its column);
//!   otherwise it is created (with the given `id`).
//! - `delete` drops the collection (by id or name) with its records; absent is fine.
//!
//! The applied files' names are kept in the store (param `collections.migrations`).
//! `keel migrate collections` writes a snapshot of every collection as one file (applying it
//! where the collections already are so changes nothing; on a fresh database it makes them). With `[data] automigrate`, every collection change
//! made through the API or the console writes a file with its `up` and `down` (recorded as
//! applied), so `keel_migrations/` can be committed and replayed on another instance.

use std::path::{Path, PathBuf};

use chrono::Utc;
use keel_core::{Error, Result};
use keel_data::{Collection, Store};
use serde_json::{json, Map, Value};

/// The store param listing the applied files.
const APPLIED: &str = "collections.migrations";

/// A new migration file's name in `dir`: `<unix milliseconds>_<name>.json`, the name in
/// `[a-z0-9_]`, numbered after every file already there (so files sort in the order made).
pub fn file_name(dir: &Path, name: &str) -> Result<String> {
    let clean: String = name
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let clean = clean.trim_matches('_').to_string();
    if clean.is_empty() {
        return Err(Error::field(
            "name",
            "validation_required",
            "Give the migration a name of letters and digits.",
        ));
    }
    let last = files(dir)?
        .iter()
        .filter_map(|f| f.split('_').next()?.parse::<i64>().ok())
        .max()
        .unwrap_or(0);
    let at = Utc::now().timestamp_millis().max(last + 1);
    Ok(format!("{at}_{clean}.json"))
}

/// The migration files in `dir`, in the order they apply (absent dir: none).
pub fn files(dir: &Path) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::internal(format!("cannot read {}: {e}", dir.display()))),
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
        .collect();
    names.sort();
    Ok(names)
}

/// The applied files, oldest first.
pub async fn applied(store: &Store) -> Result<Vec<String>> {
    Ok(match store.get_param(APPLIED).await? {
        Some(Value::Array(list)) => list.into_iter().filter_map(|v| v.as_str().map(String::from)).collect(),
        _ => Vec::new(),
    })
}

async fn set_applied(store: &Store, list: &[String]) -> Result<()> {
    store.set_param(APPLIED, &json!(list)).await
}

/// Files in `dir` not applied yet.
pub async fn pending(store: &Store, dir: &Path) -> Result<Vec<String>> {
    let done = applied(store).await?;
    Ok(files(dir)?.into_iter().filter(|f| !done.contains(f)).collect())
}

fn read(dir: &Path, name: &str) -> Result<Value> {
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::bad_request(format!("cannot read {}: {e}", path.display())))?;
    let v: Value =
        serde_json::from_str(&text).map_err(|e| Error::bad_request(format!("{}: not JSON: {e}", path.display())))?;
    if !v.is_object() {
        return Err(Error::bad_request(format!(
            "{}: expected {{\"up\": [...], \"down\": [...]}}",
            path.display()
        )));
    }
    Ok(v)
}

/// Applies every pending file of `dir` in order; answers their names. Stops at the first
/// that fails (those before it stay applied), naming the file and the operation.
pub async fn up(store: &Store, dir: &Path) -> Result<Vec<String>> {
    let mut done = applied(store).await?;
    let mut out = Vec::new();
    for name in pending(store, dir).await? {
        let file = read(dir, &name)?;
        run_ops(store, &file["up"]).await.map_err(|e| in_file(&name, "up", e))?;
        done.push(name.clone());
        set_applied(store, &done).await?;
        out.push(name);
    }
    Ok(out)
}

/// Reverts the last `count` applied files of `dir` (newest first); answers their names.
pub async fn down(store: &Store, dir: &Path, count: usize) -> Result<Vec<String>> {
    let mut done = applied(store).await?;
    let mut out = Vec::new();
    for _ in 0..count {
        let Some(name) = done.last().cloned() else {
            break;
        };
        let file = read(dir, &name)?;
        run_ops(store, &file["down"])
            .await
            .map_err(|e| in_file(&name, "down", e))?;
        done.pop();
        set_applied(store, &done).await?;
        out.push(name);
    }
    Ok(out)
}

fn in_file(name: &str, part: &str, e: Error) -> Error {
    match e {
        Error::BadRequest { message, fields } => Error::BadRequest {
            message: format!("{name} ({part}): {message}"),
            fields,
        },
        other => other,
    }
}

/// Writes `file` as `<dir>/<file_name(name)>`; answers its path.
pub fn write(dir: &Path, name: &str, file: &Value) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| Error::internal(format!("cannot create {}: {e}", dir.display())))?;
    let path = dir.join(file_name(dir, name)?);
    let text = serde_json::to_string_pretty(file).map_err(Error::internal)?;
    std::fs::write(&path, text + "\n").map_err(|e| Error::internal(format!("cannot write {}: {e}", path.display())))?;
    Ok(path)
}

/// Writes `file` and records it as applied (it describes what the database already holds).
pub async fn write_applied(store: &Store, dir: &Path, name: &str, file: &Value) -> Result<PathBuf> {
    let path = write(dir, name, file)?;
    let mut done = applied(store).await?;
    if let Some(n) = path.file_name().map(|n| n.to_string_lossy().into_owned()) {
        done.push(n);
    }
    set_applied(store, &done).await?;
    Ok(path)
}

/// A collection as an `upsert` writes it.
pub fn definition(c: &Collection) -> Value {
    let mut v = c.public_json();
    if let Some(o) = v.as_object_mut() {
        o.remove("created");
        o.remove("updated");
    }
    v
}

/// A snapshot of every collection but Keel's own (`_…`): `up` upserts each (views last),
/// `down` is empty.
pub fn snapshot(store: &Store) -> Value {
    let mut cols: Vec<_> = store
        .collections()
        .into_iter()
        .filter(|c| !c.name.starts_with('_'))
        .collect();
    cols.sort_by_key(|c| definition(c)["type"] == "view");
    let up: Vec<Value> = cols.iter().map(|c| json!({"upsert": definition(c)})).collect();
    json!({"up": up, "down": []})
}

/// What a change of one collection (`before` → `after`, either absent) writes.
pub fn change(before: Option<&Collection>, after: Option<&Collection>) -> Value {
    let op = |c: Option<&Collection>, other: Option<&Collection>| match (c, other) {
        (Some(c), _) => json!({"upsert": definition(c)}),
        (None, Some(o)) => json!({"delete": o.id}),
        (None, None) => Value::Null,
    };
    json!({"up": [op(after, before)], "down": [op(before, after)]})
}

/// Runs a list of operations (applied in order; an `upsert` whose relation names a
/// collection made by a later one waits for it).
async fn run_ops(store: &Store, ops: &Value) -> Result<()> {
    let Some(list) = ops.as_array() else {
        return match ops {
            Value::Null => Ok(()),
            _ => Err(Error::bad_request("`up` and `down` are lists of operations")),
        };
    };
    let mut pending: Vec<&Value> = list.iter().collect();
    while !pending.is_empty() {
        let before = pending.len();
        let mut next = Vec::new();
        let mut first = None;
        for op in pending {
            match run_op(store, op).await {
                Ok(()) => {}
                Err(e @ Error::BadRequest { .. }) => {
                    first.get_or_insert(e);
                    next.push(op);
                }
                Err(e) => return Err(e),
            }
        }
        if next.len() == before {
            return Err(first.unwrap_or_else(|| Error::bad_request("no operation could be applied")));
        }
        pending = next;
    }
    Ok(())
}

async fn run_op(store: &Store, op: &Value) -> Result<()> {
    // Recorded in the change history as the migration's (no caller applies a file).
    let recorder = crate::changes::history::Recorder::new("migration", crate::changes::history::Source::Migration);
    let actor = keel_data::SchemaActor::Superuser;
    if let Some(Value::Object(def)) = op.get("upsert") {
        let ident = [def.get("id"), def.get("name")]
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .find(|s| !s.is_empty())
            .unwrap_or_default();
        let existing = store.collection(ident).ok().or_else(|| {
            let name = def.get("name").and_then(Value::as_str)?;
            store.collection(name).ok()
        });
        let mut def: Map<String, Value> = def.clone();
        def.remove("created");
        def.remove("updated");
        match existing {
            Some(c) => {
                def.remove("id");
                store
                    .update_collection_recorded(&c.id, Value::Object(def), actor, &recorder)
                    .await?;
            }
            None => {
                store
                    .create_collection_recorded(Value::Object(def), actor, &recorder)
                    .await?;
            }
        }
        return Ok(());
    }
    if let Some(Value::String(id)) = op.get("delete") {
        return match store.delete_collection_recorded(id, actor, &recorder).await {
            Ok(_) | Err(Error::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        };
    }
    Err(Error::bad_request(format!(
        "unknown operation {op}: expected {{\"upsert\": {{…}}}} or {{\"delete\": \"name\"}}"
    )))
}
