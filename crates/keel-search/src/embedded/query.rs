//! Keel's parsed query ([`SearchQuery`]) as a tantivy query over an index's fields.
//!
//! Each included word or phrase is one `Must` clause, a disjunction over the fields, each
//! field's clause boosted by its weight; each excluded one is a `MustNot` clause (exact
//! words and phrases only). A word matches its stem exactly (BM25), and, scored lower, its
//! raw form as a prefix (the last word) and its stem within one edit (words and stems of
//! 5+ characters); typo and prefix matches are constant-scored, so an exact match ranks first.

use keel_core::search::{QueryPart, SearchQuery, FUZZY_MIN_CHARS};
use tantivy::query::{BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, PhraseQuery, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::Term;

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

fn word_query(field: Field, weight: f32, stem: &str, raw: &str, prefix: bool, fuzzy: bool) -> Box<dyn Query> {
    let term = Term::from_field_text(field, stem);
    let mut any: Vec<(Occur, Box<dyn Query>)> = vec![(
        Occur::Should,
        boosted(
            Box::new(TermQuery::new(term.clone(), IndexRecordOption::WithFreqs)),
            weight,
        ),
    )];
    if prefix {
        let q = FuzzyTermQuery::new_prefix(Term::from_field_text(field, raw), 0, true);
        any.push((Occur::Should, boosted(Box::new(q), weight * LOOSE_SHARE)));
    }
    if fuzzy {
        any.push((
            Occur::Should,
            boosted(Box::new(FuzzyTermQuery::new(term, 1, true)), weight * LOOSE_SHARE),
        ));
    }
    Box::new(BooleanQuery::new(any))
}

fn part_query(
    part: &QueryPart,
    fields: &[(Field, f32)],
    analyzer: &mut TextAnalyzer,
    loose: bool,
) -> Option<Box<dyn Query>> {
    let mut any: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    match part {
        QueryPart::Word { word, prefix, fuzzy } => {
            let stem = analyze(analyzer, word).into_iter().next()?;
            // The typo allowance goes by the stem too ("running" → "run" does not fuzz to "ran").
            let fuzzy = loose && *fuzzy && stem.chars().count() >= FUZZY_MIN_CHARS;
            for &(field, weight) in fields {
                let q = word_query(field, weight, &stem, word, loose && *prefix, fuzzy);
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

/// The tantivy query of `query` over `fields` (field, weight); `None` when nothing in it can
/// match (every word analyzed away).
pub(crate) fn build(
    query: &SearchQuery,
    fields: &[(Field, f32)],
    analyzer: &mut TextAnalyzer,
) -> Option<Box<dyn Query>> {
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for part in &query.include {
        clauses.push((Occur::Must, part_query(part, fields, analyzer, true)?));
    }
    for part in &query.exclude {
        if let Some(q) = part_query(part, fields, analyzer, false) {
            clauses.push((Occur::MustNot, q));
        }
    }
    (!clauses.is_empty()).then(|| Box::new(BooleanQuery::new(clauses)) as Box<dyn Query>)
}
