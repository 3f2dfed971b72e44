//! OAuth2 sign-in over HTTP against the testkit's local authorization server: auth-methods →
//! the browser (follow_authorize) → auth-with-oauth2, and what must be refused.

mod common;

use axum::http::{Method, StatusCode};
use common::{
    field_error, oauth2_app as app_with, oauth2_flow as flow, oauth2_github as github, oauth2_method as method,
    oauth2_oidc as oidc, oauth2_sign_in as sign_in, OAUTH2_REDIRECT as REDIRECT,
};
use keel_testkit::oauth_server::{IdTokenMode, OAuthServer, OAuthServerOptions};
use serde_json::json;

#[tokio::test]
async fn oidc_sign_up_then_sign_in_links_the_same_record() {
    let s = OAuthServer::start(OAuthServerOptions::default()).await.unwrap();
    let app = app_with(vec![oidc(&s)]).await;

    let m = method(&app, "oidc").await;
    assert_eq!(m["displayName"], "Test IdP");
    assert_eq!(m["codeChallengeMethod"], "S256");
    assert!(m["codeVerifier"].as_str().unwrap().len() >= 43);
    assert!(m["authURL"].as_str().unwrap().contains("code_challenge="));
    let again = method(&app, "oidc").await;
    assert_ne!(m["state"], again["state"]);
    assert_ne!(m["codeVerifier"], again["codeVerifier"]);

    let (r, _) = flow(&app, &s, "oidc").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.json["token"].as_str().is_some_and(|t| !t.is_empty()));
    let record = &r.json["record"];
    assert_eq!(record["email"], "ada@example.com");
    assert_eq!(record["name"], "Ada Lovelace");
    assert_eq!(record["verified"], true);
    let meta = &r.json["meta"];
    assert_eq!(
        (meta["isNew"].clone(), meta["id"].clone()),
        (json!(true), json!("4242"))
    );
    assert_eq!(meta["email"], "ada@example.com");
    assert!(meta["accessToken"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(meta["rawUser"].is_object());

    let (second, _) = flow(&app, &s, "oidc").await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text());
    assert_eq!(second.json["record"]["id"], record["id"]);
    assert_eq!(second.json["meta"]["isNew"], false);
    let users = app.collection("users");
    let linked = app
        .state
        .identity
        .find_external(&users.id, "oidc", "4242")
        .await
        .unwrap();
    assert_eq!(linked.as_deref(), record["id"].as_str());
}

#[tokio::test]
async fn github_shaped_provider_signs_up_with_the_primary_verified_email() {
    let s = OAuthServer::start(OAuthServerOptions::default()).await.unwrap();
    let app = app_with(vec![github(&s)]).await;
    let (r, _) = flow(&app, &s, "github").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json["record"]["email"], "ada@example.com");
    assert_eq!(r.json["meta"]["username"], "ada");
    assert_eq!(r.json["meta"]["isNew"], true);
}

#[tokio::test]
async fn a_code_verifier_is_single_use_and_must_be_issued_by_keel() {
    let s = OAuthServer::start(OAuthServerOptions::default()).await.unwrap();
    let app = app_with(vec![oidc(&s)]).await;
    let (r, verifier) = flow(&app, &s, "oidc").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());

    // Replaying the verifier with a fresh code from the provider is refused before any exchange.
    let m = method(&app, "oidc").await;
    let (code, _) = s
        .follow_authorize(&format!("{}{REDIRECT}", m["authURL"].as_str().unwrap()))
        .await;
    let replay = sign_in(&app, "oidc", &code, &verifier, REDIRECT).await;
    assert!(field_error(&replay, "codeVerifier"), "{}", replay.text());
    let made_up = sign_in(&app, "oidc", &code, &"x".repeat(64), REDIRECT).await;
    assert!(field_error(&made_up, "codeVerifier"), "{}", made_up.text());
    // The fresh pair still works once.
    let ok = sign_in(&app, "oidc", &code, m["codeVerifier"].as_str().unwrap(), REDIRECT).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
}

