//! Rate limits shared by several Keel processes: with a shared cache provider (Redis) two
//! apps on the same cache enforce one limit together; with the in-process cache each counts
//! on its own, as PocketBase does.

mod support;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use keel_core::cache::Cache;
use serde_json::json;
use support::TestApp;

const PW: &str = "secret-password-1";
/// The limit's window: shared windows are aligned to the clock (`now / WINDOW`).
const WINDOW: u64 = 86_400;

fn window_now() -> u64 {
    chrono::Utc::now().timestamp() as u64 / WINDOW
}

/// An app whose cache is `cache`, with a `*:auth` limit of 2 requests a minute.
async fn limited_app(cache: Arc<dyn Cache>) -> TestApp {
    let mut app = TestApp::new().await;
    app.state.edit().cache = cache;
    app.create_auth("users", "rl@example.com", PW).await;
    let su = app.superuser_token().await;
    let settings = json!({"trustedProxy": {"headers": ["X-Forwarded-For"], "useLeftmostIP": true},
        "rateLimits": {"enabled": true,
        "rules": [{"label": "*:auth", "maxRequests": 2, "duration": WINDOW, "audience": ""}]}});
    let r = app
        .send(Method::PATCH, "/api/settings", Some(&su), Some(settings))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    app
}

async fn sign_in(app: &TestApp, client: &str) -> StatusCode {
    let req = axum::http::Request::builder()
        .method(Method::POST)
        .uri("/api/collections/users/auth-with-password")
        .header("content-type", "application/json")
        .header("x-forwarded-for", client)
        .body(axum::body::Body::from(
            json!({"identity": "rl@example.com", "password": PW}).to_string(),
        ))
        .unwrap();
    app.raw(req).await.status
}

/// A client address no earlier run used (counters in Redis outlive a test run).
fn fresh_client() -> String {
    format!("198.51.100.{}-{}", std::process::id(), keel_core::id::new_id())
}

#[tokio::test]
async fn two_processes_on_redis_share_one_limit() {
    let Some(url) = keel_testkit::env::engine_url("KEEL_TEST_REDIS_URL") else {
        return;
    };
    let connect = || async {
        let conn = redis::Client::open(url.as_str())
            .unwrap()
            .get_connection_manager()
            .await
            .unwrap();
        Arc::new(keel_cache::RedisCache::new(conn).await.unwrap()) as Arc<dyn Cache>
    };
    let a = limited_app(connect().await).await;
    let b = limited_app(connect().await).await;
    // Run again (a new client) in the rare case the clock crossed into the next window
    // meanwhile, which restarts every count.
    let statuses = loop {
        let (started, client) = (window_now(), fresh_client());
        let statuses = [
            sign_in(&a, &client).await,
            sign_in(&b, &client).await,
            sign_in(&a, &client).await,
            sign_in(&b, &client).await,
        ];
        if window_now() == started {
            break statuses;
        }
    };
    use StatusCode as S;
    assert_eq!(
        statuses,
        [S::OK, S::OK, S::TOO_MANY_REQUESTS, S::TOO_MANY_REQUESTS],
        "the two apps share one limit"
    );
    assert_eq!(sign_in(&b, &fresh_client()).await, StatusCode::OK, "another client");
}

#[tokio::test]
async fn in_process_caches_count_per_process() {
    let a = limited_app(Arc::new(keel_cache::MemoryCache::default())).await;
    let b = limited_app(Arc::new(keel_cache::MemoryCache::default())).await;
    let client = fresh_client();
    for _ in 0..2 {
        assert_eq!(sign_in(&a, &client).await, StatusCode::OK);
    }
    assert_eq!(sign_in(&a, &client).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(sign_in(&b, &client).await, StatusCode::OK, "b counts its own requests");
}
