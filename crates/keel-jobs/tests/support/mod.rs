//! The jobs behaviour cases, run on every store engine (SQLite here, PostgreSQL when
//! `KEEL_TEST_POSTGRES_URL` is set). Each case uses fresh random queue names.

pub mod schedules;

use std::collections::HashSet;
use std::time::Duration;

use keel_core::Error;
use keel_jobs::model::{Backoff, BackoffKind, RateLimit};
use keel_jobs::{ClaimOptions, FailMode, JobFilter, JobState, JobStore, Jobs, NewJob};
use keel_testkit::random_name;
use serde_json::json;

fn opts(max: usize) -> ClaimOptions {
    ClaimOptions {
        max,
        worker: Some("test-worker".into()),
    }
}

fn quick(name: &str) -> NewJob {
    NewJob {
        backoff: Some(Backoff {
            kind: BackoffKind::Fixed,
            delay_ms: 50,
            max_delay_ms: 50,
            jitter: false,
        }),
        ..NewJob::new(name, json!({ "n": name }))
    }
}

pub async fn run_all(make: impl Fn() -> futures::future::BoxFuture<'static, JobStore>) {
    lifecycle_and_events(make().await).await;
    priority_delay_and_listing(make().await).await;
    unique_keys(make().await).await;
    retries_backoff_and_dead(make().await).await;
    expired_lease_is_a_failed_attempt(make().await).await;
    cancel_and_retry(make().await).await;
    concurrency_rate_and_pause(make().await).await;
    bulk_is_all_or_none(make().await).await;
    concurrent_claims_each_once(make().await, make().await).await;
    limits_set_elsewhere_apply_at_once(make().await, make().await).await;
    handlers_run_every_job(make().await).await;
    group_completion(make().await).await;
    concurrent_enqueues(make().await).await;
}

/// Concurrent single enqueues (committed together by the store's group commit): every call
/// gets its own jobs back, and a unique key shared by several calls creates one job.
async fn concurrent_enqueues(store: JobStore) {
    let q = random_name();
    let calls = (0..120).map(|i| {
        let (store, q) = (store.clone(), q.clone());
        async move {
            let mut job = NewJob::new("c", json!({ "i": i }));
            if i % 3 == 0 {
                job.unique_key = Some(format!("k{}", i % 4));
            }
            let mut out = store.enqueue(&q, vec![job]).await.unwrap();
            assert_eq!(out.len(), 1);
            (i, out.remove(0))
        }
    });
    let results = futures::future::join_all(calls).await;
    let mut created_per_key = std::collections::HashMap::new();
    for (i, e) in &results {
        if i % 3 == 0 {
            let key = e.job.unique_key.clone().unwrap();
            *created_per_key.entry(key).or_insert(0) += u32::from(e.created);
        } else {
            assert!(e.created);
            assert_eq!(e.job.payload, json!({ "i": i }), "each call gets its own job back");
        }
    }
    assert_eq!(created_per_key.len(), 4);
    assert!(created_per_key.values().all(|n| *n == 1), "{created_per_key:?}");
    assert_eq!(store.counts(&q).await.unwrap().waiting, 80 + 4);
}

/// `complete_many` (what in-process workers use): each item succeeds or fails alone, results
/// are kept per job, and a completed job is not completed again.
async fn group_completion(store: JobStore) {
    let q = random_name();
    let jobs: Vec<NewJob> = (0..250).map(|i| NewJob::new("g", json!({ "i": i }))).collect();
    store.enqueue(&q, jobs).await.unwrap();
    let mut claimed = Vec::new();
    while claimed.len() < 250 {
        claimed.extend(store.claim(&q, &opts(100)).await.unwrap());
    }
    // More than one statement's chunk, with a result on some, and one stale lease.
    let mut items: Vec<_> = claimed
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let result = (i % 2 == 0).then(|| json!({ "i": i }));
            (c.job.id.clone(), c.lease.clone(), result)
        })
        .collect();
    items[7].1 = "not-the-lease".into();
    let out = store.complete_many(&items).await.unwrap();
    assert_eq!(out.len(), 250);
    for (i, r) in out.iter().enumerate() {
        if i == 7 {
            assert!(matches!(r, Err(Error::Conflict(_))), "a stale lease is refused: {r:?}");
            continue;
        }
        let job = r.as_ref().unwrap();
        assert_eq!((job.id.as_str(), job.state), (items[i].0.as_str(), JobState::Completed));
        assert_eq!(job.result, items[i].2, "job {i} keeps its own result");
    }
    let again = store.complete_many(&items[..3]).await.unwrap();
    assert!(
        again.iter().all(|r| matches!(r, Err(Error::Conflict(_)))),
        "completed once: {again:?}"
    );
    let c = store.counts(&q).await.unwrap();
    assert_eq!((c.completed, c.active), (249, 1));
}

