//! Schema-change governance over HTTP on a real `keel serve`: `POST /api/changes/classify`
//! rates a collection change without applying it, with counts from the real rows;
//! `POST /api/changes/api-diff` rates two OpenAPI documents. Both need a signed-in caller
//! holding `changes:read` (superusers always); bad input is a 400 naming the field.

mod common;

use common::{superuser_token, KeelProcess};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

struct Api {
    http: Client,
    url: String,
}

impl Api {
    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        let mut req = self.http.post(format!("{}{path}", self.url)).json(&body);
        if let Some(t) = token {
            req = req.header("Authorization", t);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn get(&self, path: &str, token: &str) -> Value {
        let res = self
            .http
            .get(format!("{}{path}", self.url))
            .header("Authorization", token)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "GET {path}: {}", res.status());
        res.json().await.unwrap()
    }
}

/// A `users` record holding a role with `permissions`, signed in.
async fn user_with(api: &Api, su: &str, name: &str, permissions: &[&str]) -> String {
    let (s, b) = api
        .post(
            "/api/roles",
            Some(su),
            json!({"name": name, "permissions": permissions}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let email = format!("{name}@keel.test");
    let (s, user) = api
        .post(
            "/api/collections/users/records",
            Some(su),
            json!({"email": email, "password": "user-password-123", "passwordConfirm": "user-password-123"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{user}");
    let res = api
        .http
        .put(format!(
            "{}/api/roles/{name}/members/users/{}",
            api.url,
            user["id"].as_str().unwrap()
        ))
        .header("Authorization", su)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    let (s, auth) = api
        .post(
            "/api/collections/users/auth-with-password",
            None,
            json!({"identity": email, "password": "user-password-123"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{auth}");
    auth["token"].as_str().unwrap().to_string()
}

fn openapi(paths: Value) -> Value {
    json!({"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": paths})
}

fn codes(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

fn finding<'a>(report: &'a Value, code: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == code)
        .unwrap_or_else(|| panic!("no {code} in {report:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classify_and_api_diff_over_http() {
    classify_and_api_diff(&[]).await;
}

/// The same with the records on PostgreSQL: the data checks' SQL on that engine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classify_on_postgres() {
    let Some(pg) = keel_testkit::engine_url("KEEL_TEST_POSTGRES_URL") else {
        return;
    };
    let (url, name) = keel_testkit::postgres::fresh_database(&pg).await;
    let _guard = keel_testkit::postgres::DatabaseGuard { url: pg.clone(), name };
    classify_and_api_diff(&[
        ("KEEL_DATA__ENGINE", "postgres"),
        ("KEEL_ENGINES__POSTGRES_URL", url.as_str()),
    ])
    .await;
}

/// The same with the records on MariaDB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classify_on_mariadb() {
    let Some(mysql) = keel_testkit::engine_url("KEEL_TEST_MYSQL_URL") else {
        return;
    };
    let db = keel_testkit::mysql::fresh_database(&mysql).await;
    let _guard = db.guard();
    classify_and_api_diff(&[
        ("KEEL_DATA__ENGINE", "mysql"),
        ("KEEL_ENGINES__MYSQL_URL", db.url.as_str()),
    ])
    .await;
}

async fn classify_and_api_diff(env: &[(&str, &str)]) {
    let keel = KeelProcess::start_with_env(env);
    let api = Api {
        http: Client::new(),
        url: keel.url().to_string(),
    };
    let su = superuser_token(&api.http, &api.url).await;

    // --- who may ask ---
    let old = openapi(json!({"/pets": {"get": {"responses": {"200": {"description": "ok"}}}},
                             "/pets/{id}": {"delete": {"responses": {"204": {"description": "gone"}}}}}));
    let new = openapi(
        json!({"/pets": {"get": {"parameters": [{"name": "owner", "in": "query", "required": true, "schema": {"type": "string"}}],
                                                "responses": {"200": {"description": "ok"}}}}}),
    );
    let body = json!({"old": old, "new": new});
    let (s, _) = api.post("/api/changes/api-diff", None, body.clone()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let plain = user_with(&api, &su, "plain", &["jobs:read"]).await;
    let (s, b) = api.post("/api/changes/api-diff", Some(&plain), body.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    assert!(b["message"].as_str().unwrap().contains("changes:read"), "{b}");
    let (s, b) = api
        .post("/api/changes/classify", Some(&plain), json!({"delete": "users"}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    let reader = user_with(&api, &su, "reviewer", &["changes:read"]).await;
    // The data checks' counts read rows whatever the rules: only for collection managers.
    let manager = user_with(&api, &su, "schema-owner", &["changes:read", "collections:manage"]).await;

    // --- api-diff ---
    let (s, report) = api.post("/api/changes/api-diff", Some(&reader), body.clone()).await;
    assert_eq!(s, StatusCode::OK, "{report}");
    assert_eq!(report["verdict"], "major");
    assert_eq!(report["breaking"], true);
    let mut got = codes(&report);
    got.sort();
    assert_eq!(
        got,
        ["endpoint-removed", "new-required-request-parameter"],
        "{report:#}"
    );
    assert!(finding(&report, "new-required-request-parameter")["message"]
        .as_str()
        .unwrap()
        .contains("owner"));
    let (s, same) = api
        .post("/api/changes/api-diff", Some(&su), json!({"old": old, "new": old}))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(same["verdict"], "none");
    assert_eq!(same["findings"], json!([]));
    for (bad, field) in [
        (json!({"old": {"swagger": "2.0"}, "new": new}), "old"),
        (json!({"old": old}), "new"),
        (json!({"old": old, "new": "text"}), "new"),
    ] {
        let (s, b) = api.post("/api/changes/api-diff", Some(&reader), bad).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
        assert!(b["data"][field]["message"].is_string(), "{field}: {b}");
    }

    // --- classify on real data ---
    let (s, posts) = api
        .post(
            "/api/collections",
            Some(&su),
            json!({"name": "posts", "listRule": "", "fields": [
                {"name": "title", "type": "text"},
                {"name": "code", "type": "text"},
                {"name": "status", "type": "select", "values": ["draft", "live", "old"], "maxSelect": 1}
            ]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{posts}");
    for (title, code, status) in [
        ("a long enough title", "X", "draft"),
        ("", "X", "old"),
        ("short", "Y", "old"),
        ("another long title", "Z", "live"),
    ] {
        let (s, b) = api
            .post(
                "/api/collections/posts/records",
                Some(&su),
                json!({"title": title, "code": code, "status": status}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    let mut target = posts.clone();
    for f in target["fields"].as_array_mut().unwrap() {
        match f["name"].as_str() {
            Some("title") => {
                f["required"] = json!(true);
                f["max"] = json!(10);
            }
            Some("status") => f["values"] = json!(["draft", "live"]),
            _ => {}
        }
    }
    target["indexes"] = json!(["CREATE UNIQUE INDEX idx_code ON posts (code)"]);
    target["listRule"] = json!("@request.auth.id != ''");
    // A reader without collections:manage gets the findings, not the counts.
    let (s, report) = api
        .post(
            "/api/changes/classify",
            Some(&reader),
            json!({"collection": target.clone()}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{report}");
    assert_eq!(report["verdict"], "major");
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f.get("affectedRows").is_none()),
        "{report}"
    );
    let (s, report) = api
        .post("/api/changes/classify", Some(&manager), json!({"collection": target}))
        .await;
    assert_eq!(s, StatusCode::OK, "{report}");
    assert_eq!(report["verdict"], "major");
    assert_eq!(
        finding(&report, "field-required-no-default")["affectedRows"],
        1,
        "{report:#}"
    );
    assert_eq!(finding(&report, "max-length-narrowed")["affectedRows"], 2);
    assert_eq!(finding(&report, "select-values-removed")["affectedRows"], 2);
    assert_eq!(
        finding(&report, "unique-index-added")["affectedRows"],
        1,
        "one group (X, X)"
    );
    assert_eq!(finding(&report, "rule-tightened")["level"], "major");
    assert!(finding(&report, "select-values-removed")["message"]
        .as_str()
        .unwrap()
        .contains("status"));
    // Nothing was applied.
    let now = api.get("/api/collections/posts", &su).await;
    assert_eq!(now["indexes"], json!([]));
    assert_eq!(now["listRule"], "");
    let title = now["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "title")
        .unwrap();
    assert_eq!(title["required"], false);

    // An additive change: minor, no counts.
    let mut additive = posts.clone();
    additive["fields"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "summary", "type": "text"}));
    let (s, report) = api
        .post("/api/changes/classify", Some(&reader), json!({"collection": additive}))
        .await;
    assert_eq!(s, StatusCode::OK, "{report}");
    assert_eq!(report["verdict"], "minor", "{report:#}");
    assert_eq!(codes(&report), ["field-added"]);

    // A new collection, and a deletion counted.
    let (_, report) = api
        .post(
            "/api/changes/classify",
            Some(&reader),
            json!({"collection": {"name": "brand_new"}}),
        )
        .await;
    assert_eq!(codes(&report), ["collection-created"]);
    // A new collection is checked as its creation would be: a bad rule is a 400 naming it (the
    // console checks rules as they are typed this way).
    let (s, b) = api
        .post(
            "/api/changes/classify",
            Some(&reader),
            json!({"collection": {"name": "brand_new", "listRule": "id = "}}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(
        b["data"]["collection.listRule"]["code"], "validation_invalid_rule",
        "{b}"
    );
    let (_, report) = api
        .post("/api/changes/classify", Some(&manager), json!({"delete": "posts"}))
        .await;
    assert_eq!(finding(&report, "collection-deleted")["affectedRows"], 4);

    // Bad input names the field.
    let (s, b) = api.post("/api/changes/classify", Some(&reader), json!({})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(b["data"]["collection"].is_object(), "{b}");
    let mut broken = posts.clone();
    broken["fields"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "x", "type": "nope"}));
    let (s, b) = api
        .post("/api/changes/classify", Some(&reader), json!({"collection": broken}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let (s, b) = api
        .post("/api/changes/classify", Some(&reader), json!({"delete": "nope"}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
}
