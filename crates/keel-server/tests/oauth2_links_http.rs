//! OAuth2 sign-in over HTTP: which record a provider's user lands on (links, verified emails,
//! the signed-in caller, createData), MFA, and the SDK's `/api/oauth2-redirect`.

mod common;

use axum::http::{Method, StatusCode};
use common::{
    field_error, oauth2_app as app_with, oauth2_flow as flow, oauth2_github as github, oauth2_method as method,
    oauth2_oidc as oidc, App, OAUTH2_REDIRECT as REDIRECT,
};
use keel_testkit::oauth_server::{OAuthServer, OAuthServerOptions};
use serde_json::json;

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
    let sub = keel_app::realtime::Subscription::parse("@oauth2").unwrap();
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

#[tokio::test]
async fn create_data_is_used_and_a_signed_in_caller_gets_the_provider_linked() {
    let s = OAuthServer::start(OAuthServerOptions::default()).await.unwrap();
    let app = app_with(vec![oidc(&s), github(&s)]).await;

    // A new account takes createData, which wins over the mapped name.
    let m = method(&app, "oidc").await;
    let (code, _) = s
        .follow_authorize(&format!("{}{REDIRECT}", m["authURL"].as_str().unwrap()))
        .await;
    let body = json!({"provider": "oidc", "code": code, "codeVerifier": m["codeVerifier"],
        "redirectURL": REDIRECT, "createData": {"name": "Countess"}});
    let r = app
        .send(
            Method::POST,
            "/api/collections/users/auth-with-oauth2",
            None,
            Some(body),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json["record"]["name"], "Countess");
    let token = r.json["token"].as_str().unwrap().to_string();
    let id = r.json["record"]["id"].clone();

    // Signed in, the same person adds GitHub: it links to the caller's record.
    let m = method(&app, "github").await;
    let (code, _) = s
        .follow_authorize(&format!("{}{REDIRECT}", m["authURL"].as_str().unwrap()))
        .await;
    let body = json!({"provider": "github", "code": code, "codeVerifier": m["codeVerifier"], "redirectURL": REDIRECT});
    let r = app
        .send(
            Method::POST,
            "/api/collections/users/auth-with-oauth2",
            Some(&token),
            Some(body),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        (r.json["record"]["id"].clone(), r.json["meta"]["isNew"].clone()),
        (id, json!(false))
    );
}

#[tokio::test]
async fn an_unverified_provider_email_does_not_take_over_an_existing_account() {
    let mut opts = OAuthServerOptions::default();
    opts.user.email_verified = false;
    let s = OAuthServer::start(opts).await.unwrap();
    let app = app_with(vec![oidc(&s)]).await;
    app.auth_record("users", "ada@example.com", "password123").await;
    let (r, _) = flow(&app, &s, "oidc").await;
    assert!(field_error(&r, "email"), "{}", r.text());
    let users = app.collection("users");
    assert!(app
        .state
        .identity
        .find_external(&users.id, "oidc", "4242")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn with_mfa_oauth2_is_a_first_factor_finished_by_a_password() {
    let s = OAuthServer::start(OAuthServerOptions::default()).await.unwrap();
    let app = app_with(vec![oidc(&s)]).await;
    app.state
        .store
        .update_collection("users", json!({"mfa": {"enabled": true}}))
        .await
        .unwrap();
    app.auth_record("users", "ada@example.com", "password123").await;
    let (r, _) = flow(&app, &s, "oidc").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
    let mfa_id = r.json["mfaId"].as_str().unwrap();
    let body = json!({"identity": "ada@example.com", "password": "password123", "mfaId": mfa_id});
    let done = app
        .send(
            Method::POST,
            "/api/collections/users/auth-with-password",
            None,
            Some(body),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text());
    assert!(done.json["token"].as_str().is_some());
}
