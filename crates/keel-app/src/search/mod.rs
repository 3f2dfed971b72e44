//! Full-text search over records (docs/search.md): a collection's `search` option names its
//! searchable fields; its records are kept in an index of the search provider (`App.search`)
//! named by the collection's id.
//!
//! **Kept in step with writes**, two ways by where the index lives:
//!
//! *On a shared SQL engine* (records on PostgreSQL or MariaDB, the provider on the same
//! database: [`Search::in_records_transactions`]): the store's commit hook writes each
//! change's index row **inside the record write's own transaction** (`in_tx.rs`). The index
//! commits or rolls back with the records, in their commit order, whatever process wrote
//! them: a crash cannot leave it behind, and two processes cannot apply two versions of a
//! record in the wrong order. A rebuild reads each page of records and writes it holding the
//! engine's write lock (no write in any process interleaves), so it never puts back an older
//! version of a record changed meanwhile.
//!
//! *Embedded* (the simplest design that is correct with one process, the only one the
//! embedded provider serves):
//! - every committed record change is applied to the index by the task that publishes the
//!   store's committed changes (`crate::sync`), in commit order, **before** the write is
//!   answered: a search right after a write by this process sees it. The provider queues
//!   them and commits (fsync) at the next search or within half a second, so a write does
//!   not wait for an index commit;
//! - a crash between a record's commit and its index commit cannot go unnoticed: the
//!   provider says on open whether its index is known in step (the embedded provider's
//!   `clean` mark, written by [`Search::close`] on a clean shutdown). [`start`] rebuilds every index
//!   that is new, whose settings changed, or that is not known in step, and logs why;
//! - a rebuild reads the records page by page while writes go on: the ids changed meanwhile
//!   are set aside and applied from the table at its end, so a rebuild never leaves an
//!   older version behind; until it ends, searches see a partial index;
//! - an index write that fails is logged and the collection rebuilt.
//!
//! Both: collection changes (the option set, changed or removed, a field renamed, the
//! collection deleted) rebuild or drop the index ([`reconcile`], after every committed
//! collection change); `keel search reindex [COLLECTION]` rebuilds.

mod across;
mod in_tx;
pub mod indexes;
mod list;
mod rebuild;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use keel_core::events::{RecordAction, RecordEvent};
use keel_core::search::{IndexState, SearchIndex, SearchSettings};
use keel_core::{Error, Result};
use keel_data::Collection;
use keel_search::sql::SqlIndex;
use tokio::sync::watch;

pub use across::{across, AcrossPage, AcrossQuery, MAX_COLLECTIONS};
pub use list::{highlights, parse, search_hits, search_ids};
pub use rebuild::rebuild;

use crate::App;

/// The search service of this process.
pub struct Search {
    provider: Option<Arc<dyn SearchIndex>>,
    /// The provider again when it writes inside the records' transactions (shared SQL).
    pub(crate) in_tx: Option<Arc<dyn SqlIndex>>,
    /// Why search is unavailable (no provider).
    refused: String,
    /// Collection id → its index's state in this process.
    indexes: Mutex<HashMap<String, Slot>>,
    /// Serializes reconciling and rebuilding.
    pub(crate) work: tokio::sync::Mutex<()>,
    /// Collections whose index a failed write left behind: rebuilt by the next reconcile,
    /// which `wake` asks for.
    broken: Mutex<HashSet<String>>,
    wake: tokio::sync::Notify,
}

#[derive(Clone)]
pub(crate) struct Slot {
    pub(crate) settings: SearchSettings,
    /// Some while a rebuild runs: the ids changed meanwhile.
    pub(crate) pending: Option<HashSet<String>>,
}

impl Default for Search {
    /// No search (tests, tools that write no records).
    fn default() -> Self {
        Search::refused("Full-text search is not available in this process.")
    }
}

impl Search {
    /// Search on `provider`.
    pub fn new(provider: Arc<dyn SearchIndex>) -> Search {
        Search {
            provider: Some(provider),
            in_tx: None,
            refused: String::new(),
            indexes: Mutex::default(),
            work: Default::default(),
            broken: Mutex::default(),
            wake: Default::default(),
        }
    }

    /// Search on `provider`, an index on `store`'s own engine written inside every record
    /// write's transaction (see the module docs).
    pub fn in_records_transactions(store: &keel_data::Store, provider: Arc<dyn SqlIndex>) -> Search {
        in_tx::install(store, provider.clone());
        Search {
            in_tx: Some(provider.clone()),
            ..Search::new(provider)
        }
    }

