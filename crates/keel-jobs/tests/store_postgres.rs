//! The jobs behaviour cases on PostgreSQL (`KEEL_TEST_POSTGRES_URL`); two stores stand in
//! for two Keel processes in the concurrent-claims case.

mod support;

use std::sync::Arc;

use futures::FutureExt;
use keel_jobs::JobStore;
use keel_sql::postgres::PgEngine;

/// A store on a pool of its own (as a separate process would have).
async fn store(url: &str) -> JobStore {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(16)
        .connect(url)
        .await
        .unwrap();
    JobStore::open(Arc::new(PgEngine::new(pool))).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_passes_the_jobs_cases() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_POSTGRES_URL") else {
        return;
    };
    support::run_all(move || {
        let url = url.clone();
        async move { store(&url).await }.boxed()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_passes_the_schedule_cases() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_POSTGRES_URL") else {
        return;
    };
    support::schedules::run_all(move || {
        let url = url.clone();
        async move { store(&url).await }.boxed()
    })
    .await;
}
