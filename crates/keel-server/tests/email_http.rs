//! The email flows over HTTP (verification, password reset, email change, templates; OTP
//! sign-in and MFA are in `otp_http.rs`), against a real SMTP server (aiosmtpd): each test
//! reads the message that arrived, takes the token from it and completes the flow. Without
//! aiosmtpd a test prints why and returns (fails under KEEL_TEST_REQUIRE_ENGINES=1).

#[path = "support/mail.rs"]
mod mail;
mod support;

use axum::http::{Method, StatusCode};
use mail::{assert_field_error, link_token, otp_code, MailApp, PW};
use serde_json::json;

#[tokio::test]
async fn verification_sends_a_token_that_verifies_the_record() {
    let Some(m) = MailApp::start().await else { return };
    let ann = m.user("ann@x.test", false, json!({})).await;

    // Unknown emails get the same answer and no mail; a bad email is named.
    let r = m
        .post("request-verification", None, json!({"email": "nobody@x.test"}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_field_error(
        &m.post("request-verification", None, json!({"email": "nope"})).await,
        "email",
    );

    let r = m
        .post("request-verification", None, json!({"email": "ann@x.test"}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let mail = m.mail_to("ann@x.test", 1).await;
    assert_eq!(mail.subject.as_deref(), Some("Verify your Acme email"));
    let from = mail.from.clone().unwrap();
    assert_eq!(
        (from.name.as_deref(), from.email.as_str()),
        (Some("Acme Support"), "support@acme.test")
    );
    assert!(
        mail.text.as_deref().unwrap_or("").contains("Welcome to Acme"),
        "{:?}",
        mail.text
    );
    let token = link_token(&mail, "confirm-verification");

    let session = m.app.login("users", "ann@x.test", PW).await;
    for bad in ["", "not-a-token", session.as_str()] {
        assert_field_error(
            &m.post("confirm-verification", None, json!({"token": bad})).await,
            "token",
        );
    }
    assert!(!m.reload(ann.id()).await.data["verified"].as_bool().unwrap());
    let r = m.post("confirm-verification", None, json!({"token": token})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert!(m.reload(ann.id()).await.data["verified"].as_bool().unwrap());

    // Verified now: asking again sends nothing.
    let r = m
        .post("request-verification", None, json!({"email": "ann@x.test"}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(m.count_to("ann@x.test").await, 1);
    assert_eq!(m.count_to("nobody@x.test").await, 0);

    let audit = m.audit("auth.verification_request").await;
    assert_eq!(audit.len(), 3, "{audit:?}");
    assert_eq!(m.audit("auth.verification_confirm").await.len(), 4);
    let all = serde_json::to_string(&audit).unwrap();
    assert!(!all.contains(&token));
}

#[tokio::test]
async fn a_verification_token_is_refused_once_the_email_changed() {
    let Some(m) = MailApp::start().await else { return };
    let bob = m.user("bob@x.test", false, json!({})).await;
    m.post("request-verification", None, json!({"email": "bob@x.test"}))
        .await;
    let token = link_token(&m.mail_to("bob@x.test", 1).await, "confirm-verification");
    let users = m.app.collection("users");
    let data = keel_data::store::obj(&[("email", json!("bob2@x.test"))]);
    m.app
        .state
        .store
        .update_record(
            &users,
            bob.id(),
            data,
            &Default::default(),
            keel_data::Access::Superuser,
        )
        .await
        .unwrap();
    assert_field_error(
        &m.post("confirm-verification", None, json!({"token": token})).await,
        "token",
    );
    assert!(!m.reload(bob.id()).await.data["verified"].as_bool().unwrap());
}

#[tokio::test]
async fn password_reset_sets_the_password_once_and_ends_every_session() {
    let Some(m) = MailApp::start().await else { return };
    let ann = m.user("ann@x.test", false, json!({})).await;
    let old_session = m.app.login("users", "ann@x.test", PW).await;

    let r = m
        .post("request-password-reset", None, json!({"email": "nobody@x.test"}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = m
        .post("request-password-reset", None, json!({"email": "ann@x.test"}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let mail = m.mail_to("ann@x.test", 1).await;
    assert_eq!(mail.subject.as_deref(), Some("Reset your Acme password"));
    let token = link_token(&mail, "confirm-password-reset");

    let new_pw = "a-brand-new-password";
    let mismatch = json!({"token": token, "password": new_pw, "passwordConfirm": "other-password"});
    assert_field_error(
        &m.post("confirm-password-reset", None, mismatch).await,
        "passwordConfirm",
    );
    let short = json!({"token": token, "password": "short", "passwordConfirm": "short"});
    assert_field_error(&m.post("confirm-password-reset", None, short).await, "password");
    let blank = json!({"token": token, "password": "", "passwordConfirm": ""});
    assert_field_error(&m.post("confirm-password-reset", None, blank).await, "password");

    let ok = json!({"token": token, "password": new_pw, "passwordConfirm": new_pw});
    let r = m.post("confirm-password-reset", None, ok.clone()).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    // The old session is revoked, the new password works, the record got verified.
    let r = m.post("auth-refresh", Some(&old_session), json!({})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    m.app.login("users", "ann@x.test", new_pw).await;
    assert!(m.reload(ann.id()).await.data["verified"].as_bool().unwrap());
    // The token was signed with the old tokenKey: single use.
    let again = json!({"token": token, "password": "third-password-x", "passwordConfirm": "third-password-x"});
    assert_field_error(&m.post("confirm-password-reset", None, again).await, "token");
    m.app.login("users", "ann@x.test", new_pw).await;
    assert_eq!(m.count_to("nobody@x.test").await, 0);
    assert_eq!(m.audit("auth.password_reset_confirm").await.len(), 2);
}

#[tokio::test]
async fn email_change_mails_the_new_address_and_needs_the_password() {
    let Some(m) = MailApp::start().await else { return };
    let ann = m.user("ann@x.test", false, json!({})).await;
    m.user("taken@x.test", true, json!({})).await;
    let session = m.app.login("users", "ann@x.test", PW).await;

    let r = m
        .post("request-email-change", None, json!({"newEmail": "new@x.test"}))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    for bad in ["", "not-an-email", "taken@x.test", "ANN@x.test"] {
        let r = m
            .post("request-email-change", Some(&session), json!({"newEmail": bad}))
            .await;
        assert_field_error(&r, "newEmail");
    }
    let r = m
        .post(
            "request-email-change",
            Some(&session),
            json!({"newEmail": "new@x.test"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let mail = m.mail_to("new@x.test", 1).await;
    assert_eq!(mail.subject.as_deref(), Some("Confirm your Acme new email address"));
    assert_eq!(m.count_to("ann@x.test").await, 0);
    let token = link_token(&mail, "confirm-email-change");

    let wrong = json!({"token": token, "password": "wrong-password-1"});
    assert_field_error(&m.post("confirm-email-change", None, wrong).await, "password");
    assert_field_error(
        &m.post("confirm-email-change", None, json!({"token": "x", "password": PW}))
            .await,
        "token",
    );
    let r = m
        .post("confirm-email-change", None, json!({"token": token, "password": PW}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);

    let now = m.reload(ann.id()).await;
    assert_eq!(now.data["email"], "new@x.test");
    assert_eq!(now.data["verified"], true);
    let r = m.post("auth-refresh", Some(&session), json!({})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "the old session must end");
    m.app.login("users", "new@x.test", PW).await;
    let r = m
        .post("confirm-email-change", None, json!({"token": token, "password": PW}))
        .await;
    assert_field_error(&r, "token");
}

#[tokio::test]
async fn edited_templates_are_used_and_hostile_names_add_no_header() {
    let Some(m) = MailApp::start().await else { return };
    m.patch_users(json!({
        "verificationTemplate": {"subject": "Hi {RECORD:name}, check {APP_NAME}"},
        "otp": {"enabled": true, "emailTemplate": {"subject": "Code {OTP_ID}", "body": "<p>Code: <strong>{OTP}</strong></p>"}}
    }))
    .await;
    m.user("eve@x.test", false, json!({"name": "Eve\r\nBcc: victim@evil.test"}))
        .await;

    let r = m
        .post("request-verification", None, json!({"email": "eve@x.test"}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let mail = m.mail_to("eve@x.test", 1).await;
    assert_eq!(mail.subject.as_deref(), Some("Hi EveBcc: victim@evil.test, check Acme"));
    assert!(mail.header("Bcc").is_empty(), "{:?}", mail.headers);
    assert_eq!(mail.envelope_to, ["eve@x.test"]);
    assert_eq!(m.count_to("victim@evil.test").await, 0);
    // An empty body fell back to the default one.
    link_token(&mail, "confirm-verification");

    let r = m.post("request-otp", None, json!({"email": "eve@x.test"})).await;
    let otp_id = r.json["otpId"].as_str().unwrap().to_string();
    let mail = m.mail_to("eve@x.test", 2).await;
    assert_eq!(mail.subject, Some(format!("Code {otp_id}")));
    assert_eq!(otp_code(&mail).len(), 8);
}

#[tokio::test]
async fn with_smtp_disabled_requests_answer_the_same_and_send_nothing() {
    let Some(m) = MailApp::start().await else { return };
    let r = m
        .app
        .send(
            Method::PATCH,
            "/api/settings",
            Some(&m.su),
            Some(json!({"smtp": {"enabled": false}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    m.user("ann@x.test", false, json!({})).await;
    for action in ["request-verification", "request-password-reset"] {
        let r = m.post(action, None, json!({"email": "ann@x.test"})).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{action}");
    }
    assert_eq!(m.count_to("ann@x.test").await, 0);
}

#[tokio::test]
async fn an_email_the_server_could_not_take_is_sent_again() {
    if !keel_testkit::smtp_server::SmtpServer::available() {
        return;
    }
    // The mail server's port: first a listener that hangs up on Keel, then aiosmtpd.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = support::TestApp::new().await;
    let su = app.superuser_token().await;
    let settings = json!({
        "meta": {"appName": "Acme", "senderName": "Acme", "senderAddress": "support@acme.test"},
        "smtp": {"enabled": true, "host": "127.0.0.1", "port": port, "tls": false}
    });
    let r = app
        .send(Method::PATCH, "/api/settings", Some(&su), Some(settings))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    app.create_auth("users", "retry@x.test", PW).await;

    let r = app
        .send(
            Method::POST,
            "/api/collections/users/request-password-reset",
            None,
            Some(json!({"email": "retry@x.test"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    // The first attempt reaches a server that hangs up: it fails.
    let (conn, _) = tokio::time::timeout(std::time::Duration::from_secs(30), listener.accept())
        .await
        .expect("Keel tried to send the email")
        .unwrap();
    drop(conn);
    drop(listener);

    // The failed attempt shows in the jobs API, on Keel's own mail queue; the job names the
    // template and the address, never the token.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let job = loop {
        let r = app
            .send(Method::GET, "/api/queues/_keel-mail/jobs", Some(&su), None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let first = r.json["items"][0].clone();
        if first["errors"].as_array().is_some_and(|e| !e.is_empty()) {
            break first;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no failed attempt recorded: {}",
            r.text
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(job["payload"]["template"], "resetPassword", "{job}");
    assert_eq!(job["payload"]["to"], "retry@x.test", "{job}");
    assert!(job["payload"].get("token").is_none(), "{job}");
    assert!(
        job["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("password reset email failed"),
        "{job}"
    );

    // Now a real server on that port: a later attempt delivers.
    let smtp = keel_testkit::smtp_server::SmtpServer::start_on(port).unwrap();
    let got = smtp.wait_for_messages(1, std::time::Duration::from_secs(45)).await;
    assert_eq!(got.len(), 1, "the email was sent again: {got:?}");
    assert!(got[0].to.iter().any(|a| a.email == "retry@x.test"), "{:?}", got[0].to);
    assert!(
        got[0].subject.as_deref().unwrap_or("").contains("password"),
        "{:?}",
        got[0].subject
    );
}

#[tokio::test]
async fn two_racing_confirmations_of_one_reset_token_let_one_through() {
    let Some(m) = MailApp::start().await else { return };
    m.user("race@x.test", true, json!({})).await;
    let r = m
        .post("request-password-reset", None, json!({"email": "race@x.test"}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let token = link_token(&m.mail_to("race@x.test", 1).await, "confirm-password-reset");

    let confirm = |pw: &'static str| {
        m.post(
            "confirm-password-reset",
            None,
            json!({"token": token, "password": pw, "passwordConfirm": pw}),
        )
    };
    let (a, b) = tokio::join!(confirm("first-new-password"), confirm("second-new-password"));
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::NO_CONTENT, StatusCode::BAD_REQUEST],
        "{} / {}",
        a.text,
        b.text
    );
    let (won, lost) = if a.status == StatusCode::NO_CONTENT {
        (&a, &b)
    } else {
        (&b, &a)
    };
    assert_field_error(lost, "token");
    let pw = if std::ptr::eq(won, &a) {
        "first-new-password"
    } else {
        "second-new-password"
    };
    m.app.login("users", "race@x.test", pw).await;
}

/// Keel's own queues (`_keel-…`) are read through the jobs API like any other, but nobody,
/// not even a superuser, enqueues into or claims from them, or points them at a push URL.
#[tokio::test]
async fn keels_own_mail_queue_is_read_only_through_the_api() {
    let app = support::TestApp::new().await;
    let su = app.superuser_token().await;
    let r = app
        .send(
            Method::POST,
            "/api/queues/_keel-mail/jobs",
            Some(&su),
            Some(json!({"payload": {}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert!(
        r.json["message"].as_str().unwrap_or("").contains("Keel's own"),
        "{}",
        r.text
    );
    let r = app
        .send(Method::POST, "/api/queues/_keel-mail/claim", Some(&su), Some(json!({})))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = app
        .send(
            Method::PATCH,
            "/api/queues/_keel-mail",
            Some(&su),
            Some(json!({"pushUrl": "https://example.com/hook"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.json["data"]["pushUrl"].is_object(), "{}", r.text);
    let r = app
        .send(Method::GET, "/api/queues/_keel-mail/jobs", Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // Other queues whose names merely start with '_' are the user's.
    let r = app
        .send(
            Method::POST,
            "/api/queues/_mine/jobs",
            Some(&su),
            Some(json!({"payload": {}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

/// Creates the notifications template `name` as the superuser.
async fn notification_template(m: &MailApp, body: serde_json::Value) {
    let r = m
        .app
        .send(Method::POST, "/api/notifications/templates", Some(&m.su), Some(body))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

#[tokio::test]
async fn auth_emails_are_notification_templates_per_locale_unless_the_collection_has_its_own() {
    let Some(m) = MailApp::start().await else { return };
    // A `locale` field on users picks the template's locale variant.
    let users = m
        .app
        .send(Method::GET, "/api/collections/users", Some(&m.su), None)
        .await;
    let mut fields = users.json["fields"].as_array().unwrap().clone();
    fields.push(json!({"name": "locale", "type": "text"}));
    m.patch_users(json!({"fields": fields})).await;
    notification_template(
        &m,
        json!({"name": "auth.verification", "subject": "Confirm {{ record.email }} for {{ app_name }}",
               "text": "Open {{ action_url }} ({{ collection }})",
               "html": "<p><a href=\"{{ action_url }}\">Confirm</a> {{ record.name }}</p>"}),
    )
    .await;
    notification_template(
        &m,
        json!({"name": "auth.verification", "locale": "de", "subject": "Willkommen bei {{ app_name }}",
               "text": "Bitte bestätigen: {{ action_url }}"}),
    )
    .await;
    // A template naming a value it never gets: the default is sent instead.
    notification_template(
        &m,
        json!({"name": "auth.resetPassword", "subject": "Reset {{ no_such_value }}", "text": "x"}),
    )
    .await;
    m.user("ann@x.test", false, json!({"name": "<Ann>"})).await;
    m.user("hans@x.test", false, json!({"locale": "de-AT"})).await;

    m.post("request-verification", None, json!({"email": "ann@x.test"}))
        .await;
    let mail = m.mail_to("ann@x.test", 1).await;
    assert_eq!(mail.subject.as_deref(), Some("Confirm ann@x.test for Acme"));
    let text = mail.text.clone().unwrap_or_default();
    assert!(
        text.starts_with("Open https://acme.test/_/#/auth/confirm-verification/"),
        "{text}"
    );
    assert!(text.contains("(users)"), "{text}");
    let html = mail.html.clone().unwrap_or_default();
    assert!(html.contains("&lt;Ann&gt;"), "the HTML part escapes values: {html}");
    let token = text
        .split("confirm-verification/")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    let r = m.post("confirm-verification", None, json!({"token": token})).await;
    assert_eq!(
        r.status,
        StatusCode::NO_CONTENT,
        "the template's link works: {}",
        r.text
    );

    m.post("request-verification", None, json!({"email": "hans@x.test"}))
        .await;
    let mail = m.mail_to("hans@x.test", 1).await;
    assert_eq!(mail.subject.as_deref(), Some("Willkommen bei Acme"), "de-AT → de");
    assert!(
        mail.html
            .as_deref()
            .unwrap_or_default()
            .contains("/_/#/auth/confirm-verification/"),
        "a text-only template gets an HTML part: {:?}",
        mail.html
    );

    m.post("request-password-reset", None, json!({"email": "ann@x.test"}))
        .await;
    let mail = m.mail_to("ann@x.test", 2).await;
    assert_eq!(
        mail.subject.as_deref(),
        Some("Reset your Acme password"),
        "a template that does not render falls back to the default"
    );
    link_token(&mail, "confirm-password-reset");

    // The collection's own (PocketBase) template wins over the notifications one.
    m.patch_users(json!({"verificationTemplate": {"subject": "Own {APP_NAME}"}}))
        .await;
    m.post("request-verification", None, json!({"email": "hans@x.test"}))
        .await;
    let mail = m.mail_to("hans@x.test", 2).await;
    assert_eq!(mail.subject.as_deref(), Some("Own Acme"));
}

#[tokio::test]
async fn auth_emails_go_through_the_configured_email_provider_when_smtp_settings_are_off() {
    let Some(m) = MailApp::start().await else { return };
    let r = m
        .app
        .send(
            Method::PATCH,
            "/api/settings",
            Some(&m.su),
            Some(json!({"smtp": {"enabled": false}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let provider = json!({"name": "relay", "kind": "smtp", "host": m.smtp.host, "port": m.smtp.port,
                          "tls": "none", "from": "noreply@relay.test", "from_name": "Relay"});
    let cfg = keel_core::config::NotifyConfig {
        providers: vec![provider.as_object().unwrap().clone()],
        ..Default::default()
    };
    let guard = keel_core::outbound::OutboundGuard::new(&Default::default()).unwrap();
    let notifiers = keel_notify::providers::build(&cfg, &guard).unwrap();
    m.app.state.notifications.set_notifiers(notifiers);
    m.user("ann@x.test", false, json!({})).await;

    m.post("request-verification", None, json!({"email": "ann@x.test"}))
        .await;
    let mail = m.mail_to("ann@x.test", 1).await;
    assert_eq!(mail.from.as_ref().map(|f| f.email.as_str()), Some("noreply@relay.test"));
    assert_eq!(mail.subject.as_deref(), Some("Verify your Acme email"));
    link_token(&mail, "confirm-verification");
}
