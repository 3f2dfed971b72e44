//! The records-engine behaviour suite on SQLite (a fresh file per case).

use std::sync::Arc;

use keel_data::Store;
use keel_sql::sqlite::SqliteEngine;
use keel_testkit::records::FreshStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_passes_the_records_suite() {
    keel_testkit::records_suite("sqlite", || {
        Box::pin(async {
            let dir = tempfile::TempDir::new().unwrap();
            let engine = SqliteEngine::open(&dir.path().join("data.db"), 4).await.unwrap();
            let store = Arc::new(Store::open(Arc::new(engine)).await.unwrap());
            FreshStore {
                store,
                cleanup: Some(Box::pin(async move { drop(dir) })),
            }
        })
    })
    .await;
}
