//! `/api/apikeys` over HTTP, and API keys as credentials: a key works on the jobs and cache
//! APIs as far as its roles go; revoked, expired, rotated-away and forged keys get a 401.

mod common;

use axum::http::{Method, StatusCode};
use common::{App, Resp};
use keel_data::{Access, RequestInfo};
use serde_json::{json, Value};

async fn call(app: &App, method: Method, uri: &str, token: &str, body: Option<Value>) -> Resp {
    app.send(method, uri, Some(token), body).await
}

/// A call with `Authorization: Bearer <key>`.
async fn with_key(app: &App, method: Method, uri: &str, key: &str, body: Option<Value>) -> Resp {
    app.send(method, uri, Some(&format!("Bearer {key}")), body).await
}

fn assert_forbidden(r: &Resp, permission: &str) {
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let m = r.json["message"].as_str().unwrap_or("");
    assert!(m.contains(permission), "expected {permission} in {m:?}");
}

fn assert_field(r: &Resp, field: &str) {
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.json["data"][field].is_object(), "expected data.{field}: {}", r.text());
}

async fn create_role(app: &App, su: &str, name: &str, permissions: &[&str]) {
    let r = call(
        app,
        Method::POST,
        "/api/roles",
        su,
        Some(json!({"name": name, "permissions": permissions})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

/// Creates a key with `roles` as `token`; returns (id, secret).
async fn create_key(app: &App, token: &str, name: &str, roles: &[&str]) -> (String, String) {
    let r = call(
        app,
        Method::POST,
        "/api/apikeys",
        token,
        Some(json!({"name": name, "roles": roles})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    (
        r.json["id"].as_str().unwrap().into(),
        r.json["key"].as_str().unwrap().into(),
    )
}

#[tokio::test]
async fn keys_are_created_listed_and_viewed_without_their_secret() {
    let app = App::new().await;
    let su = app.superuser().await;
    let body = json!({"name": "ci", "roles": ["operator"], "expires": "2099-01-01 00:00:00.000Z"});
    let r = call(&app, Method::POST, "/api/apikeys", &su, Some(body)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let id = r.json["id"].as_str().unwrap().to_string();
    let secret = r.json["key"].as_str().unwrap().to_string();
    assert!(secret.starts_with(&format!("keel_{id}_")), "{secret}");
    assert_eq!(r.json["name"], "ci");
    assert_eq!(r.json["roles"], json!(["operator"]));
    assert_eq!(r.json["expires"], "2099-01-01 00:00:00.000Z");
    assert_eq!(r.json["revoked"], false);
    assert!(r.json["createdBy"].as_str().unwrap().starts_with("_superusers/"));
    assert!(r.json.get("hash").is_none(), "{}", r.text());

    let list = call(&app, Method::GET, "/api/apikeys", &su, None).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text());
    assert_eq!(list.json["items"][0]["id"], id.as_str());
    let one = call(&app, Method::GET, &format!("/api/apikeys/{id}"), &su, None).await;
    assert_eq!(one.json["name"], "ci");
    for r in [&list, &one] {
        let secret_part = secret.rsplit('_').next().unwrap();
        assert!(!r.text().contains(secret_part) && !r.text().contains("\"hash\"") && !r.text().contains("\"key\""));
    }
    let r = call(&app, Method::GET, "/api/apikeys/nosuchkey00001", &su, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let bad = [
        (json!({"roles": []}), "name"),
        (json!({"name": " "}), "name"),
        (json!({"name": "x", "roles": ["nope"]}), "roles"),
        (json!({"name": "x", "expires": "2001-01-01 00:00:00.000Z"}), "expires"),
        (json!({"name": "x", "expires": "soon"}), "expires"),
        (json!({"name": "x", "scopes": []}), "scopes"),
    ];
    for (body, field) in bad {
        assert_field(&call(&app, Method::POST, "/api/apikeys", &su, Some(body)).await, field);
    }
    let (_, user) = app.auth_record("users", "u@example.com", "password123").await;
    assert_forbidden(
        &call(&app, Method::GET, "/api/apikeys", &user, None).await,
        "apikeys:manage",
    );
    assert_eq!(
        app.send(Method::GET, "/api/apikeys", None, None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_key_may_do_what_its_roles_grant() {
    let app = App::new().await;
    let su = app.superuser().await;
    create_role(&app, &su, "cache-reader", &["cache:read"]).await;
    let r = call(&app, Method::PUT, "/api/cache/ns/greeting", &su, Some(json!("hello"))).await;
    assert!(r.status.is_success(), "{}", r.text());

    let (_, reader) = create_key(&app, &su, "reader", &["cache-reader"]).await;
    let r = with_key(&app, Method::GET, "/api/cache/ns/greeting", &reader, None).await;
    assert_eq!(
        (r.status, r.json.clone()),
        (StatusCode::OK, json!("hello")),
        "{}",
        r.text()
    );
    let r = with_key(&app, Method::PUT, "/api/cache/ns/greeting", &reader, Some(json!("bye"))).await;
    assert_forbidden(&r, "cache:write");
    assert_forbidden(
        &with_key(&app, Method::GET, "/api/queues", &reader, None).await,
        "jobs:read",
    );
    assert_forbidden(
        &with_key(&app, Method::GET, "/api/apikeys", &reader, None).await,
        "apikeys:manage",
    );

    let (_, operator) = create_key(&app, &su, "worker", &["operator"]).await;
    let r = with_key(
        &app,
        Method::POST,
        "/api/queues/emails/jobs",
        &operator,
        Some(json!({"name": "welcome"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let job = r.json["id"].as_str().unwrap().to_string();
    let r = with_key(&app, Method::GET, &format!("/api/jobs/{job}"), &operator, None).await;
    assert_eq!((r.status, r.json["name"].clone()), (StatusCode::OK, json!("welcome")));
    let r = with_key(
        &app,
        Method::PUT,
        "/api/cache/ns/greeting",
        &operator,
        Some(json!("bye")),
    )
    .await;
    assert!(r.status.is_success(), "{}", r.text());

    let (_, nothing) = create_key(&app, &su, "nothing", &[]).await;
    assert_forbidden(
        &with_key(&app, Method::GET, "/api/cache/ns/greeting", &nothing, None).await,
        "cache:read",
    );
}

#[tokio::test]
async fn revoked_expired_rotated_away_and_forged_keys_get_401() {
    let app = App::new().await;
    let su = app.superuser().await;
    let uri = "/api/cache/ns/k";
    let unauthorized = |r: Resp| assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());

    let (id, key) = create_key(&app, &su, "a", &["viewer"]).await;
    assert_eq!(
        with_key(&app, Method::GET, uri, &key, None).await.status,
        StatusCode::NOT_FOUND
    );
    let r = call(&app, Method::POST, &format!("/api/apikeys/{id}/revoke"), &su, None).await;
    assert_eq!(
        (r.status, r.json["revoked"].clone()),
        (StatusCode::OK, json!(true)),
        "{}",
        r.text()
    );
    unauthorized(with_key(&app, Method::GET, uri, &key, None).await);
    let r = call(&app, Method::POST, &format!("/api/apikeys/{id}/rotate"), &su, None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());

    let (id, key) = create_key(&app, &su, "b", &["viewer"]).await;
    let r = call(&app, Method::DELETE, &format!("/api/apikeys/{id}"), &su, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    unauthorized(with_key(&app, Method::GET, uri, &key, None).await);

    let (id, old) = create_key(&app, &su, "c", &["viewer"]).await;
    let r = call(&app, Method::POST, &format!("/api/apikeys/{id}/rotate"), &su, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let new = r.json["key"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    unauthorized(with_key(&app, Method::GET, uri, &old, None).await);
    assert_eq!(
        with_key(&app, Method::GET, uri, &new, None).await.status,
        StatusCode::NOT_FOUND
    );

    let mut forged = new.clone();
    let last = if forged.ends_with('a') { 'b' } else { 'a' };
    forged.pop();
    forged.push(last);
    unauthorized(with_key(&app, Method::GET, uri, &forged, None).await);
    unauthorized(with_key(&app, Method::GET, uri, "keel_abcdefghijklmno_secret", None).await);
    unauthorized(with_key(&app, Method::GET, uri, "keel_nonsense", None).await);

    let (id, key) = create_key(&app, &su, "d", &["viewer"]).await;
    let col = app.collection("_apiKeys");
    let data = json!({"expires": "2020-01-01 00:00:00.000Z"})
        .as_object()
        .unwrap()
        .clone();
    app.state
        .store
        .update_record(&col, &id, data, &RequestInfo::default(), Access::Superuser)
        .await
        .unwrap();
    unauthorized(with_key(&app, Method::GET, uri, &key, None).await);
    assert_eq!(
        call(&app, Method::POST, "/api/apikeys/nosuchkey00001/revoke", &su, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let audit = call(
        &app,
        Method::GET,
        "/api/audit?filter=event~'apikey.'&perPage=100",
        &su,
        None,
    )
    .await;
    let events: Vec<&str> = audit.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["event"].as_str().unwrap())
        .collect();
    for e in ["apikey.create", "apikey.revoke", "apikey.rotate"] {
        assert!(events.contains(&e), "{e} missing from {events:?}");
    }
    for secret in [&old, &new, &key] {
        assert!(
            !audit.text().contains(secret.rsplit('_').next().unwrap()),
            "a secret reached the audit trail"
        );
    }
}

#[tokio::test]
async fn non_superusers_only_give_keys_roles_they_hold() {
    let app = App::new().await;
    let su = app.superuser().await;
    create_role(&app, &su, "keymgr", &["apikeys:manage", "cache:read"]).await;
    create_role(&app, &su, "cache-reader", &["cache:read"]).await;
    let (mgr, mgr_token) = app.auth_record("users", "mgr@example.com", "password123").await;
    let uri = format!("/api/roles/keymgr/members/users/{}", mgr.id());
    assert_eq!(call(&app, Method::PUT, &uri, &su, None).await.status, StatusCode::OK);

    let (id, _) = create_key(&app, &mgr_token, "mine", &["cache-reader"]).await;
    let r = call(&app, Method::GET, &format!("/api/apikeys/{id}"), &mgr_token, None).await;
    assert_eq!(r.json["createdBy"], format!("users/{}", mgr.id()));
    let r = call(
        &app,
        Method::POST,
        "/api/apikeys",
        &mgr_token,
        Some(json!({"name": "x", "roles": ["operator"]})),
    )
    .await;
    assert_forbidden(&r, "jobs:*");

    // Rotating, revoking and deleting a key all need the key's roles: a key above the caller
    // is out of its reach (an admin key cannot be revoked by a key manager).
    let (op_key, _) = create_key(&app, &su, "ops", &["operator"]).await;
    let (admin_key, admin_secret) = create_key(&app, &su, "root", &["admin"]).await;
    for (method, uri, needed) in [
        (Method::POST, format!("/api/apikeys/{op_key}/rotate"), "jobs:*"),
        (Method::POST, format!("/api/apikeys/{op_key}/revoke"), "jobs:*"),
        (Method::DELETE, format!("/api/apikeys/{op_key}"), "jobs:*"),
        (
            Method::POST,
            format!("/api/apikeys/{admin_key}/revoke"),
            "permission *,",
        ),
        (Method::DELETE, format!("/api/apikeys/{admin_key}"), "permission *,"),
    ] {
        assert_forbidden(&call(&app, method, &uri, &mgr_token, None).await, needed);
    }
    let r = with_key(&app, Method::GET, "/api/apikeys", &admin_secret, None).await;
    assert_eq!(r.status, StatusCode::OK, "the admin key still works: {}", r.text());
    let (own, _) = create_key(&app, &mgr_token, "own", &["cache-reader"]).await;
    let r = call(
        &app,
        Method::POST,
        &format!("/api/apikeys/{own}/revoke"),
        &mgr_token,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());

    // A key that manages keys acts as itself.
    let (mgr_key_id, mgr_key) = create_key(&app, &su, "keybot", &["keymgr"]).await;
    let r = with_key(
        &app,
        Method::POST,
        "/api/apikeys",
        &mgr_key,
        Some(json!({"name": "child", "roles": ["cache-reader"]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json["createdBy"], format!("apikey/{mgr_key_id}"));
    let r = with_key(
        &app,
        Method::POST,
        "/api/apikeys",
        &mgr_key,
        Some(json!({"name": "x", "roles": ["admin"]})),
    )
    .await;
    assert_forbidden(&r, "permission *,");
}
