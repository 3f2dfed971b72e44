//! The MariaDB provider passes the search suite (what its capabilities allow) on a real
//! server (`KEEL_TEST_MYSQL_URL`), in a fresh database.

use std::sync::Arc;

use keel_core::search::SearchIndex;
use keel_search::mysql::MysqlSearch;
use keel_sql::mysql::MySqlEngine;
use keel_sql::Engine;

#[tokio::test]
async fn mariadb_passes_the_search_suite() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_MYSQL_URL") else {
        return;
    };
    let db = keel_testkit::mysql::fresh_database(&url).await;
    let _guard = db.guard();
    let engine: Arc<dyn Engine> = Arc::new(MySqlEngine::connect(&db.url, 4).await.unwrap());
    let search: Arc<dyn SearchIndex> = MysqlSearch::open(engine).await.unwrap();
    keel_testkit::search_suite(move || {
        let s = search.clone();
        Box::pin(async move { s })
    })
    .await;
}
