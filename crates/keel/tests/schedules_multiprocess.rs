//! Exactly one fire per tick across several Keel processes: three `keel serve` processes
//! share one PostgreSQL jobs store (`KEEL_JOBS__STORE=postgres`), each running its
//! scheduler; a schedule ticking every second must produce one run and one job per tick.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{KeelProcess, SUPERUSER_EMAIL, SUPERUSER_PASSWORD};
use serde_json::{json, Value};

async fn token(http: &reqwest::Client, url: &str) -> String {
    let res = http
        .post(format!("{url}/api/collections/_superusers/auth-with-password"))
        .json(&json!({ "identity": SUPERUSER_EMAIL, "password": SUPERUSER_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn get(http: &reqwest::Client, url: &str, token: &str) -> Value {
    let res = http.get(url).header("Authorization", token).send().await.unwrap();
    assert_eq!(res.status(), 200, "GET {url}");
    res.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_fire_each_tick_once() {
    let Some(pg) = keel_testkit::engine_url("KEEL_TEST_POSTGRES_URL") else {
        return;
    };
    let env = [
        ("KEEL_JOBS__STORE", "postgres"),
        ("KEEL_ENGINES__POSTGRES_URL", pg.as_str()),
    ];
    let procs: Vec<KeelProcess> = (0..3).map(|_| KeelProcess::start_with_env(&env)).collect();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let a = procs[0].url().to_string();
    let t = token(&http, &a).await;

    let name = format!("every-second-{:x}", rand::random::<u64>());
    let queue = format!("q{:x}", rand::random::<u64>());
    let res = http
        .post(format!("{a}/api/schedules"))
        .header("Authorization", &t)
        .json(&json!({
            "name": name, "schedule": {"every": "1s"}, "queue": queue,
            "job": {"name": "tick"}, "overlap": "allow",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());

    // Wait for five ticks, reading through another process.
    let b = procs[1].url().to_string();
    let tb = token(&http, &b).await;
    let started = Instant::now();
    loop {
        let runs = get(&http, &format!("{b}/api/schedules/{name}/runs?limit=100"), &tb).await;
        if runs["items"].as_array().unwrap().len() >= 5 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "five ticks did not fire in 30 s: {runs}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Pause, then count: a tick being fired while the pause lands commits its run and its
    // job together, so runs and jobs agree once the counts settle.
    let res = http
        .post(format!("{a}/api/schedules/{name}/pause"))
        .header("Authorization", &t)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let c = procs[2].url().to_string();
    let tc = token(&http, &c).await;
    let settled = Instant::now();
    loop {
        let runs = get(&http, &format!("{c}/api/schedules/{name}/runs?limit=1000"), &tc).await;
        let runs = runs["items"].as_array().unwrap().clone();
        let ticks: HashSet<_> = runs.iter().map(|r| r["tick"].as_str().unwrap().to_string()).collect();
        assert_eq!(ticks.len(), runs.len(), "a tick appears once in the history");
        assert!(runs.iter().all(|r| r["outcome"] == "enqueued"), "{runs:?}");
        let jobs = get(&http, &format!("{c}/api/queues/{queue}/jobs?perPage=500"), &tc).await;
        let total = jobs["totalItems"].as_u64().unwrap() as usize;
        if total == runs.len() {
            assert!(total >= 5);
            break;
        }
        assert!(
            settled.elapsed() < Duration::from_secs(10),
            "{total} jobs for {} ticks: a tick fired more than once",
            runs.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
