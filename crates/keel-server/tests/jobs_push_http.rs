//! HTTP push queues and the outbound guard: a `pushUrl` an operator sets cannot point at an
//! internal address (refused when set if it is an IP literal, on every delivery when a host
//! name resolves to one), redirects are never followed, and at most a few KiB of a receiver's
//! answer are kept; `[outbound] allow` opens internal addresses deliberately.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use keel_core::config::Config;
use serde_json::{json, Value};
use support::{Resp, TestApp, WAIT};
use tokio::sync::watch;

/// What the receiver answers on `/secret`: what an internal service would leak.
const SECRET: &str = "internal-secret-7f3a";

fn allow_loopback(cfg: &mut Config) {
    cfg.outbound.allow = vec!["127.0.0.1/32".into(), "::1/128".into()];
}

/// A push receiver on 127.0.0.1: `/ok` answers `{"ok":true}`, `/secret` a JSON body with
/// [`SECRET`], `/big` 200 with 100 kB of JSON, `/fail` 500 with 100 kB of text, `/redirect`
/// a 307 to `/secret`. Returns its base URL and the count of requests it received.
async fn receiver() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let big = format!("{{\"data\":\"{}\"}}", "x".repeat(100_000));
    let count = |h: &Arc<AtomicUsize>| {
        h.fetch_add(1, Ordering::SeqCst);
    };
    let (h1, h2, h3, h4, h5) = (hits.clone(), hits.clone(), hits.clone(), hits.clone(), hits.clone());
    let big2 = big.clone();
    let app = Router::new()
        .route(
            "/ok",
            post(move || async move {
                count(&h1);
                axum::Json(json!({"ok": true}))
            }),
        )
        .route(
            "/secret",
            post(move || async move {
                count(&h2);
                axum::Json(json!({ "secret": SECRET }))
            }),
        )
        .route(
            "/big",
            post(move || async move {
                count(&h3);
                ([(header::CONTENT_TYPE, "application/json")], big).into_response()
            }),
        )
        .route(
            "/fail",
            post(move || async move {
                count(&h4);
                (StatusCode::INTERNAL_SERVER_ERROR, format!("{SECRET}{big2}")).into_response()
            }),
        )
        .route(
            "/redirect",
            post(move || async move {
                count(&h5);
                (
                    StatusCode::TEMPORARY_REDIRECT,
                    [(header::LOCATION, format!("http://127.0.0.1:{port}/secret"))],
                )
                    .into_response()
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("127.0.0.1:{port}"), hits)
}

/// An API key of the built-in `operator` role (it holds `jobs:*`).
async fn operator(app: &TestApp) -> String {
    let (_, raw) = app
        .state
        .identity
        .create_api_key("ops", vec!["operator".into()], None, "test")
        .await
        .unwrap();
    format!("Bearer {raw}")
}

async fn set_push_url(app: &TestApp, key: &str, queue: &str, url: &str) -> Resp {
    app.send(
        Method::PATCH,
        &format!("/api/queues/{queue}"),
        Some(key),
        Some(json!({ "pushUrl": url })),
    )
    .await
}

/// Enqueues one job (a single attempt) on `queue`, runs push delivery until the job is
/// finished (completed or dead), and returns the job as the API shows it.
async fn push_one(app: &TestApp, key: &str, queue: &str) -> Value {
    let mut events = app.state.jobs.subscribe();
    let r = app
        .send(
            Method::POST,
            &format!("/api/queues/{queue}/jobs"),
            Some(key),
            Some(json!({"name": "hook", "payload": {"n": 1}, "maxAttempts": 1})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let id = r.json["id"].as_str().unwrap().to_string();
    let (stop, stopped) = watch::channel(false);
    let supervisor = app.state.jobs.spawn_push_supervisor(Duration::from_millis(50), stopped);
    let finished = tokio::time::timeout(WAIT, async {
        loop {
            let e = events.recv().await.unwrap();
            if e.job.id == id && matches!(e.action, "completed" | "dead") {
                return;
            }
        }
    })
    .await;
    let _ = stop.send(true);
    let _ = supervisor.await;
    assert!(finished.is_ok(), "job {id} did not finish");
    let r = app.send(Method::GET, &format!("/api/jobs/{id}"), Some(key), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json
}

fn errors(job: &Value) -> Vec<String> {
    job["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn an_operator_cannot_point_a_push_url_at_an_internal_address() {
    let app = TestApp::new().await;
    let key = operator(&app).await;
    for (url, kind) in [
        ("http://127.0.0.1:8090/api/", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[::1]:6379/", "loopback"),
        ("http://0x7f000001:5432/", "loopback"),
        ("http://2130706433/", "loopback"),
        ("http://0177.0.0.1/", "loopback"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://[::ffff:7f00:1]/", "loopback"),
        ("http://10.0.0.5/hook", "private"),
        ("http://172.16.0.1/", "private"),
        ("http://192.168.1.1/", "private"),
        ("http://100.64.0.1/", "carrier-grade NAT"),
        ("http://[fd00::1]/", "private"),
        ("http://[fe80::1]/", "link-local"),
        ("http://0.0.0.0:8090/", "unspecified"),
        ("http://[::]:8090/", "unspecified"),
    ] {
        let r = set_push_url(&app, &key, "q", url).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{url}: {}", r.text);
        let message = r.json["data"]["pushUrl"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("refused: {kind} addresses are not allowed"))
                && message.contains("[outbound] allow"),
            "{url}: {message}"
        );
    }
    for url in ["gopher://example.com/", "file:///etc/passwd", "http//nope"] {
        let r = set_push_url(&app, &key, "q", url).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{url}: {}", r.text);
        assert!(r.json["data"]["pushUrl"].is_object(), "{url}: {}", r.text);
    }
    let r = app.send(Method::GET, "/api/queues/q", Some(&key), None).await;
    assert_eq!(r.json["settings"]["pushUrl"], Value::Null, "{}", r.text);
    // A public address, and a host name (checked when it resolves, at delivery), are accepted.
    for url in ["https://203.0.113.10/hook", "https://hooks.example.com/keel"] {
        let r = set_push_url(&app, &key, "q", url).await;
        assert_eq!(r.status, StatusCode::OK, "{url}: {}", r.text);
        assert_eq!(r.json["pushUrl"], url);
    }
}

#[tokio::test]
async fn the_allow_list_admits_the_internal_push_urls_it_lists() {
    let app = TestApp::with_config(allow_loopback).await;
    let key = operator(&app).await;
    for url in [
        "http://127.0.0.1:9000/hook",
        "http://[::1]:9000/",
        "http://0x7f000001:9000/",
    ] {
        let r = set_push_url(&app, &key, "q", url).await;
        assert_eq!(r.status, StatusCode::OK, "{url}: {}", r.text);
    }
    for url in ["http://127.0.0.2/", "http://169.254.169.254/", "http://10.0.0.1/"] {
        let r = set_push_url(&app, &key, "q", url).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{url}: {}", r.text);
    }
}

#[tokio::test]
async fn a_push_to_a_name_that_resolves_to_loopback_is_refused_and_stores_nothing() {
    let (addr, hits) = receiver().await;
    let port = addr.rsplit(':').next().unwrap();
    let app = TestApp::new().await;
    let key = operator(&app).await;
    let r = set_push_url(&app, &key, "hooks", &format!("http://localhost:{port}/secret")).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "a host name is checked at delivery: {}",
        r.text
    );

    let job = push_one(&app, &key, "hooks").await;
    assert_eq!(job["state"], "dead", "{job}");
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the receiver on loopback was reached");
    let errors = errors(&job);
    assert_eq!(errors.len(), 1, "{job}");
    assert!(
        errors[0].contains("outbound request to localhost (")
            && errors[0].contains("refused: loopback addresses are not allowed; allow-list it in [outbound] allow"),
        "{}",
        errors[0]
    );
    assert!(!job.to_string().contains(SECRET), "{job}");
    assert!(job.get("result").is_none_or(Value::is_null), "{job}");
}

#[tokio::test]
async fn a_push_redirect_is_not_followed() {
    let (addr, hits) = receiver().await;
    let app = TestApp::with_config(allow_loopback).await;
    let key = operator(&app).await;
    let r = set_push_url(&app, &key, "hooks", &format!("http://{addr}/redirect")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    let job = push_one(&app, &key, "hooks").await;
    assert_eq!(job["state"], "dead", "{job}");
    assert_eq!(hits.load(Ordering::SeqCst), 1, "the redirect was followed to /secret");
    let errors = errors(&job);
    assert!(errors[0].contains("307"), "{}", errors[0]);
    assert!(!job.to_string().contains(SECRET), "{job}");
}

#[tokio::test]
async fn an_allow_listed_push_delivers_and_keeps_only_a_capped_answer() {
    let (addr, hits) = receiver().await;
    let app = TestApp::with_config(allow_loopback).await;
    let key = operator(&app).await;

    set_push_url(&app, &key, "ok", &format!("http://{addr}/ok")).await;
    let job = push_one(&app, &key, "ok").await;
    assert_eq!(job["state"], "completed", "{job}");
    assert_eq!(job["result"], json!({"ok": true}));

    // A localhost name resolves to an allowed address: delivered.
    let port = addr.rsplit(':').next().unwrap();
    set_push_url(&app, &key, "named", &format!("http://localhost:{port}/ok")).await;
    let job = push_one(&app, &key, "named").await;
    assert_eq!(job["state"], "completed", "{job}");

    // A 2xx answer over the cap is not kept as the result.
    set_push_url(&app, &key, "big", &format!("http://{addr}/big")).await;
    let job = push_one(&app, &key, "big").await;
    assert_eq!(job["state"], "completed", "{job}");
    assert!(job.get("result").is_none_or(Value::is_null), "{job}");

    // A failure quotes a short excerpt of the answer.
    set_push_url(&app, &key, "fail", &format!("http://{addr}/fail")).await;
    let job = push_one(&app, &key, "fail").await;
    assert_eq!(job["state"], "dead", "{job}");
    let errors = errors(&job);
    assert!(errors[0].contains("500") && errors[0].contains(SECRET), "{}", errors[0]);
    assert!(errors[0].len() < 1024, "{} bytes kept", errors[0].len());
    assert_eq!(hits.load(Ordering::SeqCst), 4);
}
