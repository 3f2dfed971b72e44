//! Rows of Keel's own system collections, read and written as the superuser (no rules):
//! the services that keep their state in `_…` collections (notifications, ops) share these.

use std::sync::Arc;

use keel_core::{Error, Result};
use keel_data::{Access, Collection, ListParams, Record, RecordData, RequestInfo};
use serde_json::Value;

use crate::App;

/// A filter string literal (values are ids and names; backslashes cannot end it early).
pub(crate) fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\\', "").replace('\'', "\\'"))
}

/// A field of a row as a string ("" when absent or not one).
pub(crate) fn str_of<'a>(data: &'a RecordData, field: &str) -> &'a str {
    data.get(field).and_then(Value::as_str).unwrap_or("")
}

/// A system collection by name.
pub(crate) fn col(app: &App, name: &str) -> Result<Arc<Collection>> {
    app.store.collection(name)
}

/// Every row of `name` matching `filter`, oldest first, read a page of [`PAGE`] at a time
/// (a run's step units or a topic's subscribers can be many thousands).
pub(crate) async fn find(app: &App, name: &str, filter: &str) -> Result<Vec<Record>> {
    let c = col(app, name)?;
    let mut all = Vec::new();
    for page in 1.. {
        let params = ListParams {
            page,
            per_page: PAGE,
            // `id` breaks ties between rows made in the same millisecond, so pages never overlap.
            sort: Some("created,id".into()),
            filter: (!filter.is_empty()).then(|| filter.to_string()),
            skip_total: true,
        };
        let items = app
            .store
            .list_records(&c, &params, &RequestInfo::default(), Access::Superuser)
            .await?
            .items;
        let last = items.len() < PAGE as usize;
        all.extend(items);
        if last {
            break;
        }
    }
    Ok(all)
}

/// Rows read per query by [`find`].
const PAGE: u64 = 1000;

/// The row `id` of `name`, or `None`.
pub(crate) async fn get(app: &App, name: &str, id: &str) -> Result<Option<Record>> {
    let c = col(app, name)?;
    match app
        .store
        .get_record(&c, id, &RequestInfo::default(), Access::Superuser)
        .await
    {
        Ok(r) => Ok(Some(r)),
        Err(Error::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Inserts a row of `name`.
pub(crate) async fn insert(app: &App, name: &str, data: Value) -> Result<Record> {
    let c = col(app, name)?;
    let Value::Object(data) = data else {
        return Err(Error::internal("a row must be an object"));
    };
    app.store
        .create_record(&c, data, &RequestInfo::default(), Access::Superuser)
        .await
}

/// Changes fields of the row `id` of `name`; returns it after.
pub(crate) async fn patch(app: &App, name: &str, id: &str, data: Value) -> Result<Record> {
    let c = col(app, name)?;
    let Value::Object(data) = data else {
        return Err(Error::internal("a patch must be an object"));
    };
    Ok(app
        .store
        .update_record(&c, id, data, &RequestInfo::default(), Access::Superuser)
        .await?
        .1)
}

/// Deletes the row `id` of `name`.
pub(crate) async fn remove(app: &App, name: &str, id: &str) -> Result<()> {
    let c = col(app, name)?;
    app.store
        .delete_record(&c, id, &RequestInfo::default(), Access::Superuser)
        .await
        .map(|_| ())
}

/// A 404 naming what was not found.
pub(crate) fn not_found(what: &str, id: &str) -> Error {
    Error::NotFound(format!("No {what} with the id {id:?}."))
}
