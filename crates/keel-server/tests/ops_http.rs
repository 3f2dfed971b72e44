//! Health, readiness, metrics, request ids, CORS and settings over HTTP.

mod support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use keel_app::Settings;
use serde_json::json;
use support::TestApp;

#[tokio::test]
async fn health_answers_like_pocketbase() {
    let app = TestApp::new().await;
    let r = app.send(Method::GET, "/api/health", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json, json!({"code": 200, "message": "API is healthy.", "data": {}}));
    let head = app.send(Method::HEAD, "/api/health", None, None).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.text.is_empty());
}

#[tokio::test]
async fn ready_checks_database_files_cache_and_jobs() {
    let app = TestApp::new().await;
    let r = app.send(Method::GET, "/api/ready", None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.json,
        json!({
            "code": 200,
            "message": "ready",
            "data": {"database": "ok", "files": "ok", "cache": "ok", "jobs": "ok"}
        })
    );
}

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    let app = TestApp::new().await;
    app.send(Method::GET, "/api/collections/users/auth-methods", None, None)
        .await;
    app.send(Method::GET, "/no/such/route", None, None).await;
    let su = app.superuser_token().await;
    let r = app.send(Method::GET, "/metrics", Some(&su), None).await;
    assert_eq!(r.status, StatusCode::OK);
    let line = r
        .text
        .lines()
        .find(|l| {
            l.starts_with("keel_http_requests_total{")
                && l.contains("route=\"/api/collections/{collection}/auth-methods\"")
        })
        .unwrap_or_else(|| panic!("no counter for the route in:\n{}", r.text));
    assert!(
        line.contains("method=\"GET\"") && line.contains("status=\"200\""),
        "{line}"
    );
    assert!(r
        .text
        .lines()
        .any(|l| l.starts_with("keel_http_requests_total{") && l.contains("route=\"unmatched\"")));
    assert!(
        r.text.contains("keel_http_request_duration_seconds_bucket{"),
        "histogram buckets expected"
    );

    // without a recorder, /metrics is absent
    let mut services = (*app.state).clone();
    services.metrics = None;
    let resp = tower::ServiceExt::oneshot(
        keel_server::router(keel_server::AppState::new(services)),
        Request::get("/metrics").body(Body::empty()).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn metrics_count_job_events_by_queue() {
    let app = TestApp::new().await;
    let su = app.superuser_token().await;
    let queue = format!("metrics-{}", keel_core::id::new_id());
    let r = app
        .send(
            Method::POST,
            &format!("/api/queues/{queue}/jobs"),
            Some(&su),
            Some(json!({"name": "m"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = app
        .send(
            Method::POST,
            &format!("/api/queues/{queue}/claim"),
            Some(&su),
            Some(json!({"max": 1})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let text = app.send(Method::GET, "/metrics", Some(&su), None).await.text;
    for event in ["enqueued", "active"] {
        let line = text
            .lines()
            .find(|l| {
                l.starts_with("keel_jobs_total{")
                    && l.contains(&format!("queue=\"{queue}\""))
                    && l.contains(&format!("event=\"{event}\""))
            })
            .unwrap_or_else(|| panic!("no keel_jobs_total for {event} in:\n{text}"));
        assert!(line.ends_with(" 1"), "{line}");
    }
}

#[tokio::test]
async fn request_ids_are_generated_or_echoed() {
    let app = TestApp::new().await;
    let r = app.send(Method::GET, "/api/health", None, None).await;
    let id = r.headers.get("x-request-id").expect("x-request-id").to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");

    let req = Request::get("/api/health")
        .header("x-request-id", "trace-me-123")
        .body(Body::empty())
        .unwrap();
    let r = app.raw(req).await;
    assert_eq!(r.headers.get("x-request-id").unwrap(), "trace-me-123");
    // on errors too
    let r = app
        .raw(
            Request::get("/api/nothing")
                .header("x-request-id", "abc")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.headers.get("x-request-id").unwrap(), "abc");
}

#[tokio::test]
async fn cors_allows_any_origin() {
    let app = TestApp::new().await;
    let req = Request::builder()
        .method(Method::OPTIONS)
        .uri("/api/collections/users/auth-with-password")
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type,authorization")
        .body(Body::empty())
        .unwrap();
    let r = app.raw(req).await;
    assert!(r.status.is_success(), "{}", r.status);
    assert_eq!(r.headers.get("access-control-allow-origin").unwrap(), "*");
}

#[tokio::test]
async fn settings_are_for_superusers_only() {
    let app = TestApp::new().await;
    assert_eq!(
        app.send(Method::GET, "/api/settings", None, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    app.create_auth("users", "user@example.com", "user-password-1").await;
    let user = app.login("users", "user@example.com", "user-password-1").await;
    assert_eq!(
        app.send(Method::GET, "/api/settings", Some(&user), None).await.status,
        StatusCode::FORBIDDEN
    );
    let patch = Some(json!({"meta": {"appName": "Hacked"}}));
    assert_eq!(
        app.send(Method::PATCH, "/api/settings", Some(&user), patch)
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    let su = app.superuser_token().await;
    let r = app.send(Method::GET, "/api/settings", Some(&su), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["meta"]["appName"], "Keel");
    assert_eq!(r.json["batch"]["maxRequests"], 50);
}

#[tokio::test]
async fn settings_patch_merges_validates_and_persists() {
    let app = TestApp::new().await;
    let su = app.superuser_token().await;
    let r = app
        .send(
            Method::PATCH,
            "/api/settings",
            Some(&su),
            Some(json!({"meta": {"appName": "Acme"}, "batch": {"enabled": true}, "smtp": {"password": "hunter2"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["meta"]["appName"], "Acme");
    assert_eq!(
        r.json["meta"]["appURL"], "http://127.0.0.1:8090",
        "untouched keys are kept"
    );
    assert_eq!(r.json["batch"]["enabled"], true);
    assert_eq!(r.json["smtp"]["password"], "", "the SMTP password is never shown");

    // persisted: a fresh load from the store sees it, and a blank password keeps the stored one
    let r = app
        .send(
            Method::PATCH,
            "/api/settings",
            Some(&su),
            Some(json!({"smtp": {"password": ""}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let reloaded = Settings::load(&app.state.store).await.unwrap().get();
    assert_eq!(reloaded.meta.app_name, "Acme");
    assert!(reloaded.batch.enabled);
    assert_eq!(reloaded.smtp.password, "hunter2");
    assert_eq!(
        app.send(Method::GET, "/api/settings", Some(&su), None).await.json["meta"]["appName"],
        "Acme"
    );

    // invalid values are a 400 naming the field, and nothing changes
    let r = app
        .send(
            Method::PATCH,
            "/api/settings",
            Some(&su),
            Some(json!({"batch": {"maxRequests": 0}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.json["data"]["batch.maxRequests"].is_object(), "{}", r.json);
    let r = app
        .send(
            Method::PATCH,
            "/api/settings",
            Some(&su),
            Some(json!({"rateLimits": {"rules": [{"label": "", "maxRequests": 0, "duration": 10}]}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json["data"]["rateLimits.rules.0.label"].is_object(), "{}", r.json);
    assert!(
        r.json["data"]["rateLimits.rules.0.maxRequests"].is_object(),
        "{}",
        r.json
    );
    let r = app
        .send(
            Method::PATCH,
            "/api/settings",
            Some(&su),
            Some(json!({"batch": {"maxRequests": "lots"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app
        .send(Method::PATCH, "/api/settings", Some(&su), Some(json!([1, 2])))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.state.settings.get().batch.max_requests, 50);
}
