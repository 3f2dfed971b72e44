//! The change history (`_changes`) written inside a collection change's own transaction.
//!
//! A collection change made through one of the `*_collection_recorded` calls hands its
//! `ChangeRecorder` the collection before and after (and the version the last recorded
//! change of that collection left) while its transaction is still open; the row the
//! recorder returns is inserted in that transaction, numbered by `seq` (1, 2, 3, … across
//! every collection), so the change and its history commit together or not at all. What a
//! row holds (findings, verdict, version, redacted JSON) is the recorder's business
//! (`keel-app`'s `changes::history`); this module only reads the previous version and writes.
//!
//! Collection changes are serialized (the store's DDL mutex in a process; across processes
//! SQLite's single writer, PostgreSQL's per-schema write lock, MySQL's schema lock), so the
//! `seq` and the previous version read in the transaction are the newest.

use keel_core::{Error, Result};
use serde_json::Value;

use super::rows::{data_params, from_db};
use super::validate::prepare;
use super::Store;
use crate::schema::{Collection, RecordData};
use crate::system::CHANGES;
use keel_sql::Tx;

/// One committed collection change, as the recorder sees it (inside its transaction).
#[derive(Debug, Clone, Copy)]
pub struct CollectionChange<'a> {
    /// The collection before the change (`None` when it is created).
    pub before: Option<&'a Collection>,
    /// The collection after the change (`None` when it is deleted).
    pub after: Option<&'a Collection>,
    /// The `version` of the newest recorded change of this collection (by id), if any.
    pub previous_version: Option<&'a str>,
}

