//! `/api/roles` over HTTP: built-in and custom roles, members, a record's roles, the
//! anti-escalation rule, audit entries, and rules that test `@request.auth.roles`.

mod common;

use axum::http::{Method, StatusCode};
use common::{App, Resp};
use serde_json::{json, Value};

async fn call(app: &App, method: Method, uri: &str, token: &str, body: Option<Value>) -> Resp {
    app.send(method, uri, Some(token), body).await
}

/// Asserts a 403 whose message names `permission`.
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
    let body = json!({"name": name, "description": "d", "permissions": permissions});
    let r = call(app, Method::POST, "/api/roles", su, Some(body)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

async fn assign(app: &App, token: &str, role: &str, user_id: &str) -> Resp {
    let uri = format!("/api/roles/{role}/members/users/{user_id}");
    call(app, Method::PUT, &uri, token, None).await
}

/// Audit entries whose event is `event`, newest first.
async fn audit(app: &App, su: &str, event: &str) -> Vec<Value> {
    let uri = format!("/api/audit?filter={}", urlencode(&format!("event='{event}'")));
    let r = call(app, Method::GET, &uri, su, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json["items"].as_array().unwrap().clone()
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn built_in_roles_are_listed_and_cannot_be_changed() {
    let app = App::new().await;
    let su = app.superuser().await;
    let r = call(&app, Method::GET, "/api/roles", &su, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let items = r.json["items"].as_array().unwrap();
    let names: Vec<&str> = items.iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["admin", "operator", "viewer"]);
    assert_eq!(items[0]["permissions"], json!(["*"]));
    assert_eq!(items[0]["builtin"], true);
    assert_eq!(items[2]["permissions"], json!(["*:read"]));

    let r = call(
        &app,
        Method::PATCH,
        "/api/roles/admin",
        &su,
        Some(json!({"permissions": []})),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let r = call(&app, Method::DELETE, "/api/roles/viewer", &su, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let r = call(&app, Method::POST, "/api/roles", &su, Some(json!({"name": "admin"}))).await;
    assert_field(&r, "name");

    let r = app.send(Method::GET, "/api/roles", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let (_, user) = app.auth_record("users", "u@example.com", "password123").await;
    assert_forbidden(&call(&app, Method::GET, "/api/roles", &user, None).await, "roles:read");
}

#[tokio::test]
async fn custom_roles_are_created_changed_and_deleted_with_audit_entries() {
    let app = App::new().await;
    let su = app.superuser().await;
    let body = json!({"name": "editor", "description": "Edits", "permissions": ["cache:read", "jobs:read"]});
    let r = call(&app, Method::POST, "/api/roles", &su, Some(body)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        r.json,
        json!({"name": "editor", "description": "Edits", "permissions": ["cache:read", "jobs:read"], "builtin": false})
    );
    let r = call(&app, Method::GET, "/api/roles/editor", &su, None).await;
    assert_eq!(r.json["permissions"], json!(["cache:read", "jobs:read"]));

    let bad = [
        (json!({"name": "x2", "permissions": ["jobs"]}), "permissions"),
        (json!({"permissions": []}), "name"),
        (json!({"name": "Bad Name"}), "name"),
        (json!({"name": "editor"}), "name"),
        (json!({"name": "x3", "colour": 1}), "colour"),
    ];
    for (body, field) in bad {
        assert_field(&call(&app, Method::POST, "/api/roles", &su, Some(body)).await, field);
    }

    let patch = json!({"permissions": ["cache:*"]});
    let r = call(&app, Method::PATCH, "/api/roles/editor", &su, Some(patch)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        (r.json["permissions"].clone(), r.json["description"].clone()),
        (json!(["cache:*"]), json!("Edits"))
    );
    let r = call(&app, Method::PATCH, "/api/roles/nope", &su, Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let r = call(&app, Method::DELETE, "/api/roles/editor", &su, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let r = call(&app, Method::GET, "/api/roles/editor", &su, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    for event in ["role.create", "role.update", "role.delete"] {
        let entries = audit(&app, &su, event).await;
        assert_eq!(entries.len(), 1, "{event}: {entries:?}");
        assert!(
            entries[0]["actor"].as_str().unwrap().starts_with("_superusers/"),
            "{entries:?}"
        );
        assert_eq!(entries[0]["details"]["role"], "editor");
        assert_eq!(entries[0]["success"], true);
    }
}

#[tokio::test]
async fn roles_are_assigned_listed_and_unassigned() {
    let app = App::new().await;
    let su = app.superuser().await;
    create_role(&app, &su, "editor", &["cache:read"]).await;
    let (alice, alice_token) = app.auth_record("users", "alice@example.com", "password123").await;
    let (bob, bob_token) = app.auth_record("users", "bob@example.com", "password123").await;
    common::posts(&app).await;

    let r = assign(&app, &su, "editor", alice.id()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json, json!({"roles": ["editor"]}));
    // By collection id too, and again (a no-op).
    let uri = format!(
        "/api/roles/viewer/members/{}/{}",
        keel_data::schema::USERS_ID,
        alice.id()
    );
    let r = call(&app, Method::PUT, &uri, &su, None).await;
    assert_eq!(r.json, json!({"roles": ["editor", "viewer"]}), "{}", r.text());
    assert_eq!(assign(&app, &su, "editor", alice.id()).await.status, StatusCode::OK);

    assert_eq!(
        assign(&app, &su, "editor", "nosuchrecord12").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        assign(&app, &su, "nope", alice.id()).await.status,
        StatusCode::NOT_FOUND
    );
    let r = call(
        &app,
        Method::PUT,
        &format!("/api/roles/editor/members/posts/{}", alice.id()),
        &su,
        None,
    )
    .await;
    assert_field(&r, "collection");
    let r = call(
        &app,
        Method::PUT,
        &format!("/api/roles/editor/members/nocoll/{}", alice.id()),
        &su,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let r = call(&app, Method::GET, "/api/roles/editor/members", &su, None).await;
    assert_eq!(
        r.json,
        json!({"items": [{"collectionId": keel_data::schema::USERS_ID, "collectionName": "users", "recordId": alice.id()}]})
    );

    let roles_uri = format!("/api/collections/users/records/{}/roles", alice.id());
    for token in [&su, &alice_token] {
        let r = call(&app, Method::GET, &roles_uri, token, None).await;
        assert_eq!(r.json, json!({"roles": ["editor", "viewer"]}), "{}", r.text());
    }
    assert_forbidden(
        &call(&app, Method::GET, &roles_uri, &bob_token, None).await,
        "roles:read",
    );
    let r = call(
        &app,
        Method::GET,
        "/api/collections/users/records/nosuchrecord12/roles",
        &su,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = call(
        &app,
        Method::GET,
        &format!("/api/collections/users/records/{}/roles", bob.id()),
        &su,
        None,
    )
    .await;
    assert_eq!(r.json, json!({"roles": []}));

    let uri = format!("/api/roles/editor/members/users/{}", alice.id());
    assert_eq!(
        call(&app, Method::DELETE, &uri, &su, None).await.status,
        StatusCode::NO_CONTENT
    );
    let r = call(&app, Method::GET, "/api/roles/editor/members", &su, None).await;
    assert_eq!(r.json, json!({"items": []}));
    let r = call(&app, Method::GET, &roles_uri, &alice_token, None).await;
    assert_eq!(r.json, json!({"roles": ["viewer"]}));

    let assigned = audit(&app, &su, "role.assign").await;
    assert_eq!(assigned.len(), 3, "{assigned:?}");
    assert_eq!(assigned[0]["recordRef"], alice.id());
    assert_eq!(assigned[0]["collectionRef"], keel_data::schema::USERS_ID);
    let unassigned = audit(&app, &su, "role.unassign").await;
    assert_eq!(
        (unassigned.len(), unassigned[0]["details"]["role"].clone()),
        (1, json!("editor"))
    );
}

#[tokio::test]
async fn non_superusers_only_hand_on_permissions_they_hold() {
    let app = App::new().await;
    let su = app.superuser().await;
    create_role(&app, &su, "rolemgr", &["roles:manage", "roles:read", "cache:read"]).await;
    create_role(&app, &su, "jobsadmin", &["jobs:admin"]).await;
    let (mgr, mgr_token) = app.auth_record("users", "mgr@example.com", "password123").await;
    let (other, _) = app.auth_record("users", "other@example.com", "password123").await;
    assert_eq!(assign(&app, &su, "rolemgr", mgr.id()).await.status, StatusCode::OK);

    let r = call(
        &app,
        Method::POST,
        "/api/roles",
        &mgr_token,
        Some(json!({"name": "reader", "permissions": ["cache:read"]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    for (perm, lacking) in [
        ("cache:write", "cache:write"),
        ("*", "*"),
        ("cache:*", "cache:*"),
        ("*:read", "*:read"),
    ] {
        let body = json!({"name": "more", "permissions": ["cache:read", perm]});
        let r = call(&app, Method::POST, "/api/roles", &mgr_token, Some(body)).await;
        assert_forbidden(&r, &format!("permission {lacking},"));
    }
    // Malformed input is a 400 for everyone, not a permission question.
    let body = json!({"name": "x", "permissions": ["jobs"]});
    assert_field(
        &call(&app, Method::POST, "/api/roles", &mgr_token, Some(body)).await,
        "permissions",
    );
    let r = call(
        &app,
        Method::PATCH,
        "/api/roles/reader",
        &mgr_token,
        Some(json!({"permissions": ["cache:write"]})),
    )
    .await;
    assert_forbidden(&r, "cache:write");
    // A role holding more than the caller can be neither changed, deleted nor assigned.
    let r = call(
        &app,
        Method::PATCH,
        "/api/roles/jobsadmin",
        &mgr_token,
        Some(json!({"permissions": []})),
    )
    .await;
    assert_forbidden(&r, "jobs:admin");
    assert_forbidden(
        &call(&app, Method::DELETE, "/api/roles/jobsadmin", &mgr_token, None).await,
        "jobs:admin",
    );
    assert_forbidden(&assign(&app, &mgr_token, "viewer", other.id()).await, "*:read");
    assert_forbidden(&assign(&app, &mgr_token, "admin", mgr.id()).await, "*");
    assert_eq!(
        assign(&app, &mgr_token, "reader", other.id()).await.status,
        StatusCode::OK
    );
    assert_eq!(assign(&app, &su, "jobsadmin", other.id()).await.status, StatusCode::OK);
    let uri = format!("/api/roles/jobsadmin/members/users/{}", other.id());
    assert_forbidden(&call(&app, Method::DELETE, &uri, &mgr_token, None).await, "jobs:admin");
    let entries = audit(&app, &su, "role.assign").await;
    let by_mgr = entries.iter().find(|e| e["details"]["role"] == "reader").unwrap();
    assert_eq!(by_mgr["actor"], format!("users/{}", mgr.id()));

    // roles:read alone manages nothing.
    create_role(&app, &su, "looker", &["roles:read"]).await;
    let (rec, looker) = app.auth_record("users", "look@example.com", "password123").await;
    assert_eq!(assign(&app, &su, "looker", rec.id()).await.status, StatusCode::OK);
    assert_eq!(
        call(&app, Method::GET, "/api/roles", &looker, None).await.status,
        StatusCode::OK
    );
    let r = call(
        &app,
        Method::POST,
        "/api/roles",
        &looker,
        Some(json!({"name": "x", "permissions": []})),
    )
    .await;
    assert_forbidden(&r, "roles:manage");
}

#[tokio::test]
async fn rules_can_test_the_callers_roles() {
    let app = App::new().await;
    let su = app.superuser().await;
    create_role(&app, &su, "editor", &[]).await;
    app.create_collection(json!({
        "name": "drafts",
        "type": "base",
        "listRule": "@request.auth.roles ?= 'editor'",
        "viewRule": "@request.auth.roles ?= 'editor'",
        "fields": [{"name": "title", "type": "text"}]
    }))
    .await;
    let draft = app.insert("drafts", json!({"title": "secret plan"})).await;
    let (editor, editor_token) = app.auth_record("users", "ed@example.com", "password123").await;
    let (_, plain_token) = app.auth_record("users", "plain@example.com", "password123").await;
    assert_eq!(assign(&app, &su, "editor", editor.id()).await.status, StatusCode::OK);

    let list = "/api/collections/drafts/records";
    let r = call(&app, Method::GET, list, &editor_token, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json["totalItems"], 1, "{}", r.text());
    assert_eq!(r.json["items"][0]["title"], "secret plan");
    let r = call(&app, Method::GET, list, &plain_token, None).await;
    assert_eq!(
        (r.status, r.json["totalItems"].clone()),
        (StatusCode::OK, json!(0)),
        "{}",
        r.text()
    );
    let r = app.send(Method::GET, list, None, None).await;
    assert_eq!(r.json["totalItems"], 0, "{}", r.text());

    let view = format!("{list}/{}", draft.id());
    assert_eq!(
        call(&app, Method::GET, &view, &editor_token, None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, Method::GET, &view, &plain_token, None).await.status,
        StatusCode::NOT_FOUND
    );
}
