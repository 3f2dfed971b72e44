//! Ops over HTTP: runbooks with versions, import and export; runs end to end through the
//! jobs service (an HTTP call to a local server, commands on the Keel host, outputs passed
//! between steps, `when`, an approval with a quorum of two), the log by cursor, cancel that
//! stops the command, rerun from the failed step, and a vault secret that never shows.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use support::TestApp;

/// How long a run may take before a test gives up on it (a run of 1100 units on a debug build
/// shared with other test binaries takes tens of seconds).
const WAIT: Duration = Duration::from_secs(180);

/// Everything Keel logs in this test binary (every level from debug), to grep for secrets.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: std::sync::OnceLock<Arc<Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_writer(move || Capture(sink.clone()))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buf
    })
    .clone()
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn app() -> TestApp {
    TestApp::with_config(|c| {
        c.outbound.allow = vec!["127.0.0.1/32".into()];
        c.ops.shell_exec = true;
    })
    .await
}

/// A user holding a custom role with `permissions`, and their token.
async fn user_with(app: &TestApp, su: &str, email: &str, permissions: &[&str]) -> String {
    let role = email.split('@').next().unwrap().replace('.', "-");
    let r = app
        .send(
            Method::POST,
            "/api/roles",
            Some(su),
            Some(json!({"name": role, "permissions": permissions})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let user = app.create_auth("users", email, "user-password-123").await;
    let uri = format!("/api/roles/{role}/members/users/{}", user.id());
    let r = app.send(Method::PUT, &uri, Some(su), None).await;
    assert!(r.status.is_success(), "{}", r.text);
    app.login("users", email, "user-password-123").await
}

async fn ok(app: &TestApp, method: Method, uri: &str, token: &str, body: Option<Value>) -> Value {
    let r = app.send(method, uri, Some(token), body).await;
    assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text);
    r.json
}

/// Polls the run until its state is one of `states`.
async fn until_state(app: &TestApp, token: &str, run: &str, states: &[&str]) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let r = ok(app, Method::GET, &format!("/api/ops/runs/{run}"), token, None).await;
        if states.contains(&r["state"].as_str().unwrap_or_default()) {
            return r;
        }
        assert!(Instant::now() < deadline, "run {run} stayed {}: {r:#}", r["state"]);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn step<'a>(run: &'a Value, id: &str) -> &'a Value {
    run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id} in {run:#}"))
}

