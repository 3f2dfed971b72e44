//! The jobs behaviour cases on the embedded SQLite store.

mod support;

use futures::FutureExt;
use keel_jobs::JobStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_passes_the_jobs_cases() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jobs.db");
    support::run_all(move || {
        let path = path.clone();
        async move { JobStore::open_sqlite(&path).await.unwrap() }.boxed()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_passes_the_schedule_cases() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jobs.db");
    support::schedules::run_all(move || {
        let path = path.clone();
        async move { JobStore::open_sqlite(&path).await.unwrap() }.boxed()
    })
    .await;
}
