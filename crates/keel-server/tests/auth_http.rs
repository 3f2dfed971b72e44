//! Auth routes over HTTP: password sign-in, refresh, auth methods, token checks.

mod support;

use axum::http::{Method, StatusCode};
use keel_auth::token::{self, Claims, TokenKind};
use keel_data::{Access, RequestInfo};
use serde_json::json;
use support::TestApp;

const PW: &str = "secret-password-1";

async fn refresh(app: &TestApp, collection: &str, token: Option<&str>) -> support::Resp {
    app.send(
        Method::POST,
        &format!("/api/collections/{collection}/auth-refresh"),
        token,
        None,
    )
    .await
}

#[tokio::test]
async fn password_sign_in_returns_a_working_token_and_a_clean_record() {
    let app = TestApp::new().await;
    let user = app.create_auth("users", "Alice@Example.com", PW).await;

    // the identity is matched case-insensitively on email
    let r = app
        .send(
            Method::POST,
            "/api/collections/users/auth-with-password",
            None,
            Some(json!({"identity": "alice@example.com", "password": PW})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let token = r.json["token"].as_str().unwrap();
    let record = &r.json["record"];
    assert_eq!(record["id"], user.id());
    assert_eq!(record["collectionName"], "users");
    assert!(record.get("email").is_some(), "own email is visible: {record}");
    assert!(
        record.get("password").is_none() && record.get("tokenKey").is_none(),
        "{record}"
    );

    // the token authenticates a protected route
    assert_eq!(refresh(&app, "users", Some(token)).await.status, StatusCode::OK);
    assert_eq!(
        refresh(&app, "users", Some(&format!("Bearer {token}"))).await.status,
        StatusCode::OK
    );
    assert_eq!(refresh(&app, "users", None).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn form_bodies_are_accepted() {
    let app = TestApp::new().await;
    app.create_auth("users", "form@example.com", PW).await;
    let req = axum::http::Request::post("/api/collections/users/auth-with-password")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(format!(
            "identity=form%40example.com&password={PW}"
        )))
        .unwrap();
    let r = app.raw(req).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

#[tokio::test]
async fn wrong_password_and_unknown_identity_look_the_same() {
    let app = TestApp::new().await;
    app.create_auth("users", "bob@example.com", PW).await;
    let url = "/api/collections/users/auth-with-password";
    let wrong = app
        .send(
            Method::POST,
            url,
            None,
            Some(json!({"identity": "bob@example.com", "password": "nope"})),
        )
        .await;
    let unknown = app
        .send(
            Method::POST,
            url,
            None,
            Some(json!({"identity": "who@example.com", "password": PW})),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(wrong.json, unknown.json);
    assert_eq!(wrong.json["message"], "Failed to authenticate.");

    let blank = app.send(Method::POST, url, None, Some(json!({}))).await;
    assert_eq!(blank.status, StatusCode::BAD_REQUEST);
    assert_eq!(blank.json["data"]["identity"]["code"], "validation_required");
    assert_eq!(blank.json["data"]["password"]["code"], "validation_required");

    let bad_json = app
        .raw(
            axum::http::Request::post(url)
                .header("content-type", "application/json")
                .body("{not json".into())
                .unwrap(),
        )
        .await;
    assert_eq!(bad_json.status, StatusCode::BAD_REQUEST);

    let bad_field = app
        .send(
            Method::POST,
            url,
            None,
            Some(json!({"identity": "bob@example.com", "password": PW, "identityField": "id"})),
        )
        .await;
    assert_eq!(bad_field.status, StatusCode::BAD_REQUEST);
    assert!(bad_field.json["data"]["identityField"].is_object());
}

#[tokio::test]
async fn non_auth_collections_and_disabled_password_auth_are_refused() {
    let app = TestApp::new().await;
    app.state
        .store
        .create_collection(json!({"name": "posts", "type": "base", "fields": [{"name": "title", "type": "text"}]}))
        .await
        .unwrap();
    let body = json!({"identity": "a@example.com", "password": PW});
    let r = app
        .send(
            Method::POST,
            "/api/collections/posts/auth-with-password",
            None,
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .send(
            Method::POST,
            "/api/collections/nope/auth-with-password",
            None,
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    app.state
        .store
        .update_collection("users", json!({"passwordAuth": {"enabled": false}}))
        .await
        .unwrap();
    let r = app
        .send(
            Method::POST,
            "/api/collections/users/auth-with-password",
            None,
            Some(body),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn auth_rule_is_checked() {
    let app = TestApp::new().await;
    let col = app.collection("users");
    let data = keel_data::store::obj(&[
        ("email", json!("unverified@example.com")),
        ("password", json!(keel_auth::hash_password(PW).unwrap())),
        ("verified", json!(false)),
    ]);
    app.state
        .store
        .create_record(&col, data, &RequestInfo::default(), Access::Superuser)
        .await
        .unwrap();
    app.state
        .store
        .update_collection("users", json!({"authRule": "verified = true"}))
        .await
        .unwrap();
    let r = app
        .send(
            Method::POST,
            "/api/collections/users/auth-with-password",
            None,
            Some(json!({"identity": "unverified@example.com", "password": PW})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
}

#[tokio::test]
async fn forged_expired_and_revoked_tokens_are_401() {
    let app = TestApp::new().await;
    let user = app.create_auth("users", "carol@example.com", PW).await;
    let token = app.login("users", "carol@example.com", PW).await;
    let col = app.collection("users");
    let secret = &col.auth.as_ref().unwrap().auth_token.secret;
    let token_key = user.data["tokenKey"].as_str().unwrap();

    let forged = token::sign(
        &Claims::new(TokenKind::Auth, user.id(), &col.id, 60),
        "not-the-secret",
        token_key,
    )
    .unwrap();
    assert_eq!(
        refresh(&app, "users", Some(&forged)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&app, "users", Some("abc.def.ghi")).await.status,
        StatusCode::UNAUTHORIZED
    );

    let mut old = Claims::new(TokenKind::Auth, user.id(), &col.id, 60);
    old.exp = chrono::Utc::now().timestamp() - 10;
    let expired = token::sign(&old, secret, token_key).unwrap();
    assert_eq!(
        refresh(&app, "users", Some(&expired)).await.status,
        StatusCode::UNAUTHORIZED
    );

    // a password change rotates tokenKey, which revokes every earlier token
    assert_eq!(refresh(&app, "users", Some(&token)).await.status, StatusCode::OK);
    let data = keel_data::store::obj(&[("password", json!(keel_auth::hash_password("another-password").unwrap()))]);
    let (_, after) = app
        .state
        .store
        .update_record(&col, user.id(), data, &RequestInfo::default(), Access::Superuser)
        .await
        .unwrap();
    assert_ne!(after.data["tokenKey"], user.data["tokenKey"]);
    assert_eq!(
        refresh(&app, "users", Some(&token)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn refresh_issues_a_new_valid_token() {
    let app = TestApp::new().await;
    let user = app.create_auth("users", "dan@example.com", PW).await;
    let token = app.login("users", "dan@example.com", PW).await;
    let r = app
        .send(
            Method::POST,
            "/api/collections/users/auth-refresh?fields=token,record.id",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["record"], json!({"id": user.id()}));
    let fresh = r.json["token"].as_str().unwrap();
    assert_eq!(refresh(&app, "users", Some(fresh)).await.status, StatusCode::OK);
    // by collection id too
    let by_id = format!("/api/collections/{}/auth-refresh", app.collection("users").id);
    assert_eq!(
        app.send(Method::POST, &by_id, Some(fresh), None).await.status,
        StatusCode::OK
    );

    // a token of another collection is refused as unauthorized
    let su = app.superuser_token().await;
    assert_eq!(refresh(&app, "users", Some(&su)).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refresh(&app, "_superusers", Some(&su)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn auth_methods_have_pocketbase_shape() {
    let app = TestApp::new().await;
    let r = app
        .send(Method::GET, "/api/collections/users/auth-methods", None, None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json,
        json!({
            "password": {"enabled": true, "identityFields": ["email"]},
            "oauth2": {"enabled": false, "providers": []},
            "mfa": {"enabled": false, "duration": 0},
            "otp": {"enabled": false, "duration": 0},
            "ldap": {"enabled": false},
            // PocketBase's older keys, still in its answer
            "authProviders": [],
            "usernamePassword": false,
            "emailPassword": true,
        })
    );
    // what the JS SDK sends
    let r = app
        .send(
            Method::GET,
            "/api/collections/users/auth-methods?fields=mfa,otp,password,oauth2",
            None,
            None,
        )
        .await;
    assert_eq!(r.json["password"]["enabled"], true);
    let r = app
        .send(Method::GET, "/api/collections/nope/auth-methods", None, None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
