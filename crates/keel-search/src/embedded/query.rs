//! Keel's parsed query ([`SearchQuery`]) as a tantivy query over an index's fields.
//!
//! Each included word or phrase is one `Must` clause, a disjunction over the fields, each
//! field's clause boosted by its weight; each excluded one is a `MustNot` clause (exact
//! words and phrases only). A word matches its stem exactly (BM25), and, scored lower and
//! constant-scored (so an exact match ranks first):
//!
//! - the last word, its raw form as a prefix: one term of the field's prefixes when short,
//!   else the words starting with it ([`super::prefixes`]);
//! - a word whose stem has 5+ characters: every term of the index within one edit of the
//!   stem (found by a walk of each segment's term dictionary, kept per segment: [`Neighbours`]).
//!
//! The clauses of one word over every field are one flat disjunction.
//!
//! **What a document matches never depends on other documents** (access rules: a caller
//! must not learn about records it cannot read from which of its own records match). So a
//! typo is looked for whether or not the word is in the index as typed, and neither a
//! prefix nor a typo stands for "the commonest N terms": both would be oracles into the
//! words of hidden records. Ranking (BM25's document frequencies) is over the whole index,
//! as in every engine that shares one index among callers.

use std::collections::BTreeSet;
use std::sync::Arc;

use keel_core::search::{QueryPart, SearchQuery, FUZZY_MIN_CHARS};
use tantivy::index::SegmentId;
use tantivy::query::{BooleanQuery, BoostQuery, ConstScoreQuery, FuzzyTermQuery, Occur, PhraseQuery, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Searcher, Term};

use super::prefixes::{prefix_term, MAX_PREFIX_CHARS};

/// What a prefix or typo match scores against an exact one (as a share of the weight).
const LOOSE_SHARE: f32 = 0.3;

/// A searchable field: its words (`f_<name>`), its prefixes (`p_<name>`, absent from indexes
/// made before they were indexed) and its weight.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Searched {
    pub(crate) field: Field,
    pub(crate) prefixes: Option<Field>,
    pub(crate) weight: f32,
}

/// The terms `text` gives through `analyzer` (lowercased, stemmed).
pub(crate) fn analyze(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut ts = analyzer.token_stream(text);
    while ts.advance() {
        out.push(ts.token().text.clone());
    }
    out
}

fn boosted(q: Box<dyn Query>, weight: f32) -> Box<dyn Query> {
    Box::new(BoostQuery::new(q, weight))
}

/// The one-edit neighbours of stems in one field, per segment, as looked up before: a
/// segment never changes (merges make new ones), so an entry of a segment still searched is
/// never stale; one of a merged-away segment is dropped when its stem is next looked up.
/// Walking each segment's term dictionary with a Levenshtein automaton for every word of 5+
/// letters was a seventh of a query's time on 1M documents (perf).
pub(crate) struct Neighbours(moka::sync::Cache<(Field, String), Arc<PerSegment>>);

type PerSegment = Vec<(SegmentId, Arc<[Term]>)>;

/// Stems (per field) whose neighbours are kept, per index.
const NEIGHBOURS_KEPT: u64 = 20_000;

impl Default for Neighbours {
    fn default() -> Self {
        Neighbours(moka::sync::Cache::new(NEIGHBOURS_KEPT))
    }
}

/// The terms of one segment's `field` within one edit of the automaton's stem.
fn walk(segment: &tantivy::SegmentReader, field: Field, dfa: Option<&tantivy::query::DfaWrapper>) -> Arc<[Term]> {
    let mut out = Vec::new();
    if let (Some(dfa), Ok(inverted)) = (dfa, segment.inverted_index(field)) {
        if let Ok(mut stream) = inverted.terms().search(dfa).into_stream() {
            while stream.advance() {
                if let Ok(t) = std::str::from_utf8(stream.key()) {
                    out.push(Term::from_field_text(field, t));
                }
            }
        }
    }
    out.into()
}

/// Every term of `field` (in any segment) within one edit of `stem` (itself included, so that
/// an exact match also scores what a typo does), in order.
fn typo_terms(searcher: &Searcher, known: &Neighbours, field: Field, stem: &str) -> Vec<Term> {
    let key = (field, stem.to_string());
    let before = known.0.get(&key);
    let mut dfa = None;
    let mut now: PerSegment = Vec::with_capacity(searcher.segment_readers().len());
    for segment in searcher.segment_readers() {
        let id = segment.segment_id();
        let kept = before
            .as_ref()
            .and_then(|b| b.iter().find(|(s, _)| *s == id).map(|(_, t)| t.clone()));
        let terms = match kept {
            Some(t) => t,
            None => {
                let dfa = dfa.get_or_insert_with(|| {
                    FuzzyTermQuery::new(Term::from_field_text(field, stem), 1, true)
                        .automaton()
                        .ok()
                });
                walk(segment, field, dfa.as_ref())
            }
        };
        now.push((id, terms));
    }
    let mut found: BTreeSet<Term> = BTreeSet::new();
    for (_, terms) in &now {
        found.extend(terms.iter().cloned());
    }
    if dfa.is_some() || before.as_ref().is_some_and(|b| b.len() != now.len()) {
        known.0.insert(key, Arc::new(now));
    }
    found.into_iter().collect()
}

