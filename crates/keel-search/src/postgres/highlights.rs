//! Highlights on the stored text: the words of the documents and of the query are stemmed
//! by PostgreSQL in one statement (the index's configuration), then matched and marked with
//! the shared helper (`<mark>`, the rest HTML-escaped), as the embedded provider does.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use keel_core::search::{Highlights, QueryPart, SearchQuery, SearchSettings, FUZZY_MIN_CHARS};
use keel_core::Result;
use keel_sql::{Engine, SqlBuf};
use serde_json::Value;

use crate::sql::{words, Wanted};

/// Every distinct word's stem (`None` for a word the language ignores).
async fn stems(
    engine: &Arc<dyn Engine>,
    language: &str,
    all: BTreeSet<String>,
) -> Result<HashMap<String, Option<String>>> {
    let mut buf = SqlBuf::new(engine.dialect());
    let cfg = buf.bind(Value::String(language.to_string()));
    let list = buf.bind(Value::Array(all.into_iter().map(Value::String).collect()));
    buf.push(&format!(
        "SELECT w.value AS word, (tsvector_to_array(to_tsvector({cfg}::regconfig, w.value)))[1] AS stem \
         FROM json_array_elements_text({list}::json) AS w"
    ));
    let rows = engine.fetch_all(&buf.text, &buf.params).await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let word = r.get("word")?.as_str()?.to_string();
            let stem = r.get("stem").and_then(Value::as_str).map(String::from);
            Some((word, stem))
        })
        .collect())
}

/// The highlights of `docs` (id, fields' stored text) for `query`.
pub(super) async fn mark(
    engine: &Arc<dyn Engine>,
    settings: &SearchSettings,
    query: &SearchQuery,
    docs: Vec<(String, BTreeMap<String, String>)>,
    typos: bool,
) -> Result<Vec<(String, Highlights)>> {
    let mut all: BTreeSet<String> = BTreeSet::new();
    for part in &query.include {
        match part {
            QueryPart::Word { word, .. } => {
                all.insert(word.clone());
            }
            QueryPart::Phrase(ws) => all.extend(ws.iter().cloned()),
        }
    }
    for (_, fields) in &docs {
        for text in fields.values() {
            all.extend(words(text).into_iter().map(|(_, _, w)| w));
        }
    }
    let stems = stems(engine, &settings.language.name(), all).await?;
    let stem = |w: &str| stems.get(w).and_then(|s| s.as_deref());
    let mut wanted = Wanted::default();
    for part in &query.include {
        match part {
            QueryPart::Word { word, prefix, fuzzy } => {
                if let Some(s) = stem(word) {
                    if typos && *fuzzy && s.chars().count() >= FUZZY_MIN_CHARS {
                        wanted.fuzzy.push(s.to_string());
                    }
                    wanted.exact.insert(s.to_string());
                }
                if *prefix {
                    wanted.prefixes.push(word.clone());
                }
            }
            QueryPart::Phrase(ws) => wanted.exact.extend(ws.iter().filter_map(|w| stem(w)).map(String::from)),
        }
    }
    Ok(docs
        .into_iter()
        .map(|(id, fields)| {
            let marks = wanted.highlight(&fields, |w| stem(w).map(String::from));
            (id, marks)
        })
        .collect())
}
