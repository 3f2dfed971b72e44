//! Searching a collection's records: the ranked ids a list is restricted to
//! (`records::list`, under the list rule and filter), and highlights of the records a list
//! returned.

use std::collections::HashMap;
use std::sync::Arc;

use keel_core::search::{Highlights, SearchHit, SearchQuery, MAX_HITS};
use keel_core::{Error, Result};
use keel_data::{Collection, Record};

use crate::App;

fn not_searchable(c: &Collection) -> Error {
    Error::field(
        "search",
        "validation_not_searchable",
        format!(
            "The collection {:?} is not searchable: give it a search option, e.g. \"search\": {{\"fields\": {{\"title\": 3, \"body\": 1}}}}.",
            c.name
        ),
    )
}

/// The parsed query of `text` on `c`; `None` when blank. A 400 naming `search` when `c` is
/// not searchable, search is unavailable, or the query is bad.
pub fn parse(app: &App, c: &Collection, text: &str) -> Result<Option<SearchQuery>> {
    let q = SearchQuery::parse(text)?;
    if q.is_empty() {
        return Ok(None);
    }
    if c.search.is_none() {
        return Err(not_searchable(c));
    }
    app.search.provider("search")?;
    Ok(Some(q))
}

/// The ids of `c`'s records matching `query`, best first, at most [`MAX_HITS`] (the cap of
/// a records search: only the best 10,000 matches are then filtered by the rules).
pub async fn search_ids(app: &App, c: &Arc<Collection>, query: &SearchQuery) -> Result<Vec<String>> {
    Ok(search_hits(app, c, query).await?.into_iter().map(|h| h.id).collect())
}

/// [`search_ids`] with each match's score (comparable only within this answer).
pub async fn search_hits(app: &App, c: &Arc<Collection>, query: &SearchQuery) -> Result<Vec<SearchHit>> {
    let provider = app.search.provider("search")?;
    if !app.search.is_open(&c.id) {
        return Err(Error::Unavailable(format!(
            "The search index of {:?} is being opened; try again in a moment.",
            c.name
        )));
    }
    provider.search(&c.id, query, MAX_HITS).await
}

/// Highlights of `records` (ones a list returned to its caller) for `query`, by record id:
/// only the collection's searchable fields, never a hidden one.
pub async fn highlights(
    app: &App,
    c: &Arc<Collection>,
    query: &SearchQuery,
    records: &[Record],
) -> Result<HashMap<String, Highlights>> {
    let provider = app.search.provider("search")?;
    let Some(opt) = &c.search else {
        return Ok(HashMap::new());
    };
    let ids: Vec<String> = records.iter().map(|r| r.id().to_string()).collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let readable =
        |name: &str| opt.fields.contains_key(name) && c.field(name).is_some_and(|f| !f.hidden && !f.is_encrypted());
    let mut out = HashMap::new();
    for (id, mut marks) in provider.highlights(&c.id, query, &ids).await? {
        marks.retain(|name, _| readable(name));
        out.insert(id, marks);
    }
    Ok(out)
}
