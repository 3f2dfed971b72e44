//! The outbox relay (`keel_app::outbox::relay`) over a real store and jobs store: rows become
//! `_keel-` jobs keyed by the row id, and a row a dead relay already handed on is not handed
//! on again.

mod support;

use std::time::Duration;

use keel_app::outbox::relay::relay_once;
use keel_jobs::{ClaimOptions, JobState};
use serde_json::json;
use support::TestApp;

/// An app whose own relay and workers are stopped, so the test drives the relay itself.
async fn quiet_app() -> TestApp {
    let mut app = TestApp::new().await;
    app.stop.send(true).unwrap();
    for task in std::mem::take(&mut app.outbox) {
        task.await.unwrap();
    }
    app
}

async fn mail_jobs(app: &TestApp) -> Vec<keel_jobs::Job> {
    app.state
        .jobs
        .store()
        .list("_keel-mail", &keel_jobs::JobFilter::default(), 1, 100)
        .await
        .unwrap()
        .items
}

#[tokio::test]
async fn rows_become_keyed_jobs_and_leave_the_outbox() {
    let app = quiet_app().await;
    let a = app.state.store.outbox_put("mail", &json!({"n": 1})).await.unwrap();
    let b = app.state.store.outbox_put("mail", &json!({"n": 2})).await.unwrap();
    assert_eq!(relay_once(&app.state).await.unwrap(), 2);
    assert_eq!(app.state.store.outbox_len().await.unwrap(), 0);
    let mut keys: Vec<String> = mail_jobs(&app)
        .await
        .into_iter()
        .map(|j| j.unique_key.unwrap())
        .collect();
    keys.sort();
    let mut want = vec![a, b];
    want.sort();
    assert_eq!(keys, want);
    assert_eq!(relay_once(&app.state).await.unwrap(), 0, "nothing left");
}

#[tokio::test]
async fn a_row_handed_on_before_a_crash_is_not_handed_on_twice() {
    let app = quiet_app().await;
    let store = &app.state.store;
    let jobs = &app.state.jobs;
    // A relay claimed two rows, enqueued the first one's job, and died before deleting
    // either; the job has since been sent and completed.
    let sent = store.outbox_put("mail", &json!({"n": 1})).await.unwrap();
    let unsent = store.outbox_put("mail", &json!({"n": 2})).await.unwrap();
    assert_eq!(store.outbox_claim(10, Duration::ZERO).await.unwrap().len(), 2);
    let mut job = keel_jobs::NewJob::new("mail", json!({"n": 1}));
    job.unique_key = Some(sent.clone());
    jobs.enqueue("_keel-mail", vec![job]).await.unwrap();
    let opts = ClaimOptions { max: 1, worker: None };
    let c = jobs
        .claim("_keel-mail", &opts, Duration::from_secs(1))
        .await
        .unwrap()
        .remove(0);
    jobs.complete(&c.job.id, &c.lease, None).await.unwrap();

    // The next relay: the first row is done already, the second becomes its job.
    assert_eq!(relay_once(&app.state).await.unwrap(), 2);
    assert_eq!(store.outbox_len().await.unwrap(), 0);
    let all = mail_jobs(&app).await;
    assert_eq!(all.len(), 2, "{all:?}");
    let of = |key: &str| all.iter().filter(|j| j.unique_key.as_deref() == Some(key)).count();
    assert_eq!((of(&sent), of(&unsent)), (1, 1));
    let waiting = all.iter().find(|j| j.unique_key.as_deref() == Some(&unsent)).unwrap();
    assert_eq!(waiting.state, JobState::Waiting);
}