async fn lifecycle_and_events(store: JobStore) {
    let jobs = Jobs::new(store);
    let mut events = jobs.subscribe();
    let q = random_name();
    let job = jobs
        .enqueue(&q, vec![NewJob::new("email", json!({"to": "a@b.c"}))])
        .await
        .unwrap()
        .remove(0);
    assert!(job.created);
    assert_eq!(job.job.state, JobState::Waiting);
    assert_eq!((job.job.attempts, job.job.max_attempts, job.job.priority), (0, 3, 5));

    let claimed = jobs.claim(&q, &opts(5), Duration::ZERO).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let c = &claimed[0];
    assert_eq!(
        (c.job.id.as_str(), c.job.state, c.job.attempts),
        (job.job.id.as_str(), JobState::Active, 1)
    );
    assert_eq!(c.job.worker.as_deref(), Some("test-worker"));
    assert!(
        jobs.claim(&q, &opts(5), Duration::ZERO).await.unwrap().is_empty(),
        "an active job is not claimed twice"
    );

    let p = jobs
        .progress(
            &c.job.id,
            &c.lease,
            &keel_jobs::Progress {
                percent: 50.0,
                message: "half".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(p.progress.unwrap().percent, 50.0);
    jobs.heartbeat(&c.job.id, &c.lease).await.unwrap();
    let done = jobs
        .complete(&c.job.id, &c.lease, Some(&json!({"sent": true})))
        .await
        .unwrap();
    assert_eq!(done.state, JobState::Completed);
    assert_eq!(done.result, Some(json!({"sent": true})));
    assert!(done.finished_at.is_some());
    let again = jobs.complete(&c.job.id, &c.lease, None).await;
    assert!(
        matches!(again, Err(Error::Conflict(_))),
        "a job completes once: {again:?}"
    );
    assert!(matches!(
        jobs.heartbeat("nosuchjob000000", "x").await,
        Err(Error::NotFound(_))
    ));

    let actions: Vec<_> = std::iter::from_fn(|| events.try_recv().ok())
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, vec!["enqueued", "active", "progress", "completed"]);
    let counts = jobs.store().counts(&q).await.unwrap();
    assert_eq!(
        (counts.completed, counts.completed_last_minute, counts.waiting),
        (1, 1, 0)
    );
    // The last hour, minute by minute: the completion is in the current minute (or the one
    // before, should a minute have begun since).
    let hour = jobs.store().throughput(&q, 60).await.unwrap();
    assert_eq!(hour.len(), 60);
    assert!(hour
        .windows(2)
        .all(|w| w[1].minute - w[0].minute == chrono::Duration::minutes(1)));
    assert!(
        hour[59].minute <= chrono::Utc::now() && chrono::Utc::now() - hour[59].minute < chrono::Duration::minutes(1)
    );
    let (completed, failed) = hour.iter().fold((0, 0), |(c, f), m| (c + m.completed, f + m.failed));
    assert_eq!((completed, failed), (1, 0));
    assert!(hour[58..].iter().any(|m| m.completed == 1));
}

async fn priority_delay_and_listing(store: JobStore) {
    let q = random_name();
    let mk = |name: &str, p: i32| NewJob {
        priority: Some(p),
        ..NewJob::new(name, json!(null))
    };
    let later = NewJob {
        delay_ms: Some(60_000),
        ..NewJob::new("later", json!(null))
    };
    store
        .enqueue(
            &q,
            vec![mk("low", 1), mk("high", 9), later, mk("mid", 5), mk("high2", 9)],
        )
        .await
        .unwrap();
    let counts = store.counts(&q).await.unwrap();
    assert_eq!((counts.waiting, counts.delayed), (4, 1));
    let delayed = store
        .list(&q, &JobFilter::state(JobState::Delayed), 1, 50)
        .await
        .unwrap();
    assert_eq!(delayed.items.len(), 1);
    assert_eq!(delayed.items[0].name, "later");
    assert_eq!(delayed.items[0].state, JobState::Delayed);

    let got = store.claim(&q, &opts(10)).await.unwrap();
    let names: Vec<_> = got.iter().map(|c| c.job.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["high", "high2", "mid", "low"],
        "priority first, then FIFO; delayed not yet"
    );
    let all = store.list(&q, &JobFilter::default(), 1, 2).await.unwrap();
    assert_eq!((all.total_items, all.total_pages, all.items.len()), (5, 3, 2));
    // By the start of the name, ignoring case, with LIKE's wildcards taken literally.
    let by_name = |name: &str, state: Option<JobState>| JobFilter {
        state,
        name: Some(name.into()),
    };
    let high = store.list(&q, &by_name("HIGH", None), 1, 50).await.unwrap();
    let mut names: Vec<_> = high.items.iter().map(|j| j.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!((high.total_items, names), (2, vec!["high", "high2"]));
    let active_low = store
        .list(&q, &by_name("lo", Some(JobState::Active)), 1, 50)
        .await
        .unwrap();
    assert_eq!(active_low.total_items, 1);
    for literal in ["%", "_igh", "h%"] {
        let none = store.list(&q, &by_name(literal, None), 1, 50).await.unwrap();
        assert_eq!(none.total_items, 0, "{literal}");
    }
    // The depth /metrics shows: unfinished jobs only, by state.
    let depth = store.depth(&q).await.unwrap();
    assert_eq!(
        (
            depth.waiting,
            depth.delayed,
            depth.active,
            depth.failed,
            depth.completed
        ),
        (0, 1, 4, 0, 0)
    );
    assert_eq!(
        store
            .list(&q, &JobFilter::state(JobState::Active), 1, 50)
            .await
            .unwrap()
            .total_items,
        4
    );
    assert!(matches!(
        store.list(&q, &JobFilter::default(), 0, 10).await,
        Err(Error::BadRequest { .. })
    ));
}

async fn unique_keys(store: JobStore) {
    let q = random_name();
    let keyed = || NewJob {
        unique_key: Some("report-42".into()),
        ..NewJob::new("report", json!(1))
    };
    let first = store.enqueue(&q, vec![keyed()]).await.unwrap().remove(0);
    let second = store.enqueue(&q, vec![keyed()]).await.unwrap().remove(0);
    assert!(first.created && !second.created);
    assert_eq!(first.job.id, second.job.id, "a pending job with the key is returned");
    let c = store.claim(&q, &opts(1)).await.unwrap().remove(0);
    let third = store.enqueue(&q, vec![keyed()]).await.unwrap().remove(0);
    assert_eq!(third.job.id, first.job.id, "an active job still holds its key");
    store.complete(&c.job.id, &c.lease, None).await.unwrap();
    // A producer that may have enqueued before a crash finds the job, finished or not.
    let found = store.find_unique(&q, "report-42").await.unwrap().unwrap();
    assert_eq!(
        (found.id.as_str(), found.state),
        (first.job.id.as_str(), JobState::Completed)
    );
    assert!(store.find_unique(&q, "report-43").await.unwrap().is_none());
    let fourth = store.enqueue(&q, vec![keyed()]).await.unwrap().remove(0);
    assert!(fourth.created, "a completed job frees its key");
    assert_ne!(fourth.job.id, first.job.id);
    let newest = store.find_unique(&q, "report-42").await.unwrap().unwrap();
    assert_eq!(newest.id, fourth.job.id, "the newest job with the key");
    let other_queue = store.enqueue(&random_name(), vec![keyed()]).await.unwrap().remove(0);
    assert!(other_queue.created, "keys are per queue");
    // Within one batch: the first job with a key is added, a later one gets it back.
    let batch = store
        .enqueue(&random_name(), vec![keyed(), NewJob::new("plain", json!(2)), keyed()])
        .await
        .unwrap();
    let created: Vec<bool> = batch.iter().map(|e| e.created).collect();
    assert_eq!(created, [true, true, false]);
    assert_eq!(batch[2].job.id, batch[0].job.id);
    assert_eq!(batch[1].job.payload, json!(2), "answers keep the batch's order");
}

async fn retries_backoff_and_dead(store: JobStore) {
    let q = random_name();
    let job = NewJob {
        max_attempts: Some(2),
        ..quick("flaky")
    };
    let id = store.enqueue(&q, vec![job]).await.unwrap().remove(0).job.id;
    let c = store.claim(&q, &opts(1)).await.unwrap().remove(0);
    let failed = store.fail(&id, &c.lease, "boom 1", FailMode::Retry).await.unwrap();
    assert_eq!(failed.state, JobState::Failed);
    assert!(
        failed.run_at > c.job.started_at.unwrap(),
        "the retry waits for the backoff"
    );
    assert_eq!(failed.errors.len(), 1);
    assert_eq!(
        (failed.errors[0].attempt, failed.errors[0].message.as_str()),
        (1, "boom 1")
    );
    let c2 = claim_within(&store, &q).await;
    assert_eq!(c2.job.attempts, 2);
    let dead = store.fail(&id, &c2.lease, "boom 2", FailMode::Retry).await.unwrap();
    assert_eq!(dead.state, JobState::Dead, "out of attempts");
    assert_eq!(dead.errors.len(), 2);
    assert!(store.claim(&q, &opts(1)).await.unwrap().is_empty());

    let id2 = store.enqueue(&q, vec![quick("fatal")]).await.unwrap().remove(0).job.id;
    let c3 = store.claim(&q, &opts(1)).await.unwrap().remove(0);
    let dead2 = store
        .fail(&id2, &c3.lease, "bad input", FailMode::NoRetry)
        .await
        .unwrap();
    assert_eq!((dead2.state, dead2.attempts), (JobState::Dead, 1));
    assert_eq!(store.counts(&q).await.unwrap().dead, 2);
    // Each dead job counts once, in the minute of its last failure.
    let recent = store.throughput(&q, 2).await.unwrap();
    assert_eq!(
        recent
            .iter()
            .map(|m| (m.completed, m.failed))
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1)),
        (0, 2)
    );
}

