//! API keys on the records API: rules see a key as `@request.auth` (collection `_apiKeys`,
//! its id, name and roles), and a key holding `records:manage` (the `admin` role's `*`, or a
//! custom role) skips the rules as a superuser does, except on the system collections
//! (`_superusers`, `_roles`, `_apiKeys`, …).

mod common;

use axum::http::{Method, StatusCode};
use common::{App, Resp};
use serde_json::{json, Value};

async fn call(app: &App, method: Method, uri: &str, credential: &str, body: Option<Value>) -> Resp {
    app.send(method, uri, Some(&format!("Bearer {credential}")), body).await
}

async fn create_role(app: &App, su: &str, name: &str, permissions: &[&str]) {
    let body = json!({"name": name, "permissions": permissions});
    let r = call(app, Method::POST, "/api/roles", su, Some(body)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

/// Creates a key with `roles`; returns (id, secret).
async fn create_key(app: &App, su: &str, name: &str, roles: &[&str]) -> (String, String) {
    let body = json!({"name": name, "roles": roles});
    let r = call(app, Method::POST, "/api/apikeys", su, Some(body)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    (
        r.json["id"].as_str().unwrap_or_default().into(),
        r.json["key"].as_str().unwrap_or_default().into(),
    )
}

/// `reports`: listed and viewed by holders of the role `reporter` (users or keys), written
/// by superusers only; two records.
async fn reports(app: &App) {
    app.create_collection(json!({
        "name": "reports",
        "type": "base",
        "fields": [{"name": "title", "type": "text"}],
        "listRule": "@request.auth.roles ?= 'reporter'",
        "viewRule": "@request.auth.roles ?= 'reporter'",
        "createRule": null,
        "updateRule": null,
        "deleteRule": null,
    }))
    .await;
    app.insert("reports", json!({"title": "q1"})).await;
    app.insert("reports", json!({"title": "q2"})).await;
}

fn titles(r: &Resp) -> Vec<String> {
    let mut t: Vec<String> = r.json["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["title"].as_str().map(String::from))
        .collect();
    t.sort();
    t
}

#[tokio::test]
async fn rules_test_a_keys_roles_like_a_users() {
    let app = App::new().await;
    let su = app.superuser().await;
    reports(&app).await;
    create_role(&app, &su, "reporter", &["cache:read"]).await;
    let (_, reporter) = create_key(&app, &su, "bi-export", &["reporter"]).await;
    let (_, other) = create_key(&app, &su, "other", &["viewer"]).await;

    let r = call(&app, Method::GET, "/api/collections/reports/records", &reporter, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(titles(&r), ["q1", "q2"]);
    let id = r.json["items"][0]["id"].as_str().unwrap_or_default().to_string();
    let one = format!("/api/collections/reports/records/{id}");
    assert_eq!(
        call(&app, Method::GET, &one, &reporter, None).await.status,
        StatusCode::OK
    );

    // The rule filters the list silently and hides the record, as for a user without the role.
    let r = call(&app, Method::GET, "/api/collections/reports/records", &other, None).await;
    assert_eq!((r.status, titles(&r).len()), (StatusCode::OK, 0), "{}", r.text());
    assert_eq!(
        call(&app, Method::GET, &one, &other, None).await.status,
        StatusCode::NOT_FOUND
    );

    // A null rule stays superusers-only.
    let body = json!({"title": "q3"});
    let r = call(
        &app,
        Method::POST,
        "/api/collections/reports/records",
        &reporter,
        Some(body),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
}

#[tokio::test]
async fn rules_can_tell_keys_from_users() {
    let app = App::new().await;
    let su = app.superuser().await;
    app.create_collection(json!({
        "name": "metrics",
        "type": "base",
        "fields": [{"name": "value", "type": "number"}],
        "listRule": "@request.auth.collectionName = '_apiKeys'",
        "createRule": "@request.auth.collectionName = '_apiKeys' && @request.auth.name = 'collector'",
    }))
    .await;
    let (_, collector) = create_key(&app, &su, "collector", &[]).await;
    let (_, intruder) = create_key(&app, &su, "intruder", &[]).await;
    let (_, user) = app.auth_record("users", "ann@example.com", "password123").await;

    let url = "/api/collections/metrics/records";
    let r = call(&app, Method::POST, url, &collector, Some(json!({"value": 7}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = call(&app, Method::POST, url, &intruder, Some(json!({"value": 8}))).await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "the create rule refuses: {}",
        r.text()
    );
    let r = call(&app, Method::POST, url, &user, Some(json!({"value": 9}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());

    let r = call(&app, Method::GET, url, &intruder, None).await;
    assert_eq!(r.json["totalItems"], 1, "{}", r.text());
    let r = call(&app, Method::GET, url, &user, None).await;
    assert_eq!(r.json["totalItems"], 0, "{}", r.text());
}

#[tokio::test]
async fn records_manage_skips_the_rules_of_the_apps_collections() {
    let app = App::new().await;
    let su = app.superuser().await;
    reports(&app).await;
    let (_, admin) = create_key(&app, &su, "sync", &["admin"]).await;
    create_role(&app, &su, "data-owner", &["records:manage"]).await;
    let (_, owner) = create_key(&app, &su, "owner", &["data-owner"]).await;

    for key in [&admin, &owner] {
        let url = "/api/collections/reports/records";
        let r = call(&app, Method::POST, url, key, Some(json!({"title": "new"}))).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let id = r.json["id"].as_str().unwrap_or_default().to_string();
        let one = format!("{url}/{id}");
        let r = call(&app, Method::PATCH, &one, key, Some(json!({"title": "renamed"}))).await;
        assert_eq!((r.status, r.json["title"].clone()), (StatusCode::OK, json!("renamed")));
        let r = call(&app, Method::GET, url, key, None).await;
        assert_eq!(titles(&r), ["q1", "q2", "renamed"]);
        assert_eq!(
            call(&app, Method::DELETE, &one, key, None).await.status,
            StatusCode::NO_CONTENT
        );
    }

    // Like a superuser, it sees every user's email.
    app.auth_record("users", "hidden@example.com", "password123").await;
    let r = call(&app, Method::GET, "/api/collections/users/records", &owner, None).await;
    assert_eq!(r.json["items"][0]["email"], "hidden@example.com", "{}", r.text());

    // Like a superuser, it may import verified users and set a password without the old one.
    let body = json!({"email": "imported@example.com", "password": "password123",
        "passwordConfirm": "password123", "verified": true});
    let r = call(&app, Method::POST, "/api/collections/users/records", &owner, Some(body)).await;
    assert_eq!(
        (r.status, r.json["verified"].clone()),
        (StatusCode::OK, json!(true)),
        "{}",
        r.text()
    );
    let imported = format!(
        "/api/collections/users/records/{}",
        r.json["id"].as_str().unwrap_or_default()
    );
    let body = json!({"password": "password456", "passwordConfirm": "password456"});
    let r = call(&app, Method::PATCH, &imported, &owner, Some(body)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let login = json!({"identity": "imported@example.com", "password": "password456"});
    let r = app
        .send(
            Method::POST,
            "/api/collections/users/auth-with-password",
            None,
            Some(login),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // A key without records:manage may not set `verified`.
    let (_, plain) = create_key(&app, &su, "plain", &[]).await;
    let body = json!({"email": "x@example.com", "password": "password123",
        "passwordConfirm": "password123", "verified": true});
    let r = call(&app, Method::POST, "/api/collections/users/records", &plain, Some(body)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.json["data"]["verified"].is_object(), "{}", r.text());

    // `_superusers` stays superusers-only.
    let r = call(&app, Method::GET, "/api/collections/_superusers/records", &admin, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let body = json!({"email": "evil@example.com", "password": "password123", "passwordConfirm": "password123"});
    let r = call(
        &app,
        Method::POST,
        "/api/collections/_superusers/records",
        &admin,
        Some(body),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());

    // A user holding the role gets the same.
    let (user, token) = app.auth_record("users", "owner@example.com", "password123").await;
    let assign = format!("/api/roles/data-owner/members/users/{}", user.id());
    let r = call(&app, Method::PUT, &assign, &su, None).await;
    assert!(r.status.is_success(), "{}", r.text());
    let r = call(&app, Method::GET, "/api/collections/reports/records", &token, None).await;
    assert_eq!(titles(&r), ["q1", "q2"], "{}", r.text());
}

#[tokio::test]
async fn records_manage_cannot_reach_the_system_collections() {
    let app = App::new().await;
    let su = app.superuser().await;
    create_role(&app, &su, "data-owner", &["records:manage"]).await;
    let (key_id, owner) = create_key(&app, &su, "owner", &["data-owner"]).await;
    let (user, _) = app.auth_record("users", "me@example.com", "password123").await;

    // Writing its own roles, another key's roles, or a role's permissions would turn the
    // permission into every other: the system collections keep their superusers-only rules.
    let writes = [
        (
            Method::POST,
            "/api/collections/_roleAssignments/records".to_string(),
            json!({"collectionRef": user.collection.id, "recordRef": user.id(), "role": "admin"}),
        ),
        (
            Method::PATCH,
            format!("/api/collections/_apiKeys/records/{key_id}"),
            json!({"roles": ["admin"]}),
        ),
        (
            Method::POST,
            "/api/collections/_roles/records".to_string(),
            json!({"name": "evil", "permissions": ["*"]}),
        ),
    ];
    for (method, url, body) in writes {
        let r = call(&app, method, &url, &owner, Some(body)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{url}: {}", r.text());
    }
    for c in ["_apiKeys", "_roleAssignments", "_totp", "_otps", "_audit"] {
        let r = call(
            &app,
            Method::GET,
            &format!("/api/collections/{c}/records"),
            &owner,
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{c}: {}", r.text());
    }
    // Nothing changed.
    let r = call(&app, Method::GET, &format!("/api/apikeys/{key_id}"), &su, None).await;
    assert_eq!(r.json["roles"], json!(["data-owner"]), "{}", r.text());
    let r = call(&app, Method::GET, "/api/roles/admin/members", &su, None).await;
    assert!(!r.text().contains(user.id()), "{}", r.text());
}

#[tokio::test]
async fn a_revoked_key_is_refused_by_the_records_api() {
    let app = App::new().await;
    let su = app.superuser().await;
    reports(&app).await;
    let (id, admin) = create_key(&app, &su, "gone", &["admin"]).await;
    let url = "/api/collections/reports/records";
    assert_eq!(call(&app, Method::GET, url, &admin, None).await.status, StatusCode::OK);
    let r = call(&app, Method::DELETE, &format!("/api/apikeys/{id}"), &su, None).await;
    assert!(r.status.is_success(), "{}", r.text());
    assert_eq!(
        call(&app, Method::GET, url, &admin, None).await.status,
        StatusCode::UNAUTHORIZED
    );
}
