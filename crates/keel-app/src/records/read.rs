//! Reading records through a collection's rules: a page under the list rule, one record under
//! the view rule (404 when hidden by it), each with the relations asked for in `expand`
//! (related records the caller may not view are left out). What a response shows of a record
//! (hidden fields, auth fields) is `crate::serialize`'s.

use std::sync::Arc;

use keel_core::Error;
use keel_data::{Access, Collection, ListParams, Page, Record, RequestInfo};

use crate::caller::superusers_only;
use crate::App;

/// A list request: paging, sort and filter, and the relations to expand. `fields` is how the
/// entry point shapes the answer; it changes nothing read.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub params: ListParams,
    /// PocketBase's `expand` (`author,comments_via_post.user`), when non-empty.
    pub expand: Option<String>,
    /// PocketBase's `fields` (`id,title,expand.author.name`), when non-empty.
    pub fields: Option<String>,
    /// Keel's full-text `search` (docs/search.md), when non-empty.
    pub search: Option<String>,
}

/// The collection `id_or_name` whose records a request reaches (404 when absent).
pub fn collection(app: &App, id_or_name: &str) -> Result<Arc<Collection>, Error> {
    app.store.collection(id_or_name)
}

/// A page of the records of `collection` the list rule lets `req` see (a 403 when the rule is
/// superusers-only and the caller does not skip rules).
pub async fn list(
    app: &App,
    collection: &Arc<Collection>,
    query: &ListQuery,
    req: &RequestInfo,
) -> Result<Page<Record>, Error> {
    let access = Access::for_rule(collection, &collection.list_rule, req).ok_or_else(superusers_only)?;
    let search = match query.search.as_deref() {
        Some(text) => crate::search::parse(app, collection, text)?,
        None => None,
    };
    let mut page = match search {
        Some(q) => {
            let ranked = crate::search::search_ids(app, collection, &q).await?;
            app.store
                .list_records_among(collection, &query.params, &ranked, req, access)
                .await?
        }
        None => app.store.list_records(collection, &query.params, req, access).await?,
    };
    if let Some(expand) = query.expand.as_deref() {
        app.store.expand(&mut page.items, expand, req).await?;
    }
    Ok(page)
}

/// The record `id` as the view rule lets `req` see it (404 when absent or hidden), expanded.
pub async fn view(
    app: &App,
    collection: &Arc<Collection>,
    id: &str,
    expand: Option<&str>,
    req: &RequestInfo,
) -> Result<Record, Error> {
    let access = Access::for_rule(collection, &collection.view_rule, req).ok_or_else(superusers_only)?;
    let record = app.store.get_record(collection, id, req, access).await?;
    let mut records = [record];
    if let Some(expand) = expand {
        app.store.expand(&mut records, expand, req).await?;
    }
    let [record] = records;
    Ok(record)
}

/// Expands the relations named in `expand` into `records` (written ones, or a signed-in
/// record), leaving out related records `req` may not view.
pub async fn expand(app: &App, records: &mut [Record], expand: &str, req: &RequestInfo) -> Result<(), Error> {
    app.store.expand(records, expand, req).await
}

/// Highlights of the records a search list returned (`fields` naming `search.highlights`,
/// or `search`): by record id, the matched words of the collection's searchable fields
/// marked (docs/search.md). Empty without a search or without that request: only records
/// the caller was given, never a hidden field.
pub async fn highlights(
    app: &App,
    collection: &Arc<Collection>,
    query: &ListQuery,
    items: &[Record],
) -> Result<std::collections::HashMap<String, keel_core::search::Highlights>, Error> {
    let asked = query.fields.as_deref().is_some_and(|f| {
        f.split(',')
            .map(str::trim)
            .any(|p| p == "search" || p == "search.highlights")
    });
    let Some(text) = query.search.as_deref().filter(|_| asked) else {
        return Ok(Default::default());
    };
    match crate::search::parse(app, collection, text)? {
        Some(q) => crate::search::highlights(app, collection, &q, items).await,
        None => Ok(Default::default()),
    }
}