async fn expired_lease_is_a_failed_attempt(store: JobStore) {
    let q = random_name();
    let job = NewJob {
        timeout_ms: Some(200),
        ..quick("slow")
    };
    let id = store.enqueue(&q, vec![job]).await.unwrap().remove(0).job.id;
    let c = store.claim(&q, &opts(1)).await.unwrap().remove(0);
    // The worker goes silent; past the timeout, a claim reaps the attempt and, after the
    // backoff, hands the job out again.
    let again = claim_within(&store, &q).await;
    assert_eq!((again.job.id.as_str(), again.job.attempts), (id.as_str(), 2));
    assert!(
        again.job.errors[0].message.contains("timed out"),
        "{:?}",
        again.job.errors
    );
    let stale = store.complete(&id, &c.lease, None).await;
    assert!(
        matches!(stale, Err(Error::Conflict(_))),
        "the first worker's lease is gone: {stale:?}"
    );
    group_refuses(&store, &id, &c.lease).await;
    store.complete(&id, &again.lease, None).await.unwrap();
}

/// A group completion (what in-process workers use) refuses `lease` of job `id` too.
async fn group_refuses(store: &JobStore, id: &str, lease: &str) {
    let grouped = store
        .complete_many(&[(id.to_string(), lease.to_string(), None)])
        .await
        .unwrap();
    assert!(
        matches!(grouped[..], [Err(Error::Conflict(_))]),
        "a group completion refuses the lease too: {grouped:?}"
    );
}

