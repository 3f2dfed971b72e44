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
        (Method::POST, "/api/cache/ns/k/incr", "cache:write"),
        (Method::POST, "/api/cache/ns/get-many", "cache:read"),
        (Method::POST, "/api/cache/ns/set-many", "cache:write"),
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

    // A POST to a key other than `invalidate`, `get-many` or `set-many` is not an endpoint,
    // and the 404 says which are.
    let r = app
        .send(Method::POST, "/api/cache/ns/other", Some(&su), Some(json!({})))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let message = r.json["message"].as_str().unwrap();
    for op in ["invalidate", "get-many", "set-many", "incr", "PUT"] {
        assert!(message.contains(op), "{message}");
    }
    // Those names are still ordinary keys for GET, PUT and DELETE.
    let r = app
        .send(Method::PUT, "/api/cache/ns/get-many", Some(&su), Some(json!(1)))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app.send(Method::GET, "/api/cache/ns/get-many", Some(&su), None).await;
    assert_eq!(r.json, json!(1));
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

/// `POST /api/cache/{ns}/{key}/incr` with `body` (`None` = an empty body).
async fn incr(app: &App, token: &str, key: &str, body: Option<serde_json::Value>) -> common::Resp {
    let uri = format!("/api/cache/ns/{key}/incr");
    match body {
        Some(b) => app.send(Method::POST, &uri, Some(token), Some(b)).await,
        None => app.send(Method::POST, &uri, Some(token), None).await,
    }
}

#[tokio::test]
async fn incr_adds_to_an_integer() {
    let app = App::new().await;
    let su = app.superuser().await;
    // A missing key starts at 0; an empty body, `{}` and `{"by": 1}` all add 1.
    let r = incr(&app, &su, "hits", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json, json!({"value": 1}));
    let r = incr(&app, &su, "hits", Some(json!({}))).await;
    assert_eq!(r.json, json!({"value": 2}), "{}", r.text());
    let r = incr(&app, &su, "hits", Some(json!({"by": 1}))).await;
    assert_eq!(r.json, json!({"value": 3}));
    let r = incr(&app, &su, "hits", Some(json!({"by": 40}))).await;
    assert_eq!(r.json, json!({"value": 43}));
    let r = incr(&app, &su, "hits", Some(json!({"by": -50}))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json, json!({"value": -7}));
    let r = app.send(Method::GET, "/api/cache/ns/hits", Some(&su), None).await;
    assert_eq!(r.json, json!(-7));
    // A stored integer is incremented in place, keeping its tags.
    let r = app
        .send(Method::PUT, "/api/cache/ns/n?tags=counters", Some(&su), Some(json!(10)))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = incr(&app, &su, "n", Some(json!({"by": 5}))).await;
    assert_eq!(r.json, json!({"value": 15}));
    let r = app
        .send(
            Method::POST,
            "/api/cache/ns/invalidate",
            Some(&su),
            Some(json!({"tags": ["counters"]})),
        )
        .await;
    assert_eq!(r.json, json!({"invalidated": 1}), "{}", r.text());
}

