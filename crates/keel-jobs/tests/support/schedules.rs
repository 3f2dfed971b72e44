//! The schedule behaviour cases, run on every store engine.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use keel_core::Error;
use keel_jobs::schedule::{ScheduleInput, ScheduleRun};
use keel_jobs::{JobFilter, JobStore};
use keel_testkit::random_name;
use serde_json::{json, Value};

fn input(name: &str, spec: Value, queue: &str) -> ScheduleInput {
    ScheduleInput {
        name: Some(name.into()),
        schedule: Some(spec),
        queue: Some(queue.into()),
        job: Some(json!({"name": "tick", "payload": {"from": name}})),
        ..ScheduleInput::default()
    }
}

fn field_of(r: keel_core::Result<impl std::fmt::Debug>) -> String {
    match r {
        Err(Error::BadRequest { fields, .. }) => fields.keys().next().cloned().unwrap_or_default(),
        other => panic!("expected a 400, got {other:?}"),
    }
}

pub async fn run_all(make: impl Fn() -> futures::future::BoxFuture<'static, JobStore>) {
    validation(make().await).await;
    every_second_fires_and_records(make().await).await;
    exactly_once_across_processes([make().await, make().await, make().await]).await;
    overlap_skip_pause_and_trigger(make().await).await;
}

