//! The records-engine behaviour suite on MariaDB/MySQL (`KEEL_TEST_MYSQL_URL`): each case
//! in its own fresh database, dropped after it.

use std::sync::Arc;

use keel_data::Store;
use keel_sql::mysql::MySqlEngine;
use keel_testkit::mysql::fresh_database;
use keel_testkit::records::FreshStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_passes_the_records_suite() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_MYSQL_URL") else {
        return;
    };
    keel_testkit::records_suite("mysql", move || {
        let url = url.clone();
        Box::pin(async move {
            let db = fresh_database(&url).await;
            let engine = MySqlEngine::connect(&db.url, 4).await.unwrap();
            let store = Arc::new(Store::open(Arc::new(engine)).await.unwrap());
            FreshStore {
                store,
                cleanup: Some(Box::pin(db.drop_database())),
            }
        })
    })
    .await;
}

/// MariaDB and MySQL have no partial index: a collection index with `WHERE` is refused
/// with a 400 naming it, before anything changes.
#[tokio::test]
async fn partial_indexes_are_refused_naming_the_index() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_MYSQL_URL") else {
        return;
    };
    let db = fresh_database(&url).await;
    let engine = MySqlEngine::connect(&db.url, 2).await.unwrap();
    let store = Store::open(Arc::new(engine)).await.unwrap();
    let e = store
        .create_collection(serde_json::json!({
            "name": "notes",
            "fields": [{"name": "code", "type": "text"}],
            "indexes": ["CREATE INDEX idx_a ON notes (code)",
                        "CREATE UNIQUE INDEX idx_b ON notes (code) WHERE code != ''"]
        }))
        .await
        .unwrap_err();
    let keel_core::Error::BadRequest { fields, .. } = &e else {
        panic!("expected a 400, got {e:?}")
    };
    assert_eq!(
        fields.get("indexes.1").map(|f| f.code.as_str()),
        Some("validation_partial_index_unsupported")
    );
    assert!(store.collection("notes").is_err());
    drop(store);
    db.drop_database().await;
}

/// A pool made without the engine's session settings is refused up front, naming what is
/// missing, instead of failing on the first quoted identifier.
#[tokio::test]
async fn a_pool_without_the_session_settings_is_refused() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_MYSQL_URL") else {
        return;
    };
    let plain = sqlx::mysql::MySqlPoolOptions::new()
        .max_connections(1)
        .connect_with(MySqlEngine::connect_options(&url).unwrap().pipes_as_concat(false))
        .await
        .unwrap();
    let Err(e) = MySqlEngine::new(plain).await else {
        panic!("a pool without ANSI_QUOTES was accepted")
    };
    assert!(e.to_string().contains("ANSI_QUOTES"), "{e}");
    let good = MySqlEngine::pool_options()
        .max_connections(1)
        .connect_with(MySqlEngine::connect_options(&url).unwrap())
        .await
        .unwrap();
    assert!(MySqlEngine::new(good).await.is_ok());
}
