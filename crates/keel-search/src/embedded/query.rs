//! Keel's parsed query ([`SearchQuery`]) as a tantivy query over an index's fields.
//!
//! Each included word or phrase is one `Must` clause, a disjunction over the fields, each
//! field's clause boosted by its weight; each excluded one is a `MustNot` clause (exact
//! words and phrases only). A word matches its stem exactly (BM25), and, scored lower and
//! constant-scored (so an exact match ranks first):
//!
//! - the last word, its raw form as a prefix: expanded to the [`MAX_EXPANSIONS`] commonest
//!   terms of the index that start with it (as Typesense's `max_candidates`), not to every one;
//! - a word of 5+ characters whose stem is in none of the fields (a typo, most likely): the
//!   [`MAX_EXPANSIONS`] commonest terms within one edit of it. A word the index holds as typed
//!   is not widened (as Typesense's `typo_tokens_threshold`: typos are looked for only when
//!   the text itself finds nothing).
//!
//! Walking the term dictionary for every long word and unioning every completion of a short
//! prefix were most of a query's time on 1M documents (perf: a fifth in the dictionary walk,
//! another in the unions).

use std::collections::HashMap;

use keel_core::search::{QueryPart, SearchQuery, FUZZY_MIN_CHARS};
use tantivy::query::{BooleanQuery, BoostQuery, ConstScoreQuery, FuzzyTermQuery, Occur, PhraseQuery, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Searcher, Term};

/// Most terms a prefix or a typo is widened to (the commonest first).
pub(crate) const MAX_EXPANSIONS: usize = 4;

/// What a prefix or typo match scores against an exact one (as a share of the weight).
const LOOSE_SHARE: f32 = 0.3;

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

/// How a word is widened beyond its exact stem.
enum Widen<'a> {
    Prefix(&'a str),
    Typo(&'a str),
}

/// The [`MAX_EXPANSIONS`] terms of `field` with the most documents (over every segment) that
/// `how` admits, best first.
fn expand(searcher: &Searcher, field: Field, how: Widen<'_>) -> Vec<Term> {
    let mut found: HashMap<Vec<u8>, u64> = HashMap::new();
    let typo = match how {
        Widen::Typo(stem) => FuzzyTermQuery::new(Term::from_field_text(field, stem), 1, true)
            .automaton()
            .ok(),
        Widen::Prefix(_) => None,
    };
    for segment in searcher.segment_readers() {
        let Ok(inverted) = segment.inverted_index(field) else {
            continue;
        };
        let terms = inverted.terms();
        match (&how, &typo) {
            (Widen::Prefix(p), _) => {
                if let Ok(mut stream) = terms.range().ge(p.as_bytes()).into_stream() {
                    while stream.advance() && stream.key().starts_with(p.as_bytes()) {
                        *found.entry(stream.key().to_vec()).or_default() += u64::from(stream.value().doc_freq);
                    }
                }
            }
            (Widen::Typo(_), Some(dfa)) => {
                if let Ok(mut stream) = terms.search(dfa).into_stream() {
                    while stream.advance() {
                        *found.entry(stream.key().to_vec()).or_default() += u64::from(stream.value().doc_freq);
                    }
                }
            }
            (Widen::Typo(_), None) => {}
        }
    }
    let mut found: Vec<(Vec<u8>, u64)> = found.into_iter().collect();
    found.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    found
        .into_iter()
        .take(MAX_EXPANSIONS)
        .filter_map(|(k, _)| String::from_utf8(k).ok())
        .map(|t| Term::from_field_text(field, &t))
        .collect()
}

/// Whether `stem` is a term of any of `fields` (in any segment).
pub(crate) fn known(searcher: &Searcher, fields: &[(Field, f32)], stem: &str) -> bool {
    fields.iter().any(|&(field, _)| {
        searcher
            .doc_freq(&Term::from_field_text(field, stem))
            .is_ok_and(|n| n > 0)
    })
}

fn word_query(
    searcher: &Searcher,
    (field, weight): (Field, f32),
    stem: &str,
    raw: &str,
    prefix: bool,
    fuzzy: bool,
) -> Box<dyn Query> {
    let term = Term::from_field_text(field, stem);
    let mut any: Vec<(Occur, Box<dyn Query>)> = vec![(
        Occur::Should,
        boosted(Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)), weight),
    )];
    let mut loose = Vec::new();
    if prefix {
        loose.extend(expand(searcher, field, Widen::Prefix(raw)));
    }
    if fuzzy {
        loose.extend(expand(searcher, field, Widen::Typo(stem)));
    }
    if !loose.is_empty() {
        // A union of the few posting lists, constant-scored. (`TermSetQuery` filled a bitset
        // of the whole segment for each: slower than the lists themselves on 1M documents.)
        let terms: Vec<(Occur, Box<dyn Query>)> = loose
            .into_iter()
            .map(|t| {
                let q: Box<dyn Query> = Box::new(TermQuery::new(t, IndexRecordOption::Basic));
                (Occur::Should, q)
            })
            .collect();
        let union = ConstScoreQuery::new(Box::new(BooleanQuery::new(terms)), weight * LOOSE_SHARE);
        any.push((Occur::Should, Box::new(union)));
    }
    Box::new(BooleanQuery::new(any))
}

/// Whether a word's stem may be matched within one edit: the word allows it, the stem has
/// 5+ characters (so "running" → "run" does not fuzz to "ran"), and no field holds it as is.
pub(crate) fn may_be_typo(searcher: &Searcher, fields: &[(Field, f32)], stem: &str, fuzzy: bool) -> bool {
    fuzzy && stem.chars().count() >= FUZZY_MIN_CHARS && !known(searcher, fields, stem)
}

fn part_query(
    searcher: &Searcher,
    part: &QueryPart,
    fields: &[(Field, f32)],
    analyzer: &mut TextAnalyzer,
    loose: bool,
) -> Option<Box<dyn Query>> {
    let mut any: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    match part {
        QueryPart::Word { word, prefix, fuzzy } => {
            let stem = analyze(analyzer, word).into_iter().next()?;
            let fuzzy = loose && may_be_typo(searcher, fields, &stem, *fuzzy);
            for &fw in fields {
                let q = word_query(searcher, fw, &stem, word, loose && *prefix, fuzzy);
                any.push((Occur::Should, q));
            }
        }
        QueryPart::Phrase(words) => {
            let stems: Vec<String> = words.iter().flat_map(|w| analyze(analyzer, w)).collect();
            for &(field, weight) in fields {
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

/// The tantivy query of `query` over `fields` (field, weight), its prefixes and typos widened
/// to the terms `searcher` holds; `None` when nothing in it can match (every word analyzed
/// away).
pub(crate) fn build(
    searcher: &Searcher,
    query: &SearchQuery,
    fields: &[(Field, f32)],
    analyzer: &mut TextAnalyzer,
) -> Option<Box<dyn Query>> {
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for part in &query.include {
        clauses.push((Occur::Must, part_query(searcher, part, fields, analyzer, true)?));
    }
    for part in &query.exclude {
        if let Some(q) = part_query(searcher, part, fields, analyzer, false) {
            clauses.push((Occur::MustNot, q));
        }
    }
    (!clauses.is_empty()).then(|| Box::new(BooleanQuery::new(clauses)) as Box<dyn Query>)
}
