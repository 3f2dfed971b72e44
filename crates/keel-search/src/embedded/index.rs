//! One open embedded index: its tantivy schema (`_id`, and per searchable field a text field
//! `f_<name>`, stored, with positions, and its prefixes `p_<name>`: [`super::prefixes`]), its
//! analyzer (words lowercased and stemmed by the index's language), one writer and one
//! reader.
//!
//! **Writes are queued, commits deferred**: a write appends its documents to the index's
//! queue and returns; the queue is handed to tantivy's writer, committed (fsync) and the
//! reader reloaded by whichever comes first:
//! a search ([`OpenIndex::commit`] first, so a search sees every write returned before it), the
//! provider's commit thread (every [`COMMIT_EVERY`](super::COMMIT_EVERY) while writes
//! wait), a `sync`, or a clean shutdown. A record write thus costs one queued document, not
//! the indexing, an fsync and a reader reload. A commit that fails is reported by the next
//! write (its caller then rebuilds the index). Commits and searches run on the blocking pool.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use keel_core::search::{
    documents_unsupported, Highlights, Language, QueryPart, SearchDocument, SearchHit, SearchQuery, SearchRequest,
    SearchResults, SearchSettings, MAX_HITS,
};
use keel_core::{Error, Result};
use tantivy::collector::TopDocs;
use tantivy::query::{AllQuery, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, FAST, STORED, STRING};
use tantivy::tokenizer::{LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, TextAnalyzer};
use tantivy::{DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use super::prefixes::prefix_analyzer;
use super::query::{analyze, build, may_be_typo, Neighbours, Searched};
use crate::documents::{select, stored};
use crate::highlight::{snippet, within_one_edit};

const TOKENIZER: &str = "keel";
const PREFIX_TOKENIZER: &str = "keel_prefix";
const ID: &str = "_id";
/// The stored document and its attributes (JSON `{"source", "attributes"}`), for
/// [`OpenIndex::query`]; absent from indexes made before it existed.
const DOC: &str = "_doc";
/// Segments of one size that tantivy merges into one (its default is 8). A search visits
/// every segment; at 4, 1M documents written 1,000 at a time are ~4× fewer segments than at
/// 8, and a search costs ~20 % less, for ~7 % less indexing throughput.
const MIN_SEGMENTS_IN_MERGE: usize = 4;
/// The writer's indexing memory (tantivy's minimum is 15 MB).
const WRITER_BYTES: usize = 20_000_000;

pub(crate) fn err(what: &'static str) -> impl Fn(tantivy::TantivyError) -> Error {
    move |e| Error::internal(format!("search index: {what}: {e}"))
}

/// The analyzer of `language`: words (runs of letters and digits), at most 40 bytes,
/// lowercased, stemmed (not for `simple`).
pub(crate) fn analyzer(language: Language) -> TextAnalyzer {
    use tantivy::tokenizer::Language as L;
    let stem = match language {
        Language::Simple => None,
        Language::Arabic => Some(L::Arabic),
        Language::Danish => Some(L::Danish),
        Language::Dutch => Some(L::Dutch),
        Language::English => Some(L::English),
        Language::Finnish => Some(L::Finnish),
        Language::French => Some(L::French),
        Language::German => Some(L::German),
        Language::Greek => Some(L::Greek),
        Language::Hungarian => Some(L::Hungarian),
        Language::Italian => Some(L::Italian),
        Language::Norwegian => Some(L::Norwegian),
        Language::Portuguese => Some(L::Portuguese),
        Language::Romanian => Some(L::Romanian),
        Language::Russian => Some(L::Russian),
        Language::Spanish => Some(L::Spanish),
        Language::Swedish => Some(L::Swedish),
        Language::Tamil => Some(L::Tamil),
        Language::Turkish => Some(L::Turkish),
    };
    let base = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser);
    match stem {
        Some(l) => base.filter(Stemmer::new(l)).build(),
        None => base.build(),
    }
}

