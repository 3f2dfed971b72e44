//! `/api/logs`: every request leaves PocketBase's `_logs` row in the auxiliary database;
//! superusers list it with filter and sort, view one, count per hour; the `logs` settings
//! (`maxDays`, `minLevel`, `logIP`, `logAuthId`) take effect at once; a `?token=` never
//! reaches a row.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use chrono::{Duration, TimeZone, Utc};
use common::{App, Resp};
use keel_logs::{LogEntry, LogStore, RequestLogs};
use serde_json::{json, Map, Value};

/// An app whose request logs live in `auxiliary.db` in its data dir.
async fn app() -> App {
    let mut app = App::new().await;
    let store = LogStore::open_sqlite(&app.dir.path().join("auxiliary.db"))
        .await
        .unwrap();
    app.state.edit().logs = Arc::new(RequestLogs::start(store));
    app
}

/// `GET /api/logs{query}` once every request before it is stored.
async fn logs(app: &App, token: &str, query: &str) -> Resp {
    app.state.logs.flush().await;
    app.send(Method::GET, &format!("/api/logs{query}"), Some(token), None)
        .await
}

fn items(r: &Resp) -> Vec<Value> {
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json["items"].as_array().unwrap().clone()
}

/// `filter` URL-encoded.
fn q(filter: &str) -> String {
    form_urlencoded::byte_serialize(filter.as_bytes()).collect()
}

