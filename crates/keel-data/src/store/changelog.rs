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
        "SELECT \"version\" FROM {table} WHERE \"collectionRef\" = {} ORDER BY \"seq\" DESC LIMIT 1",
        d.placeholder(1)
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
        return Ok(None);
    };
    let sql = format!("SELECT MAX(\"seq\") AS \"top\" FROM {table}");
    let top = tx
        .fetch_all(&sql, &[])
        .await?
        .into_iter()
        .next()
        .and_then(|r| r.get("top").and_then(as_int))
        .unwrap_or(0);
    for key in ["id", "created", "updated"] {
        data.remove(key);
    }
    data.insert("seq".into(), Value::from(top + 1));
    let c = store
        .collection(CHANGES)
        .map_err(|_| Error::internal("the _changes collection is missing"))?;
    let now = keel_core::time::now();
    let p = prepare(&c, None, &data, &now);
    if let Some((field, e)) = p.errors.iter().next() {
        return Err(Error::internal(format!(
            "the change history refused its own entry: {field}: {}",
            e.message
        )));
    }
    let cols: Vec<String> = c.fields.iter().map(|f| d.quote_ident(&f.name)).collect();
    let phs: Vec<String> = (1..=cols.len()).map(|n| d.placeholder(n)).collect();
    let sql = format!("INSERT INTO {table} ({}) VALUES ({})", cols.join(", "), phs.join(", "));
    tx.execute(&sql, &data_params(&c, &p.data)).await?;
    Ok(Some(p.data))
}

/// The columns [`summaries`] reads: everything but the collection JSON and the diff.
const SUMMARY_SKIPS: &[&str] = &["before", "after", "diff"];

/// Every recorded change without its `before`, `after` and `diff` (for stats and the
/// changelog), oldest first; `include_system` false leaves out changes of system collections.
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
