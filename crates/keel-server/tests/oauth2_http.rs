//! OAuth2 sign-in over HTTP against the testkit's local authorization server: auth-methods →
//! the browser (follow_authorize) → auth-with-oauth2, and what must be refused.

mod common;

use axum::http::{Method, StatusCode};
use common::{App, Resp};
use keel_testkit::oauth_server::{IdTokenMode, OAuthServer, OAuthServerOptions};
use serde_json::{json, Value};

const REDIRECT: &str = "http://127.0.0.1:5173/oauth2-callback";

fn oidc(s: &OAuthServer) -> Value {
    let d = OAuthServerOptions::default();
    json!({"name": "oidc", "clientId": d.client_id, "clientSecret": d.client_secret,
        "displayName": "Test IdP", "extra": {"issuer": s.url}})
}

fn github(s: &OAuthServer) -> Value {
    let d = OAuthServerOptions::default();
    json!({"name": "github", "clientId": d.client_id, "clientSecret": d.client_secret,
        "authURL": format!("{}/authorize", s.url), "tokenURL": format!("{}/token", s.url),
        "userInfoURL": format!("{}/user", s.url)})
}

/// An app whose `users` offer `providers`, with PocketBase's default name/avatar mapping.
async fn app_with(providers: Vec<Value>) -> App {
    let app = App::new().await;
    let patch = json!({"oauth2": {"enabled": true, "providers": providers,
        "mappedFields": {"name": "name", "avatarURL": "avatar"}}});
    app.state.store.update_collection("users", patch).await.unwrap();
    app
}

/// auth-methods' entry for `name`.
async fn method(app: &App, name: &str) -> Value {
    let r = app
        .send(Method::GET, "/api/collections/users/auth-methods", None, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json["oauth2"]["enabled"], true);
    let list = r.json["oauth2"]["providers"].as_array().unwrap().clone();
    list.into_iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {}", r.text()))
}

async fn sign_in(app: &App, provider: &str, code: &str, verifier: &str, redirect: &str) -> Resp {
    let body = json!({"provider": provider, "code": code, "codeVerifier": verifier, "redirectURL": redirect});
    app.send(
        Method::POST,
        "/api/collections/users/auth-with-oauth2",
        None,
        Some(body),
    )
    .await
}

/// The whole browser-less flow for `provider`: returns the sign-in response and the verifier.
async fn flow(app: &App, s: &OAuthServer, provider: &str) -> (Resp, String) {
    let m = method(app, provider).await;
    let url = m["authURL"].as_str().unwrap();
    assert!(url.ends_with("&redirect_uri="), "{url}");
    let (code, state) = s.follow_authorize(&format!("{url}{REDIRECT}")).await;
    assert_eq!(state, m["state"].as_str().unwrap());
    let verifier = m["codeVerifier"].as_str().unwrap().to_string();
    (sign_in(app, provider, &code, &verifier, REDIRECT).await, verifier)
}

fn field_error(r: &Resp, field: &str) -> bool {
    r.status == StatusCode::BAD_REQUEST && r.json["data"].get(field).is_some()
}

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
async fn a_verified_email_links_an_existing_record() {
    let s = OAuthServer::start(OAuthServerOptions::default()).await.unwrap();
    let app = app_with(vec![oidc(&s)]).await;
    let (existing, _) = app.auth_record("users", "ada@example.com", "password123").await;
    let (r, _) = flow(&app, &s, "oidc").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json["record"]["id"], existing.id());
    assert_eq!(r.json["meta"]["isNew"], false);
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
async fn the_redirect_handler_refuses_unknown_states() {
    let app = App::new().await;
    let r = app
        .send(Method::GET, "/api/oauth2-redirect?state=nobody&code=abc", None, None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("try again"), "{}", r.text());
    let r = app.send(Method::GET, "/api/oauth2-redirect?code=abc", None, None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_redirect_handler_forwards_the_code_once_to_the_oauth2_subscriber() {
    let app = App::new().await;
    let (client, mut rx) = app.state.realtime.connect().unwrap();
    let sub = keel_server::realtime::Subscription::parse("@oauth2").unwrap();
    client.set_subscriptions(vec![sub]);
    let uri = format!("/api/oauth2-redirect?state={}&code=the-code", client.id());
    let r = app.send(Method::GET, &uri, None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.text().contains("close this window"), "{}", r.text());
    let event = format!("{:?}", rx.try_recv().expect("an @oauth2 message"));
    assert!(event.contains("@oauth2") && event.contains("the-code"), "{event}");
    // The subscription is used up: a replay is refused and nothing more is sent.
    let replay = app.send(Method::GET, &uri, None, None).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert!(rx.try_recv().is_err());
}
