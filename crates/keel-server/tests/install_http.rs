//! `POST /api/install`: the first superuser from the one-time install link.

mod common;

use axum::http::{Method, StatusCode};
use common::App;
use serde_json::json;

fn body(token: &str, email: &str, password: &str, confirm: &str) -> Option<serde_json::Value> {
    Some(json!({"token": token, "email": email, "password": password, "passwordConfirm": confirm}))
}

/// `POST /api/install` with `token` for `email` and a valid password.
async fn install(app: &App, token: &str, email: &str) -> common::Resp {
    app.send(
        Method::POST,
        "/api/install",
        None,
        body(token, email, "long-password", "long-password"),
    )
    .await
}

#[tokio::test]
async fn the_install_link_makes_the_first_superuser_once() {
    let app = App::new().await;
    let token = app.state.installer.issue();

    // Bad input names its field; a wrong token is refused; neither uses the link.
    for (input, field) in [
        (body(&token, "not-an-email", "long-password", "long-password"), "email"),
        (body(&token, "ada@example.com", "short", "short"), "password"),
        (
            body(&token, "ada@example.com", "long-password", "other-password"),
            "passwordConfirm",
        ),
    ] {
        let r = app.send(Method::POST, "/api/install", None, input).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
        assert!(r.json["data"][field].is_object(), "{field}: {}", r.text());
    }
    let r = install(&app, "wrong-token", "ada@example.com").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(r.json["message"].as_str().unwrap().contains("not valid"));

    let r = install(&app, &token, "ada@example.com").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json["email"], "ada@example.com");

    // The superuser signs in; the audit trail says how it was made.
    let r = app
        .send(
            Method::POST,
            "/api/collections/_superusers/auth-with-password",
            None,
            Some(json!({"identity": "ada@example.com", "password": "long-password"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let su = r.json["token"].as_str().unwrap().to_string();
    let r = app
        .send(
            Method::GET,
            "/api/audit?filter=event%3D%22superuser.install%22",
            Some(&su),
            None,
        )
        .await;
    assert_eq!(
        r.json["items"][0]["details"]["email"],
        "ada@example.com",
        "{}",
        r.text()
    );

    // The link works once.
    let r = install(&app, &token, "eve@example.com").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
}

#[tokio::test]
async fn a_new_link_is_refused_once_a_superuser_exists() {
    let app = App::new().await;
    app.superuser().await;
    let token = app.state.installer.issue();
    let r = install(&app, &token, "eve@example.com").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(r.json["message"].as_str().unwrap().contains("A superuser exists"));
}

#[tokio::test]
async fn two_requests_racing_with_one_link_make_one_superuser() {
    let app = App::new().await;
    let token = app.state.installer.issue();
    let (a, b) = tokio::join!(
        install(&app, &token, "ada@example.com"),
        install(&app, &token, "eve@example.com")
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::FORBIDDEN],
        "{} / {}",
        a.text(),
        b.text()
    );
}
