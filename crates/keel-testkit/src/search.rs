//! The search behaviour suite: what every `SearchIndex` provider must do. A provider is done
//! when [`search_suite`] passes on it. Behaviours a provider's capabilities rule out (typos
//! on a provider without `typo_tolerance`, …) are skipped with a line saying so.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use keel_core::search::{IndexState, Language, SearchDocument, SearchIndex, SearchQuery, SearchSettings};

use crate::random_name;

type Case = fn(Arc<dyn SearchIndex>, String) -> BoxFuture<'static, ()>;

/// Runs every search behaviour against providers made by `make` (called once per behaviour),
/// each in a fresh random index dropped at the end. Panics, naming the behaviour, on the
/// first failure.
pub async fn search_suite<F>(make: F)
where
    F: Fn() -> BoxFuture<'static, Arc<dyn SearchIndex>>,
{
    let cases: [(&str, Case); 10] = [
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
    }
}

fn doc(id: &str, title: &str, body: &str) -> SearchDocument {
    SearchDocument {
        id: id.into(),
        fields: BTreeMap::from([
            ("title".to_string(), title.to_string()),
            ("body".to_string(), body.to_string()),
        ]),
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