#[tokio::test]
async fn a_forged_id_token_is_refused_and_audited() {
    let s = OAuthServer::start(OAuthServerOptions::default()).await.unwrap();
    let app = app_with(vec![oidc(&s)]).await;
    s.set_id_token_mode(IdTokenMode::Forged);
    let (r, _) = flow(&app, &s, "oidc").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.json["message"].as_str().unwrap().contains("id_token"), "{}", r.text());
    let users = app.collection("users");
    assert!(app
        .state
        .identity
        .find_external(&users.id, "oidc", "4242")
        .await
        .unwrap()
        .is_none());

    s.set_id_token_mode(IdTokenMode::Valid);
    let bad_code = {
        let m = method(&app, "oidc").await;
        sign_in(
            &app,
            "oidc",
            "not-a-code",
            m["codeVerifier"].as_str().unwrap(),
            REDIRECT,
        )
        .await
    };
    assert_eq!(bad_code.status, StatusCode::BAD_REQUEST, "{}", bad_code.text());
}

#[tokio::test]
async fn a_redirect_to_a_host_not_configured_is_refused() {
    let s = OAuthServer::start(OAuthServerOptions::default()).await.unwrap();
    let app = app_with(vec![oidc(&s)]).await;
    let m = method(&app, "oidc").await;
    let verifier = m["codeVerifier"].as_str().unwrap();
    for url in ["https://evil.example/cb", "javascript:alert(1)", "not a url"] {
        let r = sign_in(&app, "oidc", "some-code", verifier, url).await;
        assert!(field_error(&r, "redirectURL"), "{url}: {}", r.text());
    }
    // Refused before the verifier is spent: the legitimate redirect still works with it.
    let (code, _) = s
        .follow_authorize(&format!("{}{REDIRECT}", m["authURL"].as_str().unwrap()))
        .await;
    let ok = sign_in(&app, "oidc", &code, verifier, REDIRECT).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
}

#[tokio::test]
async fn an_unknown_or_disabled_provider_is_refused() {
    let s = OAuthServer::start(OAuthServerOptions::default()).await.unwrap();
    let app = app_with(vec![oidc(&s)]).await;
    let r = sign_in(&app, "google", "code", "verifier", REDIRECT).await;
    assert!(field_error(&r, "provider"), "{}", r.text());
    let missing = sign_in(&app, "", "", "", "").await;
    assert!(
        field_error(&missing, "provider") && field_error(&missing, "code"),
        "{}",
        missing.text()
    );

    app.state
        .store
        .update_collection("users", json!({"oauth2": {"enabled": false}}))
        .await
        .unwrap();
    let off = sign_in(&app, "oidc", "code", "verifier", REDIRECT).await;
    assert_eq!(off.status, StatusCode::FORBIDDEN, "{}", off.text());
    let methods = app
        .send(Method::GET, "/api/collections/users/auth-methods", None, None)
        .await;
    assert_eq!(methods.json["oauth2"], json!({"enabled": false, "providers": []}));
}

#[tokio::test]
async fn an_unknown_provider_name_is_a_400_naming_the_field_and_the_allowed_names() {
    let app = common::App::new().await;
    let su = app.superuser().await;
    let patch = |name: &str| {
        json!({"oauth2": {"enabled": true, "providers": [
            {"name": "github", "clientId": "id", "clientSecret": "secret"},
            {"name": name, "clientId": "id", "clientSecret": "secret"},
        ]}})
    };
    let r = app
        .send(
            Method::PATCH,
            "/api/collections/users",
            Some(&su),
            Some(patch("twitter")),
        )
        .await;
    assert!(field_error(&r, "oauth2.providers.1.name"), "{}", r.text());
    let message = r.json["data"]["oauth2.providers.1.name"]["message"]
        .as_str()
        .unwrap_or("");
    assert!(message.contains("github") && message.contains("oidc"), "{message}");
    assert!(!r.text().contains("secret"), "{}", r.text());
    // Nothing was stored: the collection still has no providers.
    let view = app.send(Method::GET, "/api/collections/users", Some(&su), None).await;
    assert_eq!(view.json["oauth2"]["providers"], json!([]), "{}", view.text());

    let r = app
        .send(
            Method::PATCH,
            "/api/collections/users",
            Some(&su),
            Some(patch("google")),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}