async fn cancel_and_retry(store: JobStore) {
    let q = random_name();
    let id = store.enqueue(&q, vec![quick("c")]).await.unwrap().remove(0).job.id;
    let c = store.claim(&q, &opts(1)).await.unwrap().remove(0);
    assert_eq!(store.cancel(&id).await.unwrap().state, JobState::Cancelled);
    assert!(
        matches!(store.complete(&id, &c.lease, None).await, Err(Error::Conflict(_))),
        "a cancelled job's worker is refused"
    );
    group_refuses(&store, &id, &c.lease).await;
    assert_eq!(store.get(&id).await.unwrap().unwrap().state, JobState::Cancelled);
    assert!(matches!(store.cancel(&id).await, Err(Error::Conflict(_))));
    let retried = store.retry(&id).await.unwrap();
    assert_eq!((retried.state, retried.attempts), (JobState::Waiting, 0));
    assert!(
        matches!(store.retry(&id).await, Err(Error::Conflict(_))),
        "a waiting job is not retried"
    );
    let c2 = store.claim(&q, &opts(1)).await.unwrap().remove(0);
    assert_eq!(c2.job.id, id);
    assert!(matches!(store.retry("nosuchjob000000").await, Err(Error::NotFound(_))));
}

async fn concurrency_rate_and_pause(store: JobStore) {
    let jobs = Jobs::new(store);
    let q = random_name();
    jobs.enqueue(&q, (0..10).map(|i| quick(&format!("j{i}"))).collect())
        .await
        .unwrap();
    jobs.update_settings(&q, &json!({"concurrency": 2})).await.unwrap();
    let first = jobs.claim(&q, &opts(10), Duration::ZERO).await.unwrap();
    assert_eq!(first.len(), 2, "at most 2 active");
    assert!(jobs.claim(&q, &opts(10), Duration::ZERO).await.unwrap().is_empty());
    jobs.complete(&first[0].job.id, &first[0].lease, None).await.unwrap();
    assert_eq!(
        jobs.claim(&q, &opts(10), Duration::ZERO).await.unwrap().len(),
        1,
        "a slot freed"
    );

    jobs.update_settings(
        &q,
        &json!({"concurrency": null, "rateLimit": {"max": 3, "intervalMs": 3_600_000}}),
    )
    .await
    .unwrap();
    assert_eq!(
        jobs.claim(&q, &opts(10), Duration::ZERO).await.unwrap().len(),
        3,
        "3 per interval"
    );
    assert!(jobs.claim(&q, &opts(10), Duration::ZERO).await.unwrap().is_empty());

    jobs.update_settings(&q, &json!({"rateLimit": null, "paused": true}))
        .await
        .unwrap();
    assert!(
        jobs.claim(&q, &opts(10), Duration::ZERO).await.unwrap().is_empty(),
        "paused"
    );
    let s = jobs.update_settings(&q, &json!({"paused": false})).await.unwrap();
    assert!(!s.paused && s.rate_limit.is_none());
    assert_eq!(jobs.claim(&q, &opts(10), Duration::ZERO).await.unwrap().len(), 4);

    let bad = jobs.update_settings(&q, &json!({"concurrency": 0})).await;
    assert!(matches!(bad, Err(Error::BadRequest { fields, .. }) if fields.contains_key("concurrency")));
    let unknown = jobs.update_settings(&q, &json!({"speed": 3})).await;
    assert!(matches!(unknown, Err(Error::BadRequest { fields, .. }) if fields.contains_key("speed")));
    assert_eq!(jobs.store().settings(&q).await.unwrap().rate_limit, None::<RateLimit>);
}

