//! What every provider's [`SearchIndex::query`](keel_core::search::SearchIndex::query)
//! shares once it has the candidates (the text's ranked matches, or every document): the
//! stored `{"source", "attributes"}` of each, the filter applied to the attributes, facet
//! counts over what is left, then the page.

use std::collections::{BTreeMap, HashSet};

use keel_core::search::{DocumentHit, SearchDocument, SearchRequest, SearchResults};
use serde_json::Value;

/// What a provider stores beside a document's text.
#[derive(Default, serde::Deserialize)]
struct Stored {
    #[serde(default)]
    source: Option<Value>,
    #[serde(default)]
    attributes: BTreeMap<String, Vec<Value>>,
}

/// The stored form of `doc`'s source and attributes (JSON text), `None` when it has neither
/// (a record's document).
pub(crate) fn stored(doc: &SearchDocument) -> Option<String> {
    (doc.source.is_some() || !doc.attributes.is_empty())
        .then(|| serde_json::json!({"source": doc.source, "attributes": doc.attributes}).to_string())
}

/// The answer to `req` from `candidates` (id, score, stored JSON), best first.
pub(crate) fn select(candidates: Vec<(String, f32, Option<String>)>, req: &SearchRequest) -> SearchResults {
    let mut out = SearchResults::default();
    let mut matched = Vec::new();
    for (id, score, raw) in candidates {
        let stored: Stored = raw.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default();
        if req.filter.as_ref().is_some_and(|f| !f.matches(&stored.attributes)) {
            continue;
        }
        for facet in &req.facets {
            let counts = out.facets.entry(facet.clone()).or_default();
            let mut seen = HashSet::new();
            for v in stored.attributes.get(facet).into_iter().flatten() {
                let key = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                if seen.insert(key.clone()) {
                    *counts.entry(key).or_default() += 1;
                }
            }
        }
        matched.push(DocumentHit {
            id,
            score,
            document: stored.source.unwrap_or(Value::Null),
        });
    }
    out.total = matched.len();
    out.hits = matched.into_iter().skip(req.offset).take(req.limit).collect();
    out
}
