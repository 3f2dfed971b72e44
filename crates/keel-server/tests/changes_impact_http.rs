//! Impact and the automatic API diff of collection changes over HTTP, the same scenario on
//! SQLite, PostgreSQL (`KEEL_TEST_POSTGRES_URL`) and MariaDB (`KEEL_TEST_MYSQL_URL`), with the
//! request logs on the same engine (SQLite: `auxiliary.db`):
//!
//! - removing a field lists what depends on it: another collection's rule reading it through
//!   a relation, the relation itself, a view reading it, the index naming it, a webhook's
//!   filter, a notification rule's template, and the API key, user and guest that called the
//!   collection's records API (per collection, from the logs); on classify, on a proposal, on
//!   `GET /api/changes/{id}` and `GET /api/changes/{id}/impact`, callers on the last only
//!   (its `days` cut to `logs.maxDays`); an index the change drops is not listed, a webhook's
//!   URL is shown without its credentials;
//! - every change carries `apiVerdict`/`apiFindings` from the collection's OpenAPI document
//!   before and after (`response-property-removed`, `request-property-became-required`, an
//!   optional field minor), served at `GET /api/collections/{c}/openapi.json`;
//! - a direct update's history entry keeps its data checks' `affectedRows`; the stats give
//!   the time from proposal to apply.

mod common;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use common::engines::{mariadb_engine, postgres_engine};
use common::App;
use keel_logs::{LogStore, RequestLogs};
use serde_json::{json, Value};