fn schema(settings: &SearchSettings) -> Schema {
    let mut b = Schema::builder();
    b.add_text_field(ID, STRING | STORED | FAST);
    b.add_text_field(DOC, STORED);
    let text = TextOptions::default().set_stored().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let prefixes = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(PREFIX_TOKENIZER)
            .set_index_option(IndexRecordOption::Basic)
            .set_fieldnorms(false),
    );
    for name in settings.fields.keys() {
        b.add_text_field(&format!("f_{name}"), text.clone());
        b.add_text_field(&format!("p_{name}"), prefixes.clone());
    }
    b.build()
}

/// A write waiting for its commit.
enum Op {
    Upsert(SearchDocument),
    Delete(String),
}

pub(crate) struct OpenIndex {
    pub(crate) settings: SearchSettings,
    analyzer: TextAnalyzer,
    id: Field,
    doc: Option<Field>,
    /// (name, its fields and weight)
    fields: Vec<(String, Searched)>,
    /// Held by a commit (apply, commit, reload) and by `clear`.
    writer: Mutex<IndexWriter>,
    reader: IndexReader,
    /// Writes not yet handed to the writer, in order.
    queued: Mutex<Vec<Op>>,
    /// Writes queued and not yet committed and visible (includes those a commit applies now).
    pending: AtomicUsize,
    /// Why the last commit failed (reported by the next write).
    failed: Mutex<Option<String>>,
    /// Typo terms looked up, per segment.
    neighbours: Neighbours,
}

impl OpenIndex {
    /// Opens the tantivy index in `dir`, creating it when `create`.
    pub(crate) fn open(dir: &Path, settings: &SearchSettings, create: bool) -> Result<OpenIndex> {
        let index = if create {
            std::fs::create_dir_all(dir).map_err(Error::wrap)?;
            Index::create_in_dir(dir, schema(settings)).map_err(err("create"))?
        } else {
            Index::open_in_dir(dir).map_err(err("open"))?
        };
        let analyzer = analyzer(settings.language);
        index.tokenizers().register(TOKENIZER, analyzer.clone());
        index.tokenizers().register(PREFIX_TOKENIZER, prefix_analyzer());
        let s = index.schema();
        let id = s.get_field(ID).map_err(err("schema"))?;
        let doc = s.get_field(DOC).ok();
        let mut fields = Vec::new();
        for (name, weight) in &settings.fields {
            let field = s.get_field(&format!("f_{name}")).map_err(err("schema"))?;
            // Absent from indexes made before prefixes were indexed (`query` then expands a
            // prefix to every completion in the term dictionary).
            let prefixes = s.get_field(&format!("p_{name}")).ok();
            let weight = *weight as f32;
            fields.push((
                name.clone(),
                Searched {
                    field,
                    prefixes,
                    weight,
                },
            ));
        }
        let writer = index
            .writer_with_num_threads(1, WRITER_BYTES)
            .map_err(err("open a writer"))?;
        let mut merges = tantivy::indexer::LogMergePolicy::default();
        merges.set_min_num_segments(MIN_SEGMENTS_IN_MERGE);
        writer.set_merge_policy(Box::new(merges));
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(err("open a reader"))?;
        Ok(OpenIndex {
            settings: settings.clone(),
            analyzer,
            id,
            doc,
            fields,
            writer: Mutex::new(writer),
            reader,
            queued: Mutex::default(),
            pending: AtomicUsize::new(0),
            failed: Mutex::new(None),
            neighbours: Neighbours::default(),
        })
    }

