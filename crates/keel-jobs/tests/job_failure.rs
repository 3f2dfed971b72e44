//! A handler's [`JobFailure`] decides how its attempt ends: `retry_after` schedules the next
//! attempt that far out (whatever the backoff says), `permanent` makes the job dead at once
//! (whatever attempts are left), and a plain error retries with the job's backoff.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use keel_jobs::{Job, JobContext, JobFailure, JobHandler, JobState, JobStore, Jobs, NewJob};
use serde_json::{json, Value};

/// Fails each job the way its payload's `mode` says.
struct Failing;

#[async_trait]
impl JobHandler for Failing {
    async fn run(&self, job: &Job, _ctx: &JobContext) -> Result<Option<Value>, JobFailure> {
        Err(match job.payload["mode"].as_str() {
            Some("after") => JobFailure::retry_after("come back in an hour", Duration::from_secs(3600)),
            Some("never") => JobFailure::permanent("gone for good"),
            _ => "plain failure".into(),
        })
    }
}

async fn settled(jobs: &Jobs, id: &str) -> Job {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let j = jobs.store().get(id).await.unwrap().unwrap();
        if matches!(j.state, JobState::Failed | JobState::Dead) {
            return j;
        }
        assert!(std::time::Instant::now() < deadline, "{j:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn retry_after_and_permanent_set_the_next_run_or_the_dead_state() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = Jobs::new(JobStore::open_sqlite(&dir.path().join("jobs.db")).await.unwrap());
    let mut enqueue = Vec::new();
    for mode in ["after", "never", "plain"] {
        let mut j = NewJob::new(mode, json!({"mode": mode}));
        j.max_attempts = Some(5);
        enqueue.push(j);
    }
    let ids: Vec<String> = jobs
        .enqueue("work", enqueue)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.job.id)
        .collect();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = jobs.work("work", Arc::new(Failing), 3, stopped);
    let before = chrono::Utc::now();

    let after = settled(&jobs, &ids[0]).await;
    assert_eq!((after.state, after.attempts), (JobState::Failed, 1));
    let wait = after.run_at - before;
    assert!(
        wait >= chrono::Duration::seconds(3590) && wait <= chrono::Duration::seconds(3610),
        "run_at is an hour out: {wait:?}"
    );
    assert_eq!(after.errors.last().unwrap().message, "come back in an hour");

    let never = settled(&jobs, &ids[1]).await;
    assert_eq!(
        (never.state, never.attempts),
        (JobState::Dead, 1),
        "dead with 4 attempts left"
    );
    assert_eq!(never.errors.last().unwrap().message, "gone for good");

    let plain = settled(&jobs, &ids[2]).await;
    assert_eq!(plain.state, JobState::Failed);
    assert!(
        plain.run_at - before < chrono::Duration::seconds(600),
        "the backoff, not an hour"
    );

    stop.send(true).unwrap();
    worker.await.unwrap();
}

/// A tick missed by more than the grace (no process ran) with catch-up `skip` is reported
/// by the pass that records it, once; `fire_due` itself is unchanged.
#[tokio::test]
async fn a_missed_tick_is_reported_once() {
    use keel_jobs::schedule::ScheduleInput;
    use keel_sql::Engine;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jobs.db");
    // The store and the test's UPDATE share one engine, so the store's next read sees the
    // UPDATE (a second engine's commit is seen only once a kept read snapshot ages out).
    let engine: std::sync::Arc<dyn Engine> =
        std::sync::Arc::new(keel_sql::sqlite::SqliteEngine::open(&path, 1).await.unwrap());
    let store = JobStore::open(engine.clone()).await.unwrap();
    let s = store
        .create_schedule(ScheduleInput {
            name: Some("nightly".into()),
            schedule: Some(json!({"every": "2h"})),
            queue: Some("work".into()),
            job: Some(json!({"name": "tick"})),
            ..ScheduleInput::default()
        })
        .await
        .unwrap();
    // Created three hours ago, never run since: its tick an hour ago is far past the grace.
    let created = chrono::Utc::now().timestamp_millis() - 3 * 3_600_000;
    let mut tx = engine.begin().await.unwrap();
    tx.execute(
        "UPDATE keel_schedules SET created_at = ?1, next_at = ?1 WHERE id = ?2",
        &[json!(created), json!(s.id)],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let (fired, missed) = store.fire_due_reporting().await.unwrap();
    assert!(fired.is_empty(), "{fired:?}");
    assert_eq!(missed.len(), 1, "{missed:?}");
    assert_eq!((missed[0].name.as_str(), missed[0].queue.as_str()), ("nightly", "work"));
    assert_eq!(missed[0].schedule, s.id);
    let (_, again) = store.fire_due_reporting().await.unwrap();
    assert!(again.is_empty(), "reported once: {again:?}");
}