#[tokio::test]
async fn impact_and_api_diff_on_sqlite() {
    let mut app = App::new().await;
    let logs = LogStore::open_sqlite(&app.dir.path().join("auxiliary.db"))
        .await
        .unwrap();
    app.state.edit().logs = Arc::new(RequestLogs::start(logs));
    scenario(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impact_and_api_diff_on_postgres() {
    let Some((mut app, engine, _guard)) = postgres_engine().await else {
        return;
    };
    app.state.edit().logs = Arc::new(RequestLogs::start(LogStore::open(engine).await.unwrap()));
    scenario(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impact_and_api_diff_on_mariadb() {
    let Some((mut app, engine, _guard)) = mariadb_engine().await else {
        return;
    };
    app.state.edit().logs = Arc::new(RequestLogs::start(LogStore::open(engine).await.unwrap()));
    scenario(&app).await;
}

async fn ok(app: &App, method: Method, uri: &str, token: &str, body: Option<Value>) -> Value {
    let r = app.send(method.clone(), uri, Some(token), body).await;
    assert_eq!(r.status, StatusCode::OK, "{method} {uri}: {}", r.text());
    r.json
}

/// A `users` record holding a role with `permissions`, and its token.
async fn user_with(app: &App, su: &str, name: &str, permissions: &[&str]) -> (String, String) {
    let (rec, token) = app
        .auth_record("users", &format!("{name}@example.com"), "password-123456")
        .await;
    if !permissions.is_empty() {
        ok(
            app,
            Method::POST,
            "/api/roles",
            su,
            Some(json!({"name": name, "permissions": permissions})),
        )
        .await;
        let r = app
            .send(
                Method::PUT,
                &format!("/api/roles/{name}/members/users/{}", rec.id()),
                Some(su),
                None,
            )
            .await;
        assert!(r.status.is_success(), "{}", r.text());
    }
    (rec.id().to_string(), token)
}

fn codes(findings: &Value) -> Vec<&str> {
    findings
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect()
}

/// The impact items of `kind`, as `(name, detail)`.
fn of_kind<'a>(impact: &'a Value, kind: &str) -> Vec<(&'a str, &'a str)> {
    impact["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == kind)
        .map(|i| (i["name"].as_str().unwrap(), i["detail"].as_str().unwrap()))
        .collect()
}

/// `fields` of `collection` without the one named `drop`.
fn without(collection: &Value, drop: &str) -> Vec<Value> {
    collection["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["name"] != drop)
        .cloned()
        .collect()
}

async fn scenario(app: &App) {
    let su = app.superuser().await;
    ok(
        app,
        Method::PATCH,
        "/api/settings",
        &su,
        Some(json!({"logs": {"logAuthId": true}, "changes": {"review": {"quorum": 1, "breakingQuorum": 1}}})),
    )
    .await;
    let (_, reader) = user_with(app, &su, "reader", &["changes:read"]).await;
    let (_, approver) = user_with(app, &su, "approver", &["changes:approve"]).await;
    let (caller_id, caller) = user_with(app, &su, "caller", &[]).await;

    let posts = ok(
        app,
        Method::POST,
        "/api/collections",
        &su,
        Some(json!({"name": "posts", "type": "base", "listRule": "", "viewRule": "",
            "fields": [{"name": "title", "type": "text"}, {"name": "body", "type": "text"},
                       {"name": "status", "type": "text"}],
            "indexes": ["CREATE INDEX idx_posts_body ON posts (body)"]})),
    )
    .await;
    let posts_id = posts["id"].as_str().unwrap().to_string();
    ok(
        app,
        Method::POST,
        "/api/collections",
        &su,
        Some(
            json!({"name": "comments", "type": "base", "listRule": "post.body != ''",
            "fields": [{"name": "text", "type": "text"},
                       {"name": "post", "type": "relation", "collectionId": posts_id, "maxSelect": 1}]}),
        ),
    )
    .await;
    ok(
        app,
        Method::POST,
        "/api/collections",
        &su,
        Some(json!({"name": "post_bodies", "type": "view", "viewQuery": "SELECT id, body FROM posts"})),
    )
    .await;
    let hook = ok(
        app,
        Method::POST,
        "/api/webhooks",
        &su,
        Some(
            json!({"url": "https://hook-user:hook-s3cret@hooks.example.com/posts?token=t0ken", "events": ["record.updated"],
                    "collection": "posts", "filter": "body != ''"}),
        ),
    )
    .await;
    let rule = ok(
        app,
        Method::POST,
        "/api/notifications/rules",
        &su,
        Some(
            json!({"event": "record.updated", "collection": "posts", "subject": "Changed",
                    "body": "Now: {{ record.body }}", "recipients": ["topic:editors"]}),
        ),
    )
    .await;
    let key = ok(
        app,
        Method::POST,
        "/api/apikeys",
        &su,
        Some(json!({"name": "reporting", "roles": []})),
    )
    .await;
    let (key_id, key_secret) = (key["id"].as_str().unwrap(), key["key"].as_str().unwrap());
    for body in ["first", "second"] {
        app.insert("posts", json!({ "body": body })).await;
    }

    // Callers of the records API: the key twice, a user once, a guest once.
    for token in [Some(key_secret), Some(key_secret), Some(caller.as_str()), None] {
        let r = app
            .send(Method::GET, "/api/collections/posts/records", token, None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    }
    app.state.logs.flush().await;

    // Classify removing `body` (and its index).
    let target = json!({"name": "posts", "fields": without(&posts, "body"), "indexes": []});
    let c = ok(
        app,
        Method::POST,
        "/api/changes/classify",
        &su,
        Some(json!({ "collection": target })),
    )
    .await;
    assert!(codes(&c["findings"]).contains(&"field-removed"), "{c}");
    assert_eq!(c["apiVerdict"], "major", "{c}");
    let api = codes(&c["apiFindings"]);
    assert!(api.contains(&"response-property-removed"), "{api:?}");
    let impact = &c["impact"];
    assert_eq!(
        of_kind(impact, "rule"),
        vec![("comments.listRule", "post.body")],
        "{impact}"
    );
    assert_eq!(
        of_kind(impact, "relation"),
        vec![("comments.post", "posts")],
        "{impact}"
    );
    assert_eq!(of_kind(impact, "view"), vec![("post_bodies", "posts.body")], "{impact}");
    assert!(of_kind(impact, "index").is_empty(), "the change drops it: {impact}");
    let hooks = of_kind(impact, "webhook");
    assert!(
        hooks.iter().any(|(name, _)| *name == hook["id"].as_str().unwrap()),
        "{impact}"
    );
    let shown = impact.to_string();
    assert!(
        !shown.contains("hook-s3cret") && !shown.contains("t0ken") && shown.contains("hooks.example.com/posts"),
        "{shown}"
    );
    let rules = of_kind(impact, "notification-rule");
    assert!(
        rules.iter().any(|(name, _)| *name == rule["id"].as_str().unwrap()),
        "{impact}"
    );
    // Callers are read from the logs on /impact only; classify says so.
    assert!(of_kind(impact, "caller").is_empty(), "{impact}");
    assert!(impact.get("days").is_none(), "{impact}");
    let notes = impact["notes"].to_string();
    assert!(notes.contains("/api/changes/{id}/impact"), "{notes}");

    // A changes:read holder sees the collections' dependents, not the services' nor callers.
    let c = ok(
        app,
        Method::POST,
        "/api/changes/classify",
        &reader,
        Some(json!({ "collection": target })),
    )
    .await;
    assert_eq!(of_kind(&c["impact"], "rule").len(), 1);
    assert!(of_kind(&c["impact"], "webhook").is_empty());
    assert!(of_kind(&c["impact"], "caller").is_empty());
    let notes = c["impact"]["notes"].to_string();
    assert!(
        notes.contains("webhooks:manage") && notes.contains("superusers only"),
        "{notes}"
    );

    // The API side of other changes: a required field, an optional one.
    let mut required = posts["fields"].as_array().unwrap().clone();
    for f in required.iter_mut().filter(|f| f["name"] == "title") {
        f["required"] = json!(true);
    }
    let c = ok(
        app,
        Method::POST,
        "/api/changes/classify",
        &su,
        Some(json!({"collection": {"name": "posts", "fields": required}})),
    )
    .await;
    assert!(
        codes(&c["apiFindings"]).contains(&"request-property-became-required"),
        "{c}"
    );
    let mut added = posts["fields"].as_array().unwrap().clone();
    added.push(json!({"name": "summary", "type": "text"}));
    let c = ok(
        app,
        Method::POST,
        "/api/changes/classify",
        &su,
        Some(json!({"collection": {"name": "posts", "fields": added.clone()}})),
    )
    .await;
    assert_eq!(
        (c["verdict"].as_str(), c["apiVerdict"].as_str()),
        (Some("minor"), Some("minor")),
        "{c}"
    );
    assert!(c["impact"]["items"].as_array().unwrap().is_empty(), "{c}");

    // A direct update is recorded with its API findings and its counted data checks.
    ok(
        app,
        Method::PATCH,
        &format!("/api/collections/{posts_id}"),
        &su,
        Some(json!({ "fields": required })),
    )
    .await;
    let page = ok(
        app,
        Method::GET,
        "/api/changes?filter=collection%3D'posts'&sort=-seq&perPage=1",
        &su,
        None,
    )
    .await;
    let change_id = page["items"][0]["id"].as_str().unwrap().to_string();
    let change = ok(app, Method::GET, &format!("/api/changes/{change_id}"), &su, None).await;
    let finding = change["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "field-required-no-default")
        .unwrap();
    assert_eq!(finding["affectedRows"], 2, "{change}");
    assert_eq!(change["apiVerdict"], "major");
    assert!(codes(&change["apiFindings"]).contains(&"request-property-became-required"));
    assert!(change["impact"]["items"].is_array(), "{change}");

    // A proposal to remove `body`: its impact on the answer, on view and on /impact.
    let p = ok(
        app,
        Method::POST,
        "/api/changes",
        &su,
        Some(json!({"collection": {"name": "posts", "fields": without(&posts, "body"), "indexes": []}})),
    )
    .await;
    assert_eq!(of_kind(&p["impact"], "rule"), vec![("comments.listRule", "post.body")]);
    assert!(codes(&p["apiFindings"]).contains(&"response-property-removed"));
    let id = p["id"].as_str().unwrap();
    assert!(of_kind(&p["impact"], "caller").is_empty(), "{p}");
    let viewed = ok(app, Method::GET, &format!("/api/changes/{id}"), &reader, None).await;
    assert_eq!(viewed["apiVerdict"], "major");
    assert_eq!(of_kind(&viewed["impact"], "view"), vec![("post_bodies", "posts.body")]);
    let viewed = ok(app, Method::GET, &format!("/api/changes/{id}"), &su, None).await;
    assert!(of_kind(&viewed["impact"], "caller").is_empty(), "{viewed}");
    let impact = ok(app, Method::GET, &format!("/api/changes/{id}/impact?days=7"), &su, None).await;
    assert_eq!(impact["days"], 7);
    assert_eq!(of_kind(&impact, "relation"), vec![("comments.post", "posts")]);
    let callers: Vec<(String, i64)> = impact["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "caller")
        .map(|i| (i["name"].as_str().unwrap().to_string(), i["requests"].as_i64().unwrap()))
        .collect();
    assert!(callers.contains(&(format!("_apiKeys/{key_id}"), 2)), "{callers:?}");
    assert!(callers.contains(&(format!("users/{caller_id}"), 1)), "{callers:?}");
    assert!(callers.contains(&("guest".to_string(), 1)), "{callers:?}");
    let key_item = impact["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == format!("_apiKeys/{key_id}"))
        .unwrap();
    assert!(
        key_item["message"].as_str().unwrap().contains("reporting"),
        "{key_item}"
    );
    let notes = impact["notes"].to_string();
    assert!(notes.contains("per collection"), "{notes}");
    // More days than the logs keep (logs.maxDays, 7 by default) are cut to what they keep.
    let impact = ok(
        app,
        Method::GET,
        &format!("/api/changes/{id}/impact?days=90"),
        &su,
        None,
    )
    .await;
    assert_eq!(impact["days"], 7, "{impact}");
    assert!(impact["notes"].to_string().contains("logs.maxDays"), "{impact}");
    // Who may ask is checked before what was asked.
    let r = app
        .send(Method::GET, &format!("/api/changes/{id}/impact?days=0"), None, None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
    for bad in ["0", "366", "many"] {
        let r = app
            .send(
                Method::GET,
                &format!("/api/changes/{id}/impact?days={bad}"),
                Some(&su),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text());
        assert!(r.json["data"]["days"].is_object(), "{}", r.text());
    }
    let r = app
        .send(Method::GET, &format!("/api/changes/{id}/impact"), Some(&caller), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.text().contains("changes:read"), "{}", r.text());

    // A proposal through review and apply: the stats time it.
    let p = ok(
        app,
        Method::POST,
        "/api/changes",
        &su,
        Some(json!({"submit": true, "collection": {"name": "posts", "fields": added}})),
    )
    .await;
    let id = p["id"].as_str().unwrap();
    assert_eq!(p["apiVerdict"], "minor");
    ok(
        app,
        Method::POST,
        &format!("/api/changes/{id}/approve"),
        &approver,
        None,
    )
    .await;
    ok(app, Method::POST, &format!("/api/changes/{id}/apply"), &su, None).await;
    let applied = ok(app, Method::GET, &format!("/api/changes/{id}"), &su, None).await;
    assert_eq!(applied["state"], "applied");
    assert_eq!(applied["apiVerdict"], "minor");
    let stats = ok(app, Method::GET, "/api/changes/stats", &su, None).await;
    assert_eq!(stats["proposalToApply"]["count"], 1, "{stats}");
    assert!(stats["proposalToApply"]["p50Seconds"].as_i64().unwrap() >= 0);

    // The collection's OpenAPI document.
    let doc = ok(app, Method::GET, "/api/collections/posts/openapi.json", &reader, None).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let record = &doc["components"]["schemas"]["Record"]["properties"];
    assert!(record.get("summary").is_some() && record.get("body").is_some(), "{doc}");
    assert!(doc["paths"]["/api/collections/posts/records/{id}"]["patch"].is_object());
    let users = ok(app, Method::GET, "/api/collections/users/openapi.json", &su, None).await;
    assert!(users["paths"]["/api/collections/users/auth-with-password"].is_object());
    let r = app
        .send(Method::GET, "/api/collections/posts/openapi.json", Some(&caller), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .send(Method::GET, "/api/collections/posts/openapi.json", None, None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = app
        .send(
            Method::GET,
            "/api/collections/_superusers/openapi.json",
            Some(&reader),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .send(
            Method::GET,
            "/api/collections/nothing_here/openapi.json",
            Some(&su),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

/// Deleting one of two auth collections: a rule reading `@request.auth.id` still means
/// something for the other, so it is not listed; one reading a field only the deleted
/// collection has is.
#[tokio::test]
async fn deleting_one_auth_collection_lists_only_auth_paths_left_unresolved() {
    let app = App::new().await;
    let su = app.superuser().await;
    ok(
        &app,
        Method::POST,
        "/api/collections",
        &su,
        Some(json!({"name": "members", "type": "auth",
            "fields": [{"name": "nickname", "type": "text"}]})),
    )
    .await;
    ok(
        &app,
        Method::POST,
        "/api/collections",
        &su,
        Some(json!({"name": "posts", "type": "base",
            "listRule": "@request.auth.id != ''", "viewRule": "@request.auth.nickname != ''",
            "fields": [{"name": "title", "type": "text"}]})),
    )
    .await;
    let c = ok(
        &app,
        Method::POST,
        "/api/changes/classify",
        &su,
        Some(json!({"delete": "members"})),
    )
    .await;
    let rules = of_kind(&c["impact"], "rule");
    assert_eq!(rules, vec![("posts.viewRule", "@request.auth.nickname")], "{c}");
}