async fn patch_logs(app: &App, token: &str, logs: Value) {
    let r = app
        .send(
            Method::PATCH,
            "/api/settings",
            Some(token),
            Some(json!({ "logs": logs })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

fn entry(created: chrono::DateTime<Utc>, status: u16) -> LogEntry {
    let mut data = Map::new();
    data.insert("type".into(), json!("request"));
    data.insert("status".into(), json!(status));
    data.insert("url".into(), json!("/api/old"));
    LogEntry {
        id: String::new(),
        created,
        level: 0,
        message: "GET /api/old".into(),
        data,
    }
}

#[tokio::test]
async fn a_request_shows_up_with_pocketbase_fields() {
    let app = app().await;
    common::posts(&app).await;
    let su = app.superuser().await;
    let req = Request::get("/api/collections/posts/records?perPage=5")
        .header("authorization", &su)
        .header("user-agent", "logs-test/1.0")
        .header("referer", "http://example.com/page")
        .header("x-forwarded-for", "203.0.113.7")
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.raw(req).await.status, StatusCode::OK);

    let r = logs(
        &app,
        &su,
        &format!("?filter={}", q("data.url ~ '/api/collections/posts'")),
    )
    .await;
    let found = items(&r);
    assert_eq!(found.len(), 1, "{}", r.text());
    assert_eq!(r.json["totalItems"], 1);
    let log = &found[0];
    assert_eq!(log["message"], "GET /api/collections/posts/records?perPage=5");
    assert_eq!(log["level"], 0);
    assert_eq!(log["id"].as_str().unwrap().len(), 15);
    assert!(log["created"].as_str().unwrap().ends_with('Z'));
    let data = &log["data"];
    assert_eq!(data["type"], "request");
    assert_eq!(data["method"], "GET");
    assert_eq!(data["url"], "/api/collections/posts/records?perPage=5");
    assert_eq!(data["status"], 200);
    assert_eq!(data["auth"], "_superusers");
    assert_eq!(data["userAgent"], "logs-test/1.0");
    assert_eq!(data["referer"], "http://example.com/page");
    assert_eq!(data["userIP"], "203.0.113.7", "logIP is on by default");
    assert!(data.get("remoteIP").is_some());
    assert!(data.get("authId").is_none(), "logAuthId is off by default");
    assert!(data["execTime"].as_f64().unwrap() >= 0.0);
    assert!(data.get("error").is_none());

    // One by id; an unknown id is a 404.
    let id = log["id"].as_str().unwrap();
    let one = app.send(Method::GET, &format!("/api/logs/{id}"), Some(&su), None).await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(&one.json, log);
    let none = app
        .send(Method::GET, "/api/logs/aaaaaaaaaaaaaaa", Some(&su), None)
        .await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);

    // Superusers only.
    let (_, user) = app.auth_record("users", "u@example.com", "password123").await;
    let view_path = format!("/api/logs/{id}");
    for path in ["/api/logs", "/api/logs/stats", view_path.as_str()] {
        assert_eq!(
            app.send(Method::GET, path, Some(&user), None).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            app.send(Method::GET, path, None, None).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    // The logs' own reads are not logged; the refused ones (and the 404) are.
    let r = logs(&app, &su, &format!("?filter={}", q("data.url ~ '/api/logs'"))).await;
    let refused = items(&r);
    assert_eq!(refused.len(), 7, "{}", r.text());
    assert!(refused
        .iter()
        .all(|l| l["level"] == 8 && l["data"]["status"].as_u64().unwrap() >= 400));
}

#[tokio::test]
async fn failures_are_errors_and_filter_and_sort_work() {
    let app = app().await;
    common::posts(&app).await;
    let su = app.superuser().await;
    assert_eq!(
        app.send(Method::GET, "/api/collections/posts/records", None, None)
            .await
            .status,
        StatusCode::OK
    );
    let missing = app.send(Method::GET, "/api/collections/nope/records", None, None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let bad = app
        .send(
            Method::POST,
            "/api/collections/posts/records",
            None,
            Some(json!({"title": "x"})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    let r = logs(
        &app,
        &su,
        &format!("?filter={}&sort=data.status", q("data.status >= 400")),
    )
    .await;
    let failed = items(&r);
    assert_eq!(failed.len(), 2, "{}", r.text());
    assert_eq!(failed[0]["data"]["status"], 400);
    assert_eq!(failed[1]["data"]["status"], 404);
    assert!(failed.iter().all(|l| l["level"] == 8));
    // The error answer's message and its field problems (never the body sent).
    assert_eq!(failed[0]["data"]["error"], bad.json["message"]);
    assert_eq!(failed[0]["data"]["details"], bad.json["data"]);
    assert!(failed[0]["data"]["details"]["title"]["code"].is_string());
    assert!(!r.text().contains("\"x\""), "no body reaches a log");
    assert_eq!(failed[0]["message"], "POST /api/collections/posts/records");

    let r = logs(&app, &su, &format!("?filter={}&sort=-data.status", q("level = 8"))).await;
    let desc = items(&r);
    assert_eq!(desc[0]["data"]["status"], 404);

    let r = logs(
        &app,
        &su,
        &format!("?filter={}", q("data.method = 'GET' && data.status = 200")),
    )
    .await;
    assert_eq!(items(&r).len(), 1);
    // Paging.
    let r = logs(&app, &su, "?perPage=1&page=2&sort=data.status").await;
    assert_eq!(r.json["totalItems"], 3);
    assert_eq!(r.json["totalPages"], 3);
    assert_eq!(items(&r)[0]["data"]["status"], 400);

    let r = logs(&app, &su, "?sort=nope").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json["data"]["sort"]["code"], "validation_invalid_sort");
    let r = logs(&app, &su, &format!("?filter={}", q("data.status >"))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json["data"]["filter"].is_object(), "{}", r.text());
    let r = logs(&app, &su, &format!("?filter={}", q("secret = 1"))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn stats_count_requests_per_hour() {
    let app = app().await;
    let su = app.superuser().await;
    let store = app.state.logs.store().unwrap().clone();
    let at = |h: u32, m: u32| Utc.with_ymd_and_hms(2024, 5, 1, h, m, 0).unwrap();
    let mut rows = vec![entry(at(10, 5), 200), entry(at(10, 59), 404), entry(at(12, 0), 200)];
    store.insert(&mut rows).await.unwrap();

    let r = app
        .send(
            Method::GET,
            &format!("/api/logs/stats?filter={}", q("created < '2024-06-01'")),
            Some(&su),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        r.json,
        json!([
            {"total": 2, "date": "2024-05-01 10:00:00.000Z"},
            {"total": 1, "date": "2024-05-01 12:00:00.000Z"}
        ])
    );
    let r = app
        .send(
            Method::GET,
            &format!(
                "/api/logs/stats?filter={}",
                q("created < '2024-06-01' && data.status = 200")
            ),
            Some(&su),
            None,
        )
        .await;
    assert_eq!(
        r.json,
        json!([
            {"total": 1, "date": "2024-05-01 10:00:00.000Z"},
            {"total": 1, "date": "2024-05-01 12:00:00.000Z"}
        ])
    );
    // Today's requests count in their own hour.
    assert_eq!(
        app.send(Method::GET, "/api/health", None, None).await.status,
        StatusCode::OK
    );
    app.state.logs.flush().await;
    let r = app.send(Method::GET, "/api/logs/stats", Some(&su), None).await;
    let hours = r.json.as_array().unwrap();
    let last = hours.last().unwrap();
    assert!(last["date"]
        .as_str()
        .unwrap()
        .starts_with(&Utc::now().format("%Y-%m-%d").to_string()));
    assert!(last["total"].as_i64().unwrap() >= 1);
}

#[tokio::test]
async fn log_ip_log_auth_id_and_min_level_take_effect_at_once() {
    let app = app().await;
    common::posts(&app).await;
    let su = app.superuser().await;
    let (user, token) = app.auth_record("users", "u@example.com", "password123").await;
    patch_logs(&app, &su, json!({"logIP": false, "logAuthId": true})).await;
    let req = Request::get("/api/collections/posts/records")
        .header("authorization", &token)
        .header("x-forwarded-for", "203.0.113.9")
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.raw(req).await.status, StatusCode::OK);
    let r = logs(&app, &su, &format!("?filter={}", q("data.auth = 'users'"))).await;
    let found = items(&r);
    assert_eq!(found.len(), 1, "{}", r.text());
    assert_eq!(found[0]["data"]["authId"], user.id());
    assert!(found[0]["data"].get("userIP").is_none());
    assert!(found[0]["data"].get("remoteIP").is_none());
    assert!(!r.text().contains("203.0.113.9"));

    // minLevel 8: only failures are kept.
    patch_logs(&app, &su, json!({"minLevel": 8})).await;
    let before = logs(&app, &su, "").await.json["totalItems"].as_i64().unwrap();
    assert_eq!(
        app.send(Method::GET, "/api/collections/posts/records", None, None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.send(Method::GET, "/api/collections/nope/records", None, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let r = logs(&app, &su, "").await;
    assert_eq!(r.json["totalItems"].as_i64().unwrap(), before + 1);
    assert_eq!(items(&r)[0]["data"]["status"], 404);
    // Rows below the new minLevel went with the change.
    let r = logs(&app, &su, &format!("?filter={}", q("level < 8"))).await;
    assert_eq!(r.json["totalItems"], 0, "{}", r.text());
}

#[tokio::test]
async fn a_token_in_the_query_is_never_stored() {
    let app = app().await;
    let su = app.superuser().await;
    let secret = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.s1gnature";
    let r = app
        .send(
            Method::GET,
            &format!("/api/files/posts/abc/a.png?thumb=10x10&token={secret}"),
            Some(&su),
            None,
        )
        .await;
    assert!(r.status.is_client_error());
    let r = logs(&app, &su, &format!("?filter={}", q("data.url ~ '/api/files/'"))).await;
    let found = items(&r);
    assert_eq!(found.len(), 1, "{}", r.text());
    assert_eq!(
        found[0]["data"]["url"],
        "/api/files/posts/abc/a.png?thumb=10x10&token=***"
    );
    assert_eq!(
        found[0]["message"],
        "GET /api/files/posts/abc/a.png?thumb=10x10&token=***"
    );
    assert!(!r.text().contains("s1gnature"));
    // Nor the Authorization header.
    assert!(!r.text().contains(&su));
}

#[tokio::test]
async fn retention_purges_old_rows_and_max_days_zero_stops_logging() {
    let app = app().await;
    let su = app.superuser().await;
    let store = app.state.logs.store().unwrap().clone();
    let now = Utc::now();
    let mut rows = vec![
        entry(now - Duration::days(10), 200),
        entry(now - Duration::days(2), 200),
    ];
    store.insert(&mut rows).await.unwrap();
    let old = rows[0].id.clone();
    let recent = rows[1].id.clone();

    // A shorter retention deletes what it no longer keeps at once.
    patch_logs(&app, &su, json!({"maxDays": 5})).await;
    let r = logs(&app, &su, &format!("?filter={}", q("data.url = '/api/old'"))).await;
    let found = items(&r);
    let ids: Vec<&str> = found.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![recent.as_str()]);
    assert_eq!(
        app.send(Method::GET, &format!("/api/logs/{old}"), Some(&su), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // The hourly purge, four days on, takes the other.
    let purged = keel_app::logs::purge_once(&app.state, now + Duration::days(4))
        .await
        .unwrap();
    assert!(purged >= 1);
    let r = logs(&app, &su, &format!("?filter={}", q("data.url = '/api/old'"))).await;
    assert!(items(&r).is_empty());

    // maxDays 0: stored logs deleted, no request logged any more.
    assert_eq!(
        app.send(Method::GET, "/api/health", None, None).await.status,
        StatusCode::OK
    );
    patch_logs(&app, &su, json!({"maxDays": 0})).await;
    assert_eq!(logs(&app, &su, "").await.json["totalItems"], 0);
    assert_eq!(
        app.send(Method::GET, "/api/health", None, None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.send(Method::GET, "/api/nope", None, None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(logs(&app, &su, "").await.json["totalItems"], 0);

    // A negative maxDays is refused, naming the field.
    let r = app
        .send(
            Method::PATCH,
            "/api/settings",
            Some(&su),
            Some(json!({"logs": {"maxDays": -1}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json["data"]["logs.maxDays"].is_object(), "{}", r.text());
}
