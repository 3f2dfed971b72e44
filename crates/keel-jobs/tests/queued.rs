//! Jobs on queue providers (`QueuedJobs`): every job runs to success once, a failing attempt
//! is retried with its backoff, a job out of attempts is dead-lettered; on the embedded,
//! PostgreSQL and Redis providers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use keel_core::queue::Queue;
use keel_jobs::model::{Backoff, BackoffKind};
use keel_jobs::{Job, JobContext, JobHandler, NewJob, QueuedJobs};
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// Succeeds, except: `flaky` jobs fail their first attempt, `doomed` ones always fail.
struct Handler {
    attempts: Mutex<HashMap<String, u32>>,
    done: mpsc::UnboundedSender<(String, u32)>,
}

#[async_trait]
impl JobHandler for Handler {
    async fn run(&self, job: &Job, ctx: &JobContext) -> Result<Option<Value>, keel_jobs::JobFailure> {
        *self.attempts.lock().unwrap().entry(job.id.clone()).or_default() += 1;
        ctx.progress(50.0, "halfway").await.map_err(|e| e.to_string())?;
        let kind = job.payload["kind"].as_str().unwrap_or_default();
        if kind == "doomed" || (kind == "flaky" && job.attempts == 1) {
            return Err(format!("{kind} attempt {}", job.attempts).into());
        }
        let _ = self.done.send((job.id.clone(), job.attempts));
        Ok(None)
    }
}

async fn runs_jobs_once_with_retries_and_dead_letters(provider: Arc<dyn Queue>) {
    let jobs = QueuedJobs::new(provider.clone());
    let q = keel_testkit::random_name();
    let quick = Backoff {
        kind: BackoffKind::Fixed,
        delay_ms: 20,
        max_delay_ms: 20,
        jitter: false,
    };
    let job = |kind: &str, i: usize| NewJob {
        backoff: Some(quick),
        max_attempts: Some(2),
        ..NewJob::new("work", json!({"kind": kind, "i": i}))
    };
    let mut batch: Vec<NewJob> = (0..100).map(|i| job("ok", i)).collect();
    batch.extend((0..10).map(|i| job("flaky", i)));
    batch.push(job("doomed", 0));
    let ids = jobs.enqueue(&q, batch).await.unwrap();
    assert_eq!(ids.len(), 111);
    let unique = NewJob {
        unique_key: Some("k".into()),
        ..job("ok", 0)
    };
    assert!(
        jobs.enqueue(&q, vec![unique]).await.is_err(),
        "unique keys are refused, not ignored"
    );

    let (tx, mut rx) = mpsc::unbounded_channel();
    let handler = Arc::new(Handler {
        attempts: Mutex::new(HashMap::new()),
        done: tx,
    });
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = jobs.work(&q, handler.clone(), 8, stopped);

    let mut succeeded = HashMap::new();
    while succeeded.len() < 110 {
        let (id, attempt) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(succeeded.insert(id, attempt).is_none(), "a job succeeded twice");
    }
    // The doomed job ends in the dead-letter set after its two attempts.
    keel_testkit::eventually(Duration::from_secs(20), "the doomed job to be dead-lettered", || {
        let provider = provider.clone();
        let q = q.clone();
        async move { provider.stats(&q).await.unwrap().dead == 1 }
    })
    .await;
    stop.send(true).unwrap();
    worker.await.unwrap();

    assert_eq!(
        succeeded.values().filter(|a| **a == 2).count(),
        10,
        "each flaky job succeeded on attempt 2"
    );
    let stats = provider.stats(&q).await.unwrap();
    assert_eq!(stats.size(), 0, "{stats:?}");
    let dead = provider.dead(&q, 10).await.unwrap();
    assert_eq!(dead[0].deliveries, 2);
    assert_eq!(dead[0].payload["payload"]["kind"], "doomed");
    provider.purge(&q).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_embedded_queue() {
    let dir = tempfile::tempdir().unwrap();
    let q = keel_queue::EmbeddedQueue::open(&dir.path().join("queues.db"))
        .await
        .unwrap();
    runs_jobs_once_with_retries_and_dead_letters(Arc::new(q)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_postgres_queue() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_POSTGRES_URL") else {
        return;
    };
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let q = keel_queue::PostgresQueue::new(pool).await.unwrap();
    runs_jobs_once_with_retries_and_dead_letters(Arc::new(q)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_redis_queue() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_REDIS_URL") else {
        return;
    };
    let client = redis::Client::open(url.as_str()).unwrap();
    let conn = client.get_connection_manager().await.unwrap();
    let q = keel_queue::RedisQueue::new(&client, conn).await.unwrap();
    runs_jobs_once_with_retries_and_dead_letters(Arc::new(q)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_nats_queue() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_NATS_URL") else {
        return;
    };
    let cfg = keel_queue::NatsQueueConfig {
        prefix: format!("T{:x}", rand::random::<u32>()),
        ..keel_queue::NatsQueueConfig::default()
    };
    let client = async_nats::connect(url).await.unwrap();
    let q = keel_queue::NatsQueue::new(client, cfg).await.unwrap();
    runs_jobs_once_with_retries_and_dead_letters(Arc::new(q)).await;
}
