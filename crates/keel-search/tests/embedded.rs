//! The embedded provider passes the search suite, and says after a restart whether its index
//! is in step.

use std::collections::BTreeMap;
use std::sync::Arc;

use keel_core::search::{IndexState, Language, SearchDocument, SearchIndex, SearchQuery, SearchSettings};
use keel_search::embedded::EmbeddedSearch;

#[tokio::test]
async fn embedded_passes_the_search_suite() {
    let dir = tempfile::tempdir().unwrap();
    let search: Arc<dyn SearchIndex> = EmbeddedSearch::new(dir.path().join("search")).unwrap();
    keel_testkit::search_suite(move || {
        let s = search.clone();
        Box::pin(async move { s })
    })
    .await;
}

fn settings() -> SearchSettings {
    SearchSettings {
        fields: BTreeMap::from([("title".to_string(), 1)]),
        language: Language::English,
        filterable: Vec::new(),
    }
}

#[tokio::test]
async fn a_restart_after_close_is_in_step_and_after_a_crash_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("search");
    let doc = SearchDocument {
        id: "a".into(),
        fields: BTreeMap::from([("title".to_string(), "hello world".to_string())]),
        ..Default::default()
    };
    {
        let s = EmbeddedSearch::new(&root).unwrap();
        assert_eq!(s.ensure("c1", &settings()).await.unwrap(), IndexState::Empty);
        s.upsert("c1", vec![doc.clone()]).await.unwrap();
        s.close().await.unwrap();
    }
    {
        let s = EmbeddedSearch::new(&root).unwrap();
        assert_eq!(s.ensure("c1", &settings()).await.unwrap(), IndexState::InStep);
        let hits = s.search("c1", &SearchQuery::parse("hello").unwrap(), 10).await.unwrap();
        assert_eq!(hits.len(), 1, "the documents survive a restart");
        // Dropped without close: as after a crash.
    }
    let s = EmbeddedSearch::new(&root).unwrap();
    assert_eq!(s.ensure("c1", &settings()).await.unwrap(), IndexState::Unknown);
    s.close().await.unwrap();
    s.upsert("c1", vec![doc]).await.unwrap();
    drop(s);
    let s = EmbeddedSearch::new(&root).unwrap();
    assert_eq!(
        s.ensure("c1", &settings()).await.unwrap(),
        IndexState::Unknown,
        "a write after close is not in step"
    );
}

#[tokio::test]
async fn a_synced_write_survives_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("search");
    let doc = |id: &str, title: &str| SearchDocument {
        id: id.into(),
        fields: BTreeMap::from([("title".to_string(), title.to_string())]),
        ..Default::default()
    };
    {
        let s = EmbeddedSearch::new(&root).unwrap();
        s.ensure("c1", &settings()).await.unwrap();
        s.upsert("c1", vec![doc("a", "hello world")]).await.unwrap();
        s.sync("c1").await.unwrap();
        s.delete("c1", &["missing".to_string()]).await.unwrap();
        s.upsert("c1", vec![doc("b", "hello again")]).await.unwrap();
        // Dropped without close or sync: "b" may be lost, "a" may not.
    }
    let s = EmbeddedSearch::new(&root).unwrap();
    assert_eq!(s.ensure("c1", &settings()).await.unwrap(), IndexState::Unknown);
    let hits = s.search("c1", &SearchQuery::parse("hello").unwrap(), 10).await.unwrap();
    assert!(hits.iter().any(|h| h.id == "a"), "a synced write is durable: {hits:?}");
}

#[tokio::test]
async fn clear_drops_the_writes_queued_before_it_and_keeps_later_ones() {
    let dir = tempfile::tempdir().unwrap();
    let s = EmbeddedSearch::new(dir.path().join("search")).unwrap();
    s.ensure("c1", &settings()).await.unwrap();
    let doc = |id: &str| SearchDocument {
        id: id.into(),
        fields: BTreeMap::from([("title".to_string(), "hello".to_string())]),
        ..Default::default()
    };
    s.upsert("c1", vec![doc("before")]).await.unwrap();
    s.clear("c1").await.unwrap();
    s.upsert("c1", vec![doc("after")]).await.unwrap();
    let hits = s.search("c1", &SearchQuery::parse("hello").unwrap(), 10).await.unwrap();
    let ids: Vec<&str> = hits.iter().map(|h| h.id.as_str()).collect();
    assert_eq!(ids, ["after"]);
}

fn titled(id: &str, title: &str) -> SearchDocument {
    SearchDocument {
        id: id.into(),
        fields: BTreeMap::from([("title".to_string(), title.to_string())]),
        ..Default::default()
    }
}

async fn ids(s: &EmbeddedSearch, q: &str) -> Vec<String> {
    let mut ids: Vec<String> = s
        .search("c1", &SearchQuery::parse(q).unwrap(), 50)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn what_a_document_matches_never_depends_on_the_other_documents() {
    // The access-rule oracle this guards against: a caller holding "gardin" searches "garden";
    // were typos looked for only when the word is missing from the index, finding "gardin"
    // would tell it no record it cannot read holds "garden". Likewise a prefix standing for
    // its commonest completions would drop the caller's rare one once hidden records hold
    // many others.
    let dir = tempfile::tempdir().unwrap();
    let s = EmbeddedSearch::new(dir.path().join("search")).unwrap();
    s.ensure("c1", &settings()).await.unwrap();
    s.upsert(
        "c1",
        vec![titled("gardin", "gardin curtains"), titled("plasma", "plasma")],
    )
    .await
    .unwrap();
    assert_eq!(ids(&s, "garden").await, ["gardin"]);
    assert_eq!(ids(&s, "pla").await, ["plasma"]);

    let mut others = vec![titled("garden", "garden party")];
    for word in ["plate", "plane", "planet", "plaza", "plank", "plain", "plan", "play"] {
        for i in 0..3 {
            others.push(titled(&format!("{word}{i}"), word));
        }
    }
    s.upsert("c1", others).await.unwrap();
    // The one-edit neighbour is still found beside the exact word.
    assert_eq!(ids(&s, "garden").await, ["garden", "gardin"]);
    // Every completion of a prefix, the rarest too.
    let found = ids(&s, "pla").await;
    assert_eq!(found.len(), 25, "{found:?}");
    assert!(found.iter().any(|id| id == "plasma"), "{found:?}");
    assert_eq!(ids(&s, "plas").await, ["plasma"]);
    // Past 4 letters a prefix is the words starting with it.
    assert_eq!(ids(&s, "Plasm").await, ["plasma"]);
    assert_eq!(ids(&s, "plan").await.len(), 12, "plan, plane, planet and plank");
    s.close().await.unwrap();
}
