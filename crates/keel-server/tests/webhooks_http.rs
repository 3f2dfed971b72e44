//! Webhooks end to end: endpoints created through `/api/webhooks`, record changes delivered
//! to a local receiver (axum on loopback) signed as Standard Webhooks (checked with the npm
//! `standardwebhooks` reference library), retried on the schedule with the same `webhook-id`,
//! `Retry-After` honoured, `410 Gone` and long failures disabling the endpoint, redirects
//! failing, filters and hidden fields, permissions, validation, test and redeliver.

mod support;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use keel_data::{Access, RequestInfo};
use serde_json::{json, Value};
use support::{TestApp, WAIT};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Captured {
    path: String,
    headers: HashMap<String, String>,
    body: String,
    at: Instant,
}

impl Captured {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }

    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }
}

#[derive(Default)]
struct Receiver {
    got: Mutex<Vec<Captured>>,
}

/// How the receiver answers the `n`th request (0-based) to `path`.
fn answer(path: &str, n: usize) -> Response {
    match path {
        "flaky" if n < 2 => (StatusCode::INTERNAL_SERVER_ERROR, "not yet").into_response(),
        "slow-down" if n == 0 => (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "2")], "later").into_response(),
        "gone" => (StatusCode::GONE, "gone for good").into_response(),
        "fail" => (StatusCode::INTERNAL_SERVER_ERROR, "always failing").into_response(),
        "redirect" => (StatusCode::FOUND, [("location", "/hook/ok")], "").into_response(),
        _ => (StatusCode::OK, "thanks").into_response(),
    }
}

async fn receive(
    State(r): State<Arc<Receiver>>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let headers = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let n = {
        let mut got = r.got.lock().unwrap();
        let n = got.iter().filter(|c| c.path == path).count();
        got.push(Captured {
            path: path.clone(),
            headers,
            body,
            at: Instant::now(),
        });
        n
    };
    answer(&path, n)
}

/// Starts the receiver; returns it and its base URL (`http://127.0.0.1:port/hook/`).
async fn receiver() -> (Arc<Receiver>, String) {
    let r = Arc::new(Receiver::default());
    let app = axum::Router::new()
        .route("/hook/{path}", axum::routing::post(receive))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (r, format!("http://{addr}/hook/"))
}

