//! OAuth2 sign-up downloads the provider's avatar into the file field `mappedFields.avatarURL`
//! names (the users' `avatar`), as PocketBase does; a failed download only loses the avatar.
//! The download goes through the outbound guard: the test provider runs on loopback, so these
//! apps allow-list it (`[outbound] allow`), except where the refusal is what is tested.

mod common;

use axum::http::{Method, StatusCode};
use common::{oauth2_flow as flow, oauth2_oidc as oidc, App};
use keel_testkit::oauth_server::{OAuthServer, OAuthServerOptions};
use serde_json::json;
use serde_json::Value;

/// A valid 1×1 RGBA PNG.
const PNG_1X1: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0, 0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d,
    0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// An app whose users sign in with `providers`, allowed to reach the loopback test servers.
async fn app_with(providers: Vec<Value>) -> App {
    common::oauth2_app_with(providers, common::allow_loopback).await
}

async fn server() -> OAuthServer {
    OAuthServer::start(OAuthServerOptions::default()).await.unwrap()
}

/// Sets the users' `avatar` field's `maxSize`.
async fn set_avatar_max_size(app: &App, max: u64) {
    let mut fields = serde_json::to_value(&app.collection("users").fields).unwrap();
    for f in fields.as_array_mut().unwrap() {
        if f["name"] == "avatar" {
            f["maxSize"] = json!(max);
        }
    }
    app.state
        .store
        .update_collection("users", json!({ "fields": fields }))
        .await
        .unwrap();
}

/// The files stored for a users record.
fn stored_files(app: &App, record_id: &str) -> Vec<String> {
    let users = app.collection("users");
    let dir = app.dir.path().join("storage").join(&users.id).join(record_id);
    match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("{}: {e}", dir.display()),
    }
}

#[tokio::test]
async fn sign_up_stores_the_providers_avatar_as_an_uploaded_file() {
    let s = server().await;
    s.set_avatar(200, "image/png", PNG_1X1);
    let app = app_with(vec![oidc(&s)]).await;

    let (r, _) = flow(&app, &s, "oidc").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json["meta"]["isNew"], true);
    let record = &r.json["record"];
    let id = record["id"].as_str().unwrap();
    let avatar = record["avatar"].as_str().unwrap_or_default().to_string();
    // PocketBase's stored name: the URL's base name, `_`, 10 random characters, the type's extension.
    assert!(avatar.starts_with("avatar_") && avatar.ends_with(".png"), "{avatar:?}");
    assert_eq!(avatar.len(), "avatar_".len() + 10 + ".png".len(), "{avatar:?}");
    assert_eq!(s.avatar_fetches(), 1);
    assert_eq!(stored_files(&app, id), vec![avatar.clone()]);

    let file = app
        .send(Method::GET, &format!("/api/files/users/{id}/{avatar}"), None, None)
        .await;
    assert_eq!(file.status, StatusCode::OK, "{}", file.text());
    assert_eq!(file.header("content-type"), "image/png");
    assert_eq!(file.bytes, PNG_1X1);

    // A later sign-in of the linked record downloads nothing and keeps the avatar.
    s.set_avatar(200, "image/png", b"\x89PNG\r\n\x1a\nanother-picture");
    let (again, _) = flow(&app, &s, "oidc").await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text());
    assert_eq!(again.json["meta"]["isNew"], false);
    assert_eq!(again.json["record"]["avatar"], avatar.as_str());
    assert_eq!(s.avatar_fetches(), 1);
    assert_eq!(stored_files(&app, id), vec![avatar]);
}

#[tokio::test]
async fn a_failed_avatar_download_still_signs_up_without_an_avatar() {
    // (what /avatar answers, the field's maxSize or 0 for the default)
    let cases: [(u16, &str, Vec<u8>, u64); 4] = [
        (404, "text/plain", b"no such picture".to_vec(), 0),
        (200, "image/png", PNG_1X1.to_vec(), 32),
        (200, "text/html", b"<html>not an image</html>".to_vec(), 0),
        (200, "application/octet-stream", b"MZ\x90\x00 not an image".to_vec(), 0),
    ];
    for (status, content_type, body, max_size) in cases {
        let case = format!("{status} {content_type}, {} bytes, maxSize {max_size}", body.len());
        let s = server().await;
        s.set_avatar(status, content_type, &body);
        let app = app_with(vec![oidc(&s)]).await;
        if max_size > 0 {
            set_avatar_max_size(&app, max_size).await;
        }

        let (r, _) = flow(&app, &s, "oidc").await;
        assert_eq!(r.status, StatusCode::OK, "{case}: {}", r.text());
        assert_eq!(r.json["meta"]["isNew"], true, "{case}");
        let record = &r.json["record"];
        assert_eq!(record["email"], "ada@example.com", "{case}");
        assert_eq!(record["name"], "Ada Lovelace", "{case}");
        assert_eq!(record["avatar"], "", "{case}");
        assert_eq!(s.avatar_fetches(), 1, "{case}: the avatar was not even asked for");
        let id = record["id"].as_str().unwrap();
        assert!(
            stored_files(&app, id).is_empty(),
            "{case}: {:?}",
            stored_files(&app, id)
        );
    }
}

#[tokio::test]
async fn create_data_that_sets_the_avatar_field_skips_the_download() {
    let s = server().await;
    s.set_avatar(200, "image/png", PNG_1X1);
    let app = app_with(vec![oidc(&s)]).await;
    let m = common::oauth2_method(&app, "oidc").await;
    let url = m["authURL"].as_str().unwrap();
    let (code, _) = s.follow_authorize(&format!("{url}{}", common::OAUTH2_REDIRECT)).await;
    let body = json!({"provider": "oidc", "code": code, "codeVerifier": m["codeVerifier"],
        "redirectURL": common::OAUTH2_REDIRECT, "createData": {"avatar": ""}});
    let r = app
        .send(
            Method::POST,
            "/api/collections/users/auth-with-oauth2",
            None,
            Some(body),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json["record"]["avatar"], "");
    assert_eq!(s.avatar_fetches(), 0);
}

#[tokio::test]
async fn an_avatar_on_an_internal_address_is_not_fetched_by_default() {
    let s = server().await;
    s.set_avatar(200, "image/png", PNG_1X1);
    // The default config: no `[outbound] allow`, so the provider's loopback avatar URL is
    // refused (the sign-in itself talks to the provider, which a superuser configured).
    let app = common::oauth2_app(vec![oidc(&s)]).await;

    let (r, _) = flow(&app, &s, "oidc").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json["meta"]["isNew"], true);
    assert_eq!(r.json["record"]["avatar"], "");
    assert_eq!(s.avatar_fetches(), 0, "the avatar was fetched from loopback");
    let id = r.json["record"]["id"].as_str().unwrap();
    assert!(stored_files(&app, id).is_empty());
}

#[tokio::test]
async fn an_avatar_redirect_is_not_followed() {
    let s = server().await;
    let target = server().await;
    target.set_avatar(200, "image/png", PNG_1X1);
    s.set_avatar_redirect(&format!("{}/avatar", target.url));
    let app = app_with(vec![oidc(&s)]).await;

    let (r, _) = flow(&app, &s, "oidc").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json["record"]["avatar"], "");
    assert_eq!(s.avatar_fetches(), 1);
    assert_eq!(target.avatar_fetches(), 0, "the redirect was followed");
}
