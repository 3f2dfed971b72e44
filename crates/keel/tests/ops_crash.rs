//! A Keel killed with `kill -9` in the middle of a run leaves no run stuck in `running`: once
//! the killed process's lease on the run's job lapses, the restarted Keel takes the job, finds
//! the run `running` under it, and marks the run and its running step `interrupted` (runs are
//! not resumed: a half-run command may not be safe to run twice). A rerun from the failed
//! step then completes it.

mod common;

use std::time::{Duration, Instant};

use common::{superuser_token, KeelProcess};
use serde_json::{json, Value};

const DEADLINE: Duration = Duration::from_secs(90);

async fn call(http: &reqwest::Client, method: reqwest::Method, url: String, token: &str, body: Option<Value>) -> Value {
    let mut req = http.request(method, url).header("Authorization", token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    assert!(status.is_success(), "{status}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

async fn until(http: &reqwest::Client, url: &str, token: &str, run: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let r = call(
            http,
            reqwest::Method::GET,
            format!("{url}/api/ops/runs/{run}"),
            token,
            None,
        )
        .await;
        if pred(&r) {
            return r;
        }
        assert!(started.elapsed() < DEADLINE, "run {run}: {r:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_run_of_a_killed_keel_is_marked_interrupted_and_reruns() {
    let env = [("KEEL_OPS__SHELL_EXEC", "true"), ("KEEL_OPS__LEASE_SECS", "5")];
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let keel = KeelProcess::start_with_env(&env);
    let url = keel.url().to_string();
    let su = superuser_token(&http, &url).await;
    let flag = tempfile::NamedTempFile::new().unwrap().into_temp_path();
    let flag_path = flag.to_path_buf();
    drop(flag);
    let runbook = json!({"name": "long", "steps": [
        {"id": "first", "type": "shell.exec", "command": "echo first"},
        {"id": "wait", "type": "shell.exec", "needs": ["first"],
         "command": format!("test -f {} || sleep 120", flag_path.display())}]});
    call(
        &http,
        reqwest::Method::POST,
        format!("{url}/api/ops/runbooks"),
        &su,
        Some(runbook),
    )
    .await;
    let run = call(
        &http,
        reqwest::Method::POST,
        format!("{url}/api/ops/runbooks/long/run"),
        &su,
        None,
    )
    .await;
    let id = run["id"].as_str().unwrap().to_string();
    until(&http, &url, &su, &id, |r| {
        r["steps"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["id"] == "wait" && s["state"] == "running"))
    })
    .await;

    let data_dir = keel.kill();
    let keel = KeelProcess::serve_with_env(data_dir, &env);
    let url = keel.url().to_string();
    let done = until(&http, &url, &su, &id, |r| r["state"] != "running").await;
    assert_eq!(done["state"], "interrupted", "{done:#}");
    let steps = done["steps"].as_array().unwrap();
    let wait = steps.iter().find(|s| s["id"] == "wait").unwrap();
    assert_eq!(wait["state"], "interrupted", "{done:#}");
    assert!(done["error"].as_str().unwrap().contains("rerun"), "{done:#}");

    std::fs::write(&flag_path, "").unwrap();
    let again = call(
        &http,
        reqwest::Method::POST,
        format!("{url}/api/ops/runs/{id}/rerun"),
        &su,
        None,
    )
    .await;
    let rerun = again["id"].as_str().unwrap().to_string();
    let finished = until(&http, &url, &su, &rerun, |r| {
        ["succeeded", "failed"].contains(&r["state"].as_str().unwrap_or(""))
    })
    .await;
    assert_eq!(finished["state"], "succeeded", "{finished:#}");
    let _ = std::fs::remove_file(&flag_path);
}