async fn validation(store: JobStore) {
    let q = random_name();
    let n = random_name();
    assert_eq!(
        field_of(
            store
                .create_schedule(input(&n, json!({"cron": "61 * * * *"}), &q))
                .await
        ),
        "schedule.cron"
    );
    assert_eq!(
        field_of(
            store
                .create_schedule(input(&n, json!({"cron": "0 9 * * *", "timezone": "Mars/Olympus"}), &q))
                .await
        ),
        "schedule.timezone"
    );
    assert_eq!(
        field_of(
            store
                .create_schedule(input(&n, json!({"at": "2001-01-01T00:00:00Z"}), &q))
                .await
        ),
        "schedule.at"
    );
    assert_eq!(
        field_of(store.create_schedule(input(&n, json!({"every": "-5m"}), &q)).await),
        "schedule.every"
    );
    assert_eq!(
        field_of(
            store
                .create_schedule(input(&n, json!({"every": "1m"}), "bad queue"))
                .await
        ),
        "queue"
    );
    let mut bad_job = input(&n, json!({"every": "1m"}), &q);
    bad_job.job = Some(json!({"priority": 99}));
    assert_eq!(field_of(store.create_schedule(bad_job).await), "job.priority");

    let s = store
        .create_schedule(input(
            &n,
            json!({"cron": "0 9 * * 1-5", "timezone": "Europe/Paris"}),
            &q,
        ))
        .await
        .unwrap();
    assert_eq!(s.schedule, json!({"cron": "0 9 * * 1-5", "timezone": "Europe/Paris"}));
    assert!(s.next_at.is_some());
    assert_eq!(
        field_of(store.create_schedule(input(&n, json!({"every": "1m"}), &q)).await),
        "name"
    );
    let next = store.upcoming(&n, 5).await.unwrap();
    assert_eq!(next.len(), 5);
    assert!(next.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(store.schedule(&s.id).await.unwrap().name, n, "found by id or name");
    store.delete_schedule(&n).await.unwrap();
    assert!(matches!(store.schedule(&n).await, Err(Error::NotFound(_))));
}

/// Runs `fire_due` on every store until the schedule has `n` runs (at most 15 s).
async fn fire_until(stores: &[JobStore], name: &str, n: usize) -> Vec<ScheduleRun> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        for s in stores {
            s.fire_due().await.unwrap();
        }
        let runs = stores[0].schedule_runs(name, 100).await.unwrap();
        if runs.len() >= n {
            return runs;
        }
        assert!(
            Instant::now() < deadline,
            "{name} had {} runs after 15 s, wanted {n}",
            runs.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn every_second_fires_and_records(store: JobStore) {
    let (q, n) = (random_name(), random_name());
    let mut inp = input(&n, json!({"every": "1s"}), &q);
    inp.overlap = Some(keel_jobs::schedule::Overlap::Allow);
    store.create_schedule(inp).await.unwrap();
    let runs = fire_until(std::slice::from_ref(&store), &n, 2).await;
    assert!(
        runs.iter().all(|r| r.outcome == "enqueued" && r.job_id.is_some()),
        "{runs:?}"
    );
    let jobs = store.list(&q, &JobFilter::default(), 1, 100).await.unwrap();
    assert_eq!(jobs.total_items as usize, runs.len(), "one job per tick");
    assert_eq!(jobs.items[0].payload, json!({"from": n}));
    let s = store.schedule(&n).await.unwrap();
    assert_eq!(s.last_tick, Some(runs[0].tick));
    assert!(s.next_at.unwrap() > runs[0].tick);
}

async fn exactly_once_across_processes(stores: [JobStore; 3]) {
    let (q, n) = (random_name(), random_name());
    let mut inp = input(&n, json!({"every": "1s"}), &q);
    inp.overlap = Some(keel_jobs::schedule::Overlap::Allow);
    stores[0].create_schedule(inp).await.unwrap();
    // Three "processes" race on every pass.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let passes: Vec<_> = stores
            .iter()
            .map(|s| {
                let s = s.clone();
                tokio::spawn(async move { s.fire_due().await.unwrap() })
            })
            .collect();
        for p in passes {
            p.await.unwrap();
        }
        if stores[0].schedule_runs(&n, 100).await.unwrap().len() >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "three ticks did not fire within 15 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let runs = stores[0].schedule_runs(&n, 100).await.unwrap();
    let ticks: HashSet<_> = runs.iter().map(|r| r.tick).collect();
    assert_eq!(ticks.len(), runs.len());
    // A store sees another process's commits within 2 ms (SQLite readers reuse a snapshot
    // that long), so the count may trail the runs briefly; it must never pass them.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let jobs = stores[1].list(&q, &JobFilter::default(), 1, 100).await.unwrap();
        let total = jobs.total_items as usize;
        assert!(
            total <= runs.len(),
            "exactly one job per tick across three processes: {total} jobs, {} ticks",
            runs.len()
        );
        if total == runs.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a tick's job is missing: {total} jobs, {} ticks",
            runs.len()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn overlap_skip_pause_and_trigger(store: JobStore) {
    let (q, n) = (random_name(), random_name());
    store
        .create_schedule(input(&n, json!({"every": "1s"}), &q))
        .await
        .unwrap();
    let runs = fire_until(std::slice::from_ref(&store), &n, 2).await;
    // The first tick's job was never worked on: later ticks are skipped.
    assert_eq!(runs.last().unwrap().outcome, "enqueued");
    assert_eq!(runs[0].outcome, "skipped", "{runs:?}");
    assert_eq!(
        store.list(&q, &JobFilter::default(), 1, 100).await.unwrap().total_items,
        1
    );

    let paused = store
        .update_schedule(
            &n,
            ScheduleInput {
                paused: Some(true),
                ..ScheduleInput::default()
            },
        )
        .await
        .unwrap();
    assert!(paused.paused);
    let before = store.schedule_runs(&n, 100).await.unwrap().len();
    store.fire_due().await.unwrap();
    assert_eq!(
        store.schedule_runs(&n, 100).await.unwrap().len(),
        before,
        "a paused schedule does not fire"
    );

    let job = store.trigger_schedule(&n).await.unwrap();
    assert_eq!(job.queue, q);
    let runs = store.schedule_runs(&n, 100).await.unwrap();
    assert_eq!(runs[0].outcome, "triggered");
    assert_eq!(runs[0].job_id.as_deref(), Some(job.id.as_str()));
    assert!(matches!(
        store.trigger_schedule("no-such-schedule").await,
        Err(Error::NotFound(_))
    ));
}
