//! No acknowledged job is lost: remote workers process a stream of enqueued jobs over HTTP,
//! one worker dies mid-job (it claims and never answers), Keel is killed with `kill -9`
//! during enqueueing and processing, restarted on the same data dir, and the workers go on.
//! Every job whose enqueue was answered 200 must end completed, and no job may be completed
//! twice.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{superuser_token, KeelProcess};
use serde_json::{json, Value};

const QUEUE: &str = "crash";
const ENQUEUERS: usize = 3;
const WORKERS: usize = 3;
/// Kill once this many enqueues and this many completions have been acknowledged.
const ACKED_BEFORE_KILL: usize = 150;
const DONE_BEFORE_KILL: usize = 50;
const DEADLINE: Duration = Duration::from_secs(90);

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[derive(Default)]
struct Ledger {
    /// Ids of jobs whose enqueue was answered 200.
    enqueued: Vec<String>,
    /// Id → how many completes of it were answered 200.
    completed: HashMap<String, u32>,
}

/// Enqueues jobs one at a time until a request fails (the server died) or `stop` is set.
async fn enqueuer(url: String, token: String, n: usize, ledger: Arc<Mutex<Ledger>>, stop: Arc<AtomicBool>) {
    let http = client();
    for i in 0.. {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let body = json!({ "name": "work", "payload": { "enqueuer": n, "i": i }, "timeoutMs": 1000, "maxAttempts": 25,
                           "backoff": { "type": "fixed", "delayMs": 50, "jitter": false } });
        let Ok(res) = http
            .post(format!("{url}/api/queues/{QUEUE}/jobs"))
            .header("Authorization", &token)
            .json(&body)
            .send()
            .await
        else {
            return;
        };
        if res.status() != 200 {
            return;
        }
        let Ok(job) = res.json::<Value>().await else { return };
        let id = job["id"].as_str().expect("an enqueued job has an id").to_string();
        ledger.lock().unwrap().enqueued.push(id);
    }
}

/// Claims and completes jobs until a request fails or `stop` is set. A `crashy` worker claims
/// one job and then stops answering, as if killed mid-job.
async fn worker(url: String, token: String, crashy: bool, ledger: Arc<Mutex<Ledger>>, stop: Arc<AtomicBool>) {
    let http = client();
    while !stop.load(Ordering::Relaxed) {
        let Ok(res) = http
            .post(format!("{url}/api/queues/{QUEUE}/claim"))
            .header("Authorization", &token)
            .json(&json!({ "max": 5, "waitMs": 500, "worker": if crashy { "crashy" } else { "steady" } }))
            .send()
            .await
        else {
            return;
        };
        if res.status() != 200 {
            return;
        }
        let Ok(body) = res.json::<Value>().await else { return };
        let items = body["items"].as_array().cloned().unwrap_or_default();
        if crashy && !items.is_empty() {
            return; // dies holding its jobs: their leases must expire and be retried
        }
        for job in items {
            let id = job["id"].as_str().unwrap().to_string();
            let lease = job["lease"].as_str().unwrap().to_string();
            let Ok(res) = http
                .post(format!("{url}/api/jobs/{id}/complete"))
                .header("Authorization", &token)
                .json(&json!({ "lease": lease, "result": { "ok": true } }))
                .send()
                .await
            else {
                return;
            };
            match res.status().as_u16() {
                200 => *ledger.lock().unwrap().completed.entry(id).or_default() += 1,
                409 => {} // the lease expired meanwhile: someone else runs it
                _ => return,
            }
        }
    }
}

fn spawn_all(
    url: &str,
    token: &str,
    ledger: &Arc<Mutex<Ledger>>,
    stop: &Arc<AtomicBool>,
    enqueue: bool,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    if enqueue {
        for n in 0..ENQUEUERS {
            tasks.push(tokio::spawn(enqueuer(
                url.into(),
                token.into(),
                n,
                ledger.clone(),
                stop.clone(),
            )));
        }
    }
    for n in 0..WORKERS {
        tasks.push(tokio::spawn(worker(
            url.into(),
            token.into(),
            enqueue && n == 0,
            ledger.clone(),
            stop.clone(),
        )));
    }
    tasks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_jobs_complete_exactly_once_across_kill_9() {
    let keel = KeelProcess::start();
    let url = keel.url().to_string();
    let token = superuser_token(&client(), &url).await;

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = spawn_all(&url, &token, &ledger, &stop, true);
    let started = Instant::now();
    loop {
        {
            let l = ledger.lock().unwrap();
            if l.enqueued.len() >= ACKED_BEFORE_KILL && l.completed.len() >= DONE_BEFORE_KILL {
                break;
            }
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the workload did not get going within {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // SIGKILL while enqueuers and workers are mid-request.
    let data_dir = keel.kill();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }

    let keel = KeelProcess::serve(data_dir);
    let url = keel.url().to_string();
    let token = superuser_token(&client(), &url).await;
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = spawn_all(&url, &token, &ledger, &stop, false);

    // Drain: wait until nothing is pending in the queue.
    let http = client();
    let drained = Instant::now();
    loop {
        let counts: Value = http
            .get(format!("{url}/api/queues/{QUEUE}"))
            .header("Authorization", &token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let c = &counts["counts"];
        let pending: u64 = ["waiting", "delayed", "active", "failed"]
            .iter()
            .map(|k| c[k].as_u64().unwrap_or(0))
            .sum();
        if pending == 0 {
            break;
        }
        assert!(
            drained.elapsed() < DEADLINE,
            "the queue did not drain after the restart: {counts}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }

    let (enqueued, completed) = {
        let l = ledger.lock().unwrap();
        (l.enqueued.clone(), l.completed.clone())
    };
    for (id, n) in &completed {
        assert_eq!(*n, 1, "job {id} was completed {n} times");
    }
    for id in &enqueued {
        let job: Value = http
            .get(format!("{url}/api/jobs/{id}"))
            .header("Authorization", &token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(job["state"], "completed", "acknowledged job {id} ended as {job}");
    }
    println!(
        "{} acknowledged enqueues, {} completions recorded by workers, all completed once",
        enqueued.len(),
        completed.len()
    );
}
