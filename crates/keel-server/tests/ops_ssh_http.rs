//! Ops runs on SSH targets over HTTP, against a real OpenSSH server (keel-testkit's sshd):
//! targets with vault credentials, the test endpoint, trust on first use then pinning, a
//! fan-out by tags, SFTP copies both ways, a refused host key, and the credential hidden.

mod support;

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use keel_testkit::sshd::{SshServer, USER};
use serde_json::{json, Value};
use support::TestApp;

const WAIT: Duration = Duration::from_secs(60);

async fn ok(app: &TestApp, method: Method, uri: &str, token: &str, body: Option<Value>) -> Value {
    let r = app.send(method, uri, Some(token), body).await;
    assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text);
    r.json
}

async fn until_ended(app: &TestApp, token: &str, run: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let r = ok(app, Method::GET, &format!("/api/ops/runs/{run}"), token, None).await;
        if ["succeeded", "failed", "cancelled", "interrupted"].contains(&r["state"].as_str().unwrap_or_default()) {
            return r;
        }
        assert!(Instant::now() < deadline, "run {run} stayed {}", r["state"]);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_runbook_fans_out_over_ssh_copies_files_and_pins_host_keys() {
    let Some(server) = SshServer::start() else { return };
    let app = TestApp::new().await;
    let su = app.superuser_token().await;
    ok(&app, Method::POST, "/api/vault/secrets", &su,
       Some(json!({"name": "deploy-key", "type": "ssh_key", "data": {"username": USER, "privateKey": server.ed25519_key}}))).await;

    // A credential that does not exist, a bad transport: named.
    let r = app
        .send(
            Method::POST,
            "/api/ops/targets",
            Some(&su),
            Some(json!({"name": "x", "address": "127.0.0.1", "transport": "ssh", "credential": "nope"})),
        )
        .await;
    assert_eq!(
        r.json["data"]["credential"]["code"], "validation_unknown_secret",
        "{}",
        r.text
    );
    let r = app
        .send(
            Method::POST,
            "/api/ops/targets",
            Some(&su),
            Some(json!({"name": "x", "transport": "telnet"})),
        )
        .await;
    assert_eq!(
        r.json["data"]["transport"]["code"], "validation_invalid_value",
        "{}",
        r.text
    );

    for (name, tags) in [
        ("web-1", json!(["web", "eu"])),
        ("web-2", json!(["web", "eu"])),
        ("db-1", json!(["db"])),
    ] {
        ok(
            &app,
            Method::POST,
            "/api/ops/targets",
            &su,
            Some(json!({
            "name": name, "address": server.host, "port": server.port, "transport": "ssh",
            "credential": "deploy-key", "trustOnFirstUse": true, "tags": tags, "os": "linux"})),
        )
        .await;
    }
    // The test endpoint connects for real; trust on first use pins the key it saw.
    let t = ok(&app, Method::POST, "/api/ops/targets/web-1/test", &su, None).await;
    assert_eq!(t["ok"], true, "{t:#}\n{}", server.log());
    assert!(t["hostname"].as_str().is_some_and(|h| !h.is_empty()), "{t:#}");
    assert_eq!(t["hostKey"], server.host_key_fingerprint.as_str());
    let web1 = ok(&app, Method::GET, "/api/ops/targets/web-1", &su, None).await;
    assert_eq!(web1["hostKey"], server.host_key_fingerprint.as_str());

    let files = app.dir.path().join("ops-files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("app.conf"), "port=8080\n").unwrap();
    let remote = server.work_dir.join("app.conf");
    let runbook = json!({
        "name": "rollout",
        "steps": [
            {"id": "push", "type": "ssh.copy", "targets": {"tags": ["web"]}, "direction": "upload",
             "source": "app.conf", "destination": remote.display().to_string()},
            {"id": "check", "type": "ssh.exec", "targets": {"tags": ["web", "eu"]}, "needs": ["push"],
             "command": format!("echo {{{{ target.name }}}} $(cat {})", remote.display()), "parallelism": 2},
            {"id": "fetch", "type": "ssh.copy", "target": "db-1", "needs": ["check"], "direction": "download",
             "source": remote.display().to_string(), "destination": "back/app.conf"}
        ]
    });
    ok(&app, Method::POST, "/api/ops/runbooks", &su, Some(runbook)).await;
    let run = ok(&app, Method::POST, "/api/ops/runbooks/rollout/run", &su, None).await;
    let done = until_ended(&app, &su, run["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "succeeded", "{done:#}\n{}", server.log());
    let mut checks: Vec<(String, String)> = done["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["id"] == "check")
        .map(|s| {
            (
                s["target"].as_str().unwrap().to_string(),
                s["stdout"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    checks.sort();
    assert_eq!(
        checks,
        [
            ("web-1".to_string(), "web-1 port=8080\n".to_string()),
            ("web-2".to_string(), "web-2 port=8080\n".to_string())
        ],
        "one unit per target, db-1 not selected"
    );
    let back = files
        .join("runs")
        .join(run["id"].as_str().unwrap())
        .join("back/app.conf");
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "port=8080\n");
    let everything = done.to_string();
    assert!(!everything.contains("PRIVATE KEY"), "the key never shows");

    // A pinned key that does not match fails the step before signing in.
    ok(
        &app,
        Method::PATCH,
        "/api/ops/targets/db-1",
        &su,
        Some(json!({"hostKey": "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "trustOnFirstUse": false})),
    )
    .await;
    ok(
        &app,
        Method::POST,
        "/api/ops/runbooks",
        &su,
        Some(json!({"name": "on-db", "steps": [
        {"id": "x", "type": "ssh.exec", "target": "db-1", "command": "echo hi"}]})),
    )
    .await;
    let run = ok(&app, Method::POST, "/api/ops/runbooks/on-db/run", &su, None).await;
    let done = until_ended(&app, &su, run["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "failed");
    let error = done["steps"][0]["error"].as_str().unwrap();
    assert!(
        error.contains(&server.host_key_fingerprint),
        "names the key the server showed: {error}"
    );
    let t = ok(&app, Method::POST, "/api/ops/targets/db-1/test", &su, None).await;
    assert_eq!(t["ok"], false, "{t:#}");
}
