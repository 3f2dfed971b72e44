//! The search behaviour suite: what every `SearchIndex` provider must do. A provider is done
//! when [`search_suite`] passes on it. Behaviours a provider's capabilities rule out (typos
//! on a provider without `typo_tolerance`, …) are skipped with a line saying so.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use keel_core::search::{
    Filter, IndexState, Language, SearchDocument, SearchIndex, SearchQuery, SearchRequest, SearchSettings,
};
use serde_json::{json, Value};

use crate::random_name;

type Case = fn(Arc<dyn SearchIndex>, String) -> BoxFuture<'static, ()>;

/// Runs every search behaviour against providers made by `make` (called once per behaviour),
/// each in a fresh random index dropped at the end. Panics, naming the behaviour, on the
/// first failure.
pub async fn search_suite<F>(make: F)
where
    F: Fn() -> BoxFuture<'static, Arc<dyn SearchIndex>>,
{
    let cases: [(&str, Case); 12] = [
        ("ranking_follows_field_weights", |s, n| {
            Box::pin(ranking_follows_field_weights(s, n))
        }),
        ("stemming", |s, n| Box::pin(stemming(s, n))),
        ("last_word_is_a_prefix", |s, n| Box::pin(last_word_is_a_prefix(s, n))),
        ("one_typo_in_long_words", |s, n| Box::pin(one_typo_in_long_words(s, n))),
        ("phrases_and_word_order", |s, n| Box::pin(phrases_and_word_order(s, n))),
        ("exclusions", |s, n| Box::pin(exclusions(s, n))),
        ("deletes_and_updates", |s, n| Box::pin(deletes_and_updates(s, n))),
        ("settings_change_empties", |s, n| {
            Box::pin(settings_change_empties(s, n))
        }),
        ("indexes_are_isolated", |s, n| Box::pin(indexes_are_isolated(s, n))),
        ("highlights", |s, n| Box::pin(highlights(s, n))),
        ("filters_and_facets", |s, n| Box::pin(filters_and_facets(s, n))),
        ("stored_documents_and_listing", |s, n| {
            Box::pin(stored_documents_and_listing(s, n))
        }),
    ];
    for (name, case) in cases {
        let search = make().await;
        let index = format!("suite_{}", random_name());
        println!("search suite: {name}");
        case(search.clone(), index.clone()).await;
        search.drop_index(&index).await.unwrap();
    }
}

fn settings() -> SearchSettings {
    SearchSettings {
        fields: BTreeMap::from([("title".to_string(), 3), ("body".to_string(), 1)]),
        language: Language::English,
        filterable: Vec::new(),
    }
}

fn doc(id: &str, title: &str, body: &str) -> SearchDocument {
    SearchDocument {
        id: id.into(),
        fields: BTreeMap::from([
            ("title".to_string(), title.to_string()),
            ("body".to_string(), body.to_string()),
        ]),
        ..Default::default()
    }
}

