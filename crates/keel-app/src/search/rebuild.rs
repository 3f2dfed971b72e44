//! Rebuilding a collection's index from its table (see the module docs of `search` for how
//! writes made meanwhile are kept).

use std::collections::HashSet;
use std::sync::Arc;

use keel_core::search::{SearchDocument, SearchSettings};
use keel_core::{Error, Result};
use keel_data::{Access, Collection, ListParams, RequestInfo, Store};
use serde_json::{Map, Value};

use super::Search;

/// Records read per page while rebuilding.
const PAGE: u64 = 1000;

/// A record as a search document: its searchable fields' text (a select's values joined).
pub(crate) fn document(settings: &SearchSettings, record: &Map<String, Value>) -> SearchDocument {
    let mut doc = SearchDocument {
        id: record.get("id").and_then(Value::as_str).unwrap_or_default().to_string(),
        ..Default::default()
    };
    for name in settings.fields.keys() {
        let text = match record.get(name) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "),
            _ => continue,
        };
        doc.fields.insert(name.clone(), text);
    }
    doc
}

/// Rebuilds the index of `c` (`keel search reindex`); returns how many records it holds.
/// A 400 when `c` is not searchable or search is unavailable.
pub async fn rebuild(store: &Store, search: &Search, c: &Arc<Collection>) -> Result<u64> {
    let provider = search.provider("search")?.clone();
    let Some(opt) = c.search.as_ref() else {
        return Err(Error::field(
            "search",
            "validation_not_searchable",
            format!("The collection {:?} has no search option.", c.name),
        ));
    };
    let _work = search.work.lock().await;
    let settings = opt.settings();
    provider.ensure(&c.id, &settings).await?;
    let pending = Some(HashSet::new());
    search.slots().insert(c.id.clone(), super::Slot { settings, pending });
    rebuild_locked(store, search, c, "asked for").await
}

/// Rebuilds with the work lock held and the slot of `c` in place.
pub(crate) async fn rebuild_locked(store: &Store, search: &Search, c: &Arc<Collection>, why: &str) -> Result<u64> {
    let settings = match search.slots().get_mut(&c.id) {
        Some(slot) => {
            slot.pending.get_or_insert_with(HashSet::new);
            slot.settings.clone()
        }
        None => return Ok(0),
    };
    let result = fill(store, search, c, &settings).await;
    let done = match result {
        Ok(n) => catch_up(store, search, c, &settings).await.map(|()| n),
        Err(e) => Err(e),
    };
    if let Some(slot) = search.slots().get_mut(&c.id) {
        slot.pending = None;
    }
    match &done {
        Ok(n) => tracing::info!(collection = %c.name, records = n, reason = why, "search index rebuilt"),
        Err(e) => tracing::error!(collection = %c.name, error = %e, reason = why, "search index rebuild failed"),
    }
    done
}

async fn fill(store: &Store, search: &Search, c: &Arc<Collection>, settings: &SearchSettings) -> Result<u64> {
    let provider = search.provider("search")?.clone();
    provider.clear(&c.id).await?;
    let req = RequestInfo::default();
    let mut n = 0;
    // Pages by id (not by offset: a record deleted meanwhile would shift the pages).
    let mut after: Option<String> = None;
    loop {
        let filter = after.as_ref().map(|id| format!("id > \"{}\"", id.replace('"', "\\\"")));
        let params = ListParams {
            per_page: PAGE,
            skip_total: true,
            sort: Some("id".into()),
            filter,
            ..Default::default()
        };
        // In the records' database: hold the write lock while the page is read and written,
        // so no write of any process comes between (a newer version is never overwritten).
        let mut locked = match &search.in_tx {
            Some(index) => Some((index, store.engine().begin().await?)),
            None => None,
        };
        let list = store.list_records(c, &params, &req, Access::Superuser).await?;
        let docs: Vec<SearchDocument> = list.items.iter().map(|r| document(settings, &r.data)).collect();
        let got = docs.len() as u64;
        after = list.items.last().map(|r| r.id().to_string());
        match locked.take() {
            Some((index, mut tx)) => {
                index.upsert_in(tx.as_mut(), &c.id, settings, docs).await?;
                tx.commit().await?;
            }
            None if !docs.is_empty() => provider.upsert(&c.id, docs).await?,
            None => {}
        }
        n += got;
        if got < PAGE {
            break;
        }
    }
    Ok(n)
}

/// Applies, from the table, the records changed while the rebuild ran, until none is left.
async fn catch_up(store: &Store, search: &Search, c: &Arc<Collection>, settings: &SearchSettings) -> Result<()> {
    let provider = search.provider("search")?.clone();
    let req = RequestInfo::default();
    loop {
        let ids: Vec<String> = {
            let mut slots = search.slots();
            let Some(slot) = slots.get_mut(&c.id) else {
                return Ok(());
            };
            let pending = slot.pending.get_or_insert_with(HashSet::new);
            if pending.is_empty() {
                slot.pending = None;
                return Ok(());
            }
            std::mem::take(pending).into_iter().collect()
        };
        for chunk in ids.chunks(PAGE as usize) {
            let params = ListParams {
                per_page: PAGE,
                skip_total: true,
                ..Default::default()
            };
            let found = store
                .list_records_among(c, &params, chunk, &req, Access::Superuser)
                .await?;
            let docs: Vec<SearchDocument> = found.items.iter().map(|r| document(settings, &r.data)).collect();
            let present: HashSet<&str> = found.items.iter().map(|r| r.id()).collect();
            let gone: Vec<String> = chunk
                .iter()
                .filter(|id| !present.contains(id.as_str()))
                .cloned()
                .collect();
            if !docs.is_empty() {
                provider.upsert(&c.id, docs).await?;
            }
            if !gone.is_empty() {
                provider.delete(&c.id, &gone).await?;
            }
        }
    }
}
