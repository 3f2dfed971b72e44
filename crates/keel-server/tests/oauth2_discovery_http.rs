//! OpenID Connect discovery when an issuer does not answer: `auth-methods` still answers,
//! listing the other providers, and the failure is remembered for a while (the issuer is not
//! asked again on the next call).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use common::{oauth2_app as app_with, oauth2_github as github};
use keel_testkit::oauth_server::{OAuthServer, OAuthServerOptions};
use serde_json::{json, Value};

/// An "issuer" that accepts connections and never answers (it keeps them open); the count of
/// connections it accepted.
async fn silent_issuer() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(sock);
        }
    });
    (url, accepted)
}

async fn provider_names(app: &common::App) -> Vec<String> {
    let r = app
        .send(Method::GET, "/api/collections/users/auth-methods", None, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json["oauth2"]["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn an_issuer_that_never_answers_is_left_out_and_not_asked_again_at_once() {
    let s = OAuthServer::start(OAuthServerOptions::default()).await.unwrap();
    let (issuer, accepted) = silent_issuer().await;
    let d = OAuthServerOptions::default();
    let down: Value = json!({"name": "oidc", "clientId": d.client_id, "clientSecret": d.client_secret,
        "extra": {"issuer": issuer}});
    let app = app_with(vec![down, github(&s)]).await;

    // The discovery request times out; the other provider is listed.
    assert_eq!(provider_names(&app).await, vec!["github"]);
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    // Within the failure-cache window the issuer is not contacted again.
    assert_eq!(provider_names(&app).await, vec!["github"]);
    assert_eq!(provider_names(&app).await, vec!["github"]);
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "discovery was fetched again");
}