/// Turns a collection change into its `_changes` row.
pub trait ChangeRecorder: Send + Sync {
    /// The row to record (every field of `_changes` but `id`, `seq` and the autodates), or
    /// `None` when the change changes nothing worth recording (a no-op update). An error
    /// aborts the collection change.
    fn entry(&self, change: &CollectionChange<'_>) -> Result<Option<RecordData>>;

    /// The existing `_changes` row (a proposal) this change completes, and the `state` it
    /// must still be in: its row is rewritten with the entry (and a new `seq`) instead of a
    /// new row being inserted. When the row is no longer in that state (another process
    /// applied it first) the collection change is refused with a 409.
    fn completes(&self) -> Option<(&str, &str)> {
        None
    }

    /// Other `_changes` rows to change in the same transaction: each [`RowMark`] sets some
    /// fields of one row, refused with a 409 (and the whole change with it) unless the row
    /// is still in the expected state.
    fn marks(&self) -> Vec<RowMark> {
        Vec::new()
    }
}

/// Fields to set on one `_changes` row, only while its `state` is `expect`.
#[derive(Debug, Clone)]
pub struct RowMark {
    pub id: String,
    pub expect: String,
    pub set: RecordData,
}

/// The states of rows that are part of a collection's version history (a proposal not yet
/// applied has a `version` too, the one it would give, but it is not one the collection had).
pub const HISTORY_STATES: [&str; 2] = ["applied", "rolled_back"];

fn in_history(d: &dyn keel_sql::Dialect) -> String {
    let list: Vec<String> = HISTORY_STATES.iter().map(|s| format!("'{s}'")).collect();
    format!("{} IN ({})", d.quote_ident("state"), list.join(", "))
}

/// Asks `recorder` for the row of the change `before` → `after` and inserts it in `tx`.
/// Returns the row as stored.
pub(crate) async fn record(
    store: &Store,
    tx: &mut dyn Tx,
    recorder: Option<&dyn ChangeRecorder>,
    before: Option<&Collection>,
    after: Option<&Collection>,
) -> Result<Option<RecordData>> {
    let Some(recorder) = recorder else { return Ok(None) };
    let Some(id) = after.or(before).map(|c| c.id.clone()) else {
        return Ok(None);
    };
    let d = store.engine.dialect();
    let table = d.quote_ident(CHANGES);
    let sql = format!(
        "SELECT \"version\" FROM {table} WHERE \"collectionRef\" = {} AND {} ORDER BY \"seq\" DESC LIMIT 1",
        d.placeholder(1),
        in_history(d)
    );
    let previous = tx
        .fetch_all(&sql, &[Value::from(id)])
        .await?
        .into_iter()
        .next()
        .and_then(|r| r.get("version").and_then(Value::as_str).map(str::to_string));
    let change = CollectionChange {
        before,
        after,
        previous_version: previous.as_deref(),
    };
    let Some(mut data) = recorder.entry(&change)? else {
        if let Some((id, _)) = recorder.completes() {
            return Err(Error::Conflict(format!(
                "Change {id} changes nothing any more: the collection already is what it proposes."
            )));
        }
        return Ok(None);
    };
    let top = top_seq(store, tx).await?;
    for key in ["id", "created", "updated"] {
        data.remove(key);
    }
    data.insert("seq".into(), Value::from(top + 1));
    let c = changes_collection(store)?;
    let now = keel_core::time::now();
    let stored = match recorder.completes() {
        Some((id, expect)) => {
            let current = read_row(store, tx, id).await?;
            let mut merged = current.clone();
            for (k, v) in data {
                merged.insert(k, v);
            }
            write_row(store, tx, &c, Some((&current, expect)), &merged, &now).await?
        }
        None => write_row(store, tx, &c, None, &data, &now).await?,
    };
    for mark in recorder.marks() {
        let current = read_row(store, tx, &mark.id).await?;
        let mut merged = current.clone();
        for (k, v) in mark.set {
            merged.insert(k, v);
        }
        write_row(store, tx, &c, Some((&current, &mark.expect)), &merged, &now).await?;
    }
    Ok(Some(stored))
}

fn changes_collection(store: &Store) -> Result<std::sync::Arc<Collection>> {
    store
        .collection(CHANGES)
        .map_err(|_| Error::internal("the _changes collection is missing"))
}

async fn top_seq(store: &Store, tx: &mut dyn Tx) -> Result<i64> {
    let table = store.engine.dialect().quote_ident(CHANGES);
    let sql = format!("SELECT MAX(\"seq\") AS \"top\" FROM {table}");
    Ok(tx
        .fetch_all(&sql, &[])
        .await?
        .into_iter()
        .next()
        .and_then(|r| r.get("top").and_then(as_int))
        .unwrap_or(0))
}

/// The `_changes` row `id` as record data (404 when absent).
async fn read_row(store: &Store, tx: &mut dyn Tx, id: &str) -> Result<RecordData> {
    let c = changes_collection(store)?;
    let d = store.engine.dialect();
    let sql = format!(
        "SELECT {} FROM {} WHERE \"id\" = {}",
        super::rows::select_cols(&c, &d.quote_ident(CHANGES), d),
        d.quote_ident(CHANGES),
        d.placeholder(1)
    );
    let mut row = tx
        .fetch_all(&sql, &[Value::from(id)])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| Error::NotFound(format!("No change {id:?}.")))?;
    let mut data = RecordData::new();
    for f in &c.fields {
        let v = row.remove(&f.name).unwrap_or(Value::Null);
        data.insert(f.name.clone(), from_db(f, v));
    }
    Ok(data)
}

/// Inserts `data` as a new row (`current` `None`), or rewrites the row `current` while its
/// `state` is still the expected one (409 otherwise). Returns the row as stored.
async fn write_row(
    store: &Store,
    tx: &mut dyn Tx,
    c: &Collection,
    current: Option<(&RecordData, &str)>,
    data: &RecordData,
    now: &str,
) -> Result<RecordData> {
    let d = store.engine.dialect();
    let table = d.quote_ident(CHANGES);
    let p = prepare(c, current.map(|(cur, _)| cur), data, now);
    if let Some((field, e)) = p.errors.iter().next() {
        return Err(Error::internal(format!(
            "the change history refused its own entry: {field}: {}",
            e.message
        )));
    }
    let params = data_params(c, &p.data);
    let Some((cur, expect)) = current else {
        let cols: Vec<String> = c.fields.iter().map(|f| d.quote_ident(&f.name)).collect();
        let phs: Vec<String> = (1..=cols.len()).map(|n| d.placeholder(n)).collect();
        let sql = format!("INSERT INTO {table} ({}) VALUES ({})", cols.join(", "), phs.join(", "));
        tx.execute(&sql, &params).await?;
        return Ok(p.data);
    };
    let sets: Vec<String> = c
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| format!("{} = {}", d.quote_ident(&f.name), d.placeholder(i + 1)))
        .collect();
    let id = cur.get("id").cloned().unwrap_or(Value::Null);
    let n = params.len();
    let sql = format!(
        "UPDATE {table} SET {} WHERE \"id\" = {} AND \"state\" = {}",
        sets.join(", "),
        d.placeholder(n + 1),
        d.placeholder(n + 2)
    );
    let mut all = params;
    all.push(id.clone());
    all.push(Value::from(expect));
    if tx.execute(&sql, &all).await? == 0 {
        let state = cur.get("state").and_then(Value::as_str).unwrap_or_default();
        return Err(Error::Conflict(format!(
            "Change {} is {state}, not {expect}: someone else moved it first.",
            id.as_str().unwrap_or_default()
        )));
    }
    Ok(p.data)
}

