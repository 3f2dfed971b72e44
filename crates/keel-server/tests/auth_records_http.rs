//! Auth records through the records API: password confirmation, length, hashing, the old
//! password on self-service changes, email/verified only by superusers, no secrets in responses.

mod common;

use axum::http::{Method, StatusCode};
use common::App;
use serde_json::json;

#[tokio::test]
async fn auth_records_check_passwords_and_never_show_them() {
    let app = App::new().await;
    let url = "/api/collections/users/records";

    let r = app
        .send(
            Method::POST,
            url,
            None,
            Some(json!({"email": "new@example.com", "password": "longenough1", "passwordConfirm": "different1"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json["data"]["passwordConfirm"]["code"],
        "validation_values_mismatch",
        "{}",
        r.text()
    );

    let r = app
        .send(
            Method::POST,
            url,
            None,
            Some(json!({"email": "new@example.com", "password": "short", "passwordConfirm": "short"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json["data"]["password"].is_object(), "{}", r.text());

    let long = "p".repeat(72);
    let r = app
        .send(
            Method::POST,
            url,
            None,
            Some(json!({"email": "new@example.com", "password": long, "passwordConfirm": long})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    let r = app.send(Method::POST, url, None, Some(json!({"email": "new@example.com", "password": "goodpassword", "passwordConfirm": "goodpassword", "verified": true}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "guests cannot verify themselves");
    assert!(r.json["data"]["verified"].is_object());

    let r = app
        .send(Method::POST, url, None, Some(json!({"email": "new@example.com", "password": "goodpassword", "passwordConfirm": "goodpassword", "name": "New"})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(!r.text().contains("goodpassword"));
    assert!(
        r.json.get("password").is_none() && r.json.get("tokenKey").is_none() && r.json.get("passwordConfirm").is_none()
    );
    let id = r.json["id"].as_str().unwrap().to_string();

    // the stored hash verifies
    let col = app.collection("users");
    let stored = app
        .state
        .store
        .get_record(
            &col,
            &id,
            &keel_data::RequestInfo::default(),
            keel_data::Access::Superuser,
        )
        .await
        .unwrap();
    assert!(keel_auth::verify_password(
        "goodpassword",
        stored.data["password"].as_str().unwrap()
    ));
    let token = app.sign(&stored, keel_auth::TokenKind::Auth);
    let rec_url = format!("{url}/{id}");

    // changing the password needs the old one
    let r = app
        .send(
            Method::PATCH,
            &rec_url,
            Some(&token),
            Some(json!({"password": "newpassword1", "passwordConfirm": "newpassword1"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json["data"]["oldPassword"]["code"],
        "validation_invalid_old_password",
        "{}",
        r.text()
    );
    let r = app
        .send(
            Method::PATCH,
            &rec_url,
            Some(&token),
            Some(
                json!({"password": "newpassword1", "passwordConfirm": "newpassword1", "oldPassword": "wrongpassword"}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app
        .send(
            Method::PATCH,
            &rec_url,
            Some(&token),
            Some(json!({"password": "newpassword1", "passwordConfirm": "newpassword1", "oldPassword": "goodpassword"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.json.get("password").is_none());

    // the email changes only through the email-change flow (or by a superuser)
    let stored = app
        .state
        .store
        .get_record(
            &col,
            &id,
            &keel_data::RequestInfo::default(),
            keel_data::Access::Superuser,
        )
        .await
        .unwrap();
    let token = app.sign(&stored, keel_auth::TokenKind::Auth);
    let r = app
        .send(
            Method::PATCH,
            &rec_url,
            Some(&token),
            Some(json!({"email": "other@example.com"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json["data"]["email"].is_object());
    let su = app.superuser().await;
    let r = app
        .send(
            Method::PATCH,
            &rec_url,
            Some(&su),
            Some(json!({"email": "other@example.com", "verified": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json["email"], "other@example.com");
    assert_eq!(r.json["verified"], true);

    // not even superusers see hashes or token keys
    let r = app.send(Method::GET, url, Some(&su), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        !r.text().contains("$argon2") && !r.text().contains("tokenKey"),
        "{}",
        r.text()
    );
}