async fn bulk_is_all_or_none(store: JobStore) {
    let q = random_name();
    let bad = vec![
        quick("a"),
        NewJob {
            priority: Some(11),
            ..quick("b")
        },
    ];
    match store.enqueue(&q, bad).await {
        Err(Error::BadRequest { fields, .. }) => assert!(fields.contains_key("1.priority"), "{fields:?}"),
        other => panic!("expected a 400 naming 1.priority, got {other:?}"),
    }
    assert_eq!(
        store.list(&q, &JobFilter::default(), 1, 10).await.unwrap().total_items,
        0
    );
    let neg = NewJob {
        delay_ms: Some(-5),
        ..quick("n")
    };
    assert!(matches!(
        store.enqueue(&q, vec![neg]).await,
        Err(Error::BadRequest { .. })
    ));
    assert!(matches!(
        store.enqueue("bad queue", vec![quick("x")]).await,
        Err(Error::BadRequest { .. })
    ));
    // Large payloads that need more than one insert statement (4 MiB of JSON each), with
    // quotes that the JSON they travel in escapes: all land, in order, byte for byte.
    let big: Vec<NewJob> = (0..6)
        .map(|i| NewJob::new("big", json!({ "i": i, "text": "\"q\" ".repeat(150_000) })))
        .collect();
    let out = store.enqueue(&q, big.clone()).await.unwrap();
    assert_eq!(out.len(), 6);
    for (sent, got) in big.iter().zip(&out) {
        assert!(got.created);
        assert_eq!(store.get(&got.job.id).await.unwrap().unwrap().payload, sent.payload);
    }
}

