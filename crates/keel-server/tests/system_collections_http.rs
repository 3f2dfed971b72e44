//! System collections (`_superusers`, `_roles`, `_roleAssignments`, `_apiKeys`, `_audit`, …)
//! belong to superusers: a holder of `collections:manage` cannot change their rules, options
//! or fields, delete or truncate them, nor set any collection's token secrets; nobody
//! truncates one.

mod common;

use axum::http::{Method, StatusCode};
use common::{App, Resp};
use serde_json::{json, Value};

/// A user holding only `collections:manage` (through a custom role), and a superuser token.
async fn manager(app: &App) -> (String, String) {
    let su = app.superuser().await;
    let body = json!({"name": "schema", "permissions": ["collections:manage"]});
    let r = app.send(Method::POST, "/api/roles", Some(&su), Some(body)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let (mallory, token) = app
        .auth_record("users", "mallory@example.com", "mallory-password-1")
        .await;
    let uri = format!("/api/roles/schema/members/users/{}", mallory.id());
    let r = app.send(Method::PUT, &uri, Some(&su), None).await;
    assert!(r.status.is_success(), "{}", r.text());
    (token, su)
}

fn assert_refused(r: &Resp, what: &str) {
    assert!(
        r.status == StatusCode::FORBIDDEN || r.status == StatusCode::BAD_REQUEST,
        "{what}: {} {}",
        r.status,
        r.text()
    );
    assert!(
        !r.json["message"].as_str().unwrap_or("").is_empty(),
        "{what}: {}",
        r.text()
    );
}

fn system_names(app: &App) -> Vec<String> {
    app.state
        .store
        .collections()
        .iter()
        .filter(|c| c.name.starts_with('_'))
        .map(|c| c.name.clone())
        .collect()
}

#[tokio::test]
async fn a_collections_manager_cannot_make_themselves_a_superuser() {
    let app = App::new().await;
    let (mallory, _su) = manager(&app).await;

    // The reported attack: open _superusers' create rule, then sign up as a superuser.
    let r = app
        .send(
            Method::PATCH,
            "/api/collections/_superusers",
            Some(&mallory),
            Some(json!({"createRule": ""})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(
        r.json["message"].as_str().unwrap().contains("Only superusers"),
        "{}",
        r.text()
    );
    assert_eq!(app.collection("_superusers").create_rule, None);
    let body =
        json!({"email": "evil@example.com", "password": "evil-password-1", "passwordConfirm": "evil-password-1"});
    let r = app
        .send(Method::POST, "/api/collections/_superusers/records", None, Some(body))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());

    // Nor give themselves admin through _roleAssignments, nor empty the audit trail.
    let r = app
        .send(
            Method::PATCH,
            "/api/collections/_roleAssignments",
            Some(&mallory),
            Some(json!({"createRule": "", "listRule": ""})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let before = app.state.store.verify_audit().await.unwrap();
    let r = app
        .send(Method::DELETE, "/api/collections/_audit/truncate", Some(&mallory), None)
        .await;
    assert_refused(&r, "truncate _audit");
    assert_eq!(app.state.store.verify_audit().await.unwrap(), before);

    // Token options of _superusers, and any collection's token secret.
    let r = app
        .send(
            Method::PATCH,
            "/api/collections/_superusers",
            Some(&mallory),
            Some(json!({"authToken": {"duration": 99999999}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let secret = app.collection("users").auth.clone().unwrap().auth_token.secret;
    let r = app
        .send(
            Method::PATCH,
            "/api/collections/users",
            Some(&mallory),
            Some(json!({"authToken": {"secret": "forged-secret-0123456789012345678901234567890"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(
        r.json["message"].as_str().unwrap().contains("authToken.secret"),
        "{}",
        r.text()
    );
    assert_eq!(app.collection("users").auth.clone().unwrap().auth_token.secret, secret);

    // Auth collections decide who signs in as whom: a manager may not change their rules
    // (a manageRule would let it set the password of a user holding admin), nor create or
    // delete one.
    for (method, uri, body) in [
        (
            Method::PATCH,
            "/api/collections/users",
            json!({"manageRule": "@request.auth.id != ''"}),
        ),
        (
            Method::PATCH,
            "/api/collections/users",
            json!({"listRule": "id = @request.auth.id"}),
        ),
        (
            Method::POST,
            "/api/collections",
            json!({"name": "staff", "type": "auth"}),
        ),
        (Method::DELETE, "/api/collections/users", json!({})),
    ] {
        let r = app.send(method.clone(), uri, Some(&mallory), Some(body)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {uri}: {}", r.text());
        assert!(r.text().contains("auth collection"), "{}", r.text());
    }
    assert_eq!(app.collection("users").auth.clone().unwrap().manage_rule, None);

    // A collection's id may not take another collection's name or id (they are looked up by
    // either), nor start with _ for a manager: `_audit` stays the audit trail.
    for (body, field) in [
        (json!({"name": "x1", "id": "_audit", "type": "base"}), "id"),
        (json!({"name": "x2", "id": "_x2", "type": "base"}), "id"),
        (json!({"name": "x3", "id": "USERS", "type": "base"}), "id"),
    ] {
        let r = app
            .send(Method::POST, "/api/collections", Some(&mallory), Some(body.clone()))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text());
        assert!(r.json["data"][field].is_object(), "{body}: {}", r.text());
    }
    assert_eq!(app.state.store.collection("_audit").unwrap().name, "_audit");

    // Their own base collections are still theirs to manage.
    let r = app
        .send(
            Method::POST,
            "/api/collections",
            Some(&mallory),
            Some(json!({"name": "notes", "type": "base"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = app
        .send(
            Method::PATCH,
            "/api/collections/notes",
            Some(&mallory),
            Some(json!({"listRule": ""})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let notes_id = app.collection("notes").id.clone();
    let body = json!({"name": notes_id, "type": "base"});
    let r = app
        .send(Method::POST, "/api/collections", Some(&mallory), Some(body))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.json["data"]["name"].is_object(), "{}", r.text());
    let r = app
        .send(
            Method::POST,
            "/api/collections",
            Some(&mallory),
            Some(json!({"name": "_notes", "type": "base"})),
        )
        .await;
    assert_refused(&r, "create _notes");
    assert!(app.state.store.collection("_notes").is_err());
}

#[tokio::test]
async fn every_system_collection_is_out_of_a_managers_reach() {
    let app = App::new().await;
    let (mallory, _su) = manager(&app).await;
    let names = system_names(&app);
    assert!(names.len() >= 9, "{names:?}");
    for name in names {
        let before = serde_json::to_value(&*app.collection(&name)).unwrap();
        let mut fields = before["fields"].as_array().unwrap().clone();
        fields.push(json!({"name": "extra", "type": "text"}));
        for (method, uri, body) in [
            (
                Method::PATCH,
                format!("/api/collections/{name}"),
                Some(json!({"listRule": "", "viewRule": ""})),
            ),
            (
                Method::PATCH,
                format!("/api/collections/{name}"),
                Some(json!({"fields": fields})),
            ),
            (Method::DELETE, format!("/api/collections/{name}"), None),
            (Method::DELETE, format!("/api/collections/{name}/truncate"), None),
        ] {
            let r = app.send(method.clone(), &uri, Some(&mallory), body).await;
            assert_refused(&r, &format!("{method} {uri}"));
        }
        assert_eq!(serde_json::to_value(&*app.collection(&name)).unwrap(), before, "{name}");
    }
}

#[tokio::test]
async fn nobody_truncates_a_system_collection_but_superusers_still_change_them() {
    let app = App::new().await;
    let su = app.superuser().await;
    for name in system_names(&app) {
        let r = app
            .send(
                Method::DELETE,
                &format!("/api/collections/{name}/truncate"),
                Some(&su),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name}: {}", r.text());
        assert!(
            r.json["message"].as_str().unwrap().contains("cannot be truncated"),
            "{}",
            r.text()
        );
    }
    // A superuser signed in before the attempts: still there.
    let supers = app.state.store.collection("_superusers").unwrap();
    let page = app
        .state
        .store
        .list_records(
            &supers,
            &Default::default(),
            &Default::default(),
            keel_data::Access::Superuser,
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);

    let r = app
        .send(
            Method::PATCH,
            "/api/collections/_superusers",
            Some(&su),
            Some(json!({"authToken": {"duration": 3600}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json["authToken"]["duration"], Value::from(3600));
}

#[tokio::test]
async fn oauth2_client_secrets_are_never_shown_nor_audited() {
    let app = App::new().await;
    let su = app.superuser().await;
    let body = json!({"name": "reader", "permissions": ["collections:read", "collections:manage"]});
    let r = app.send(Method::POST, "/api/roles", Some(&su), Some(body)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let (reader, token) = app
        .auth_record("users", "reader@example.com", "reader-password-1")
        .await;
    let r = app
        .send(
            Method::PUT,
            &format!("/api/roles/reader/members/users/{}", reader.id()),
            Some(&su),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text());

    let provider = json!({"name": "github", "clientId": "client-id-1", "clientSecret": "oauth-client-secret-xyz",
        "authURL": "http://127.0.0.1:9/authorize", "tokenURL": "http://127.0.0.1:9/token",
        "userInfoURL": "http://127.0.0.1:9/user"});
    let patch = json!({"oauth2": {"enabled": true, "providers": [provider]}});
    let r = app
        .send(Method::PATCH, "/api/collections/users", Some(&su), Some(patch))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // Write-only for everyone once saved, superusers included (as PocketBase masks them).
    assert!(
        r.json["oauth2"]["providers"][0].get("clientSecret").is_none(),
        "{}",
        r.text()
    );

    for uri in ["/api/collections/users", "/api/collections?perPage=100"] {
        for who in [&token, &su] {
            let r = app.send(Method::GET, uri, Some(who), None).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
            assert!(!r.text().contains("oauth-client-secret-xyz"), "{uri}: {}", r.text());
        }
    }
    let r = app
        .send(Method::GET, "/api/collections/users", Some(&token), None)
        .await;
    assert!(r.json["oauth2"]["providers"][0].get("clientSecret").is_none());
    assert_eq!(r.json["oauth2"]["providers"][0]["clientId"], "client-id-1");

    // Sending the collection back as read keeps the stored secret; sending the mask as if it
    // were the secret is refused rather than stored.
    let back = json!({"oauth2": r.json["oauth2"].clone()});
    let r = app
        .send(Method::PATCH, "/api/collections/users", Some(&su), Some(back.clone()))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let users = app.state.store.collection("users").unwrap();
    let stored = &users.auth.as_ref().unwrap().oauth2["providers"][0]["clientSecret"];
    assert_eq!(stored, "oauth-client-secret-xyz");
    let mut masked = back;
    masked["oauth2"]["providers"][0]["clientSecret"] = json!("******");
    let r = app
        .send(Method::PATCH, "/api/collections/users", Some(&su), Some(masked))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(
        r.json["data"]["oauth2.providers.0.clientSecret"].is_object(),
        "{}",
        r.text()
    );

    let r = app
        .send(
            Method::GET,
            "/api/audit?filter=event%3D'collection.update'",
            Some(&su),
            None,
        )
        .await;
    assert_eq!(r.json["totalItems"], 2, "{}", r.text());
    assert!(!r.text().contains("oauth-client-secret-xyz"), "{}", r.text());
}
