//! Secrets in collection options are write-only: OAuth2 client secrets, token secrets and the
//! LDAP bind password never leave through the collections API, for any caller, and a
//! collection sent back without them keeps the stored ones.

mod common;

use axum::http::{Method, StatusCode};
use common::App;
use serde_json::{json, Value};

const SECRET: &str = "very-secret-client-secret";

fn provider(secret: Option<&str>) -> Value {
    let mut p = json!({"name": "github", "clientId": "client-1",
        "authURL": "https://idp.example.com/authorize", "tokenURL": "https://idp.example.com/token",
        "userInfoURL": "https://idp.example.com/user"});
    if let Some(s) = secret {
        p["clientSecret"] = json!(s);
    }
    p
}

fn stored_secret(app: &App) -> Value {
    let users = app.state.store.collection("users").unwrap();
    let auth = users.auth.as_ref().unwrap();
    auth.oauth2["providers"][0]["clientSecret"].clone()
}

#[tokio::test]
async fn oauth2_client_secrets_are_write_only() {
    let app = App::new().await;
    let su = app.superuser().await;
    let patch = json!({"oauth2": {"enabled": true, "providers": [provider(Some(SECRET))]},
        "ldap": {"enabled": false, "url": "ldap://127.0.0.1:1", "bindPassword": "ldap-bind-secret"}});
    let r = app
        .send(Method::PATCH, "/api/collections/users", Some(&su), Some(patch))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(!r.text().contains(SECRET), "the update's answer shows no secret");

    // A holder of collections:read (the built-in viewer role), and a superuser, both see the
    // provider without its secret.
    let (viewer, viewer_token) = app.auth_record("users", "viewer@example.com", "password123").await;
    let uri = format!("/api/roles/viewer/members/users/{}", viewer.id());
    assert_eq!(
        app.send(Method::PUT, &uri, Some(&su), None).await.status,
        StatusCode::OK
    );
    for token in [&viewer_token, &su] {
        for uri in ["/api/collections/users", "/api/collections?perPage=500"] {
            let r = app.send(Method::GET, uri, Some(token), None).await;
            assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text());
            let text = r.text();
            for secret in [SECRET, "ldap-bind-secret"] {
                assert!(!text.contains(secret), "{uri} shows a secret");
            }
        }
    }
    let r = app.send(Method::GET, "/api/collections/users", Some(&su), None).await;
    assert_eq!(r.json["oauth2"]["providers"][0]["clientId"], "client-1");
    assert!(r.json["oauth2"]["providers"][0].get("clientSecret").is_none());

    // Sending the collection back as read keeps the secret; a new one replaces it.
    let r = app
        .send(
            Method::PATCH,
            "/api/collections/users",
            Some(&su),
            Some(json!({"oauth2": r.json["oauth2"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(stored_secret(&app), json!(SECRET));
    let patch = json!({"oauth2": {"providers": [provider(Some(""))]}});
    let r = app
        .send(Method::PATCH, "/api/collections/users", Some(&su), Some(patch))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        stored_secret(&app),
        json!(SECRET),
        "an empty secret keeps the stored one"
    );
    let patch = json!({"oauth2": {"providers": [provider(Some("rotated-secret"))]}});
    let r = app
        .send(Method::PATCH, "/api/collections/users", Some(&su), Some(patch))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(stored_secret(&app), json!("rotated-secret"));
}