    /// No search, for the reason `why` (said in every refusal).
    pub fn refused(why: &str) -> Search {
        Search {
            provider: None,
            in_tx: None,
            refused: why.to_string(),
            indexes: Mutex::default(),
            work: Default::default(),
            broken: Mutex::default(),
            wake: Default::default(),
        }
    }

    /// The provider, or a 400 naming `field` with why there is none.
    pub(crate) fn provider(&self, field: &str) -> Result<&Arc<dyn SearchIndex>> {
        self.provider
            .as_ref()
            .ok_or_else(|| Error::field(field, "validation_search_unavailable", self.refused.clone()))
    }

    pub(crate) fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        self.indexes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a collection's index is open and ready for searches in this process.
    pub fn is_open(&self, collection_id: &str) -> bool {
        self.slots().contains_key(collection_id)
    }
}

/// Checks that a collection's JSON `input` sets no search option this process cannot
/// serve: a 400 naming `search` when search is unavailable (e.g. several processes on the
/// embedded provider).
pub fn check_input(app: &App, input: &serde_json::Map<String, serde_json::Value>) -> Result<()> {
    if input.get("search").is_some_and(|v| !v.is_null()) {
        app.search.provider("search")?;
    }
    Ok(())
}

/// Opens the index of every searchable collection (before this returns, so no write is
/// missed), then in a task rebuilds those that need it (logged) and follows collection
/// changes until `shutdown`. Call [`Search::close`] once the process served its last write.
/// Without a provider: warns if a collection is searchable, and does nothing else.
pub async fn start(app: &App, shutdown: watch::Receiver<bool>) -> Result<tokio::task::JoinHandle<()>> {
    if app.search.provider.is_none() {
        if let Some(c) = app.store.collections().into_iter().find(|c| c.search.is_some()) {
            tracing::warn!(collection = %c.name, reason = %app.search.refused, "collections have a search option but search is unavailable: their searches are refused");
        }
        return Ok(tokio::spawn(async {}));
    }
    let first = {
        let _work = app.search.work.lock().await;
        open_indexes(app).await?
    };
    let app = app.clone();
    let mut changes = app.store.schema_changes();
    let mut shutdown = shutdown;
    Ok(tokio::spawn(async move {
        rebuild_all(&app, first).await;
        loop {
            tokio::select! {
                r = changes.changed() => {
                    if r.is_err() { break; }
                }
                () = app.search.wake.notified() => {}
                r = shutdown.changed() => {
                    if r.is_err() || *shutdown.borrow() { break; }
                    continue;
                }
            }
            if let Err(e) = reconcile(&app).await {
                tracing::error!(error = %e, "cannot bring search indexes in line with the collections");
            }
        }
    }))
}

impl Search {
    /// Makes every index durable and marks it in step (a clean shutdown): call it once the
    /// process served its last write (a later write undoes the mark).
    pub async fn close(&self) {
        if let Some((id, _)) = self.slots().iter().find(|(_, s)| s.pending.is_some()) {
            tracing::warn!(collection_id = %id, "a search index rebuild was under way: indexes are rebuilt at the next start");
            return;
        }
        if let Some(p) = &self.provider {
            if let Err(e) = p.close().await {
                tracing::warn!(error = %e, "cannot close the search indexes: they are rebuilt at the next start");
            }
        }
    }
}

/// Opens, rebuilds or drops indexes so that they match the collections' search options;
/// returns once every index it opened is rebuilt. Called after each collection change by
/// the request that made it (so a search right after sees the collection's records), and by
/// the task following collection changes.
pub async fn reconcile(app: &App) -> Result<()> {
    if app.search.provider.is_none() {
        return Ok(());
    }
    let _work = app.search.work.lock().await;
    let todo = open_indexes(app).await?;
    rebuild_all_locked(app, todo).await;
    Ok(())
}

