//! The embedded search provider: one tantivy index per name in `<root>/<name>/` (records use
//! `<data dir>/search/<collection id>/`), served by this process alone.
//!
//! Layout of an index's directory: `settings.json` (the [`SearchSettings`] it was built
//! with), `index/` (tantivy's files), and `clean` while the index is known to hold every
//! write (see below).
//!
//! Contract and crash behaviour:
//! - `upsert`/`delete` queue their documents in memory and return; a search commits what waits
//!   before it runs (so it sees every write returned before it), and a commit thread
//!   commits (fsync) what waited for [`COMMIT_EVERY`]: a write is durable within about that
//!   long, or when [`SearchIndex::sync`] returns. `clear` commits at once;
//! - `ensure` with other settings than `settings.json` deletes the index and starts it
//!   empty ([`IndexState::Empty`]);
//! - **in step or not**: [`SearchIndex::close`] (a clean shutdown) commits, then writes `clean`; the first
//!   `ensure` of a process removes it and answers [`IndexState::InStep`], or
//!   [`IndexState::Unknown`] when it was missing: the last process stopped without closing
//!   (a crash, a `kill -9`), between a record's commit and its index commit some writes may
//!   be missing, and the caller rebuilds. A write after `close` removes `clean` again;
//! - one process: tantivy's writer lock refuses a second writer on the same directory.

mod index;
mod prefixes;
mod query;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use keel_core::search::{
    valid_index_name, Highlights, IndexState, SearchCapabilities, SearchDocument, SearchHit, SearchIndex, SearchQuery,
    SearchRequest, SearchResults, SearchSettings, MAX_HITS,
};
use keel_core::{Error, Result};

use index::OpenIndex;

const SETTINGS: &str = "settings.json";
const CLEAN: &str = "clean";
const FILES: &str = "index";
/// How long a write may wait for its commit (see the module docs).
pub const COMMIT_EVERY: Duration = Duration::from_millis(500);

struct Slot {
    index: OpenIndex,
    dir: PathBuf,
    /// Whether `clean` is on disk (written by `close`).
    clean: Mutex<bool>,
}

impl Slot {
    fn dirty(&self) -> Result<()> {
        let mut clean = self.clean.lock().unwrap_or_else(|p| p.into_inner());
        if *clean {
            remove_file(&self.dir.join(CLEAN))?;
            *clean = false;
        }
        Ok(())
    }
}

/// The embedded provider (see the module docs).
pub struct EmbeddedSearch {
    root: PathBuf,
    open: Open,
    /// Held by the commit thread while it holds slots, and by whatever closes a slot (its
    /// writer must be gone before its directory is reopened or removed).
    gate: Gate,
    /// Searches running at once: one per core, the rest wait their turn (first come, first
    /// served). Unbounded, every search in flight shared the cores, and each took as many
    /// times its own time as there were searches (16 clients on 2 cores: p99 ~28 ms on 1M
    /// documents; in turn: docs/BENCHMARKS.md, "Search on 1,000,000 documents").
    searching: Arc<tokio::sync::Semaphore>,
}

type Gate = Arc<Mutex<()>>;

fn hold(gate: &Gate) -> std::sync::MutexGuard<'_, ()> {
    gate.lock().unwrap_or_else(|p| p.into_inner())
}

impl Drop for EmbeddedSearch {
    /// Closes every index's writer now, not when the commit thread lets go of it.
    fn drop(&mut self) {
        let _gate = hold(&self.gate);
        self.open.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

type Open = Arc<Mutex<HashMap<String, Arc<Slot>>>>;

fn remove_file(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::wrap(e)),
        _ => Ok(()),
    }
}

fn remove_dir(path: &Path) -> Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::wrap(e)),
        _ => Ok(()),
    }
}

