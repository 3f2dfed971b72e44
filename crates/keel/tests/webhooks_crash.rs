//! No webhook of a committed record is lost to `kill -9`: several clients create records as
//! fast as they can, Keel is killed mid-burst, started again on the same data, and the
//! receiver ends up with a delivery for EVERY create that got a 2xx answer. The event is an
//! outbox row written in the record's own transaction, then a `_keel-webhook` job: never only
//! in the killed process's memory. Duplicates are allowed (at least once), and a duplicate
//! carries the same `webhook-id`.
//!
//! The receiver refuses the first attempt of every message (503), so deliveries are waiting
//! for their retry, not only queued, when the server dies.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::{superuser_token, KeelProcess};
use serde_json::{json, Value};

/// Bounds every wait; a delivery claimed by the killed process waits out its 60 s lease.
const DEADLINE: Duration = Duration::from_secs(180);
const CLIENTS: usize = 6;
/// Creates answered before the kill (at least).
const BEFORE_KILL: usize = 60;

#[derive(Default)]
struct Receiver {
    /// Attempts seen per `webhook-id` (the first is refused).
    attempts: Mutex<HashMap<String, u32>>,
    /// Record id → the `webhook-id` of each accepted delivery of it.
    delivered: Mutex<HashMap<String, Vec<String>>>,
}

async fn receive(State(rx): State<Arc<Receiver>>, headers: HeaderMap, body: axum::body::Bytes) -> StatusCode {
    let msg = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(record) = event["data"]["record"]["id"].as_str() else {
        return StatusCode::BAD_REQUEST;
    };
    let attempt = {
        let mut attempts = rx.attempts.lock().unwrap();
        let n = attempts.entry(msg.clone()).or_default();
        *n += 1;
        *n
    };
    if attempt == 1 {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    rx.delivered
        .lock()
        .unwrap()
        .entry(record.to_string())
        .or_default()
        .push(msg);
    StatusCode::NO_CONTENT
}

async fn start_receiver() -> (String, Arc<Receiver>) {
    let rx = Arc::new(Receiver::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(rx.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), rx)
}

async fn post(http: &reqwest::Client, url: String, token: &str, body: Value) -> Value {
    let res = http
        .post(url)
        .header("Authorization", token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    assert!(status.is_success(), "{status}: {text}");
    serde_json::from_str(&text).unwrap()
}

async fn no_webhook_of_a_committed_record_is_lost(env: &[(&str, &str)]) {
    let (hook, rx) = start_receiver().await;
    let mut env = env.to_vec();
    env.push(("KEEL_OUTBOUND__ALLOW", "127.0.0.1/32"));
    env.push(("KEEL_WEBHOOKS__RETRY_SCHEDULE_SECS", "[0, 1, 1, 1, 1, 1]"));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let keel = KeelProcess::start_with_env(&env);
    let url = keel.url().to_string();
    let su = superuser_token(&http, &url).await;
    let collection = post(
        &http,
        format!("{url}/api/collections"),
        &su,
        json!({"name": "orders", "type": "base", "fields": [{"name": "title", "type": "text"}]}),
    )
    .await;
    post(
        &http,
        format!("{url}/api/webhooks"),
        &su,
        json!({
            "url": hook,
            "events": ["record.created"],
            "collection": collection["id"],
        }),
    )
    .await;

    // The burst: CLIENTS clients creating until the server dies under them.
    let answered = Arc::new(Mutex::new(HashSet::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (http, su, answered, stop) = (http.clone(), su.clone(), answered.clone(), stop.clone());
        let records = format!("{url}/api/collections/orders/records");
        clients.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                let res = http
                    .post(&records)
                    .header("Authorization", &su)
                    .json(&json!({"title": format!("client {c} order {i}")}))
                    .send()
                    .await;
                let Ok(res) = res else { break };
                if !res.status().is_success() {
                    continue;
                }
                // Counted once its answer is read (an answer cut by the kill is not known).
                let body: Value = res.json().await.unwrap_or(Value::Null);
                if let Some(id) = body["id"].as_str() {
                    answered.lock().unwrap().insert(id.to_string());
                }
            }
        }));
    }
    let started = Instant::now();
    while answered.lock().unwrap().len() < BEFORE_KILL {
        assert!(started.elapsed() < DEADLINE, "the burst did not get going");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let data_dir = keel.kill();
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.unwrap();
    }
    let answered = answered.lock().unwrap().clone();
    let before_restart = rx.delivered.lock().unwrap().len();
    println!(
        "{} creates answered before kill -9; {before_restart} delivered by then",
        answered.len()
    );

    // Again on the same data: every answered create's webhook arrives.
    let _keel = KeelProcess::serve_with_env(data_dir, &env);
    let started = Instant::now();
    loop {
        let missing: Vec<String> = {
            let delivered = rx.delivered.lock().unwrap();
            answered
                .iter()
                .filter(|id| !delivered.contains_key(*id))
                .cloned()
                .collect()
        };
        if missing.is_empty() {
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{} of {} answered creates never reached the receiver: {missing:?}",
            missing.len(),
            answered.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // At least once; a duplicate is the same message (same webhook-id).
    let delivered = rx.delivered.lock().unwrap();
    let mut duplicates = 0;
    for (record, ids) in delivered.iter() {
        assert!(ids.iter().all(|id| id == &ids[0]), "{record}: {ids:?}");
        assert!(ids[0].starts_with("msg_"), "{record}: {ids:?}");
        duplicates += ids.len() - 1;
    }
    println!(
        "all {} delivered after the restart ({duplicates} duplicates)",
        answered.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite() {
    no_webhook_of_a_committed_record_is_lost(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres() {
    let Some(pg) = keel_testkit::engine_url("KEEL_TEST_POSTGRES_URL") else {
        return;
    };
    let (url, name) = keel_testkit::postgres::fresh_database(&pg).await;
    let _guard = keel_testkit::postgres::DatabaseGuard { url: pg.clone(), name };
    no_webhook_of_a_committed_record_is_lost(&[
        ("KEEL_DATA__ENGINE", "postgres"),
        ("KEEL_JOBS__STORE", "postgres"),
        ("KEEL_ENGINES__POSTGRES_URL", url.as_str()),
    ])
    .await;
}
