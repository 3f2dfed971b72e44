//! OTP sign-in and MFA over HTTP, against a real SMTP server (aiosmtpd): the code is read
//! from the message that arrived. Without aiosmtpd a test prints why and returns (fails
//! under KEEL_TEST_REQUIRE_ENGINES=1).

#[path = "support/mail.rs"]
mod mail;
mod support;

use axum::http::StatusCode;
use mail::{assert_field_error, otp_code, MailApp, PW};
use serde_json::{json, Value};

#[tokio::test]
async fn otp_sign_in_works_once_and_unknown_emails_get_a_dead_id() {
    let Some(m) = MailApp::start().await else { return };
    let ann = m.user("ann@x.test", false, json!({})).await;
    let r = m.post("request-otp", None, json!({"email": "ann@x.test"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "OTP is off by default");
    m.patch_users(json!({"otp": {"enabled": true, "length": 6}})).await;

    let r = m.post("request-otp", None, json!({"email": "ann@x.test"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let otp_id = r.json["otpId"].as_str().unwrap().to_string();
    let mail = m.mail_to("ann@x.test", 1).await;
    assert_eq!(mail.subject.as_deref(), Some("OTP for Acme"));
    let code = otp_code(&mail);
    assert_eq!(code.len(), 6);

    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = m
        .post("auth-with-otp", None, json!({"otpId": otp_id, "password": wrong}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json["message"], "Failed to authenticate.");
    assert_field_error(
        &m.post("auth-with-otp", None, json!({"otpId": otp_id})).await,
        "password",
    );

    let r = m
        .post("auth-with-otp", None, json!({"otpId": otp_id, "password": code}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["record"]["email"], "ann@x.test");
    let token = r.json["token"].as_str().unwrap();
    assert_eq!(
        m.post("auth-refresh", Some(token), json!({})).await.status,
        StatusCode::OK
    );
    assert!(
        m.reload(ann.id()).await.data["verified"].as_bool().unwrap(),
        "OTP by email verifies"
    );
    let r = m
        .post("auth-with-otp", None, json!({"otpId": otp_id, "password": code}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "an OTP works once");

    let r = m.post("request-otp", None, json!({"email": "nobody@x.test"})).await;
    assert_eq!(r.status, StatusCode::OK);
    let ghost = r.json["otpId"].as_str().unwrap().to_string();
    assert_eq!(ghost.len(), otp_id.len());
    for guess in ["000000", "123456", &code] {
        let r = m
            .post("auth-with-otp", None, json!({"otpId": ghost, "password": guess}))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
    }
    assert_eq!(m.count_to("nobody@x.test").await, 0);
    let failures: Vec<Value> = m
        .audit("auth.login")
        .await
        .into_iter()
        .filter(|e| e["success"] == false)
        .collect();
    assert_eq!(failures.len(), 5, "{failures:?}");
    assert!(!serde_json::to_string(&m.audit("auth.otp_request").await)
        .unwrap()
        .contains(&code));
}

#[tokio::test]
async fn mfa_takes_a_password_then_an_otp() {
    let Some(m) = MailApp::start().await else { return };
    m.patch_users(json!({"otp": {"enabled": true}, "mfa": {"enabled": true}}))
        .await;
    m.user("ann@x.test", true, json!({})).await;
    let password = json!({"identity": "ann@x.test", "password": PW});

    let r = m.post("auth-with-password", None, password.clone()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    let mfa_id = r.json["mfaId"].as_str().unwrap().to_string();
    let mut twice = password.clone();
    twice["mfaId"] = json!(mfa_id);
    let r = m.post("auth-with-password", None, twice).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "same method twice: {}", r.text);

    let r = m.post("request-otp", None, json!({"email": "ann@x.test"})).await;
    let otp_id = r.json["otpId"].as_str().unwrap().to_string();
    let code = otp_code(&m.mail_to("ann@x.test", 1).await);
    let body = json!({"otpId": otp_id, "password": code, "mfaId": mfa_id});
    let r = m.post("auth-with-otp", None, body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.json["token"].is_string());
}
