//! The embedded search provider: one tantivy index per name in `<root>/<name>/` (records use
//! `<data dir>/search/<collection id>/`), served by this process alone.
//!
//! Layout of an index's directory: `settings.json` (the [`SearchSettings`] it was built
//! with), `index/` (tantivy's files), and `clean` while the index is known to hold every
//! write (see below).
//!
//! Contract and crash behaviour:
//! - every `upsert`/`delete`/`clear` commits (fsync) and reloads the reader before it
//!   returns: visible to the next search, durable;
//! - `ensure` with other settings than `settings.json` deletes the index and starts it
//!   empty ([`IndexState::Empty`]);
//! - **in step or not**: [`SearchIndex::close`] (a clean shutdown) writes `clean`; the first
//!   `ensure` of a process removes it and answers [`IndexState::InStep`], or
//!   [`IndexState::Unknown`] when it was missing: the last process stopped without closing
//!   (a crash, a `kill -9`), between a record's commit and its index commit some writes may
//!   be missing, and the caller rebuilds. A write after `close` removes `clean` again;
//! - one process: tantivy's writer lock refuses a second writer on the same directory.

mod index;
mod query;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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
    open: Arc<Mutex<HashMap<String, Arc<Slot>>>>,
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

impl EmbeddedSearch {
    /// A provider keeping its indexes under `root` (created when missing).
    pub fn new(root: impl Into<PathBuf>) -> Result<Arc<EmbeddedSearch>> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(Error::wrap)?;
        Ok(Arc::new(EmbeddedSearch {
            root,
            open: Arc::default(),
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

fn ensure_blocking(root: &Path, open: &Open, name: &str, settings: &SearchSettings) -> Result<IndexState> {
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
        let (root, open) = (self.root.clone(), self.open.clone());
        let (name, settings) = (index.to_string(), settings.clone());
        blocking(move || ensure_blocking(&root, &open, &name, &settings)).await
    }

    async fn drop_index(&self, index: &str) -> Result<()> {
        check_name(index)?;
        let slot = self.open.lock().unwrap_or_else(|p| p.into_inner()).remove(index);
        let dir = self.root.join(index);
        blocking(move || {
            drop(slot);
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

    async fn upsert(&self, index: &str, docs: Vec<SearchDocument>) -> Result<()> {
        let slot = self.slot(index)?;
        blocking(move || {
            slot.dirty()?;
            slot.index.upsert(&docs)
        })
        .await
    }

    async fn delete(&self, index: &str, ids: &[String]) -> Result<()> {
        let slot = self.slot(index)?;
        let ids = ids.to_vec();
        blocking(move || {
            slot.dirty()?;
            slot.index.delete(&ids)
        })
        .await
    }

    async fn search(&self, index: &str, query: &SearchQuery, limit: usize) -> Result<Vec<SearchHit>> {
        let slot = self.slot(index)?;
        let query = query.clone();
        blocking(move || slot.index.search(&query, limit.min(MAX_HITS))).await
    }

    async fn highlights(&self, index: &str, query: &SearchQuery, ids: &[String]) -> Result<Vec<(String, Highlights)>> {
        let slot = self.slot(index)?;
        let (query, ids) = (query.clone(), ids.to_vec());
        blocking(move || slot.index.highlights(&query, &ids)).await
    }

    async fn query(&self, index: &str, request: &SearchRequest) -> Result<SearchResults> {
        let slot = self.slot(index)?;
        let request = request.clone();
        blocking(move || slot.index.query(&request)).await
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