async fn rebuild_all(app: &App, todo: Vec<(Arc<Collection>, &'static str)>) {
    let _work = app.search.work.lock().await;
    rebuild_all_locked(app, todo).await;
}

async fn rebuild_all_locked(app: &App, todo: Vec<(Arc<Collection>, &'static str)>) {
    for (c, why) in todo {
        if let Err(e) = rebuild::rebuild_locked(&app.store, &app.search, &c, why).await {
            tracing::error!(collection = %c.name, error = %e, "cannot rebuild a search index");
        }
    }
}

/// After a collection change committed by this process: brings the indexes in line before
/// the change is answered (a failure is logged: the task following changes retries).
pub async fn collections_changed(app: &App) {
    if let Err(e) = reconcile(app).await {
        tracing::error!(error = %e, "cannot bring search indexes in line with the collections");
    }
}

/// Drops the indexes of collections no longer searchable and opens the others; returns those
/// to rebuild (their writes from now on are set aside for the rebuild), with why.
async fn open_indexes(app: &App) -> Result<Vec<(Arc<Collection>, &'static str)>> {
    let Some(provider) = app.search.provider.clone() else {
        return Ok(Vec::new());
    };
    let wanted: HashMap<String, (Arc<Collection>, SearchSettings)> = app
        .store
        .collections()
        .into_iter()
        .filter_map(|c| Some((c.id.clone(), (c.clone(), c.search.as_ref()?.settings()))))
        .collect();
    let gone: Vec<String> = app
        .search
        .slots()
        .keys()
        .filter(|id| !wanted.contains_key(*id))
        .cloned()
        .collect();
    for id in gone {
        app.search.slots().remove(&id);
        provider.drop_index(&id).await?;
        tracing::info!(collection_id = %id, "search index dropped: the collection is gone or no longer searchable");
    }
    let mut todo = Vec::new();
    for (id, (c, settings)) in wanted {
        let current = app.search.slots().get(&id).map(|s| s.settings.clone());
        let broken = app.search.broken.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
        if current.as_ref() == Some(&settings) && !broken {
            continue;
        }
        let state = provider.ensure(&id, &settings).await?;
        let why = match (state, current.is_some()) {
            _ if broken => Some("a write to it failed"),
            (IndexState::InStep, _) => None,
            (IndexState::Empty, true) => Some("its search option changed"),
            (IndexState::Empty, false) => Some("it is new or its search option changed"),
            (IndexState::Unknown, _) => Some("the last process did not stop cleanly"),
        };
        let pending = why.map(|_| HashSet::new());
        app.search.slots().insert(id.clone(), Slot { settings, pending });
        if let Some(why) = why {
            todo.push((c, why));
        }
    }
    Ok(todo)
}

/// Applies committed record changes (in commit order) to the indexes; called by the task
/// publishing them, before their writes are answered. Never fails: a failed index write is
/// logged and its collection rebuilt.
pub async fn apply(search: &Search, events: &[&RecordEvent]) {
    let Some(provider) = search.provider.clone() else {
        return;
    };
    if search.in_tx.is_some() {
        // Written in the records' transactions already.
        return;
    }
    let mut by_collection: Vec<(String, Vec<&RecordEvent>)> = Vec::new();
    {
        let mut slots = search.slots();
        for e in events {
            let Some(slot) = slots.get_mut(&e.collection_id) else {
                continue;
            };
            if let Some(pending) = slot.pending.as_mut() {
                if let Some(id) = e.record.get("id").and_then(|v| v.as_str()) {
                    pending.insert(id.to_string());
                }
                continue;
            }
            match by_collection.iter_mut().find(|(id, _)| *id == e.collection_id) {
                Some((_, list)) => list.push(e),
                None => by_collection.push((e.collection_id.clone(), vec![e])),
            }
        }
    }
    for (cid, changes) in by_collection {
        let Some(settings) = search.slots().get(&cid).map(|s| s.settings.clone()) else {
            continue;
        };
        // The last change of each record wins; each batch is one provider call.
        let mut last: Vec<(&str, &RecordEvent)> = Vec::new();
        for e in changes {
            let Some(id) = e.record.get("id").and_then(|v| v.as_str()) else {
                continue;
            };
            last.retain(|(i, _)| *i != id);
            last.push((id, e));
        }
        let deletes: Vec<String> = last
            .iter()
            .filter(|(_, e)| e.action == RecordAction::Delete)
            .map(|(id, _)| id.to_string())
            .collect();
        let docs = last
            .iter()
            .filter(|(_, e)| e.action != RecordAction::Delete)
            .map(|(_, e)| rebuild::document(&settings, &e.record))
            .collect::<Vec<_>>();
        let mut result = Ok(());
        if !docs.is_empty() {
            result = provider.upsert(&cid, docs).await;
        }
        if result.is_ok() && !deletes.is_empty() {
            result = provider.delete(&cid, &deletes).await;
        }
        if let Err(e) = result {
            tracing::error!(collection_id = %cid, error = %e, "cannot update a search index: rebuilding it");
            search.slots().remove(&cid);
            search.broken.lock().unwrap_or_else(|p| p.into_inner()).insert(cid);
            search.wake.notify_one();
        }
    }
}
