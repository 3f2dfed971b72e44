//! PocketBase's `authAlert` over HTTP, against a real SMTP server (aiosmtpd): a sign-in from
//! a device a record has not used before (not its first) emails the record.

#[path = "support/mail.rs"]
mod mail;
mod support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use mail::{MailApp, PW};
use serde_json::json;

async fn sign_in(m: &MailApp, email: &str, ip: &str, agent: &str) {
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/collections/users/auth-with-password")
        .header("content-type", "application/json")
        .header("x-forwarded-for", ip)
        .header("user-agent", agent)
        .body(Body::from(json!({"identity": email, "password": PW}).to_string()))
        .unwrap();
    let r = m.app.raw(req).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

#[tokio::test]
async fn a_sign_in_from_a_new_device_sends_one_alert() {
    let Some(m) = MailApp::start().await else { return };
    m.user("al@x.test", true, json!({})).await;
    m.patch_users(json!({"authAlert": {"enabled": true}})).await;

    // The first device, twice: the first sign-in ever is not an alert, a known device neither.
    sign_in(&m, "al@x.test", "10.0.0.1", "Firefox/140").await;
    sign_in(&m, "al@x.test", "10.0.0.1", "Firefox/140").await;
    // A new device: one alert naming it.
    sign_in(&m, "al@x.test", "10.0.0.2", "Chrome/150").await;
    let alert = m.mail_to("al@x.test", 1).await;
    assert_eq!(alert.subject.as_deref(), Some("Login from a new location"));
    let body = alert.html.clone().unwrap_or_default() + &alert.text.clone().unwrap_or_default();
    assert!(body.contains("Chrome/150") && body.contains("10.0.0.2"), "{body}");
    // Known again, then a third device: exactly one more alert.
    sign_in(&m, "al@x.test", "10.0.0.2", "Chrome/150").await;
    sign_in(&m, "al@x.test", "10.0.0.3", "Safari/20").await;
    m.mail_to("al@x.test", 2).await;
    assert_eq!(m.count_to("al@x.test").await, 2);
}

#[tokio::test]
async fn without_auth_alert_no_origins_are_kept() {
    let Some(m) = MailApp::start().await else { return };
    // On by default (PocketBase's default): turned off here.
    m.patch_users(json!({"authAlert": {"enabled": false}})).await;
    m.user("bo@x.test", true, json!({})).await;
    sign_in(&m, "bo@x.test", "10.0.0.1", "Firefox/140").await;
    let origins = m.app.state.store.collection("_authOrigins").unwrap();
    let page = m
        .app
        .state
        .store
        .list_records(
            &origins,
            &keel_data::ListParams::default(),
            &keel_data::RequestInfo::default(),
            keel_data::Access::Superuser,
        )
        .await
        .unwrap();
    // Only the superuser's own sign-in (its collection alerts, as PocketBase's) left one.
    let users = page
        .items
        .iter()
        .filter(|o| o.data.get("collectionRef").and_then(|v| v.as_str()) == Some(keel_data::schema::USERS_ID))
        .count();
    assert_eq!(users, 0);
}