/// A new `_changes` row that is not a committed collection change (a proposal): numbered
/// after every row, under the schema lock so its `seq` is the next one.
pub(crate) async fn insert(store: &Store, data: RecordData) -> Result<RecordData> {
    let _guard = store.ddl.lock().await;
    let _lock = store.engine.lock_schema().await?;
    let mut tx = store.engine.begin().await?;
    let top = top_seq(store, tx.as_mut()).await?;
    let mut data = data;
    for key in ["id", "created", "updated"] {
        data.remove(key);
    }
    data.insert("seq".into(), Value::from(top + 1));
    let c = changes_collection(store)?;
    let now = keel_core::time::now();
    let stored = write_row(store, tx.as_mut(), &c, None, &data, &now).await?;
    tx.commit().await?;
    Ok(stored)
}

/// Sets fields of the `_changes` row `id` while its `state` is `expect` (409 naming its
/// state otherwise; 404 when absent). Returns the row as stored.
pub(crate) async fn update(store: &Store, id: &str, expect: &str, set: RecordData) -> Result<RecordData> {
    let mut tx = store.engine.begin().await?;
    let current = read_row(store, tx.as_mut(), id).await?;
    let mut merged = current.clone();
    for (k, v) in set {
        if !matches!(k.as_str(), "id" | "seq" | "created" | "updated") {
            merged.insert(k, v);
        }
    }
    let c = changes_collection(store)?;
    let now = keel_core::time::now();
    let stored = write_row(store, tx.as_mut(), &c, Some((&current, expect)), &merged, &now).await?;
    tx.commit().await?;
    Ok(stored)
}

/// The columns [`summaries`] reads: everything but the collection JSON and the diff.
const SUMMARY_SKIPS: &[&str] = &["before", "after", "diff"];

/// Every recorded change (proposals not applied left out) without its `before`, `after` and
/// `diff` (for stats and the changelog), oldest first; `include_system` false leaves out changes of system collections.
pub(crate) async fn summaries(store: &Store, include_system: bool) -> Result<Vec<RecordData>> {
    let c = store
        .collection(CHANGES)
        .map_err(|_| Error::internal("the _changes collection is missing"))?;
    let d = store.engine.dialect();
    let fields: Vec<_> = c
        .fields
        .iter()
        .filter(|f| !SUMMARY_SKIPS.contains(&f.name.as_str()))
        .collect();
    let cols: Vec<String> = fields.iter().map(|f| d.quote_ident(&f.name)).collect();
    let sql = format!(
        "SELECT {} FROM {} ORDER BY \"seq\"",
        cols.join(", "),
        d.quote_ident(CHANGES)
    );
    let rows = store.engine.fetch_all(&sql, &[]).await?;
    let mut out = Vec::with_capacity(rows.len());
    for mut row in rows {
        let mut data = RecordData::new();
        for f in &fields {
            let v = row.remove(&f.name).unwrap_or(Value::Null);
            data.insert(f.name.clone(), from_db(f, v));
        }
        let state = data.get("state").and_then(Value::as_str).unwrap_or_default();
        if !HISTORY_STATES.contains(&state) {
            continue;
        }
        if include_system || data.get("system") != Some(&Value::Bool(true)) {
            out.push(data);
        }
    }
    Ok(out)
}

/// An integer from a JSON number (integral floats too) or numeric text.
fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse::<f64>().ok().map(|f| f as i64),
        _ => None,
    }
}
