//! The jobs behaviour cases on MariaDB (`KEEL_TEST_MYSQL_URL`), each test in a fresh
//! database; two stores stand in for two Keel processes in the concurrent-claims case.

mod support;

use std::sync::Arc;

use futures::FutureExt;
use keel_jobs::JobStore;
use keel_sql::mysql::MySqlEngine;

/// A store on a pool of its own (as a separate process would have).
async fn store(url: &str) -> JobStore {
    let engine = MySqlEngine::connect(url, 16).await.unwrap();
    JobStore::open(Arc::new(engine)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_store_passes_the_jobs_cases() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_MYSQL_URL") else {
        return;
    };
    let db = keel_testkit::mysql::fresh_database(&url).await;
    let _drop = db.guard();
    let url = db.url.clone();
    support::run_all(move || {
        let url = url.clone();
        async move { store(&url).await }.boxed()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_store_passes_the_schedule_cases() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_MYSQL_URL") else {
        return;
    };
    let db = keel_testkit::mysql::fresh_database(&url).await;
    let _drop = db.guard();
    let url = db.url.clone();
    support::schedules::run_all(move || {
        let url = url.clone();
        async move { store(&url).await }.boxed()
    })
    .await;
}