async fn concurrent_claims_each_once(a: JobStore, b: JobStore) {
    const N: usize = 200;
    let q = random_name();
    a.enqueue(&q, (0..N).map(|i| NewJob::new("n", json!(i))).collect())
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..6 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let q = q.clone();
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                let got = store.claim(&q, &opts(5)).await.unwrap();
                if got.is_empty() {
                    return seen;
                }
                for c in got {
                    store.complete(&c.job.id, &c.lease, None).await.unwrap();
                    seen.push(c.job.payload.as_u64().unwrap());
                }
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    assert_eq!(all.len(), N, "every job completed exactly once");
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), N);
    assert_eq!(a.counts(&q).await.unwrap().completed, N as u64);
}

/// A store that has claimed from a queue with no limits (and so claims it in one
/// statement) obeys a pause or a concurrency limit set by another process at its next claim.
async fn limits_set_elsewhere_apply_at_once(a: JobStore, b: JobStore) {
    let q = random_name();
    a.enqueue(&q, (0..10).map(|i| quick(&format!("j{i}"))).collect())
        .await
        .unwrap();
    assert_eq!(a.claim(&q, &opts(1)).await.unwrap().len(), 1);
    assert_eq!(a.claim(&q, &opts(1)).await.unwrap().len(), 1, "no limits: claimed");
    let elsewhere = Jobs::new(b);
    elsewhere.update_settings(&q, &json!({"paused": true})).await.unwrap();
    assert!(a.claim(&q, &opts(10)).await.unwrap().is_empty(), "paused elsewhere");
    elsewhere
        .update_settings(&q, &json!({"paused": false, "concurrency": 3}))
        .await
        .unwrap();
    assert_eq!(
        a.claim(&q, &opts(10)).await.unwrap().len(),
        1,
        "two active, a limit of three set elsewhere"
    );
    elsewhere
        .update_settings(&q, &json!({"concurrency": null}))
        .await
        .unwrap();
    assert_eq!(a.claim(&q, &opts(10)).await.unwrap().len(), 7, "the limit lifted");
}

/// Claims one job of `q`, polling until its retry or backoff time comes (at most 10 s).
async fn claim_within(store: &JobStore, q: &str) -> keel_jobs::ClaimedJob {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(c) = store.claim(q, &opts(1)).await.unwrap().pop() {
            return c;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no job of {q} came due within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Succeeds, except that a job whose payload says `flaky` fails its first attempt.
struct Flaky;

#[async_trait::async_trait]
impl keel_jobs::JobHandler for Flaky {
    async fn run(
        &self,
        job: &keel_jobs::Job,
        _: &keel_jobs::JobContext,
    ) -> Result<Option<serde_json::Value>, keel_jobs::JobFailure> {
        if job.payload["flaky"] == true && job.attempts == 1 {
            return Err("first attempt fails".into());
        }
        Ok(Some(json!({"doubled": job.payload["n"].as_u64().unwrap_or(0) * 2})))
    }
}

async fn handlers_run_every_job(store: JobStore) {
    let jobs = Jobs::new(store);
    let q = random_name();
    let mut events = jobs.subscribe();
    let batch = (0..60u64).map(|n| NewJob {
        backoff: quick("x").backoff,
        ..NewJob::new("double", json!({"n": n, "flaky": n % 10 == 0}))
    });
    jobs.enqueue(&q, batch.collect()).await.unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = jobs.work(&q, std::sync::Arc::new(Flaky), 4, stopped);
    let mut completed = HashSet::new();
    while completed.len() < 60 {
        let e = tokio::time::timeout(Duration::from_secs(30), events.recv())
            .await
            .unwrap()
            .unwrap();
        if e.job.queue == q && e.action == "completed" {
            assert!(completed.insert(e.job.id.clone()), "completed twice");
            assert_eq!(
                e.job.result,
                Some(json!({"doubled": e.job.payload["n"].as_u64().unwrap() * 2}))
            );
            assert_eq!(e.job.attempts, if e.job.payload["flaky"] == true { 2 } else { 1 });
        }
    }
    stop.send(true).unwrap();
    worker.await.unwrap();
    let counts = jobs.store().counts(&q).await.unwrap();
    assert_eq!(
        (counts.completed, counts.active, counts.waiting, counts.failed),
        (60, 0, 0, 0)
    );
}
