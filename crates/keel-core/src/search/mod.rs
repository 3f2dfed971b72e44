//! The `SearchIndex` contract: full-text indexes of documents (an id and named text fields),
//! searched with Keel's engine-independent query syntax ([`SearchQuery`]) and ranked by
//! relevance.
//!
//! Callers hold a provider as `Arc<dyn SearchIndex>`. Every provider (in `keel-search`)
//! passes the behaviour suite in `keel-testkit` (`search.rs`). The guarantees every provider
//! keeps:
//!
//! - **Indexes are named** (`[A-Za-z0-9_-]{1,64}`; records use the collection's id) and
//!   isolated: nothing done to one index reads, changes or counts another.
//! - **Settings are the index's shape**: [`SearchIndex::ensure`] creates an index, or
//!   recreates it **empty** when its settings changed (fields, weights, language), and says
//!   so; the caller then refills it. Same settings: the index and its documents are kept.
//! - **Writes are visible when they return**: after `upsert`/`delete` returned `Ok`, a
//!   `search` by any caller of this provider sees them. `upsert` replaces a document with the
//!   same id whole (fields absent from the new one are gone); deleting an absent id is not
//!   an error. A batch is applied in order, not necessarily atomically.
//! - **Durable**: on [`SearchCapabilities::shared`] providers when a write returns; on the
//!   embedded one after [`SearchIndex::sync`] (or within half a second: it defers commits, so
//!   that an index kept beside its records costs a write no fsync).
//! - **Matching**: every word and phrase of the query must match (in any field, in any
//!   order); an excluded one must not. Words match through the index's language (stemming:
//!   "running" finds "runs"). The last plain word also matches as a prefix ("qui" finds
//!   "quick"). A plain word (and its stem) of [`FUZZY_MIN_CHARS`]+ characters also matches with one edit
//!   ("brwon" finds "brown"); shorter words match exactly (after stemming). A phrase matches
//!   its words adjacent and in order. What a provider cannot do is `false` in its
//!   [`SearchCapabilities`], and documented; the suite skips only what those say.
//! - **Ranking**: hits come best first. A match in a field of higher weight scores higher
//!   than the same match in a field of lower weight (BM25-like on the embedded provider,
//!   `ts_rank` on PostgreSQL, InnoDB's TF-IDF on MariaDB); scores compare only within one answer.
//! - **Highlights** are computed on the stored text of the fields of the documents asked
//!   for, the matched words wrapped in `<mark>…</mark>` and the rest HTML-escaped. Only the
//!   ids given are read: a caller asks only for documents it may see.
//! - **What a crash does** depends on where the index lives: [`SearchCapabilities::shared`]
//!   providers keep what their engine keeps; the embedded provider may lose its last writes
//!   (it says so with [`IndexState::Unknown`] on the next open, and the caller rebuilds).
//!
//! Several processes: only `shared` providers may serve more than one process; the embedded
//! index lives in one process's data dir and serves records on SQLite only (records on
//! PostgreSQL or MariaDB use that database's own provider).

mod filter;
mod query;

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use filter::{CmpOp, Filter, MAX_FILTER_CHARS};
pub use query::{QueryPart, SearchQuery, FUZZY_MIN_CHARS, MAX_QUERY_CHARS, MAX_QUERY_PARTS};

use crate::Result;

/// The most documents a search returns (records search ranks at most this many ids, then
/// applies the caller's rules and filter to them).
pub const MAX_HITS: usize = 10_000;
/// The largest field weight.
pub const MAX_WEIGHT: u32 = 10;

/// A language for stemming. `Simple` does no stemming (words match as written, lowercased).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Simple,
    Arabic,
    Danish,
    Dutch,
    #[default]
    English,
    Finnish,
    French,
    German,
    Greek,
    Hungarian,
    Italian,
    Norwegian,
    Portuguese,
    Romanian,
    Russian,
    Spanish,
    Swedish,
    Tamil,
    Turkish,
}

impl Language {
    /// Every language, in the order of the enum.
    pub const ALL: [Language; 19] = [
        Language::Simple,
        Language::Arabic,
        Language::Danish,
        Language::Dutch,
        Language::English,
        Language::Finnish,
        Language::French,
        Language::German,
        Language::Greek,
        Language::Hungarian,
        Language::Italian,
        Language::Norwegian,
        Language::Portuguese,
        Language::Romanian,
        Language::Russian,
        Language::Spanish,
        Language::Swedish,
        Language::Tamil,
        Language::Turkish,
    ];

    /// The lowercase name (`english`), as in the collection option and PostgreSQL's
    /// text-search configurations.
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default()
    }

    /// The language named `name` (lowercase), if Keel knows it.
    pub fn parse(name: &str) -> Option<Language> {
        Language::ALL.into_iter().find(|l| l.name() == name)
    }
}

/// The shape of an index: its text fields with their weights, and its language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchSettings {
    /// Field name → weight (1..=[`MAX_WEIGHT`]). PostgreSQL has four weight classes: a
    /// provider with fewer levels than weights maps them in order and documents it.
    pub fields: BTreeMap<String, u32>,
    #[serde(default)]
    pub language: Language,
    /// Attributes a [`SearchRequest`] may filter on and count facets of (free-standing
    /// indexes; records' indexes have none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filterable: Vec<String>,
}