async fn ids(s: &Arc<dyn SearchIndex>, index: &str, q: &str) -> Vec<String> {
    let query = SearchQuery::parse(q).unwrap();
    s.search(index, &query, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect()
}

async fn fill(s: &Arc<dyn SearchIndex>, index: &str) {
    assert_eq!(s.ensure(index, &settings()).await.unwrap(), IndexState::Empty);
    s.upsert(
        index,
        vec![
            doc("d1", "The quick brown fox", "jumps over the lazy dog"),
            doc("d2", "A brown dog", "chased a fox and runs home"),
            doc("d3", "Running notes", "nothing else here"),
        ],
    )
    .await
    .unwrap();
}

async fn ranking_follows_field_weights(s: Arc<dyn SearchIndex>, index: String) {
    assert_eq!(s.ensure(&index, &settings()).await.unwrap(), IndexState::Empty);
    s.upsert(
        &index,
        vec![
            doc("body", "a plain heading", "the word zebra lives here"),
            doc("title", "zebra crossing", "a plain text here"),
            doc("none", "nothing", "to see"),
        ],
    )
    .await
    .unwrap();
    let hits = s
        .search(&index, &SearchQuery::parse("zebra").unwrap(), 10)
        .await
        .unwrap();
    let got: Vec<&str> = hits.iter().map(|h| h.id.as_str()).collect();
    assert_eq!(
        got,
        ["title", "body"],
        "a title (weight 3) match outranks a body (weight 1) one"
    );
    assert!(hits[0].score > hits[1].score);
    let limited = s
        .search(&index, &SearchQuery::parse("plain").unwrap(), 1)
        .await
        .unwrap();
    assert_eq!(limited.len(), 1, "limit caps the hits");
}

async fn stemming(s: Arc<dyn SearchIndex>, index: String) {
    if !s.capabilities().stemming {
        return println!("  skipped: no stemming");
    }
    fill(&s, &index).await;
    let mut got = ids(&s, &index, "running home").await;
    got.sort();
    assert_eq!(got, ["d2"], "'running' finds 'runs'");
    let mut got = ids(&s, &index, "run").await;
    got.sort();
    assert_eq!(got, ["d2", "d3"]);
}

async fn last_word_is_a_prefix(s: Arc<dyn SearchIndex>, index: String) {
    if !s.capabilities().prefix {
        return println!("  skipped: no prefix matching");
    }
    fill(&s, &index).await;
    assert_eq!(ids(&s, &index, "qui").await, ["d1"], "'qui' finds 'quick'");
    assert_eq!(ids(&s, &index, "lazy qui").await, ["d1"]);
    assert!(
        ids(&s, &index, "qui lazy").await.is_empty(),
        "only the last word is a prefix"
    );
}

async fn one_typo_in_long_words(s: Arc<dyn SearchIndex>, index: String) {
    if !s.capabilities().typo_tolerance {
        return println!("  skipped: no typo tolerance");
    }
    fill(&s, &index).await;
    assert_eq!(ids(&s, &index, "quikc").await, ["d1"], "a swap is one edit");
    let mut got = ids(&s, &index, "brwon dog").await;
    got.sort();
    assert_eq!(got, ["d1", "d2"]);
    assert!(ids(&s, &index, "qiukc").await.is_empty(), "two edits find nothing");
    assert!(
        ids(&s, &index, "jupm fox").await.is_empty(),
        "a 4-letter word is not fuzzed"
    );
}

async fn phrases_and_word_order(s: Arc<dyn SearchIndex>, index: String) {
    fill(&s, &index).await;
    let mut got = ids(&s, &index, "fox brown").await;
    got.sort();
    assert_eq!(got, ["d1", "d2"], "words in any order, in any field");
    if !s.capabilities().phrases {
        return println!("  skipped: no phrases");
    }
    assert_eq!(ids(&s, &index, "\"brown fox\"").await, ["d1"]);
    assert!(ids(&s, &index, "\"fox brown\"").await.is_empty());
}

async fn exclusions(s: Arc<dyn SearchIndex>, index: String) {
    fill(&s, &index).await;
    assert_eq!(ids(&s, &index, "fox -chased").await, ["d1"]);
    assert_eq!(ids(&s, &index, "fox -\"lazy dog\"").await, ["d2"]);
}

async fn deletes_and_updates(s: Arc<dyn SearchIndex>, index: String) {
    fill(&s, &index).await;
    s.delete(&index, &["d1".to_string(), "absent".to_string()])
        .await
        .unwrap();
    assert!(
        ids(&s, &index, "quick").await.is_empty(),
        "a deleted document is not found"
    );
    s.upsert(&index, vec![doc("d2", "A green turtle", "")]).await.unwrap();
    assert!(
        ids(&s, &index, "chased").await.is_empty(),
        "an update replaces the whole document"
    );
    assert_eq!(ids(&s, &index, "turtle").await, ["d2"]);
    s.clear(&index).await.unwrap();
    assert!(
        ids(&s, &index, "notes").await.is_empty(),
        "clear removes every document"
    );
}

async fn settings_change_empties(s: Arc<dyn SearchIndex>, index: String) {
    fill(&s, &index).await;
    assert_eq!(s.ensure(&index, &settings()).await.unwrap(), IndexState::InStep);
    assert_eq!(
        ids(&s, &index, "quick").await,
        ["d1"],
        "same settings keep the documents"
    );
    let mut other = settings();
    other.fields.insert("title".into(), 2);
    assert_eq!(s.ensure(&index, &other).await.unwrap(), IndexState::Empty);
    assert!(ids(&s, &index, "quick").await.is_empty());
}

async fn indexes_are_isolated(s: Arc<dyn SearchIndex>, index: String) {
    fill(&s, &index).await;
    let other = format!("{index}_b");
    s.ensure(&other, &settings()).await.unwrap();
    assert!(ids(&s, &other, "quick").await.is_empty());
    s.drop_index(&other).await.unwrap();
    assert_eq!(ids(&s, &index, "quick").await, ["d1"]);
}

async fn highlights(s: Arc<dyn SearchIndex>, index: String) {
    if !s.capabilities().highlights {
        return println!("  skipped: no highlights");
    }
    fill(&s, &index).await;
    s.upsert(&index, vec![doc("x", "<b>quick</b> & co", "")]).await.unwrap();
    let q = SearchQuery::parse("quick fo").unwrap();
    let got = s
        .highlights(&index, &q, &["d1".into(), "absent".into(), "x".into()])
        .await
        .unwrap();
    assert_eq!(got.len(), 2, "absent ids are left out: {got:?}");
    assert_eq!(got[0].0, "d1");
    assert_eq!(got[0].1["title"], "The <mark>quick</mark> brown <mark>fox</mark>");
    assert!(
        !got[0].1.contains_key("body"),
        "a field without a match has no highlight"
    );
    assert_eq!(
        got[1].1["title"], "&lt;b&gt;<mark>quick</mark>&lt;/b&gt; &amp; co",
        "the text is escaped"
    );
}

fn product(id: &str, title: &str, category: &str, year: i64, tags: &[&str]) -> SearchDocument {
    let source = json!({"id": id, "title": title, "category": category, "year": year, "tags": tags});
    SearchDocument {
        id: id.into(),
        fields: BTreeMap::from([("title".to_string(), title.to_string())]),
        attributes: BTreeMap::from([
            ("category".to_string(), vec![json!(category)]),
            ("year".to_string(), vec![json!(year)]),
            ("tags".to_string(), tags.iter().map(|t| json!(t)).collect()),
        ]),
        source: Some(source),
    }
}

/// A free-standing index: settings with filterable attributes, filled with products.
async fn products(s: &Arc<dyn SearchIndex>, index: &str) -> Vec<String> {
    let filterable: Vec<String> = ["category", "year", "tags"].map(String::from).to_vec();
    let settings = SearchSettings {
        fields: BTreeMap::from([("title".to_string(), 1)]),
        language: Language::English,
        filterable: filterable.clone(),
    };
    assert_eq!(s.ensure(index, &settings).await.unwrap(), IndexState::Empty);
    s.upsert(
        index,
        vec![
            product("p1", "Rust in action", "books", 2021, &["rust", "systems"]),
            product("p2", "Rust for rustaceans", "books", 2019, &["rust"]),
            product("p3", "Rust belt documentary", "films", 2022, &["history"]),
            product("p4", "Gardening basics", "books", 2023, &[]),
        ],
    )
    .await
    .unwrap();
    filterable
}

fn request(q: &str, filter: Option<&str>, filterable: &[String], facets: &[&str]) -> SearchRequest {
    SearchRequest {
        query: SearchQuery::parse(q).unwrap(),
        filter: filter.and_then(|f| Filter::parse(f, filterable).unwrap()),
        facets: facets.iter().map(|f| f.to_string()).collect(),
        offset: 0,
        limit: 100,
    }
}

async fn filters_and_facets(s: Arc<dyn SearchIndex>, index: String) {
    if !s.capabilities().documents {
        println!("search suite: skipped filters_and_facets (no free-standing indexes on this provider)");
        return;
    }
    let filterable = products(&s, &index).await;
    let ids = |r: &keel_core::search::SearchResults| r.hits.iter().map(|h| h.id.clone()).collect::<Vec<_>>();
    // Text, then the filter, then facet counts over what is left.
    let r = s
        .query(&index, &request("rust", None, &filterable, &["category", "tags"]))
        .await
        .unwrap();
    assert_eq!(r.total, 3);
    assert_eq!(
        r.facets["category"],
        BTreeMap::from([("books".into(), 2), ("films".into(), 1)])
    );
    assert_eq!(
        r.facets["tags"],
        BTreeMap::from([("rust".into(), 2), ("systems".into(), 1), ("history".into(), 1)])
    );
    let r = s
        .query(
            &index,
            &request(
                "rust",
                Some("category = 'books' && year >= 2020"),
                &filterable,
                &["year"],
            ),
        )
        .await
        .unwrap();
    assert_eq!((ids(&r), r.total), (vec!["p1".to_string()], 1));
    assert_eq!(r.facets["year"], BTreeMap::from([("2021".into(), 1)]));
    // No text: every document the filter lets through, by id; an array matches on any value.
    let r = s
        .query(
            &index,
            &request("", Some("tags = 'rust' || year > 2022"), &filterable, &[]),
        )
        .await
        .unwrap();
    assert_eq!(ids(&r), ["p1", "p2", "p4"]);
    let r = s
        .query(&index, &request("", Some("category != 'books'"), &filterable, &[]))
        .await
        .unwrap();
    assert_eq!(ids(&r), ["p3"]);
    // Paging keeps the total.
    let mut req = request("", None, &filterable, &["category"]);
    (req.offset, req.limit) = (1, 2);
    let r = s.query(&index, &req).await.unwrap();
    assert_eq!((ids(&r), r.total), (vec!["p2".to_string(), "p3".to_string()], 4));
    assert_eq!(r.facets["category"]["books"], 3, "facets count the whole matching set");
    // A document replaced or deleted is filtered and counted as it now is.
    s.upsert(&index, vec![product("p2", "Rust for rustaceans", "films", 2019, &[])])
        .await
        .unwrap();
    s.delete(&index, &["p3".to_string()]).await.unwrap();
    let r = s
        .query(&index, &request("rust", None, &filterable, &["category"]))
        .await
        .unwrap();
    assert_eq!(
        r.facets["category"],
        BTreeMap::from([("books".into(), 1), ("films".into(), 1)])
    );
}

async fn stored_documents_and_listing(s: Arc<dyn SearchIndex>, index: String) {
    if !s.capabilities().documents {
        println!("search suite: skipped stored_documents_and_listing (no free-standing indexes on this provider)");
        return;
    }
    let filterable = products(&s, &index).await;
    let r = s
        .query(&index, &request("gardening", None, &filterable, &[]))
        .await
        .unwrap();
    assert_eq!(r.hits.len(), 1);
    assert_eq!(
        r.hits[0].document,
        json!({"id": "p4", "title": "Gardening basics", "category": "books", "year": 2023, "tags": Vec::<Value>::new()})
    );
    let listed = s.indexes(&index).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].0.as_str(), listed[0].1.filterable.len()),
        (index.as_str(), 3)
    );
    assert!(s.indexes("no_such_prefix_").await.unwrap().is_empty());
}