fn check_name(name: &str) -> Result<()> {
    if valid_index_name(name) {
        Ok(())
    } else {
        Err(Error::field(
            "index",
            "validation_invalid_name",
            "An index name is 1 to 64 letters, digits, _ or -.",
        ))
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(Error::wrap)?
}

/// Searches at once: the cores this process may use.
fn search_slots() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

impl EmbeddedSearch {
    /// Runs the read `f` on the blocking pool once one of the [`search_slots`] is free.
    async fn in_turn<T: Send + 'static>(&self, f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
        let _turn = self.searching.acquire().await.map_err(Error::wrap)?;
        blocking(f).await
    }

    /// A provider keeping its indexes under `root` (created when missing), with its commit
    /// thread (which ends once the provider is dropped).
    pub fn new(root: impl Into<PathBuf>) -> Result<Arc<EmbeddedSearch>> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(Error::wrap)?;
        let open: Open = Arc::default();
        let gate: Gate = Arc::default();
        let (weak, thread_gate) = (Arc::downgrade(&open), gate.clone());
        std::thread::Builder::new()
            .name("keel-search-commit".into())
            .spawn(move || commit_loop(weak, thread_gate))
            .map_err(Error::wrap)?;
        Ok(Arc::new(EmbeddedSearch {
            root,
            open,
            gate,
            searching: Arc::new(tokio::sync::Semaphore::new(search_slots())),
        }))
    }

    fn slot(&self, name: &str) -> Result<Arc<Slot>> {
        check_name(name)?;
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(name)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("The search index {name:?} is not open.")))
    }
}

/// Every [`COMMIT_EVERY`], commits the open indexes with writes waiting; ends when `open`
/// is gone.
fn commit_loop(open: Weak<Mutex<HashMap<String, Arc<Slot>>>>, gate: Gate) {
    loop {
        std::thread::sleep(COMMIT_EVERY);
        let _gate = hold(&gate);
        let Some(open) = open.upgrade() else {
            return;
        };
        let dirty: Vec<(String, Arc<Slot>)> = open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, s)| s.index.is_dirty())
            .map(|(n, s)| (n.clone(), s.clone()))
            .collect();
        drop(open);
        for (name, slot) in dirty {
            if let Err(e) = slot.index.commit() {
                tracing::error!(index = %name, error = %e, "cannot commit a search index");
            }
        }
    }
}

fn ensure_blocking(root: &Path, open: &Open, gate: &Gate, name: &str, settings: &SearchSettings) -> Result<IndexState> {
    let _gate = hold(gate);
    let mut open = open.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(slot) = open.get(name) {
        if &slot.index.settings == settings {
            return Ok(IndexState::InStep);
        }
    }
    // Release the writer (and its lock) before touching the files.
    drop(open.remove(name));
    let dir = root.join(name);
    let stored: Option<SearchSettings> = std::fs::read(dir.join(SETTINGS))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    if stored.as_ref() == Some(settings) {
        match OpenIndex::open(&dir.join(FILES), settings, false) {
            Ok(index) => {
                let was_clean = dir.join(CLEAN).exists();
                remove_file(&dir.join(CLEAN))?;
                let slot = Slot {
                    index,
                    dir,
                    clean: Mutex::new(false),
                };
                open.insert(name.to_string(), Arc::new(slot));
                return Ok(if was_clean {
                    IndexState::InStep
                } else {
                    IndexState::Unknown
                });
            }
            Err(e) => tracing::warn!(index = name, error = %e, "cannot open the search index: recreating it"),
        }
    }
    remove_dir(&dir)?;
    let index = OpenIndex::open(&dir.join(FILES), settings, true)?;
    let json = serde_json::to_vec(settings).map_err(Error::wrap)?;
    std::fs::write(dir.join(SETTINGS), json).map_err(Error::wrap)?;
    open.insert(
        name.to_string(),
        Arc::new(Slot {
            index,
            dir,
            clean: Mutex::new(false),
        }),
    );
    Ok(IndexState::Empty)
}