#[tokio::test]
async fn incr_refuses_non_integers_and_bad_bodies_with_400() {
    let app = App::new().await;
    let su = app.superuser().await;
    for (key, value) in [
        ("text", json!("five")),
        ("float", json!(1.5)),
        ("object", json!({"n": 1})),
        ("null", json!(null)),
    ] {
        let uri = format!("/api/cache/ns/{key}");
        let r = app.send(Method::PUT, &uri, Some(&su), Some(value.clone())).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        let r = incr(&app, &su, key, None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{key}: {}", r.text());
        assert_eq!(r.json["data"]["key"]["code"], "validation_not_integer", "{}", r.text());
        let message = r.json["message"].as_str().unwrap();
        assert!(message.contains(key) && message.contains("not an integer"), "{message}");
        // The value is left alone.
        let r = app.send(Method::GET, &uri, Some(&su), None).await;
        assert_eq!(r.json, value);
    }
    // An overflow is a 400 too, and leaves the value alone.
    let r = app
        .send(Method::PUT, "/api/cache/ns/big", Some(&su), Some(json!(i64::MAX)))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = incr(&app, &su, "big", None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.json["data"]["key"].is_object(), "{}", r.text());
    assert!(r.json["message"].as_str().unwrap().contains("overflow"), "{}", r.text());
    let r = app.send(Method::GET, "/api/cache/ns/big", Some(&su), None).await;
    assert_eq!(r.json, json!(i64::MAX));
    // Bodies: an unknown field, a `by` that is not an i64, not an object, not JSON.
    let r = incr(&app, &su, "k", Some(json!({"by": 1, "step": 2}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert_eq!(r.json["data"]["step"]["code"], "validation_unknown_field");
    assert!(r.json["message"].as_str().unwrap().contains("step"), "{}", r.text());
    for body in [json!({"by": 1.5}), json!({"by": "2"}), json!({"by": null})] {
        let r = incr(&app, &su, "k", Some(body.clone())).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text());
        assert!(r.json["data"]["by"].is_object(), "{body}: {}", r.text());
    }
    let r = incr(&app, &su, "k", Some(json!([1]))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app
        .send_bytes(
            Method::POST,
            "/api/cache/ns/k/incr",
            Some(&su),
            "application/json",
            b"{by:".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let r = incr(&app, &su, "a%20b", None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json["data"]["key"].is_object(), "{}", r.text());
    // None of that created the key.
    let r = app.send(Method::GET, "/api/cache/ns/k", Some(&su), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn get_many_answers_null_for_missing_keys() {
    let app = App::new().await;
    let su = app.superuser().await;
    for (key, value) in [("a", json!({"x": 1})), ("c", json!([1, 2]))] {
        let uri = format!("/api/cache/ns/{key}");
        let r = app.send(Method::PUT, &uri, Some(&su), Some(value)).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
    }
    let r = app
        .send(
            Method::POST,
            "/api/cache/ns/get-many",
            Some(&su),
            Some(json!({"keys": ["c", "missing", "a"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json, json!({"values": {"c": [1, 2], "missing": null, "a": {"x": 1}}}));
    // In the order asked.
    let order: Vec<&String> = r.json["values"].as_object().unwrap().keys().collect();
    assert_eq!(order, ["c", "missing", "a"]);
    // Another namespace sees none of them; no keys is an empty answer.
    let r = app
        .send(
            Method::POST,
            "/api/cache/other/get-many",
            Some(&su),
            Some(json!({"keys": ["a", "c"]})),
        )
        .await;
    assert_eq!(r.json, json!({"values": {"a": null, "c": null}}));
    let r = app
        .send(
            Method::POST,
            "/api/cache/ns/get-many",
            Some(&su),
            Some(json!({"keys": []})),
        )
        .await;
    assert_eq!(r.json, json!({"values": {}}));
    // Hits and misses are counted per key.
    let r = app.send(Method::GET, "/api/cache/ns", Some(&su), None).await;
    assert_eq!((r.json["hits"].as_u64(), r.json["misses"].as_u64()), (Some(2), Some(1)));
}

#[tokio::test]
async fn set_many_with_ttl_and_tags_then_invalidate_by_tag() {
    let app = App::new().await;
    let su = app.superuser().await;
    let r = app
        .send(
            Method::POST,
            "/api/cache/ns/set-many",
            Some(&su),
            Some(json!({"entries": [
                {"key": "u:1", "value": {"name": "Ada"}, "tags": ["users", "team:7"]},
                {"key": "u:2", "value": {"name": "Grace"}, "tags": ["users"], "ttl": 600},
                {"key": "short", "value": "soon gone", "ttl": 0.3},
                {"key": "plain", "value": 42}
            ]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert!(r.bytes.is_empty());
    let keys = json!({"keys": ["u:1", "u:2", "plain"]});
    let r = app
        .send(Method::POST, "/api/cache/ns/get-many", Some(&su), Some(keys.clone()))
        .await;
    assert_eq!(
        r.json,
        json!({"values": {"u:1": {"name": "Ada"}, "u:2": {"name": "Grace"}, "plain": 42}})
    );
    // The short TTL expires.
    let deadline = Instant::now() + Duration::from_secs(10);
    while app
        .send(Method::GET, "/api/cache/ns/short", Some(&su), None)
        .await
        .status
        != StatusCode::NOT_FOUND
    {
        assert!(Instant::now() < deadline, "the short-TTL entry never expired");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Invalidating a tag removes exactly the entries set with it.
    let r = app
        .send(
            Method::POST,
            "/api/cache/ns/invalidate",
            Some(&su),
            Some(json!({"tags": ["users"]})),
        )
        .await;
    assert_eq!(r.json, json!({"invalidated": 2}), "{}", r.text());
    let r = app
        .send(Method::POST, "/api/cache/ns/get-many", Some(&su), Some(keys))
        .await;
    assert_eq!(r.json, json!({"values": {"u:1": null, "u:2": null, "plain": 42}}));
    // An empty batch is fine.
    let r = app
        .send(
            Method::POST,
            "/api/cache/ns/set-many",
            Some(&su),
            Some(json!({"entries": []})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn batch_validation_names_the_field() {
    let app = App::new().await;
    let su = app.superuser().await;
    let post = |path: &'static str, body: serde_json::Value| {
        let su = su.clone();
        let app = &app;
        async move { app.send(Method::POST, path, Some(&su), Some(body)).await }
    };
    let ok = json!({"key": "ok", "value": 1});
    let cases = [
        (
            "/api/cache/ns/get-many",
            json!({"keys": ["ok", "bad key"]}),
            "keys.1",
            "validation_invalid_name",
        ),
        (
            "/api/cache/ns/get-many",
            json!({"keys": ["ok"], "ttl": 1}),
            "ttl",
            "validation_unknown_field",
        ),
        ("/api/cache/ns/get-many", json!({}), "keys", "validation_required"),
        (
            "/api/cache/ns/get-many",
            json!({"keys": "a"}),
            "keys",
            "validation_invalid_value",
        ),
        (
            "/api/cache/ns/set-many",
            json!({"entries": [ok, {"key": "a/b", "value": 1}]}),
            "entries.1.key",
            "validation_invalid_name",
        ),
        (
            "/api/cache/ns/set-many",
            json!({"entries": [ok, ok, {"key": "x", "value": 1, "tags": ["fine", "not fine"]}]}),
            "entries.2.tags",
            "validation_invalid_name",
        ),
        (
            "/api/cache/ns/set-many",
            json!({"entries": [{"key": "x", "value": 1, "ttl": 0}]}),
            "entries.0.ttl",
            "validation_invalid_ttl",
        ),
        (
            "/api/cache/ns/set-many",
            json!({"entries": [{"key": "x", "value": 1, "ttl": -1}]}),
            "entries.0.ttl",
            "validation_invalid_ttl",
        ),
        (
            "/api/cache/ns/set-many",
            json!({"entries": [{"key": "x", "value": 1, "ttl": 1e300}]}),
            "entries.0.ttl",
            "validation_invalid_ttl",
        ),
        (
            "/api/cache/ns/set-many",
            json!({"entries": [{"key": "x", "value": 1, "ttl": "60"}]}),
            "entries.0.ttl",
            "validation_invalid_value",
        ),
        (
            "/api/cache/ns/set-many",
            json!({"entries": [ok, {"key": "x", "value": 1, "expires": 5}]}),
            "entries.1.expires",
            "validation_unknown_field",
        ),
        (
            "/api/cache/ns/set-many",
            json!({"entries": [{"key": "x"}]}),
            "entries.0.value",
            "validation_required",
        ),
        (
            "/api/cache/ns/set-many",
            json!({"entries": [ok, "x"]}),
            "entries.1",
            "validation_invalid_value",
        ),
        (
            "/api/cache/ns/set-many",
            json!({"entries": [ok], "ttl": 5}),
            "ttl",
            "validation_unknown_field",
        ),
        (
            "/api/cache/ns/get-many",
            json!({"keys": vec!["k"; 1001]}),
            "keys",
            "validation_too_many",
        ),
        (
            "/api/cache/ns/set-many",
            json!({"entries": vec![ok.clone(); 1001]}),
            "entries",
            "validation_too_many",
        ),
    ];
    for (path, body, field, code) in cases {
        let r = post(path, body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path} {body}: {}", r.text());
        assert_eq!(r.json["data"][field]["code"], code, "{path} {body}: {}", r.text());
    }
    // A bad batch writes nothing, not even its valid entries.
    let r = app.send(Method::GET, "/api/cache/ns/ok", Some(&su), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // 1000 is the limit, not over it.
    let r = post("/api/cache/ns/get-many", json!({"keys": vec!["k"; 1000]})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let entries: Vec<_> = (0..1000).map(|i| json!({"key": format!("k{i}"), "value": i})).collect();
    let r = post("/api/cache/ns/set-many", json!({"entries": entries})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let r = app.send(Method::GET, "/api/cache/ns/k999", Some(&su), None).await;
    assert_eq!(r.json, json!(999));
    // Not JSON, or not an object.
    let r = app
        .send_bytes(
            Method::POST,
            "/api/cache/ns/set-many",
            Some(&su),
            "application/json",
            b"{entries".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let r = post("/api/cache/ns/get-many", json!(["a"])).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let r = post("/api/cache/b%20ad/get-many", json!({"keys": []})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json["data"]["namespace"].is_object(), "{}", r.text());
}
