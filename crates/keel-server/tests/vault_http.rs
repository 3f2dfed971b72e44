//! The vault over HTTP: secrets created, listed, viewed, changed and deleted through
//! `/api/vault/secrets` answer metadata only; reveal needs `vault:reveal` and is audited
//! without the value; mistakes are 400s naming the field; the plaintext is nowhere in the
//! database files; the records API reads `_vaultSecrets` without the sealed data and refuses
//! writes; runs resolve secrets by name (last use recorded) and redact them.

mod support;

use axum::http::{Method, StatusCode};
use keel_data::{Access, ListParams, RequestInfo};
use serde_json::{json, Value};
use support::TestApp;

const CANARY: &str = "pw-Canary-7f3a9c1e";
const KEY_CANARY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----";

async fn create(app: &TestApp, token: &str, body: Value) -> support::Resp {
    app.send(Method::POST, "/api/vault/secrets", Some(token), Some(body))
        .await
}

/// A user holding a custom role with `permissions`, and their token.
async fn user_with(app: &TestApp, su: &str, email: &str, permissions: &[&str]) -> String {
    let role = email.split('@').next().unwrap().replace('.', "-");
    let r = app
        .send(
            Method::POST,
            "/api/roles",
            Some(su),
            Some(json!({"name": role, "permissions": permissions})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let user = app.create_auth("users", email, "user-password-123").await;
    let uri = format!("/api/roles/{role}/members/users/{}", user.id());
    let r = app.send(Method::PUT, &uri, Some(su), None).await;
    assert!(r.status.is_success(), "{}", r.text);
    app.login("users", email, "user-password-123").await
}

fn assert_no_data(v: &Value) {
    let text = v.to_string();
    assert!(!text.contains(CANARY), "{text}");
    assert!(v.get("data").is_none() && v.get("sealed").is_none(), "{text}");
}

async fn audit_events(app: &TestApp, event: &str) -> Vec<Value> {
    let c = app.collection("_audit");
    let params = ListParams {
        per_page: 100,
        filter: Some(format!("event = '{event}'")),
        ..Default::default()
    };
    let page = app
        .state
        .store
        .list_records(&c, &params, &RequestInfo::default(), Access::Superuser)
        .await
        .unwrap();
    page.items
        .iter()
        .map(|r| keel_app::serialize::record_json(r, &RequestInfo::default()))
        .collect()
}

#[tokio::test]
async fn secrets_answer_metadata_only_and_reveal_is_permitted_and_audited() {
    let app = TestApp::new().await;
    let su = app.superuser_token().await;

    let r = create(
        &app,
        &su,
        json!({"name": "db-admin", "type": "password", "description": "the orders database",
               "data": {"username": "admin", "password": CANARY}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_no_data(&r.json);
    assert_eq!(r.json["name"], "db-admin");
    assert_eq!(r.json["type"], "password");
    assert!(r.json["createdBy"].as_str().unwrap().starts_with("_superusers/"));
    let id = r.json["id"].as_str().unwrap().to_string();

    let r = app.send(Method::GET, "/api/vault/secrets", Some(&su), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["totalItems"], 1);
    assert_no_data(&r.json["items"][0]);
    for key in [id.as_str(), "db-admin"] {
        let r = app
            .send(Method::GET, &format!("/api/vault/secrets/{key}"), Some(&su), None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.json["id"], id.as_str());
        assert_no_data(&r.json);
    }

    // vault:read and vault:manage, but not vault:reveal.
    let ops = user_with(&app, &su, "ops@example.com", &["vault:read", "vault:manage"]).await;
    let r = app.send(Method::GET, "/api/vault/secrets", Some(&ops), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = app
        .send(Method::POST, "/api/vault/secrets/db-admin/reveal", Some(&ops), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert!(
        r.json["message"].as_str().unwrap().contains("vault:reveal"),
        "{}",
        r.text
    );
    assert!(!r.text.contains(CANARY));
    // Nothing at all: 403 on reading; a guest: 401.
    let nobody = user_with(&app, &su, "nobody@example.com", &["cache:read"]).await;
    let r = app.send(Method::GET, "/api/vault/secrets", Some(&nobody), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = create(
        &app,
        &nobody,
        json!({"name": "x", "type": "token", "data": {"token": "abcd"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = app.send(Method::GET, "/api/vault/secrets", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    let r = app
        .send(Method::POST, "/api/vault/secrets/db-admin/reveal", None, None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);

    // A holder of vault:reveal reads the data; the reveal is audited with who and which secret.
    let auditor = user_with(&app, &su, "reveal@example.com", &["vault:reveal"]).await;
    let r = app
        .send(
            Method::POST,
            &format!("/api/vault/secrets/{id}/reveal"),
            Some(&auditor),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["data"], json!({"username": "admin", "password": CANARY}));
    assert_eq!(r.json["lastUsedBy"], "reveal");
    let reveals = audit_events(&app, "vault.reveal").await;
    assert_eq!(reveals.len(), 1, "{reveals:?}");
    assert!(
        reveals[0]["actor"].as_str().unwrap().starts_with("users/"),
        "{reveals:?}"
    );
    assert_eq!(reveals[0]["details"]["secret"], id.as_str());
    assert_eq!(reveals[0]["details"]["name"], "db-admin");
    assert_eq!(audit_events(&app, "vault.create").await.len(), 1);
    let r = app
        .send(Method::GET, "/api/vault/secrets/db-admin", Some(&su), None)
        .await;
    assert_eq!(r.json["lastUsedBy"], "reveal");
    assert!(!r.json["lastUsedAt"].as_str().unwrap().is_empty());

    // No audit entry holds the value.
    let all = app.send(Method::GET, "/api/audit?perPage=200", Some(&su), None).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.text);
    assert!(all.text.contains("vault.reveal") && !all.text.contains(CANARY));
}

#[tokio::test]
async fn a_patch_without_data_keeps_it_and_one_with_data_replaces_it() {
    let app = TestApp::new().await;
    let su = app.superuser_token().await;
    let r = create(
        &app,
        &su,
        json!({"name": "deploy", "type": "ssh_key",
               "data": {"username": "deploy", "privateKey": KEY_CANARY, "passphrase": "pp-1234"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = app
        .send(
            Method::PATCH,
            "/api/vault/secrets/deploy",
            Some(&su),
            Some(json!({"description": "CI deploy key", "name": "deploy-ci"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["name"], "deploy-ci");
    assert!(r.json.get("data").is_none());
    let r = app
        .send(Method::POST, "/api/vault/secrets/deploy-ci/reveal", Some(&su), None)
        .await;
    assert_eq!(r.json["data"]["privateKey"], KEY_CANARY);
    assert_eq!(r.json["data"]["passphrase"], "pp-1234");

    // Changing the type needs the new type's data.
    let r = app
        .send(
            Method::PATCH,
            "/api/vault/secrets/deploy-ci",
            Some(&su),
            Some(json!({"type": "token"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.json["data"].get("data").is_some(), "{}", r.text);
    let r = app
        .send(
            Method::PATCH,
            "/api/vault/secrets/deploy-ci",
            Some(&su),
            Some(json!({"type": "token", "data": {"token": "tok-5678"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["type"], "token");
    let r = app
        .send(Method::POST, "/api/vault/secrets/deploy-ci/reveal", Some(&su), None)
        .await;
    assert_eq!(r.json["data"], json!({"token": "tok-5678"}));
    assert_eq!(audit_events(&app, "vault.update").await.len(), 2);

    let r = app
        .send(Method::DELETE, "/api/vault/secrets/deploy-ci", Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = app
        .send(Method::GET, "/api/vault/secrets/deploy-ci", Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    assert_eq!(audit_events(&app, "vault.delete").await.len(), 1);
}

#[tokio::test]
async fn mistakes_are_400s_naming_the_field() {
    let app = TestApp::new().await;
    let su = app.superuser_token().await;
    let cases = [
        (json!({"type": "token", "data": {"token": "abcd"}}), "name"),
        (
            json!({"name": "bad name!", "type": "token", "data": {"token": "abcd"}}),
            "name",
        ),
        (json!({"name": "t", "data": {"token": "abcd"}}), "type"),
        (
            json!({"name": "t", "type": "tokens", "data": {"token": "abcd"}}),
            "type",
        ),
        (json!({"name": "t", "type": "token"}), "data"),
        (json!({"name": "t", "type": "token", "data": "abcd"}), "data"),
        (
            json!({"name": "t", "type": "password", "data": {"username": "u"}}),
            "data.password",
        ),
        (
            json!({"name": "t", "type": "password", "data": {"username": "u", "password": 12}}),
            "data.password",
        ),
        (
            json!({"name": "t", "type": "token", "data": {"token": "abcd", "user": "x"}}),
            "data.user",
        ),
        (
            json!({"name": "t", "type": "winrm", "data": {"password": "p"}}),
            "data.username",
        ),
        (json!({"name": "t", "type": "generic", "data": {}}), "data"),
    ];
    for (body, field) in cases {
        let r = create(&app, &su, body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
        assert!(
            r.json["data"].get(field).is_some(),
            "{body}: expected {field} in {}",
            r.text
        );
        assert!(!r.json["message"].as_str().unwrap_or("").is_empty());
    }
    let r = create(
        &app,
        &su,
        json!({"name": "t", "type": "token", "data": {"token": "abcd"}, "extra": 1}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.json["message"].as_str().unwrap().contains("extra"), "{}", r.text);
    let ok = json!({"name": "dup", "type": "generic", "data": {"a": "valueA", "b.c": "valueB"}});
    assert_eq!(create(&app, &su, ok.clone()).await.status, StatusCode::OK);
    let r = create(&app, &su, ok).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(r.json["data"]["name"]["code"], "validation_not_unique", "{}", r.text);
    let r = app.send(Method::GET, "/api/vault/secrets/nope", Some(&su), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
}

#[tokio::test]
async fn the_plaintext_is_not_in_the_database_and_the_records_api_cannot_write_secrets() {
    let app = TestApp::new().await;
    let su = app.superuser_token().await;
    let r = create(
        &app,
        &su,
        json!({"name": "canary-secret", "type": "winrm",
               "data": {"username": "Administrator", "password": CANARY, "domain": "CORP"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let id = r.json["id"].as_str().unwrap().to_string();

    // Every file of the data dir: the name (stored plainly) is there, the password is not.
    let mut seen_name = false;
    for entry in std::fs::read_dir(app.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_file() {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let has = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
        assert!(!has(CANARY), "the plaintext is in {}", path.display());
        seen_name |= has("canary-secret");
    }
    assert!(seen_name, "the secret's row was not found in the data dir's files");

    // The records API shows the row to a superuser without its sealed data…
    let uri = "/api/collections/_vaultSecrets/records";
    let r = app.send(Method::GET, uri, Some(&su), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["items"][0]["name"], "canary-secret");
    assert!(r.json["items"][0].get("sealed").is_none(), "{}", r.text);
    assert!(!r.text.contains(CANARY));
    // …and refuses to write it.
    let r = app
        .send(
            Method::POST,
            uri,
            Some(&su),
            Some(json!({"name": "forged", "type": "token"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert!(r.json["message"].as_str().unwrap().contains("/api/vault/secrets"));
    let r = app
        .send(
            Method::PATCH,
            &format!("{uri}/{id}"),
            Some(&su),
            Some(json!({"keyId": "x"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = app.send(Method::DELETE, &format!("{uri}/{id}"), Some(&su), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = app
        .send(Method::POST, "/api/vault/secrets/canary-secret/reveal", Some(&su), None)
        .await;
    assert_eq!(r.json["data"]["password"], CANARY);
}

#[tokio::test]
async fn runs_resolve_secrets_by_name_and_redact_their_values() {
    let app = TestApp::new().await;
    let su = app.superuser_token().await;
    let r = create(
        &app,
        &su,
        json!({"name": "db-admin", "type": "password", "data": {"username": "admin", "password": CANARY}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    let data = keel_app::vault::resolve(&app.state, "db-admin", "run_abc123")
        .await
        .unwrap();
    assert_eq!(data.get("password"), Some(CANARY));
    assert!(!format!("{data:?}").contains(CANARY));
    let out = format!("connecting as admin with {CANARY}\nerror: {CANARY} refused");
    let redacted = data.redactor().redact(&out).into_owned();
    assert!(!redacted.contains(CANARY), "{redacted}");
    assert!(redacted.contains("with ***"), "{redacted}");

    let r = app
        .send(Method::GET, "/api/vault/secrets/db-admin", Some(&su), None)
        .await;
    assert_eq!(r.json["lastUsedBy"], "run_abc123");
    let uses = audit_events(&app, "vault.use").await;
    assert_eq!(uses.len(), 1);
    assert_eq!(uses[0]["actor"], "run/run_abc123");
    assert_eq!(uses[0]["details"]["name"], "db-admin");

    let err = keel_app::vault::resolve(&app.state, "missing", "run_abc123")
        .await
        .unwrap_err();
    assert!(
        matches!(err, keel_core::Error::NotFound(ref m) if m.contains("missing")),
        "{err:?}"
    );
}

#[tokio::test]
async fn without_a_master_key_the_vault_answers_503_saying_how_to_set_one() {
    let mut app = TestApp::new().await;
    let su = app.superuser_token().await;
    app.state.edit().vault = std::sync::Arc::new(keel_vault::Keys::default());
    let r = create(
        &app,
        &su,
        json!({"name": "t", "type": "token", "data": {"token": "abcd"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert!(
        r.json["message"].as_str().unwrap().contains("KEEL_MASTER_KEY"),
        "{}",
        r.text
    );
    // Metadata needs no key.
    let r = app.send(Method::GET, "/api/vault/secrets", Some(&su), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}