impl Receiver {
    fn requests(&self, path: &str) -> Vec<Captured> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.path == path)
            .cloned()
            .collect()
    }

    /// Waits (bounded) until `path` got at least `n` requests; returns them.
    async fn wait_for(&self, path: &str, n: usize) -> Vec<Captured> {
        let deadline = Instant::now() + WAIT;
        loop {
            let got = self.requests(path);
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{path}: {} of {n} requests arrived",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// An app allowing loopback, retrying at once then after 1 s and 1 s.
async fn app() -> TestApp {
    TestApp::with_config(|c| {
        c.outbound.allow = vec!["127.0.0.1/32".into(), "::1/128".into()];
        c.webhooks.retry_schedule_secs = vec![0, 1, 1];
        c.webhooks.timeout_secs = 5;
    })
    .await
}

/// `posts` (title, status, a hidden `note`).
async fn posts(app: &TestApp) {
    app.state
        .store
        .create_collection(json!({
            "name": "posts", "type": "base",
            "listRule": "", "viewRule": "",
            "fields": [
                {"name": "title", "type": "text"},
                {"name": "status", "type": "text"},
                {"name": "note", "type": "text", "hidden": true}
            ]
        }))
        .await
        .unwrap();
}

async fn insert(app: &TestApp, data: Value) -> keel_data::Record {
    let Value::Object(data) = data else { panic!() };
    app.state
        .store
        .create_record(
            &app.collection("posts"),
            data,
            &RequestInfo::default(),
            Access::Superuser,
        )
        .await
        .unwrap()
}

/// Creates an endpoint; returns its JSON (with `secret`).
async fn endpoint(app: &TestApp, token: &str, body: Value) -> Value {
    let r = app.send(Method::POST, "/api/webhooks", Some(token), Some(body)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json
}

async fn deliveries(app: &TestApp, token: &str, id: &str) -> Vec<Value> {
    let r = app
        .send(
            Method::GET,
            &format!("/api/webhooks/{id}/deliveries"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json["items"].as_array().unwrap().clone()
}

/// Waits (bounded) until the endpoint has `n` recorded attempts; returns them newest first.
async fn wait_deliveries(app: &TestApp, token: &str, id: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let items = deliveries(app, token, id).await;
        if items.len() >= n {
            return items;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} attempts recorded: {items:#?}",
            items.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn view(app: &TestApp, token: &str, id: &str) -> Value {
    let r = app
        .send(Method::GET, &format!("/api/webhooks/{id}"), Some(token), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json
}

/// Waits (bounded) until the endpoint `id` is inactive; returns it.
async fn wait_disabled(app: &TestApp, token: &str, id: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let e = view(app, token, id).await;
        if e["active"] == false {
            return e;
        }
        assert!(Instant::now() < deadline, "still active: {e}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn rust_verifies(secret: &str, c: &Captured) -> bool {
    keel_notify::webhook::verify(
        secret,
        c.header("webhook-id"),
        c.header("webhook-timestamp").parse().unwrap(),
        c.body.as_bytes(),
        c.header("webhook-signature"),
    )
}

/// Verifies each `(secret, delivery)` with the npm `standardwebhooks` library; returns one
/// line per delivery (`ok` or `invalid: …`), or `None` when node or the library is missing
/// here (a failure when `KEEL_TEST_REQUIRE_ENGINES=1`).
fn node_verifies(pairs: &[(&str, &Captured)]) -> Option<Vec<String>> {
    let sdk = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/sdk");
    let required = std::env::var("KEEL_TEST_REQUIRE_ENGINES").is_ok_and(|v| v == "1");
    let available = sdk.join("node_modules/standardwebhooks").is_dir()
        && Command::new("node")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    if !available {
        assert!(
            !required,
            "node and tests/sdk/node_modules/standardwebhooks are needed (npm ci --prefix tests/sdk)"
        );
        eprintln!("skipping the standardwebhooks check: node or the library is missing");
        return None;
    }
    let input: Vec<Value> = pairs
        .iter()
        .map(|(secret, c)| {
            json!({"secret": secret, "body": c.body, "headers": {
                "webhook-id": c.header("webhook-id"),
                "webhook-timestamp": c.header("webhook-timestamp"),
                "webhook-signature": c.header("webhook-signature"),
            }})
        })
        .collect();
    let mut child = Command::new("node")
        .arg("verify_webhook.mjs")
        .current_dir(&sdk)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&input).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect(),
    )
}

#[tokio::test]
async fn deliveries_are_signed_as_standard_webhooks_before_and_after_a_rotation() {
    let app = app().await;
    posts(&app).await;
    let su = app.superuser_token().await;
    let (rx, base) = receiver().await;
    let e = endpoint(
        &app,
        &su,
        json!({"url": format!("{base}ok"), "events": ["record.created"], "collection": "posts",
               "headers": {"Authorization": "Bearer receiver-token"}}),
    )
    .await;
    let id = e["id"].as_str().unwrap().to_string();
    let secret = e["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{e}");
    assert_eq!(e["collection"], "posts");
    assert_eq!(e["active"], true);
    // The secret is shown on create only.
    assert!(view(&app, &su, &id).await.get("secret").is_none());
    let list = app.send(Method::GET, "/api/webhooks", Some(&su), None).await;
    assert_eq!(list.json["totalItems"], 1, "{}", list.text);
    assert!(list.json["items"][0].get("secret").is_none());
    assert!(!list.text.contains(&secret));

    let record = insert(&app, json!({"title": "hello", "status": "draft", "note": "private"})).await;
    let got = rx.wait_for("ok", 1).await;
    let first = &got[0];
    let event_id_header = first.header("webhook-id").to_string();
    assert!(event_id_header.starts_with("msg_"), "{first:?}");
    assert_eq!(first.header("content-type"), "application/json");
    assert_eq!(first.header("authorization"), "Bearer receiver-token");
    let body = first.json();
    assert_eq!(body["type"], "record.created");
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(body["data"]["collection"], "posts");
    assert_eq!(body["data"]["record"]["id"], record.id());
    assert_eq!(body["data"]["record"]["title"], "hello");
    assert!(
        body["data"]["record"].get("note").is_none(),
        "hidden fields never leave: {body}"
    );
    assert!(!first.body.contains("private"));
    let ts: i64 = first.header("webhook-timestamp").parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - ts).abs() < 60);
    assert_eq!(first.header("webhook-signature").split(' ').count(), 1);
    assert!(rust_verifies(&secret, first));

    // Rotated: the new secret and, during the grace period, the old one both sign.
    let r = app
        .send(
            Method::POST,
            &format!("/api/webhooks/{id}/rotate-secret"),
            Some(&su),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let new_secret = r.json["secret"].as_str().unwrap().to_string();
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);
    assert!(!r.json["previousSecretUntil"].as_str().unwrap().is_empty());
    assert!(view(&app, &su, &id).await.get("secret").is_none());
    insert(&app, json!({"title": "second"})).await;
    let got = rx.wait_for("ok", 2).await;
    let second = &got[1];
    assert_eq!(second.header("webhook-signature").split(' ').count(), 2);
    assert!(rust_verifies(&new_secret, second) && rust_verifies(&secret, second));
    assert_ne!(second.header("webhook-id"), event_id_header, "one id per event");

    let wrong = keel_notify::webhook::new_secret();
    if let Some(lines) = node_verifies(&[
        (&secret, first),
        (&new_secret, second),
        (&secret, second),
        (&wrong, second),
    ]) {
        assert_eq!(lines[..3], ["ok", "ok", "ok"], "{lines:?}");
        assert!(lines[3].starts_with("invalid"), "{lines:?}");
    }

    // Both deliveries are recorded as succeeded.
    let items = wait_deliveries(&app, &su, &id, 2).await;
    assert!(
        items
            .iter()
            .all(|d| d["status"] == "succeeded" && d["httpStatus"] == 200),
        "{items:#?}"
    );
    assert_eq!(items[0]["response"], "thanks");
}

#[tokio::test]
async fn a_failing_receiver_is_retried_on_the_schedule_with_the_same_id() {
    let app = app().await;
    posts(&app).await;
    let su = app.superuser_token().await;
    let (rx, base) = receiver().await;
    let e = endpoint(
        &app,
        &su,
        json!({"url": format!("{base}flaky"), "events": ["record.*"], "collection": "posts"}),
    )
    .await;
    let id = e["id"].as_str().unwrap();
    insert(&app, json!({"title": "retry me"})).await;
    let got = rx.wait_for("flaky", 3).await;
    assert_eq!(got.len(), 3);
    let ids: Vec<&str> = got.iter().map(|c| c.header("webhook-id")).collect();
    assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
    // Schedule [0, 1, 1]: the second attempt at once, the third a second later.
    assert!(
        got[2].at - got[1].at >= Duration::from_millis(900),
        "{:?}",
        got[2].at - got[1].at
    );

    let items = wait_deliveries(&app, &su, id, 3).await;
    let attempts: Vec<(u64, &str)> = items
        .iter()
        .map(|d| (d["attempt"].as_u64().unwrap(), d["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        attempts,
        [(3, "succeeded"), (2, "pending"), (1, "pending")],
        "{items:#?}"
    );
    assert_eq!(items[1]["httpStatus"], 500);
    assert_eq!(items[1]["response"], "not yet");
    assert!(!items[1]["nextAttemptAt"].as_str().unwrap().is_empty());
    assert!(items.iter().all(|d| d["messageId"] == ids[0]));
    assert_eq!(items[0]["payload"]["type"], "record.created");
    // The success cleared `failingSince`.
    let deadline = Instant::now() + WAIT;
    while view(&app, &su, id).await["failingSince"] != "" {
        assert!(Instant::now() < deadline, "failingSince not cleared");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let app = app().await;
    posts(&app).await;
    let su = app.superuser_token().await;
    let (rx, base) = receiver().await;
    let e = endpoint(
        &app,
        &su,
        json!({"url": format!("{base}slow-down"), "events": ["record.created"], "collection": "posts"}),
    )
    .await;
    insert(&app, json!({"title": "x"})).await;
    let got = rx.wait_for("slow-down", 2).await;
    // The schedule says "at once"; the answer said 2 s.
    assert!(
        got[1].at - got[0].at >= Duration::from_millis(1900),
        "{:?}",
        got[1].at - got[0].at
    );
    let items = wait_deliveries(&app, &su, e["id"].as_str().unwrap(), 2).await;
    assert_eq!(items[1]["httpStatus"], 503);
    let created =
        chrono::DateTime::parse_from_rfc3339(&items[1]["created"].as_str().unwrap().replace(' ', "T")).unwrap();
    let next =
        chrono::DateTime::parse_from_rfc3339(&items[1]["nextAttemptAt"].as_str().unwrap().replace(' ', "T")).unwrap();
    assert!(next - created >= chrono::Duration::milliseconds(1900), "{items:#?}");
}

#[tokio::test]
async fn gone_disables_the_endpoint_and_a_redirect_is_a_failure() {
    let app = app().await;
    posts(&app).await;
    let su = app.superuser_token().await;
    let (rx, base) = receiver().await;
    let gone = endpoint(
        &app,
        &su,
        json!({"url": format!("{base}gone"), "events": ["record.created"], "collection": "posts"}),
    )
    .await;
    let moved = endpoint(
        &app,
        &su,
        json!({"url": format!("{base}redirect"), "events": ["record.created"], "collection": "posts"}),
    )
    .await;
    insert(&app, json!({"title": "x"})).await;

    let disabled = wait_disabled(&app, &su, gone["id"].as_str().unwrap()).await;
    assert!(
        disabled["disabledReason"].as_str().unwrap().contains("410"),
        "{disabled}"
    );
    assert!(!disabled["disabledAt"].as_str().unwrap().is_empty());
    let items = wait_deliveries(&app, &su, gone["id"].as_str().unwrap(), 1).await;
    assert_eq!(
        (items[0]["status"].as_str(), items[0]["httpStatus"].as_u64()),
        (Some("failed"), Some(410))
    );

    // The redirect is never followed: every attempt fails, the last one for good.
    let items = wait_deliveries(&app, &su, moved["id"].as_str().unwrap(), 4).await;
    assert_eq!(items[0]["status"], "failed", "{items:#?}");
    assert!(items.iter().all(|d| d["httpStatus"] == 302));
    assert!(items[0]["error"].as_str().unwrap().contains("redirect"), "{items:#?}");
    assert!(rx.requests("ok").is_empty(), "the redirect was followed");
    assert_eq!(rx.requests("gone").len(), 1, "410 is not retried");

    // Turned back on (at a URL that answers), it gets the next changes.
    let r = app
        .send(
            Method::PATCH,
            &format!("/api/webhooks/{}", gone["id"].as_str().unwrap()),
            Some(&su),
            Some(json!({"active": true, "url": format!("{base}ok")})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        (r.json["active"].as_bool(), r.json["disabledReason"].as_str()),
        (Some(true), Some(""))
    );
    insert(&app, json!({"title": "z"})).await;
    let got = rx.wait_for("ok", 1).await;
    assert!(
        got.iter().all(|c| c.json()["data"]["record"]["title"] == "z"),
        "{got:#?}"
    );
}

#[tokio::test]
async fn failing_for_too_long_disables_the_endpoint_with_a_webhook_disabled_event() {
    let app = app().await;
    posts(&app).await;
    let su = app.superuser_token().await;
    let (rx, base) = receiver().await;
    let failing = endpoint(
        &app,
        &su,
        json!({"url": format!("{base}fail"), "events": ["record.created"], "collection": "posts"}),
    )
    .await;
    let watcher = endpoint(
        &app,
        &su,
        json!({"url": format!("{base}ok"), "events": ["webhook.disabled"]}),
    )
    .await;
    let failing_id = failing["id"].as_str().unwrap();
    // Failing since long before `disable_after_hours` (120 by default).
    let since = keel_core::time::format(chrono::Utc::now() - chrono::Duration::hours(200));
    let mut patch = serde_json::Map::new();
    patch.insert("failingSince".into(), json!(since));
    app.state
        .store
        .update_record(
            &app.collection("_webhooks"),
            failing_id,
            patch,
            &RequestInfo::default(),
            Access::Superuser,
        )
        .await
        .unwrap();
    insert(&app, json!({"title": "x"})).await;
    let disabled = wait_disabled(&app, &su, failing_id).await;
    assert!(
        disabled["disabledReason"].as_str().unwrap().contains("120 hours"),
        "{disabled}"
    );
    assert_eq!(rx.requests("fail").len(), 1);
    let got = rx.wait_for("ok", 1).await;
    let event = got[0].json();
    assert_eq!(event["type"], "webhook.disabled");
    assert_eq!(event["data"]["webhook"]["id"], failing_id);
    assert!(event["data"]["webhook"].get("secret").is_none());
    assert!(rust_verifies(watcher["secret"].as_str().unwrap(), &got[0]));
}

#[tokio::test]
async fn the_filter_decides_per_record_and_applies_to_deletes() {
    let app = app().await;
    posts(&app).await;
    let su = app.superuser_token().await;
    let (rx, base) = receiver().await;
    endpoint(
        &app,
        &su,
        json!({"url": format!("{base}ok"), "events": ["record.created", "record.deleted"],
               "collection": "posts", "filter": "status = 'published'"}),
    )
    .await;
    let draft = insert(&app, json!({"title": "draft", "status": "draft"})).await;
    let published = insert(&app, json!({"title": "out", "status": "published"})).await;
    let c = app.collection("posts");
    for r in [&draft, &published] {
        app.state
            .store
            .delete_record(&c, r.id(), &RequestInfo::default(), Access::Superuser)
            .await
            .unwrap();
    }
    let got = rx.wait_for("ok", 2).await;
    // Everything else is done once the system queues settled.
    let deadline = Instant::now() + WAIT;
    while !keel_app::outbox::settled(&app.state).await.unwrap() {
        assert!(Instant::now() < deadline, "the outbox did not settle");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got2 = rx.requests("ok");
    assert_eq!(got2.len(), 2, "{got2:#?}");
    let seen: Vec<(String, String)> = got
        .iter()
        .map(|c| {
            let b = c.json();
            (
                b["type"].as_str().unwrap().to_string(),
                b["data"]["record"]["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        seen.contains(&("record.created".into(), published.id().to_string())),
        "{seen:?}"
    );
    assert!(
        seen.contains(&("record.deleted".into(), published.id().to_string())),
        "{seen:?}"
    );
}

#[tokio::test]
async fn managing_webhooks_needs_the_permission_and_valid_input() {
    let app = app().await;
    posts(&app).await;
    let su = app.superuser_token().await;
    app.create_auth("users", "user@example.com", "password123").await;
    let user = app.login("users", "user@example.com", "password123").await;
    let r = app.send(Method::GET, "/api/webhooks", Some(&user), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert!(r.text.contains("webhooks:manage"), "{}", r.text);
    let r = app
        .send(
            Method::POST,
            "/api/webhooks",
            Some(&user),
            Some(json!({"url": "https://example.com/", "events": ["job.dead"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.send(Method::GET, "/api/webhooks", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // A role granting webhooks:manage lets the user in.
    let r = app
        .send(
            Method::POST,
            "/api/roles",
            Some(&su),
            Some(json!({"name": "hooks", "permissions": ["webhooks:manage"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let users = app.collection("users");
    let rec = app
        .state
        .store
        .find_by_field(&users, "email", &json!("user@example.com"))
        .await
        .unwrap()
        .unwrap();
    let r = app
        .send(
            Method::PUT,
            &format!("/api/roles/hooks/members/users/{}", rec.id()),
            Some(&su),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let r = app.send(Method::GET, "/api/webhooks", Some(&user), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    // webhooks:manage alone does not read records past their rules, nor jobs: an endpoint
    // hearing them needs records:manage / jobs:read too.
    let listen = |body: Value| {
        let (app, user) = (&app, user.clone());
        async move { app.send(Method::POST, "/api/webhooks", Some(&user), Some(body)).await }
    };
    let on_posts = json!({"url": "https://example.com/", "events": ["record.created"], "collection": "posts"});
    let on_all = json!({"url": "https://example.com/", "events": ["*"], "collection": "posts"});
    let on_jobs = json!({"url": "https://example.com/", "events": ["job.*"]});
    for body in [&on_posts, &on_all, &on_jobs] {
        let r = listen(body.clone()).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{body}: {}", r.text);
    }
    let r = app
        .send(
            Method::PATCH,
            "/api/roles/hooks",
            Some(&su),
            Some(json!({"permissions": ["webhooks:manage", "records:manage", "jobs:read", "ops:read"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    for body in [&on_posts, &on_all, &on_jobs] {
        let r = listen(body.clone()).await;
        assert_eq!(r.status, StatusCode::OK, "{body}: {}", r.text);
    }

    let bad = |body: Value, field: &'static str| {
        let app = &app;
        let su = su.clone();
        async move {
            let r = app
                .send(Method::POST, "/api/webhooks", Some(&su), Some(body.clone()))
                .await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
            assert!(
                r.json["data"].get(field).is_some(),
                "{body}: expected {field}: {}",
                r.text
            );
            r
        }
    };
    bad(
        json!({"url": "https://example.com/", "events": ["record.made"], "collection": "posts"}),
        "events",
    )
    .await;
    bad(json!({"url": "https://example.com/", "events": []}), "events").await;
    bad(
        json!({"url": "https://example.com/", "events": ["record.created"]}),
        "collection",
    )
    .await;
    bad(
        json!({"url": "https://example.com/", "events": ["record.created"], "collection": "_superusers"}),
        "collection",
    )
    .await;
    bad(json!({"url": "ftp://example.com/", "events": ["job.dead"]}), "url").await;
    let r = bad(
        json!({"url": "http://169.254.169.254/latest", "events": ["job.dead"]}),
        "url",
    )
    .await;
    assert!(r.text.contains("link-local"), "{}", r.text);
    bad(json!({"url": "https://example.com/", "events": ["record.created"], "collection": "posts", "filter": "title ="}), "filter").await;
    bad(
        json!({"url": "https://example.com/", "events": ["job.dead"], "headers": {"webhook-id": "x"}}),
        "headers",
    )
    .await;

    let ok = endpoint(
        &app,
        &su,
        json!({"url": "https://example.com/", "events": ["job.*", "schedule.missed"]}),
    )
    .await;
    let id = ok["id"].as_str().unwrap();
    let r = app
        .send(
            Method::PATCH,
            &format!("/api/webhooks/{id}"),
            Some(&su),
            Some(json!({"events": ["nope"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app
        .send(Method::DELETE, &format!("/api/webhooks/{id}"), Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app
        .send(Method::GET, &format!("/api/webhooks/{id}"), Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Changes are audited.
    let r = app
        .send(Method::GET, "/api/audit?filter=event~'webhook.'", Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let events: Vec<&str> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["event"].as_str().unwrap())
        .collect();
    assert!(
        events.contains(&"webhook.create") && events.contains(&"webhook.delete"),
        "{events:?}"
    );
    assert!(!r.text.contains("whsec_"), "no secret in the audit trail");

    // The records API and batch cannot go around these checks, even for a superuser.
    let loopback = json!({"url": "http://169.254.169.254/", "events": ["job.dead"], "active": true});
    let r = app
        .send(
            Method::POST,
            "/api/collections/_webhooks/records",
            Some(&su),
            Some(loopback.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert!(r.text.contains("/api/webhooks"), "names the API to use: {}", r.text);
    let batch =
        json!({"requests": [{"method": "POST", "url": "/api/collections/_webhooks/records", "body": loopback}]});
    let r = app.send(Method::POST, "/api/batch", Some(&su), Some(batch)).await;
    assert_ne!(r.status, StatusCode::OK, "{}", r.text);
    let r = app
        .send(Method::GET, "/api/collections/_webhooks/records", Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "reading stays open to superusers: {}", r.text);
    assert!(!r.text.contains("169.254"), "neither write went through: {}", r.text);
}

#[tokio::test]
async fn test_sends_now_and_redeliver_repeats_the_message() {
    let app = app().await;
    posts(&app).await;
    let su = app.superuser_token().await;
    let (rx, base) = receiver().await;
    let e = endpoint(&app, &su, json!({"url": format!("{base}ok"), "events": ["job.dead"]})).await;
    let id = e["id"].as_str().unwrap();
    let r = app
        .send(Method::POST, &format!("/api/webhooks/{id}/test"), Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["status"], "succeeded", "{}", r.text);
    assert_eq!(r.json["httpStatus"], 200);
    assert_eq!(r.json["response"], "thanks");
    let got = rx.requests("ok");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json()["type"], "webhook.test");
    assert_eq!(got[0].header("webhook-id"), r.json["messageId"].as_str().unwrap());

    let delivery = r.json["id"].as_str().unwrap();
    let r = app
        .send(
            Method::POST,
            &format!("/api/webhooks/{id}/deliveries/{delivery}/redeliver"),
            Some(&su),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let got = rx.wait_for("ok", 2).await;
    assert_eq!(got[1].header("webhook-id"), got[0].header("webhook-id"), "same message");
    assert_eq!(got[1].body, got[0].body);
    let items = wait_deliveries(&app, &su, id, 2).await;
    assert_eq!(items[0]["attempt"], 2, "{items:#?}");

    let r = app
        .send(
            Method::POST,
            &format!("/api/webhooks/{id}/deliveries/nosuchdelivery/redeliver"),
            Some(&su),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Retention (`[webhooks] retention_days`, 30 by default): kept for 29 days, gone after 31.
    let purge =
        |days: i64| keel_app::retention::purge_once(&app.state, chrono::Utc::now() + chrono::Duration::days(days));
    let deleted = |out: Vec<(&str, u64)>| out.iter().find(|(c, _)| *c == "_webhookDeliveries").map(|(_, n)| *n);
    assert_eq!(deleted(purge(29).await.unwrap()), Some(0));
    assert_eq!(deliveries(&app, &su, id).await.len(), 2);
    assert_eq!(deleted(purge(31).await.unwrap()), Some(2));
    assert!(deliveries(&app, &su, id).await.is_empty());
    assert_eq!(view(&app, &su, id).await["id"], id, "the endpoint stays");
}

#[tokio::test]
async fn a_delivery_pending_for_a_deleted_endpoint_completes_without_sending() {
    let app = app().await;
    let su = app.superuser_token().await;
    let (rx, base) = receiver().await;
    let e = endpoint(&app, &su, json!({"url": format!("{base}ok"), "events": ["job.dead"]})).await;
    let id = e["id"].as_str().unwrap();
    let r = app
        .send(Method::DELETE, &format!("/api/webhooks/{id}"), Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    // A delivery enqueued before the delete, run after it.
    let job = keel_app::webhooks::DeliveryJob {
        webhook: id.to_string(),
        message_id: "msg_x".into(),
        event_type: "job.dead".into(),
        body: json!({"type": "job.dead", "timestamp": "", "data": {}}),
        attempt_base: 0,
    };
    let mut new = keel_jobs::NewJob::new("webhook", serde_json::to_value(&job).unwrap());
    new.unique_key = Some(format!("x:{id}"));
    let enqueued = app.state.jobs.enqueue("_keel-webhook", vec![new]).await.unwrap();
    let job_id = enqueued[0].job.id.clone();
    let deadline = Instant::now() + WAIT;
    let done = loop {
        let j = app.state.jobs.store().get(&job_id).await.unwrap().unwrap();
        if j.state == keel_jobs::JobState::Completed {
            break j;
        }
        assert!(Instant::now() < deadline, "{j:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(done.result.unwrap()["reason"], "the endpoint was deleted");
    assert!(rx.requests("ok").is_empty());
}

#[tokio::test]
async fn job_and_schedule_events_are_delivered() {
    let app = app().await;
    let su = app.superuser_token().await;
    let (rx, base) = receiver().await;
    endpoint(
        &app,
        &su,
        json!({"url": format!("{base}ok"), "events": ["job.dead", "schedule.*"]}),
    )
    .await;

    // A job of a caller's queue dies.
    let jobs = &app.state.jobs;
    let enqueued = jobs
        .enqueue(
            "emails",
            vec![keel_jobs::NewJob::new("send", json!({"to": "a@example.com"}))],
        )
        .await
        .unwrap();
    let opts = keel_jobs::ClaimOptions { max: 1, worker: None };
    let claimed = jobs
        .claim("emails", &opts, Duration::from_secs(1))
        .await
        .unwrap()
        .remove(0);
    jobs.fail(&claimed.job.id, &claimed.lease, "bounced", keel_jobs::FailMode::NoRetry)
        .await
        .unwrap();
    let got = rx.wait_for("ok", 1).await;
    let body = got[0].json();
    assert_eq!(body["type"], "job.dead", "{body}");
    assert_eq!(body["data"]["id"], enqueued[0].job.id.as_str());
    assert_eq!(body["data"]["queue"], "emails");

    // The scheduler recorded a tick as missed.
    let tick = chrono::Utc::now() - chrono::Duration::hours(1);
    jobs.announce_missed(vec![keel_jobs::schedule::MissedTick {
        schedule: "sched1".into(),
        name: "nightly".into(),
        queue: "emails".into(),
        tick,
    }]);
    let got = rx.wait_for("ok", 2).await;
    let body = got[1].json();
    assert_eq!(body["type"], "schedule.missed", "{body}");
    assert_eq!(
        (body["data"]["name"].as_str(), body["data"]["schedule"].as_str()),
        (Some("nightly"), Some("sched1"))
    );
}
