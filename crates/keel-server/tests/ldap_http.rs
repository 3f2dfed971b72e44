//! `auth-with-ldap` over HTTP against a real slapd (skipped, with one line, when slapd is not
//! installed).

mod common;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use common::{App, Resp};
use keel_testkit::ldap_server::{LdapServer, ALICE, BOB};
use serde_json::{json, Value};

/// An app whose `users` sign in against `server`, `admins` mapped to the custom role `ops`.
async fn app_with(server: &LdapServer) -> App {
    let app = App::new().await;
    let mut ldap = server.config_json();
    ldap["enabled"] = json!(true);
    ldap["groupRoles"] = json!({"admins": ["ops", "no-such-role"]});
    app.state
        .store
        .update_collection("users", json!({"ldap": ldap}))
        .await
        .unwrap();
    app.state
        .identity
        .create_role("ops", "Operators", vec![])
        .await
        .unwrap();
    app
}

async fn sign_in(app: &App, username: &str, password: &str) -> Resp {
    let body = json!({"username": username, "password": password});
    app.send(Method::POST, "/api/collections/users/auth-with-ldap", None, Some(body))
        .await
}

#[tokio::test]
async fn alice_signs_up_with_her_directory_email_name_and_roles_then_signs_in_again() {
    let Some(server) = LdapServer::start() else { return };
    let app = app_with(&server).await;

    let methods = app
        .send(Method::GET, "/api/collections/users/auth-methods", None, None)
        .await;
    assert_eq!(methods.json["ldap"], json!({"enabled": true}));
    let su = app.superuser().await;
    let shown = app.send(Method::GET, "/api/collections/users", Some(&su), None).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.text());
    assert!(shown.json["ldap"].get("bindPassword").is_none(), "{}", shown.text());
    assert!(!shown.text().contains(&server.bind_password));

    let r = sign_in(&app, ALICE.uid, ALICE.password).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.json["token"].as_str().is_some_and(|t| !t.is_empty()));
    let record = &r.json["record"];
    assert_eq!(record["email"], ALICE.email);
    assert_eq!(record["name"], ALICE.name);
    let users = app.collection("users");
    let id = record["id"].as_str().unwrap();
    let roles = app.state.identity.roles_of(&users.id, id).await.unwrap();
    assert_eq!(roles, ["ops"]);
    let linked = app
        .state
        .identity
        .find_external(&users.id, "ldap", &server.user_dn(ALICE.uid))
        .await
        .unwrap();
    assert_eq!(linked.as_deref(), Some(id));

    // The directory owns the profile: a name changed in Keel comes back on the next sign-in.
    let mut patch = serde_json::Map::new();
    patch.insert("name".into(), json!("Someone Else"));
    app.state
        .store
        .update_record(
            &users,
            id,
            patch,
            &keel_data::RequestInfo::default(),
            keel_data::Access::Superuser,
        )
        .await
        .unwrap();
    let again = sign_in(&app, ALICE.uid, ALICE.password).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text());
    assert_eq!(again.json["record"]["id"], record["id"]);
    assert_eq!(again.json["record"]["name"], ALICE.name, "{}", again.text());

    // Bob is in no mapped group: he gets no role.
    let bob = sign_in(&app, BOB.uid, BOB.password).await;
    assert_eq!(bob.status, StatusCode::OK, "{}", bob.text());
    let bob_id = bob.json["record"]["id"].as_str().unwrap();
    assert!(app.state.identity.roles_of(&users.id, bob_id).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_existing_record_with_the_directory_email_is_linked() {
    let Some(server) = LdapServer::start() else { return };
    let app = app_with(&server).await;
    let (existing, _) = app.auth_record("users", ALICE.email, "local-password").await;
    let r = sign_in(&app, ALICE.uid, ALICE.password).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json["record"]["id"], existing.id());
}

#[tokio::test]
async fn wrong_passwords_unknown_users_and_injection_get_the_same_400() {
    let Some(server) = LdapServer::start() else { return };
    let app = app_with(&server).await;
    for (user, password) in [
        (ALICE.uid, "not-her-password"),
        ("nobody", ALICE.password),
        ("*", ALICE.password),
        ("alice)(uid=*", ALICE.password),
    ] {
        let r = sign_in(&app, user, password).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{user}: {}", r.text());
        assert_eq!(r.json["message"], "Failed to authenticate.", "{user}");
    }
    let blank = sign_in(&app, "", "").await;
    assert!(blank.json["data"].get("username").is_some() && blank.json["data"].get("password").is_some());
}

#[tokio::test]
async fn repeated_failures_lock_the_username_out_with_retry_after() {
    let Some(server) = LdapServer::start() else { return };
    let mut app = app_with(&server).await;
    let mut config = (*app.state.config).clone();
    config.auth.lockout_attempts = 3;
    app.state.edit().config = Arc::new(config);
    for _ in 0..3 {
        let r = sign_in(&app, ALICE.uid, "wrong").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    }
    let locked = sign_in(&app, ALICE.uid, ALICE.password).await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS, "{}", locked.text());
    assert!(locked.header("retry-after").parse::<u64>().is_ok_and(|s| s > 0));
    let bob = sign_in(&app, BOB.uid, BOB.password).await;
    assert_eq!(bob.status, StatusCode::OK, "{}", bob.text());
}

#[tokio::test]
async fn a_collection_without_ldap_refuses_and_an_unreachable_directory_is_a_clear_400() {
    let app = App::new().await;
    let off = sign_in(&app, "alice", "pw").await;
    assert_eq!(off.status, StatusCode::FORBIDDEN, "{}", off.text());
    let methods = app
        .send(Method::GET, "/api/collections/users/auth-methods", None, None)
        .await;
    assert_eq!(methods.json["ldap"], json!({"enabled": false}));

    let ldap: Value = json!({"enabled": true, "url": "ldap://127.0.0.1:1", "baseDn": "dc=x",
        "bindDn": "cn=svc,dc=x", "bindPassword": "service-secret", "timeoutSecs": 2});
    app.state
        .store
        .update_collection("users", json!({"ldap": ldap}))
        .await
        .unwrap();
    let down = sign_in(&app, "alice", "pw").await;
    assert_eq!(down.status, StatusCode::BAD_REQUEST, "{}", down.text());
    assert_eq!(down.json["message"], "The directory is unavailable.");
    assert!(!down.text().contains("service-secret"));
}