#[async_trait]
impl SearchIndex for EmbeddedSearch {
    fn capabilities(&self) -> SearchCapabilities {
        SearchCapabilities {
            shared: false,
            stemming: true,
            prefix: true,
            typo_tolerance: true,
            phrases: true,
            highlights: true,
            documents: true,
        }
    }

    async fn ensure(&self, index: &str, settings: &SearchSettings) -> Result<IndexState> {
        check_name(index)?;
        let (root, open, gate) = (self.root.clone(), self.open.clone(), self.gate.clone());
        let (name, settings) = (index.to_string(), settings.clone());
        blocking(move || ensure_blocking(&root, &open, &gate, &name, &settings)).await
    }

    async fn drop_index(&self, index: &str) -> Result<()> {
        check_name(index)?;
        let (open, gate, name) = (self.open.clone(), self.gate.clone(), index.to_string());
        let dir = self.root.join(index);
        blocking(move || {
            let _gate = hold(&gate);
            drop(open.lock().unwrap_or_else(|p| p.into_inner()).remove(&name));
            remove_dir(&dir)
        })
        .await
    }

    async fn clear(&self, index: &str) -> Result<()> {
        let slot = self.slot(index)?;
        blocking(move || {
            slot.dirty()?;
            slot.index.clear()
        })
        .await
    }

    // Queued in memory: no blocking call (but the rare removal of `clean`).
    async fn upsert(&self, index: &str, docs: Vec<SearchDocument>) -> Result<()> {
        let slot = self.slot(index)?;
        slot.dirty()?;
        slot.index.upsert(docs)
    }

    async fn delete(&self, index: &str, ids: &[String]) -> Result<()> {
        let slot = self.slot(index)?;
        slot.dirty()?;
        slot.index.delete(ids)
    }

    async fn sync(&self, index: &str) -> Result<()> {
        let slot = self.slot(index)?;
        blocking(move || slot.index.commit()).await
    }

    async fn search(&self, index: &str, query: &SearchQuery, limit: usize) -> Result<Vec<SearchHit>> {
        let slot = self.slot(index)?;
        let query = query.clone();
        self.in_turn(move || slot.index.search(&query, limit.min(MAX_HITS)))
            .await
    }

    async fn highlights(&self, index: &str, query: &SearchQuery, ids: &[String]) -> Result<Vec<(String, Highlights)>> {
        let slot = self.slot(index)?;
        let (query, ids) = (query.clone(), ids.to_vec());
        self.in_turn(move || slot.index.highlights(&query, &ids)).await
    }

    async fn query(&self, index: &str, request: &SearchRequest) -> Result<SearchResults> {
        let slot = self.slot(index)?;
        let request = request.clone();
        self.in_turn(move || slot.index.query(&request)).await
    }

    async fn indexes(&self, prefix: &str) -> Result<Vec<(String, SearchSettings)>> {
        let (root, prefix) = (self.root.clone(), prefix.to_string());
        blocking(move || {
            let mut out = Vec::new();
            for entry in std::fs::read_dir(&root).map_err(Error::wrap)? {
                let entry = entry.map_err(Error::wrap)?;
                let Some(name) = entry.file_name().to_str().map(String::from) else {
                    continue;
                };
                if !name.starts_with(&prefix) || !valid_index_name(&name) {
                    continue;
                }
                let settings: Option<SearchSettings> = std::fs::read(entry.path().join(SETTINGS))
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok());
                if let Some(settings) = settings {
                    out.push((name, settings));
                }
            }
            out.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(out)
        })
        .await
    }

    async fn close(&self) -> Result<()> {
        let slots: Vec<Arc<Slot>> = self
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        blocking(move || {
            for slot in slots {
                slot.index.commit()?;
                let mut clean = slot.clean.lock().unwrap_or_else(|p| p.into_inner());
                let f = std::fs::File::create(slot.dir.join(CLEAN)).map_err(Error::wrap)?;
                f.sync_all().map_err(Error::wrap)?;
                *clean = true;
            }
            Ok(())
        })
        .await
    }
}