/// Every term of `field` starting with `prefix`: in a prefix field, the whole words when
/// `prefix` is longer than [`MAX_PREFIX_CHARS`]; in a words field, its stems (indexes made
/// without prefix fields).
fn completions(searcher: &Searcher, field: Field, prefix: &str) -> Vec<Term> {
    let mut found: BTreeSet<Term> = BTreeSet::new();
    for segment in searcher.segment_readers() {
        let Ok(inverted) = segment.inverted_index(field) else {
            continue;
        };
        if let Ok(mut stream) = inverted.terms().range().ge(prefix.as_bytes()).into_stream() {
            while stream.advance() && stream.key().starts_with(prefix.as_bytes()) {
                if let Ok(t) = std::str::from_utf8(stream.key()) {
                    found.insert(Term::from_field_text(field, t));
                }
            }
        }
    }
    found.into_iter().collect()
}

/// What one word asks of one field, as clauses of the word's disjunction: its stem (BM25,
/// boosted by the weight), and in one constant-scored clause its prefix and typo terms. Flat,
/// not a disjunction of its own: a union nested in a union cost a query another pass.
#[allow(clippy::too_many_arguments)]
fn word_clauses(
    out: &mut Vec<(Occur, Box<dyn Query>)>,
    searcher: &Searcher,
    known: &Neighbours,
    f: Searched,
    stem: &str,
    raw: &str,
    prefix: bool,
    fuzzy: bool,
) {
    let term = Term::from_field_text(f.field, stem);
    out.push((
        Occur::Should,
        boosted(Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)), f.weight),
    ));
    let mut loose = Vec::new();
    if prefix {
        match (f.prefixes, prefix_term(raw)) {
            (Some(p), Some(word)) if word.chars().count() <= MAX_PREFIX_CHARS => {
                loose.push(Term::from_field_text(p, &word));
            }
            // Longer: the whole words starting with it (the only longer terms there).
            (Some(p), Some(word)) => loose.extend(completions(searcher, p, &word)),
            (None, Some(word)) => loose.extend(completions(searcher, f.field, &word)),
            (_, None) => {}
        }
    }
    if fuzzy {
        loose.extend(typo_terms(searcher, known, f.field, stem));
    }
    // A union of the posting lists, constant-scored. (`TermSetQuery` filled a bitset of the
    // whole segment for each: slower than the lists themselves on 1M documents.)
    let mut terms: Vec<Box<dyn Query>> = loose
        .into_iter()
        .map(|t| Box::new(TermQuery::new(t, IndexRecordOption::Basic)) as Box<dyn Query>)
        .collect();
    let any: Box<dyn Query> = match terms.len() {
        0 => return,
        1 => terms.remove(0),
        _ => Box::new(BooleanQuery::new(
            terms.into_iter().map(|q| (Occur::Should, q)).collect(),
        )),
    };
    out.push((
        Occur::Should,
        Box::new(ConstScoreQuery::new(any, f.weight * LOOSE_SHARE)),
    ));
}

/// Whether a word's stem may be matched within one edit: the word allows it and the stem has
/// 5+ characters (so "running" → "run" does not fuzz to "ran"). Never whether the index holds
/// the word (see the module docs).
pub(crate) fn may_be_typo(stem: &str, fuzzy: bool) -> bool {
    fuzzy && stem.chars().count() >= FUZZY_MIN_CHARS
}

fn part_query(
    searcher: &Searcher,
    known: &Neighbours,
    part: &QueryPart,
    fields: &[Searched],
    analyzer: &mut TextAnalyzer,
    loose: bool,
) -> Option<Box<dyn Query>> {
    let mut any: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    match part {
        QueryPart::Word { word, prefix, fuzzy } => {
            let stem = analyze(analyzer, word).into_iter().next()?;
            let fuzzy = loose && may_be_typo(&stem, *fuzzy);
            for &f in fields {
                word_clauses(&mut any, searcher, known, f, &stem, word, loose && *prefix, fuzzy);
            }
        }
        QueryPart::Phrase(words) => {
            let stems: Vec<String> = words.iter().flat_map(|w| analyze(analyzer, w)).collect();
            for &Searched { field, weight, .. } in fields {
                let terms: Vec<Term> = stems.iter().map(|s| Term::from_field_text(field, s)).collect();
                let q: Box<dyn Query> = match terms.len() {
                    0 => continue,
                    1 => Box::new(TermQuery::new(terms[0].clone(), IndexRecordOption::WithFreqs)),
                    _ => Box::new(PhraseQuery::new(terms)),
                };
                any.push((Occur::Should, boosted(q, weight)));
            }
        }
    }
    (!any.is_empty()).then(|| Box::new(BooleanQuery::new(any)) as Box<dyn Query>)
}

/// The tantivy query of `query` over `fields`, its typos widened to the terms `searcher`
/// holds; `None` when nothing in it can match (every word analyzed
/// away).
pub(crate) fn build(
    searcher: &Searcher,
    known: &Neighbours,
    query: &SearchQuery,
    fields: &[Searched],
    analyzer: &mut TextAnalyzer,
) -> Option<Box<dyn Query>> {
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for part in &query.include {
        clauses.push((Occur::Must, part_query(searcher, known, part, fields, analyzer, true)?));
    }
    for part in &query.exclude {
        if let Some(q) = part_query(searcher, known, part, fields, analyzer, false) {
            clauses.push((Occur::MustNot, q));
        }
    }
    (!clauses.is_empty()).then(|| Box::new(BooleanQuery::new(clauses)) as Box<dyn Query>)
}