/// One document: an id and its text fields (fields not in the settings are ignored).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SearchDocument {
    pub id: String,
    pub fields: BTreeMap<String, String>,
    /// Filterable attributes (strings, numbers, bools; several values each), for
    /// [`SearchIndex::query`]. Records' documents have none.
    pub attributes: BTreeMap<String, Vec<serde_json::Value>>,
    /// The document as given, returned by [`SearchIndex::query`] (`None` for records).
    pub source: Option<serde_json::Value>,
}

/// A search of a free-standing index: text (empty: every document), a filter on its
/// attributes, the attributes to count facets of, and the page wanted.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    pub query: SearchQuery,
    pub filter: Option<Filter>,
    pub facets: Vec<String>,
    pub offset: usize,
    pub limit: usize,
}

/// One hit of a [`SearchRequest`]: the id, its score and the document as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentHit {
    pub id: String,
    pub score: f32,
    pub document: serde_json::Value,
}

/// The answer to a [`SearchRequest`]: the page of hits (best first; by id when the text is
/// empty), how many documents match (at most [`MAX_HITS`]: the text's best matches, then
/// filtered), and per facet attribute the count of matching documents per value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchResults {
    pub hits: Vec<DocumentHit>,
    pub total: usize,
    pub facets: BTreeMap<String, BTreeMap<String, u64>>,
}

/// One match of a search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    pub id: String,
    /// Higher is better; comparable only within one answer.
    pub score: f32,
}

/// A document's highlighted fields: field name → HTML snippet with `<mark>` around matches
/// (only fields where something matched).
pub type Highlights = BTreeMap<String, String>;

/// What the state of an index was found to be when `ensure` opened it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexState {
    /// Created or recreated empty (new index, or its settings changed): fill it.
    Empty,
    /// Known to hold every write made through this provider.
    InStep,
    /// May miss writes (the process that had it open stopped without closing it, e.g. a
    /// crash): rebuild it.
    Unknown,
}

/// What a provider supports beyond the contract's core.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SearchCapabilities {
    /// Indexes live in a server: shared by every Keel process and kept across restarts.
    pub shared: bool,
    /// Stemming by [`Language`].
    pub stemming: bool,
    /// The last word matches as a prefix.
    pub prefix: bool,
    /// One edit for words of [`FUZZY_MIN_CHARS`]+ characters.
    pub typo_tolerance: bool,
    /// Quoted phrases match adjacent words in order.
    pub phrases: bool,
    /// [`SearchIndex::highlights`] works.
    pub highlights: bool,
    /// [`SearchIndex::query`] and [`SearchIndex::indexes`] work (free-standing indexes:
    /// stored documents, filters, facets).
    pub documents: bool,
}

/// The refusal of a provider without [`SearchCapabilities::documents`].
pub fn documents_unsupported() -> crate::Error {
    crate::Error::field(
        "index",
        "validation_not_supported",
        "Free-standing search indexes are not supported on this records engine yet: they run on the embedded index (records on SQLite).",
    )
}

/// A full-text search provider (see the module docs for the guarantees).
#[async_trait]
pub trait SearchIndex: Send + Sync + 'static {
    /// What this provider supports.
    fn capabilities(&self) -> SearchCapabilities;

    /// Opens `index` with `settings`, creating it (or recreating it empty when its settings
    /// differ), and says what it holds.
    async fn ensure(&self, index: &str, settings: &SearchSettings) -> Result<IndexState>;

    /// Removes `index` and everything in it (absent: nothing to do).
    async fn drop_index(&self, index: &str) -> Result<()>;

    /// Removes every document of `index`, keeping its settings.
    async fn clear(&self, index: &str) -> Result<()>;

    /// Adds or replaces documents by id.
    async fn upsert(&self, index: &str, docs: Vec<SearchDocument>) -> Result<()>;

    /// Removes documents by id.
    async fn delete(&self, index: &str, ids: &[String]) -> Result<()>;

    /// Makes the writes to `index` returned so far durable: a crash keeps them. A provider
    /// whose writes are durable when they return does nothing.
    async fn sync(&self, index: &str) -> Result<()> {
        let _ = index;
        Ok(())
    }

    /// The best `limit` matches of `query`, best first (`limit` at most [`MAX_HITS`]).
    async fn search(&self, index: &str, query: &SearchQuery, limit: usize) -> Result<Vec<SearchHit>>;

    /// Highlights of the documents `ids` for `query` (ids not found are left out).
    async fn highlights(&self, index: &str, query: &SearchQuery, ids: &[String]) -> Result<Vec<(String, Highlights)>>;

    /// Searches `index` with a filter and facets, returning the stored documents (see
    /// [`SearchRequest`]). Providers without [`SearchCapabilities::documents`] refuse it.
    async fn query(&self, index: &str, request: &SearchRequest) -> Result<SearchResults> {
        let _ = (index, request);
        Err(documents_unsupported())
    }

    /// The indexes whose name starts with `prefix`, with their settings, by name.
    async fn indexes(&self, prefix: &str) -> Result<Vec<(String, SearchSettings)>> {
        let _ = prefix;
        Err(documents_unsupported())
    }

    /// Makes every index durable and marks it in step (a clean shutdown); later writes are
    /// still accepted.
    async fn close(&self) -> Result<()>;
}

/// Whether `name` is a valid index name.
pub fn valid_index_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}
