//! Retention of the logs Keel keeps in its own system collections (webhook deliveries,
//! notification history): the oldest rows created before a cutoff are deleted in one
//! transaction, a batch at a time. No record events and no rules: these rows are Keel's
//! bookkeeping, not anyone's records, and several processes may purge at once (a row deleted
//! twice is deleted once).

use keel_core::{Error, Result};
use serde_json::Value;

use super::records::Write;
use super::Store;

/// Deletes at most `limit` rows of the system collection `name` created before `cutoff`
/// (PocketBase's time format), oldest first; returns how many.
pub(crate) async fn purge_created_before(store: &Store, name: &str, cutoff: &str, limit: u32) -> Result<u64> {
    if !name.starts_with('_') {
        return Err(Error::bad_request(format!(
            "{name} is not a system collection: only Keel's own logs are purged by age"
        )));
    }
    let c = store.collection(name)?;
    let d = store.engine.dialect();
    let table = d.quote_ident(&c.name);
    let mut w = Write::begin(store).await?;
    let sql = format!(
        "SELECT \"id\" FROM {table} WHERE \"created\" < {} ORDER BY \"created\" LIMIT {}",
        d.placeholder(1),
        limit.max(1)
    );
    let ids: Vec<Value> =
        w.tx.fetch_all(&sql, &[Value::from(cutoff)])
            .await?
            .into_iter()
            .filter_map(|row| row.get("id").cloned())
            .collect();
    if ids.is_empty() {
        return Ok(0);
    }
    let marks: Vec<String> = (1..=ids.len()).map(|i| d.placeholder(i)).collect();
    let sql = format!("DELETE FROM {table} WHERE \"id\" IN ({})", marks.join(", "));
    let n = w.tx.execute(&sql, &ids).await?;
    w.commit().await?;
    Ok(n)
}

/// Deletes every row of the system collection `name` whose `field` is one of `values` (at
/// most 500 values a call); returns how many rows.
pub(crate) async fn purge_where_in(store: &Store, name: &str, field: &str, values: &[Value]) -> Result<u64> {
    if !name.starts_with('_') {
        return Err(Error::bad_request(format!(
            "{name} is not a system collection: only Keel's own logs are purged"
        )));
    }
    if values.is_empty() {
        return Ok(0);
    }
    if values.len() > 500 {
        return Err(Error::internal("purge at most 500 values at once"));
    }
    let c = store.collection(name)?;
    if c.field(field).is_none() && field != "id" {
        return Err(Error::internal(format!("{name} has no field {field}")));
    }
    let d = store.engine.dialect();
    let marks: Vec<String> = (1..=values.len()).map(|i| d.placeholder(i)).collect();
    let sql = format!(
        "DELETE FROM {} WHERE {} IN ({})",
        d.quote_ident(&c.name),
        d.quote_ident(field),
        marks.join(", ")
    );
    let mut w = Write::begin(store).await?;
    let n = w.tx.execute(&sql, values).await?;
    w.commit().await?;
    Ok(n)
}
