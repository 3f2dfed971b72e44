//! The PostgreSQL provider passes the search suite on a real server
//! (`KEEL_TEST_POSTGRES_URL`), in a fresh schema, and its index survives a new provider on
//! the same database in step.

use std::collections::BTreeMap;
use std::sync::Arc;

use keel_core::search::{IndexState, Language, SearchDocument, SearchIndex, SearchQuery, SearchSettings};
use keel_search::postgres::PostgresSearch;
use keel_sql::postgres::PgEngine;
use keel_sql::Engine;

#[tokio::test]
async fn postgres_passes_the_search_suite() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_POSTGRES_URL") else {
        return;
    };
    let schema = keel_testkit::postgres::fresh_schema(&url, 4).await;
    let engine: Arc<dyn Engine> = Arc::new(PgEngine::new(schema.pool.clone()));
    let search: Arc<dyn SearchIndex> = PostgresSearch::open(engine).await.unwrap();
    assert!(
        search.capabilities().typo_tolerance,
        "pg_trgm is installed on the test server"
    );
    keel_testkit::search_suite(move || {
        let s = search.clone();
        Box::pin(async move { s })
    })
    .await;
    schema.drop_schema().await;
}

#[tokio::test]
async fn another_process_finds_the_index_in_step() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_POSTGRES_URL") else {
        return;
    };
    let schema = keel_testkit::postgres::fresh_schema(&url, 4).await;
    let settings = SearchSettings {
        fields: BTreeMap::from([("title".to_string(), 1)]),
        language: Language::English,
        filterable: Vec::new(),
    };
    let open = || async {
        PostgresSearch::open(Arc::new(PgEngine::new(schema.pool.clone())))
            .await
            .unwrap()
    };
    let first = open().await;
    assert_eq!(first.ensure("c1", &settings).await.unwrap(), IndexState::Empty);
    let doc = SearchDocument {
        id: "a".into(),
        fields: BTreeMap::from([("title".to_string(), "hello world".to_string())]),
        ..Default::default()
    };
    first.upsert("c1", vec![doc]).await.unwrap();
    drop(first); // No close: as after a crash.
    let second = open().await;
    assert_eq!(second.ensure("c1", &settings).await.unwrap(), IndexState::InStep);
    let hits = second
        .search("c1", &SearchQuery::parse("hello").unwrap(), 10)
        .await
        .unwrap();
    assert_eq!(hits.len(), 1, "the documents are the database's");
    schema.drop_schema().await;
}
