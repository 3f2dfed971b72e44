//! Helpers of the email-flow tests: an app whose settings point at a real SMTP server
//! (aiosmtpd), reading what arrived, and the audit trail.
#![allow(dead_code)]

use std::time::Duration;

use axum::http::{Method, StatusCode};
use keel_data::{Access, ListParams, Record, RequestInfo};
use keel_testkit::smtp_server::{ReceivedMail, SmtpServer};
use serde_json::{json, Value};

use crate::support::{Resp, TestApp};

pub const PW: &str = "secret-password-1";

/// An app with SMTP pointed at a fresh aiosmtpd, and a superuser token. `None` (the test
/// returns early) when aiosmtpd is not installed and engines are not required.
pub struct MailApp {
    pub app: TestApp,
    pub smtp: SmtpServer,
    pub su: String,
}

impl MailApp {
    pub async fn start() -> Option<MailApp> {
        let smtp = SmtpServer::start()?;
        let app = TestApp::new().await;
        let su = app.superuser_token().await;
        let r = app
            .send(
                Method::PATCH,
                "/api/settings",
                Some(&su),
                Some(json!({
                    "meta": {"appName": "Acme", "appURL": "https://acme.test", "senderName": "Acme Support", "senderAddress": "support@acme.test"},
                    "smtp": {"enabled": true, "host": smtp.host, "port": smtp.port, "tls": false}
                })),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        Some(MailApp { app, smtp, su })
    }

    /// POSTs `body` to `/api/collections/users/{action}`.
    pub async fn post(&self, action: &str, token: Option<&str>, body: Value) -> Resp {
        self.app
            .send(
                Method::POST,
                &format!("/api/collections/users/{action}"),
                token,
                Some(body),
            )
            .await
    }

    /// A `users` record; `verified` as given, optional extra fields.
    pub async fn user(&self, email: &str, verified: bool, extra: Value) -> Record {
        let mut data = keel_data::store::obj(&[
            ("email", json!(email)),
            ("password", json!(keel_auth::hash_password(PW).unwrap())),
            ("verified", json!(verified)),
        ]);
        if let Value::Object(m) = extra {
            data.extend(m);
        }
        self.app
            .state
            .store
            .create_record(
                &self.app.collection("users"),
                data,
                &RequestInfo::default(),
                Access::Superuser,
            )
            .await
            .unwrap()
    }

    /// The current stored record.
    pub async fn reload(&self, id: &str) -> Record {
        let users = self.app.collection("users");
        self.app
            .state
            .store
            .get_record(&users, id, &RequestInfo::default(), Access::Superuser)
            .await
            .unwrap()
    }

    /// Waits for the `n`-th message to `to` and returns it.
    pub async fn mail_to(&self, to: &str, n: usize) -> ReceivedMail {
        for _ in 0..250 {
            let got = self.smtp.messages_to(to);
            if got.len() >= n {
                return got[n - 1].clone();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no message #{n} to {to} arrived; got {:?}", self.smtp.messages());
    }

    /// How many messages reached `to` once every email the app started sending is sent (or
    /// given up): a send still queued or running cannot hide behind a zero.
    pub async fn count_to(&self, to: &str) -> usize {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while !keel_app::outbox::settled(&self.app.state).await.unwrap() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the queued emails were not all sent"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.smtp.messages_to(to).len()
    }

    /// PATCHes the `users` collection as a superuser.
    pub async fn patch_users(&self, patch: Value) {
        let r = self
            .app
            .send(Method::PATCH, "/api/collections/users", Some(&self.su), Some(patch))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }

    /// Every audit entry of `event`, as JSON.
    pub async fn audit(&self, event: &str) -> Vec<Value> {
        let audit = self.app.collection("_audit");
        let params = ListParams {
            page: 1,
            per_page: 100,
            filter: Some(format!("event = '{event}'")),
            ..ListParams::default()
        };
        let page = self
            .app
            .state
            .store
            .list_records(&audit, &params, &RequestInfo::default(), Access::Superuser)
            .await
            .unwrap();
        page.items.into_iter().map(|r| Value::Object(r.data)).collect()
    }
}

/// The token in a default template's link `…/_/#/auth/{action}/{TOKEN}"`.
pub fn link_token(mail: &ReceivedMail, action: &str) -> String {
    let html = mail.html.as_deref().unwrap_or_default();
    let marker = format!("/_/#/auth/{action}/");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {action} link in {html}"))
        + marker.len();
    html[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
        .collect()
}

/// The code in the default OTP email (`<strong>{OTP}</strong>`).
pub fn otp_code(mail: &ReceivedMail) -> String {
    let html = mail.html.as_deref().unwrap_or_default();
    let start = html.find("<strong>").unwrap_or_else(|| panic!("no code in {html}")) + "<strong>".len();
    html[start..].chars().take_while(char::is_ascii_digit).collect()
}

/// Asserts a 400 whose `data` names `field`.
pub fn assert_field_error(r: &Resp, field: &str) {
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(
        r.json["data"][field]["code"].is_string(),
        "{field} not named: {}",
        r.text
    );
}
