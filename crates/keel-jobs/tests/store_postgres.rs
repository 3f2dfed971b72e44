//! The jobs behaviour cases on PostgreSQL (`KEEL_TEST_POSTGRES_URL`); two stores stand in
//! for two Keel processes in the concurrent-claims case.

mod support;

use futures::FutureExt;
use keel_jobs::JobStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_passes_the_jobs_cases() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_POSTGRES_URL") else {
        return;
    };
    support::run_all(move || {
        let url = url.clone();
        async move { JobStore::connect_postgres(&url).await.unwrap() }.boxed()
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
        async move { JobStore::connect_postgres(&url).await.unwrap() }.boxed()
    })
    .await;
}