    /// Queues writes, applied and committed later (see the module docs).
    fn queue(&self, ops: impl IntoIterator<Item = Op>) -> Result<()> {
        if let Some(why) = self.failed.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Err(Error::internal(format!(
                "search index: an earlier commit failed: {why}"
            )));
        }
        let mut queued = self.queued.lock().unwrap_or_else(|p| p.into_inner());
        let before = queued.len();
        queued.extend(ops);
        self.pending.fetch_add(queued.len() - before, Ordering::AcqRel);
        Ok(())
    }

    pub(crate) fn upsert(&self, docs: Vec<SearchDocument>) -> Result<()> {
        self.queue(docs.into_iter().map(Op::Upsert))
    }

    pub(crate) fn delete(&self, ids: &[String]) -> Result<()> {
        self.queue(ids.iter().cloned().map(Op::Delete))
    }

    /// Whether writes wait for their commit.
    pub(crate) fn is_dirty(&self) -> bool {
        self.pending.load(Ordering::Acquire) > 0
    }

    /// Applies and commits the queued writes, if any, and reloads the reader: on return,
    /// every write queued before the call is visible (`pending` drops only after the reload,
    /// and a caller finding the queue already taken waits on the writer for that commit).
    pub(crate) fn commit(&self) -> Result<()> {
        if !self.is_dirty() {
            return Ok(());
        }
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let ops = std::mem::take(&mut *self.queued.lock().unwrap_or_else(|p| p.into_inner()));
        if ops.is_empty() {
            return Ok(());
        }
        let n = ops.len();
        let result = self.apply(&w, ops).and_then(|()| {
            w.commit().map_err(err("commit"))?;
            self.reader.reload().map_err(err("reload"))
        });
        drop(w);
        self.pending.fetch_sub(n, Ordering::AcqRel);
        if let Err(e) = &result {
            *self.failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
        }
        result
    }

    fn apply(&self, w: &IndexWriter, ops: Vec<Op>) -> Result<()> {
        for op in ops {
            match op {
                Op::Delete(id) => {
                    w.delete_term(Term::from_field_text(self.id, &id));
                }
                Op::Upsert(d) => {
                    w.delete_term(Term::from_field_text(self.id, &d.id));
                    let mut doc = TantivyDocument::default();
                    doc.add_text(self.id, &d.id);
                    if let (Some(field), Some(stored)) = (self.doc, stored(&d)) {
                        doc.add_text(field, stored);
                    }
                    for (name, f) in &self.fields {
                        if let Some(text) = d.fields.get(name).filter(|t| !t.is_empty()) {
                            doc.add_text(f.field, text);
                            if let Some(p) = f.prefixes {
                                doc.add_text(p, text);
                            }
                        }
                    }
                    w.add_document(doc).map_err(err("add"))?;
                }
            }
        }
        Ok(())
    }

    /// Removes every document, committed at once; clears an earlier commit failure (the
    /// index is then refilled).
    pub(crate) fn clear(&self) -> Result<()> {
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        // What was queued before is cleared too.
        let dropped = std::mem::take(&mut *self.queued.lock().unwrap_or_else(|p| p.into_inner())).len();
        let result = w.delete_all_documents().map_err(err("clear")).and_then(|_| {
            w.commit().map_err(err("commit"))?;
            self.reader.reload().map_err(err("reload"))
        });
        drop(w);
        self.pending.fetch_sub(dropped, Ordering::AcqRel);
        if result.is_ok() {
            *self.failed.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
        result
    }

    fn weighted(&self) -> Vec<Searched> {
        self.fields.iter().map(|(_, f)| *f).collect()
    }

    pub(crate) fn search(&self, query: &SearchQuery, limit: usize) -> Result<Vec<SearchHit>> {
        self.commit()?;
        let searcher = self.reader.searcher();
        let mut analyzer = self.analyzer.clone();
        let Some(q) = build(&searcher, &self.neighbours, query, &self.weighted(), &mut analyzer) else {
            return Ok(Vec::new());
        };
        let top = searcher
            .search(&q, &TopDocs::with_limit(limit.max(1)).order_by_score())
            .map_err(err("search"))?;
        let mut columns = Vec::new();
        for seg in searcher.segment_readers() {
            columns.push(seg.fast_fields().str(ID).map_err(err("read ids"))?);
        }
        let mut hits = Vec::with_capacity(top.len());
        let mut buf = String::new();
        for (score, DocAddress { segment_ord, doc_id }) in top {
            let Some(Some(col)) = columns.get(segment_ord as usize) else {
                continue;
            };
            let Some(ord) = col.term_ords(doc_id).next() else {
                continue;
            };
            buf.clear();
            if col.ord_to_str(ord, &mut buf).map_err(Error::wrap)? {
                hits.push(SearchHit { id: buf.clone(), score });
            }
        }
        Ok(hits)
    }

    /// A free-standing index's search: the text's best [`MAX_HITS`] matches (every document
    /// when the text is empty, by id), filtered on their stored attributes, counted, faceted
    /// and paged.
    pub(crate) fn query(&self, req: &SearchRequest) -> Result<SearchResults> {
        let Some(doc_field) = self.doc else {
            return Err(documents_unsupported());
        };
        self.commit()?;
        let searcher = self.reader.searcher();
        let q: Box<dyn Query> = if req.query.is_empty() {
            Box::new(AllQuery)
        } else {
            let mut analyzer = self.analyzer.clone();
            match build(&searcher, &self.neighbours, &req.query, &self.weighted(), &mut analyzer) {
                Some(q) => q,
                None => return Ok(SearchResults::default()),
            }
        };
        let top = searcher
            .search(&q, &TopDocs::with_limit(MAX_HITS).order_by_score())
            .map_err(err("search"))?;
        let mut candidates = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let d: TantivyDocument = searcher.doc(addr).map_err(err("read"))?;
            let id = d
                .get_first(self.id)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string();
            let stored = d.get_first(doc_field).and_then(|v| v.as_str()).map(String::from);
            candidates.push((id, score, stored));
        }
        if req.query.is_empty() {
            candidates.sort_by(|a, b| a.0.cmp(&b.0));
        }
        Ok(select(candidates, req))
    }

    /// The stems, prefixes and typo-tolerant stems a token may match to be highlighted (typos
    /// for the words the query widened: [`may_be_typo`]).
    fn wanted(&self, query: &SearchQuery) -> Wanted {
        let mut a = self.analyzer.clone();
        let mut w = Wanted::default();
        for part in &query.include {
            match part {
                QueryPart::Word { word, prefix, fuzzy } => {
                    for stem in analyze(&mut a, word) {
                        if may_be_typo(&stem, *fuzzy) {
                            w.fuzzy.push(stem.clone());
                        }
                        w.exact.insert(stem);
                    }
                    if *prefix {
                        w.prefixes.push(word.clone());
                    }
                }
                QueryPart::Phrase(words) => {
                    for word in words {
                        w.exact.extend(analyze(&mut a, word));
                    }
                }
            }
        }
        w
    }

    pub(crate) fn highlights(&self, query: &SearchQuery, ids: &[String]) -> Result<Vec<(String, Highlights)>> {
        self.commit()?;
        let searcher = self.reader.searcher();
        let wanted = self.wanted(query);
        let mut out = Vec::new();
        for id in ids {
            let q = TermQuery::new(Term::from_field_text(self.id, id), IndexRecordOption::Basic);
            let top = searcher
                .search(&q, &TopDocs::with_limit(1).order_by_score())
                .map_err(err("search"))?;
            let Some((_, addr)) = top.into_iter().next() else {
                continue;
            };
            let doc: TantivyDocument = searcher.doc(addr).map_err(err("read"))?;
            let mut marks = Highlights::new();
            for (name, f) in &self.fields {
                let Some(text) = doc.get_first(f.field).and_then(|v| v.as_str()) else {
                    continue;
                };
                let mut a = self.analyzer.clone();
                let mut spans = Vec::new();
                let mut ts = a.token_stream(text);
                while ts.advance() {
                    let t = ts.token();
                    let raw = text.get(t.offset_from..t.offset_to).unwrap_or("").to_lowercase();
                    if wanted.matches(&t.text, &raw) {
                        spans.push((t.offset_from, t.offset_to));
                    }
                }
                if let Some(s) = snippet(text, &spans) {
                    marks.insert(name.clone(), s);
                }
            }
            out.push((id.clone(), marks));
        }
        Ok(out)
    }
}

#[derive(Default)]
struct Wanted {
    exact: HashSet<String>,
    prefixes: Vec<String>,
    fuzzy: Vec<String>,
}

impl Wanted {
    fn matches(&self, stem: &str, raw: &str) -> bool {
        self.exact.contains(stem)
            || self
                .prefixes
                .iter()
                .any(|p| stem.starts_with(p.as_str()) || raw.starts_with(p.as_str()))
            || self.fuzzy.iter().any(|f| within_one_edit(f, stem))
    }
}