/// A local server answering `POST /deploy` with `{"version": <body's version>, "ok": true}`.
async fn server() -> (String, Arc<Mutex<Vec<Value>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let app = axum::Router::new().route(
        "/deploy",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let s = s.clone();
            async move {
                s.lock().unwrap().push(body.clone());
                axum::Json(json!({"version": body["version"], "ok": true}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), seen)
}

#[tokio::test]
async fn runbooks_are_versioned_imported_and_exported() {
    let app = app().await;
    let su = app.superuser_token().await;
    let reader = user_with(&app, &su, "reader@x.test", &["ops:read"]).await;
    let body = json!({"name": "hello", "steps": [{"id": "say", "type": "shell.exec", "command": "echo hi"}]});
    let r = app
        .send(Method::POST, "/api/ops/runbooks", Some(&reader), Some(body.clone()))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert!(r.text.contains("ops:manage"), "{}", r.text);
    let created = ok(&app, Method::POST, "/api/ops/runbooks", &su, Some(body)).await;
    assert_eq!(created["version"], 1);
    let id = created["id"].as_str().unwrap().to_string();

    // Every mistake named by its path, in one 400.
    let bad = json!({"name": "hello", "steps": [{"id": "a", "type": "ssh.exec", "command": "x"}, {"id": "b", "type": "nope", "needs": ["zz"]}]});
    let r = app
        .send(Method::PUT, &format!("/api/ops/runbooks/{id}"), Some(&su), Some(bad))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    for path in ["steps[0].target", "steps[1].type", "steps[1].needs"] {
        assert!(r.json["data"][path]["code"].is_string(), "{path} in {}", r.text);
    }

    let v2 = json!({"name": "hello", "description": "now twice", "steps": [
        {"id": "say", "type": "shell.exec", "command": "echo hi"},
        {"id": "again", "type": "shell.exec", "command": "echo {{ steps.say.stdout }}", "needs": ["say"]}]});
    let updated = ok(&app, Method::PUT, "/api/ops/runbooks/hello", &su, Some(v2)).await;
    assert_eq!(updated["version"], 2);
    let versions = ok(
        &app,
        Method::GET,
        &format!("/api/ops/runbooks/{id}/versions"),
        &reader,
        None,
    )
    .await;
    let numbers: Vec<i64> = versions["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [2, 1]);
    let v1 = ok(
        &app,
        Method::GET,
        &format!("/api/ops/runbooks/{id}/versions/1"),
        &reader,
        None,
    )
    .await;
    assert_eq!(
        v1["definition"]["steps"].as_array().unwrap().len(),
        1,
        "older versions stay readable"
    );

    // Export as YAML, change it, import: a new version of the same runbook.
    let r = app
        .send(
            Method::GET,
            "/api/ops/runbooks/hello/export?format=yaml",
            Some(&reader),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text.contains("name: hello"), "{}", r.text);
    let yaml = r.text.replace("now twice", "imported");
    let req = axum::http::Request::builder()
        .method(Method::POST)
        .uri("/api/ops/runbooks/import")
        .header("authorization", su.as_str())
        .header("content-type", "application/yaml")
        .body(axum::body::Body::from(yaml))
        .unwrap();
    let r = app.raw(req).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        (r.json["id"].as_str(), r.json["version"].as_i64()),
        (Some(id.as_str()), Some(3))
    );
    assert_eq!(r.json["description"], "imported");

    // Changes are audited; the system collections are not writable as records.
    let audit = ok(&app, Method::GET, "/api/audit?filter=event~'ops.runbook'", &su, None).await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 3, "{audit:#}");
    let r = app
        .send(
            Method::POST,
            "/api/collections/_opsRuns/records",
            Some(&su),
            Some(json!({"runbook": "x", "state": "queued"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
}

#[tokio::test]
async fn a_run_calls_http_runs_commands_passes_outputs_and_waits_for_two_approvals() {
    let app = app().await;
    let su = app.superuser_token().await;
    let (base, seen) = server().await;
    let operator = user_with(&app, &su, "op@x.test", &["ops:run", "ops:read", "ops:approve"]).await;
    let ann = user_with(&app, &su, "ann@x.test", &["ops:approve", "ops:read"]).await;
    let bob = user_with(&app, &su, "bob@x.test", &["ops:approve"]).await;
    let runbook = json!({
        "name": "deploy",
        "parameters": {"type": "object", "required": ["version"],
                       "properties": {"version": {"type": "string", "pattern": "^v[0-9.]+$"}, "dry": {"type": "boolean", "default": false}}},
        "steps": [
            {"id": "check", "type": "shell.exec", "command": "echo ready-{{ version }}; echo warn >&2",
             "outputs": {"word": "{{ stdout | trim }}"}},
            {"id": "approve", "type": "approval", "quorum": 2, "needs": ["check"], "message": "Deploy {{ version }}?"},
            {"id": "call", "type": "http.request", "needs": ["approve"], "method": "POST",
             "url": base.clone() + "/deploy", "body": {"version": "{{ version }}", "from": "{{ steps.check.outputs.word }}"},
             "outputs": {"ok": "{{ json.ok }}"}},
            {"id": "skipped", "type": "shell.exec", "needs": ["call"], "when": "dry", "command": "echo never"},
            {"id": "done", "type": "shell.exec", "needs": ["call"], "command": "echo deployed {{ steps.call.outputs.ok }}"}
        ]
    });
    ok(&app, Method::POST, "/api/ops/runbooks", &su, Some(runbook)).await;

    // A bad parameter is a 400 naming it; nothing runs.
    let r = app
        .send(
            Method::POST,
            "/api/ops/runbooks/deploy/run",
            Some(&operator),
            Some(json!({"params": {"version": "latest"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(
        r.json["data"]["params.version"]["code"], "validation_pattern",
        "{}",
        r.text
    );

    let run = ok(
        &app,
        Method::POST,
        "/api/ops/runbooks/deploy/run",
        &operator,
        Some(json!({"params": {"version": "v1.2"}})),
    )
    .await;
    let id = run["id"].as_str().unwrap().to_string();
    let waiting = until_state(&app, &operator, &id, &["awaiting_approval"]).await;
    assert_eq!(step(&waiting, "check")["stdout"], "ready-v1.2\n");
    assert_eq!(step(&waiting, "check")["stderr"], "warn\n");
    assert_eq!(step(&waiting, "check")["outputs"]["word"], "ready-v1.2");
    assert!(seen.lock().unwrap().is_empty(), "nothing after the approval ran");

    // The launcher may not approve their own run; someone without ops:approve may not either.
    let r = app
        .send(
            Method::POST,
            &format!("/api/ops/runs/{id}/approve"),
            Some(&operator),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let nobody = user_with(&app, &su, "nobody@x.test", &["ops:read"]).await;
    let r = app
        .send(
            Method::POST,
            &format!("/api/ops/runs/{id}/approve"),
            Some(&nobody),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);

    ok(
        &app,
        Method::POST,
        &format!("/api/ops/runs/{id}/approve"),
        &ann,
        Some(json!({"comment": "looks fine"})),
    )
    .await;
    let r = app
        .send(Method::POST, &format!("/api/ops/runs/{id}/approve"), Some(&ann), None)
        .await;
    assert_ne!(r.status, StatusCode::OK, "one vote per person: {}", r.text);
    // One of two: still waiting once the resume settled.
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline && !keel_app::outbox::settled(&app.state).await.unwrap() {
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let still = until_state(&app, &ann, &id, &["awaiting_approval"]).await;
    assert_eq!(still["approvals"].as_array().unwrap().len(), 1);
    assert!(seen.lock().unwrap().is_empty());

    ok(&app, Method::POST, &format!("/api/ops/runs/{id}/approve"), &bob, None).await;
    let done = until_state(&app, &operator, &id, &["succeeded", "failed"]).await;
    assert_eq!(done["state"], "succeeded", "{done:#}");
    assert_eq!(
        seen.lock().unwrap().clone(),
        [json!({"version": "v1.2", "from": "ready-v1.2"})]
    );
    // Jinja renders a JSON true as `True`.
    assert_eq!(step(&done, "call")["outputs"]["ok"], "True");
    assert_eq!(step(&done, "skipped")["state"], "skipped");
    assert_eq!(step(&done, "done")["stdout"], "deployed True\n");
    assert_eq!(done["version"], 1);
    assert_eq!(done["params"], json!({"version": "v1.2", "dry": false}));

    // The log, in order, by cursor: a late reader gets it in pages.
    let first = ok(
        &app,
        Method::GET,
        &format!("/api/ops/runs/{id}/log?after=0&limit=2"),
        &operator,
        None,
    )
    .await;
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let next = first["next"].as_i64().unwrap();
    let rest = ok(
        &app,
        Method::GET,
        &format!("/api/ops/runs/{id}/log?after={next}&limit=1000"),
        &operator,
        None,
    )
    .await;
    let text: String = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["items"].as_array().unwrap())
        .map(|i| i["text"].as_str().unwrap().to_string())
        .collect();
    for part in [
        "ready-v1.2",
        "warn",
        "Waiting for 2 approval(s). Deploy v1.2?",
        "Approved (2 of 2).",
        "deployed True",
    ] {
        assert!(text.contains(part), "{part:?} in {text}");
    }
    let seqs: Vec<i64> = rest["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["seq"].as_i64().unwrap())
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1) && seqs[0] == next + 1,
        "{seqs:?}"
    );

    // Listing with a filter; the audit trail names who launched and who approved.
    let failed = ok(
        &app,
        Method::GET,
        "/api/ops/runs?filter=state='failed'",
        &operator,
        None,
    )
    .await;
    assert_eq!(failed["totalItems"], 0);
    let mine = ok(
        &app,
        Method::GET,
        "/api/ops/runs?filter=runbookName='deploy'",
        &operator,
        None,
    )
    .await;
    assert_eq!(mine["totalItems"], 1);
    let audit = ok(&app, Method::GET, "/api/audit?filter=event~'ops.run.'", &su, None).await;
    let events: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events.iter().filter(|e| **e == "ops.run.approve").count(),
        2,
        "{events:?}"
    );
    assert!(events.contains(&"ops.run.launch"), "{events:?}");
}

#[tokio::test]
async fn a_rejection_fails_the_run_and_a_cancel_stops_the_command() {
    let app = app().await;
    let su = app.superuser_token().await;
    let ann = user_with(&app, &su, "ann@x.test", &["ops:approve"]).await;
    let gate = json!({"name": "gate", "steps": [{"id": "ok", "type": "approval"}, {"id": "after", "type": "shell.exec", "needs": ["ok"], "command": "echo no"}]});
    ok(&app, Method::POST, "/api/ops/runbooks", &su, Some(gate)).await;
    let run = ok(&app, Method::POST, "/api/ops/runbooks/gate/run", &su, None).await;
    let id = run["id"].as_str().unwrap().to_string();
    until_state(&app, &su, &id, &["awaiting_approval"]).await;
    ok(
        &app,
        Method::POST,
        &format!("/api/ops/runs/{id}/reject"),
        &ann,
        Some(json!({"comment": "not today"})),
    )
    .await;
    let done = until_state(&app, &su, &id, &["failed", "succeeded"]).await;
    assert_eq!(done["state"], "failed");
    assert_eq!(step(&done, "after")["state"], "skipped");

    let marker = app.dir.path().join("marker");
    let slow = json!({"name": "slow", "steps": [{"id": "wait", "type": "shell.exec",
        "command": format!("sleep 30; touch {}", marker.display())}]});
    ok(&app, Method::POST, "/api/ops/runbooks", &su, Some(slow)).await;
    let run = ok(&app, Method::POST, "/api/ops/runbooks/slow/run", &su, None).await;
    let id = run["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + WAIT;
    loop {
        let r = ok(&app, Method::GET, &format!("/api/ops/runs/{id}"), &su, None).await;
        if r["steps"].as_array().is_some_and(|s| !s.is_empty()) {
            break;
        }
        assert!(Instant::now() < deadline, "the step never started");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let started = Instant::now();
    ok(&app, Method::POST, &format!("/api/ops/runs/{id}/cancel"), &su, None).await;
    let done = until_state(&app, &su, &id, &["cancelled", "failed", "succeeded"]).await;
    assert_eq!(done["state"], "cancelled", "{done:#}");
    assert!(started.elapsed() < Duration::from_secs(20), "cancel stopped the sleep");
    assert!(!marker.exists(), "the command was stopped, not just abandoned");
    let r = app
        .send(Method::POST, &format!("/api/ops/runs/{id}/cancel"), Some(&su), None)
        .await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "an ended run cannot be cancelled: {}",
        r.text
    );
}

#[tokio::test]
async fn a_failed_run_reruns_from_the_failed_step() {
    let app = app().await;
    let su = app.superuser_token().await;
    let flag = app.dir.path().join("flag");
    let counter = app.dir.path().join("count");
    let runbook = json!({"name": "flaky", "steps": [
        {"id": "prepare", "type": "shell.exec", "command": format!("echo x >> {}; echo prepared", counter.display()),
         "outputs": {"word": "{{ stdout | trim }}"}},
        {"id": "apply", "type": "shell.exec", "needs": ["prepare"], "retries": 1, "retryDelaySec": 0,
         "command": format!("test -f {} && echo {{{{ steps.prepare.outputs.word }}}}", flag.display())}
    ]});
    ok(&app, Method::POST, "/api/ops/runbooks", &su, Some(runbook)).await;
    let run = ok(&app, Method::POST, "/api/ops/runbooks/flaky/run", &su, None).await;
    let id = run["id"].as_str().unwrap().to_string();
    let failed = until_state(&app, &su, &id, &["failed", "succeeded"]).await;
    assert_eq!(failed["state"], "failed");
    assert_eq!(step(&failed, "apply")["exitCode"], 1);
    assert_eq!(step(&failed, "apply")["attempts"], 2, "retried once");

    std::fs::write(&flag, "").unwrap();
    let again = ok(&app, Method::POST, &format!("/api/ops/runs/{id}/rerun"), &su, None).await;
    assert_eq!(again["rerunOf"], id);
    let done = until_state(&app, &su, again["id"].as_str().unwrap(), &["failed", "succeeded"]).await;
    assert_eq!(done["state"], "succeeded", "{done:#}");
    assert_eq!(
        step(&done, "apply")["stdout"],
        "prepared\n",
        "the kept step's outputs are used"
    );
    assert_eq!(
        std::fs::read_to_string(&counter).unwrap().lines().count(),
        1,
        "prepare did not run again"
    );

    // `[ops] retention_days` (90): kept at 89 days, gone with their steps and logs at 91.
    let purge =
        |days: i64| keel_app::retention::purge_once(&app.state, chrono::Utc::now() + chrono::Duration::days(days));
    let counts = purge(89).await.unwrap();
    assert!(counts.iter().all(|(_, n)| *n == 0), "{counts:?}");
    let counts = purge(91).await.unwrap();
    assert!(counts.contains(&("_opsRuns", 2)), "{counts:?}");
    assert!(counts.iter().any(|(c, n)| *c == "_opsRunLogs" && *n > 0), "{counts:?}");
    let runs = ok(&app, Method::GET, "/api/ops/runs", &su, None).await;
    assert_eq!(runs["totalItems"], 0);
    let r = app
        .send(Method::GET, &format!("/api/ops/runs/{id}/log?after=0"), Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_secret_a_run_reads_never_shows_in_its_output_log_or_errors() {
    let app = app().await;
    let su = app.superuser_token().await;
    let logs = captured_logs();
    const PASSWORD: &str = "Sup3r-s3cret-pa55";
    let r = app
        .send(
            Method::POST,
            "/api/vault/secrets",
            Some(&su),
            Some(json!({"name": "db-admin", "type": "password", "data": {"username": "admin", "password": PASSWORD}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let runbook = json!({"name": "leaky", "parameters": {"type": "object", "properties": {"cred": {"type": "secret"}}},
    "steps": [
        {"id": "echo", "type": "shell.exec", "command": "echo pw={{ secret('db-admin').password }}; echo {{ secret(cred).username }} >&2",
         "outputs": {"copy": "{{ stdout }}"}},
        {"id": "fail", "type": "shell.exec", "needs": ["echo"], "command": "echo {{ secret('db-admin').password }} >&2; exit 4"}
    ]});
    ok(&app, Method::POST, "/api/ops/runbooks", &su, Some(runbook)).await;
    let run = ok(
        &app,
        Method::POST,
        "/api/ops/runbooks/leaky/run",
        &su,
        Some(json!({"params": {"cred": "db-admin"}})),
    )
    .await;
    let id = run["id"].as_str().unwrap().to_string();
    let done = until_state(&app, &su, &id, &["failed", "succeeded"]).await;
    assert_eq!(done["state"], "failed");
    assert_eq!(step(&done, "echo")["stdout"], "pw=***\n", "{done:#}");
    assert_eq!(
        step(&done, "echo")["stderr"],
        "***\n",
        "every value of a secret is hidden, its username too"
    );
    assert!(
        step(&done, "fail")["stderr"].as_str().unwrap().contains("***"),
        "{done:#}"
    );
    let log = ok(
        &app,
        Method::GET,
        &format!("/api/ops/runs/{id}/log?after=0&limit=1000"),
        &su,
        None,
    )
    .await;
    let everything = format!("{done} {log}");
    assert!(!everything.contains(PASSWORD), "{everything}");
    assert!(everything.contains("pw=***"), "{everything}");
    // Keel's own logs (every level from debug) name the failed step, never the value.
    let logged = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(
        logged.contains("a step of a run did not succeed") && logged.contains(&id),
        "the failure is logged"
    );
    assert!(!logged.contains(PASSWORD), "a secret reached Keel's log");
    // The use is recorded on the secret and audited.
    let secret = ok(&app, Method::GET, "/api/vault/secrets/db-admin", &su, None).await;
    assert_eq!(secret["lastUsedBy"], id);
    let audit = ok(&app, Method::GET, "/api/audit?filter=event='vault.use'", &su, None).await;
    assert!(!audit["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_run_is_followed_live_over_realtime_and_a_late_reader_catches_up_by_cursor() {
    let app = app().await;
    let su = app.superuser_token().await;
    let ann = user_with(&app, &su, "ann@x.test", &["ops:approve", "ops:read"]).await;
    let outsider = user_with(&app, &su, "out@x.test", &["jobs:read"]).await;
    let runbook = json!({"name": "live", "steps": [
        {"id": "gate", "type": "approval"},
        {"id": "say", "type": "shell.exec", "needs": ["gate"], "command": "echo hello live"}]});
    ok(&app, Method::POST, "/api/ops/runbooks", &su, Some(runbook)).await;
    let run = ok(&app, Method::POST, "/api/ops/runbooks/live/run", &su, None).await;
    let id = run["id"].as_str().unwrap().to_string();
    until_state(&app, &su, &id, &["awaiting_approval"]).await;

    let topic = format!("ops/runs/{id}");
    let (mut reader, client) = app.realtime_connect().await;
    let r = app
        .send(
            Method::POST,
            "/api/realtime",
            Some(&ann),
            Some(json!({"clientId": client, "subscriptions": [topic]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let (mut other, other_client) = app.realtime_connect().await;
    let r = app
        .send(
            Method::POST,
            "/api/realtime",
            Some(&outsider),
            Some(json!({"clientId": other_client, "subscriptions": [topic]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);

    ok(&app, Method::POST, &format!("/api/ops/runs/{id}/approve"), &ann, None).await;
    let mut heard = String::new();
    let mut seqs = Vec::new();
    loop {
        let msg = reader.next().await.expect("a live message");
        assert_eq!(msg.event, topic);
        let data = msg.json();
        if data["type"] == "log" {
            heard.push_str(data["entry"]["text"].as_str().unwrap());
            seqs.push(data["entry"]["seq"].as_i64().unwrap());
        }
        if data["type"] == "state" && data["state"] == "succeeded" {
            break;
        }
    }
    assert!(heard.contains("hello live"), "{heard}");
    // What was said before subscribing is in the log, before the first live seq.
    let before = ok(&app, Method::GET, &format!("/api/ops/runs/{id}/log?after=0"), &su, None).await;
    let first_live = seqs[0];
    let early: Vec<&Value> = before["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["seq"].as_i64().unwrap() < first_live)
        .collect();
    assert!(
        early
            .iter()
            .any(|i| i["text"].as_str().unwrap().contains("Waiting for 1 approval")),
        "{before:#}"
    );
    assert!(
        other.next_within(Duration::from_millis(300)).await.is_err(),
        "without ops:read nothing is heard"
    );
}

#[tokio::test]
async fn run_events_reach_webhooks() {
    let app = app().await;
    let su = app.superuser_token().await;
    let got = Arc::new(Mutex::new(Vec::<Value>::new()));
    let g = got.clone();
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let g = g.clone();
            async move {
                g.lock()
                    .unwrap()
                    .push(serde_json::from_str(&body).unwrap_or(Value::Null));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, receiver).await });
    ok(
        &app,
        Method::POST,
        "/api/webhooks",
        &su,
        Some(json!({"url": format!("http://{addr}/hook"), "events": ["run.*"]})),
    )
    .await;
    // Consumers reload what they want when an endpoint changes: wait until this one is heard.
    let deadline = Instant::now() + WAIT;
    while !app.state.events.wanted("run.succeeded", None) {
        assert!(Instant::now() < deadline, "the endpoint was never loaded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ok(
        &app,
        Method::POST,
        "/api/ops/runbooks",
        &su,
        Some(json!({"name": "tiny", "steps": [{"id": "a", "type": "shell.exec", "command": "true"}]})),
    )
    .await;
    let run = ok(&app, Method::POST, "/api/ops/runbooks/tiny/run", &su, None).await;
    let id = run["id"].as_str().unwrap().to_string();
    until_state(&app, &su, &id, &["succeeded"]).await;
    let deadline = Instant::now() + WAIT;
    loop {
        let types: Vec<String> = got
            .lock()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap_or_default().to_string())
            .collect();
        if types.contains(&"run.started".to_string()) && types.contains(&"run.succeeded".to_string()) {
            let done = got
                .lock()
                .unwrap()
                .iter()
                .find(|e| e["type"] == "run.succeeded")
                .cloned()
                .unwrap();
            assert_eq!(done["data"]["run"], id.as_str());
            assert_eq!(done["data"]["runbookName"], "tiny");
            break;
        }
        assert!(Instant::now() < deadline, "heard {types:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn a_schedule_launches_a_runbook_and_no_other_system_queue() {
    let app = app().await;
    let su = app.superuser_token().await;
    ok(
        &app,
        Method::POST,
        "/api/ops/runbooks",
        &su,
        Some(json!({"name": "nightly",
        "parameters": {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}},
        "steps": [{"id": "a", "type": "shell.exec", "command": "echo n={{ n }}"}]})),
    )
    .await;
    let every = json!({"every": "1h"});
    for (queue, payload, field) in [
        ("_keel-mail", json!({}), None),
        (
            "_keel-ops",
            json!({"runbook": "nightly", "params": {"n": 0}}),
            Some("job.payload.params.n"),
        ),
        ("_keel-ops", json!({"runbook": "nope"}), Some("job.payload.runbook")),
    ] {
        let r = app
            .send(
                Method::POST,
                "/api/schedules",
                Some(&su),
                Some(json!({"name": "x", "schedule": every, "queue": queue, "job": {"payload": payload}})),
            )
            .await;
        match field {
            None => assert_eq!(r.status, StatusCode::FORBIDDEN, "{queue}: {}", r.text),
            Some(f) => assert!(r.json["data"][f]["code"].is_string(), "{f}: {}", r.text),
        }
    }
    let s = ok(&app, Method::POST, "/api/schedules", &su,
        Some(json!({"name": "nightly", "schedule": every, "queue": "_keel-ops", "job": {"payload": {"runbook": "nightly", "params": {"n": 3}}}}))).await;
    let id = s["id"].as_str().unwrap();
    ok(&app, Method::POST, &format!("/api/schedules/{id}/trigger"), &su, None).await;
    let deadline = Instant::now() + WAIT;
    let run = loop {
        let runs = ok(
            &app,
            Method::GET,
            "/api/ops/runs?filter=runbookName='nightly'",
            &su,
            None,
        )
        .await;
        if let Some(r) = runs["items"]
            .as_array()
            .unwrap()
            .first()
            .filter(|r| r["state"] == "succeeded")
        {
            break r.clone();
        }
        assert!(Instant::now() < deadline, "no scheduled run ended: {runs:#}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(run["startedBy"], "schedule");
    let view = ok(
        &app,
        Method::GET,
        &format!("/api/ops/runs/{}", run["id"].as_str().unwrap()),
        &su,
        None,
    )
    .await;
    assert_eq!(step(&view, "a")["stdout"], "n=3\n");
}

/// The whole log of `run`, read by cursor a page at a time: its pieces.
async fn whole_log(app: &TestApp, token: &str, run: &str) -> Vec<Value> {
    let (mut pieces, mut after) = (Vec::new(), 0);
    loop {
        let page = ok(
            app,
            Method::GET,
            &format!("/api/ops/runs/{run}/log?after={after}&limit=100"),
            token,
            None,
        )
        .await;
        let items = page["items"].as_array().unwrap().clone();
        if items.is_empty() {
            return pieces;
        }
        after = page["next"].as_i64().unwrap();
        pieces.extend(items);
    }
}

#[tokio::test]
async fn a_chatty_command_is_logged_in_few_pieces_and_a_run_of_many_units_shows_them_all() {
    let app = app().await;
    let su = app.superuser_token().await;
    let runbook = json!({"name": "big", "steps": [
        // Every line its own write: 3000 of them.
        {"id": "chatty", "type": "shell.exec", "command": "i=0; while [ $i -lt 3000 ]; do i=$((i+1)); echo line-$i; done"},
        {"id": "many", "type": "shell.exec", "needs": ["chatty"], "forEach": (0..1100).collect::<Vec<_>>(),
         "parallelism": 20, "command": "exit 0"}
    ]});
    ok(&app, Method::POST, "/api/ops/runbooks", &su, Some(runbook)).await;
    let run = ok(&app, Method::POST, "/api/ops/runbooks/big/run", &su, None).await;
    let id = run["id"].as_str().unwrap().to_string();
    let done = until_state(&app, &su, &id, &["failed", "succeeded"]).await;
    assert_eq!(done["state"], "succeeded", "{}", done["error"]);

    let pieces = whole_log(&app, &su, &id).await;
    let text: String = pieces
        .iter()
        .filter(|p| p["step"] == "chatty" && p["stream"] == "stdout")
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    let want: String = (1..=3000).map(|i| format!("line-{i}\n")).collect();
    assert_eq!(text, want, "every line, in order");
    assert!(
        pieces.len() < 100,
        "3000 lines are gathered into pieces, not a row per line: {} pieces",
        pieces.len()
    );

    let steps = done["steps"].as_array().unwrap();
    let many: Vec<&Value> = steps.iter().filter(|s| s["id"] == "many").collect();
    assert_eq!(many.len(), 1100, "a unit per item, past the 1000 rows of one page");
    let mut items: Vec<i64> = many.iter().map(|s| s["item"].as_i64().unwrap()).collect();
    items.sort_unstable();
    assert_eq!(items, (0..1100).collect::<Vec<i64>>());
    assert!(many.iter().all(|s| s["state"] == "succeeded"));
}

#[tokio::test]
async fn keep_runs_keeps_only_the_newest_ended_runs_of_each_runbook() {
    let app = TestApp::with_config(|c| {
        c.ops.shell_exec = true;
        c.ops.keep_runs = 2;
    })
    .await;
    let su = app.superuser_token().await;
    for name in ["often", "rarely"] {
        let runbook = json!({"name": name, "steps": [{"id": "s", "type": "shell.exec", "command": "echo hi"}]});
        ok(&app, Method::POST, "/api/ops/runbooks", &su, Some(runbook)).await;
    }
    let mut often = Vec::new();
    for _ in 0..4 {
        let run = ok(&app, Method::POST, "/api/ops/runbooks/often/run", &su, None).await;
        let id = run["id"].as_str().unwrap().to_string();
        until_state(&app, &su, &id, &["succeeded"]).await;
        often.push(id);
    }
    let rarely = ok(&app, Method::POST, "/api/ops/runbooks/rarely/run", &su, None).await;
    let rarely = rarely["id"].as_str().unwrap().to_string();
    until_state(&app, &su, &rarely, &["succeeded"]).await;

    let counts = keel_app::retention::purge_once(&app.state, chrono::Utc::now())
        .await
        .unwrap();
    assert!(counts.contains(&("_opsRuns", 2)), "{counts:?}");
    for (id, kept) in [
        (&often[0], false),
        (&often[1], false),
        (&often[2], true),
        (&often[3], true),
        (&rarely, true),
    ] {
        let r = app
            .send(Method::GET, &format!("/api/ops/runs/{id}"), Some(&su), None)
            .await;
        let want = if kept { StatusCode::OK } else { StatusCode::NOT_FOUND };
        assert_eq!(r.status, want, "run {id}: {}", r.text);
        let log = app
            .send(Method::GET, &format!("/api/ops/runs/{id}/log?after=0"), Some(&su), None)
            .await;
        assert_eq!(log.status, want, "the log of {id} goes with its run");
    }
}

#[tokio::test]
async fn a_run_outlasting_its_jobs_lease_runs_to_its_end() {
    // The job's lease is 4 s; the command takes 6 s: the heartbeat keeps the lease, and the
    // job's timeout does not cut the run.
    let app = TestApp::with_config(|c| {
        c.ops.shell_exec = true;
        c.ops.lease_secs = 4;
    })
    .await;
    let su = app.superuser_token().await;
    let runbook =
        json!({"name": "slow", "steps": [{"id": "wait", "type": "shell.exec", "command": "sleep 6; echo done"}]});
    ok(&app, Method::POST, "/api/ops/runbooks", &su, Some(runbook)).await;
    let run = ok(&app, Method::POST, "/api/ops/runbooks/slow/run", &su, None).await;
    let done = until_state(
        &app,
        &su,
        run["id"].as_str().unwrap(),
        &["succeeded", "failed", "interrupted"],
    )
    .await;
    assert_eq!(done["state"], "succeeded", "{done:#}");
    assert_eq!(step(&done, "wait")["stdout"], "done\n");
}
