//! The cache API over HTTP: authorization, values, TTL, tags, stats and input errors.

mod common;

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use common::App;
use serde_json::json;

async fn user_token(app: &App) -> String {
    app.auth_record("users", "user@example.com", "userpassword123").await.1
}

#[tokio::test]
async fn guests_get_401_and_users_403_naming_the_permission() {
    let app = App::new().await;
    let user = user_token(&app).await;
    let cases = [
        (Method::GET, "/api/cache/ns/k", "cache:read"),
        (Method::PUT, "/api/cache/ns/k", "cache:write"),
        (Method::DELETE, "/api/cache/ns/k", "cache:write"),
        (Method::POST, "/api/cache/ns/invalidate", "cache:write"),
        (Method::GET, "/api/cache/ns", "cache:read"),
        (Method::DELETE, "/api/cache/ns", "cache:admin"),
    ];
    for (method, uri, perm) in cases {
        let r = app.send(method.clone(), uri, None, Some(json!({"tags": []}))).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {uri}: {}", r.text());
        assert_eq!(r.json["status"], 401);
        let r = app
            .send(method.clone(), uri, Some(&user), Some(json!({"tags": []})))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {uri}: {}", r.text());
        assert!(r.json["message"].as_str().unwrap().contains(perm), "{}", r.text());
    }
}

#[tokio::test]
async fn put_get_delete_round_trip() {
    let app = App::new().await;
    let su = app.superuser().await;
    let value = json!({"name": "Ada", "tags": ["x", 1, null], "n": 1.5});
    let r = app
        .send(Method::PUT, "/api/cache/users/u:1", Some(&su), Some(value.clone()))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let r = app.send(Method::GET, "/api/cache/users/u:1", Some(&su), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json, value);
    // Another namespace does not see it.
    let r = app.send(Method::GET, "/api/cache/other/u:1", Some(&su), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json["status"], 404);
    let r = app.send(Method::DELETE, "/api/cache/users/u:1", Some(&su), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app.send(Method::DELETE, "/api/cache/users/u:1", Some(&su), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.send(Method::GET, "/api/cache/users/u:1", Some(&su), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // A scalar body is a value too.
    let r = app
        .send(Method::PUT, "/api/cache/users/n", Some(&su), Some(json!(42)))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app.send(Method::GET, "/api/cache/users/n", Some(&su), None).await;
    assert_eq!(r.json, json!(42));
}

#[tokio::test]
async fn ttl_expires_the_value() {
    let app = App::new().await;
    let su = app.superuser().await;
    let r = app
        .send(
            Method::PUT,
            "/api/cache/ns/short?ttl=0.3",
            Some(&su),
            Some(json!("soon gone")),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let r = app
        .send(Method::PUT, "/api/cache/ns/long?ttl=600", Some(&su), Some(json!(1)))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = app.send(Method::GET, "/api/cache/ns/short", Some(&su), None).await;
        if r.status == StatusCode::NOT_FOUND {
            break;
        }
        assert!(Instant::now() < deadline, "the short-TTL value never expired");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = app.send(Method::GET, "/api/cache/ns/long", Some(&su), None).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn tags_invalidate_and_stats_count() {
    let app = App::new().await;
    let su = app.superuser().await;
    for (key, tags) in [("a", "users,hot"), ("b", "users"), ("c", "posts")] {
        let uri = format!("/api/cache/ns/{key}?tags={tags}");
        let r = app.send(Method::PUT, &uri, Some(&su), Some(json!(key))).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    }
    let r = app
        .send(
            Method::POST,
            "/api/cache/ns/invalidate",
            Some(&su),
            Some(json!({"tags": ["hot", "users"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json, json!({"invalidated": 2}));
    assert_eq!(
        app.send(Method::GET, "/api/cache/ns/a", Some(&su), None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.send(Method::GET, "/api/cache/ns/b", Some(&su), None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.send(Method::GET, "/api/cache/ns/c", Some(&su), None).await.status,
        StatusCode::OK
    );

    let r = app.send(Method::GET, "/api/cache/ns", Some(&su), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json["provider"], "memory");
    assert_eq!(r.json["hits"], 1);
    assert_eq!(r.json["misses"], 2);
    assert_eq!(r.json["keys"], 1);
    assert_eq!(r.json["capabilities"]["tags"], true);

    let r = app.send(Method::DELETE, "/api/cache/ns", Some(&su), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json, json!({"cleared": 1}));

    // A POST to a key other than `invalidate` is not an endpoint.
    let r = app
        .send(Method::POST, "/api/cache/ns/other", Some(&su), Some(json!({})))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_input_is_400_never_500() {
    let app = App::new().await;
    let su = app.superuser().await;
    for ttl in ["0", "-5", "abc", "NaN", "inf", "1e300", ""] {
        let uri = format!("/api/cache/ns/k?ttl={ttl}");
        let r = app.send(Method::PUT, &uri, Some(&su), Some(json!(1))).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "ttl={ttl}: {}", r.text());
        assert!(r.json["data"]["ttl"].is_object(), "ttl={ttl}: {}", r.text());
    }
    let long = "x".repeat(201);
    for uri in [
        "/api/cache/ns/a%20b".to_string(),
        "/api/cache/n%2Fs/k".to_string(),
        format!("/api/cache/ns/{long}"),
        format!("/api/cache/{long}/k"),
        "/api/cache/ns/k?tags=ok,not%20ok".to_string(),
    ] {
        let r = app.send(Method::PUT, &uri, Some(&su), Some(json!(1))).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}: {}", r.text());
        assert_eq!(r.json["status"], 400);
    }
    let r = app.send(Method::GET, "/api/cache/b%20ad", Some(&su), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app.send(Method::GET, "/api/cache/ns/%7Bk%7D", Some(&su), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Bodies that are not JSON.
    let r = app
        .send_bytes(
            Method::PUT,
            "/api/cache/ns/k",
            Some(&su),
            "application/json",
            b"{nope".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let r = app
        .send_bytes(
            Method::PUT,
            "/api/cache/ns/k",
            Some(&su),
            "application/json",
            Vec::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    for body in [json!({}), json!({"tags": "x"}), json!({"tags": ["bad tag"]})] {
        let r = app
            .send(Method::POST, "/api/cache/ns/invalidate", Some(&su), Some(body.clone()))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text());
    }
}
