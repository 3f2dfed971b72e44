//! The records-engine behaviour suite on PostgreSQL (`KEEL_TEST_POSTGRES_URL`): each case
//! in its own fresh schema, dropped after it.

use std::sync::Arc;

use keel_data::Store;
use keel_sql::postgres::PgEngine;
use keel_testkit::postgres::fresh_schema;
use keel_testkit::records::FreshStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_passes_the_records_suite() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_POSTGRES_URL") else {
        return;
    };
    keel_testkit::records_suite("postgres", move || {
        let url = url.clone();
        Box::pin(async move {
            let schema = fresh_schema(&url, 4).await;
            let engine = PgEngine::new(schema.pool.clone());
            let store = Arc::new(Store::open(Arc::new(engine)).await.unwrap());
            FreshStore {
                store,
                cleanup: Some(Box::pin(schema.drop_schema())),
            }
        })
    })
    .await;
}
