//! Second factors and sign-in protection over HTTP: TOTP enrolment and sign-in (with
//! replay refused), recovery codes, PocketBase-style MFA, lockout after failed sign-ins,
//! impersonation, revoking every session, and rate limits.

mod support;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use support::{Resp, TestApp};

const PW: &str = "secret-password-1";

async fn password(app: &TestApp, email: &str, pw: &str, mfa_id: Option<&str>) -> Resp {
    let mut body = json!({"identity": email, "password": pw});
    if let Some(m) = mfa_id {
        body["mfaId"] = json!(m);
    }
    app.send(
        Method::POST,
        "/api/collections/users/auth-with-password",
        None,
        Some(body),
    )
    .await
}

fn now() -> u64 {
    chrono::Utc::now().timestamp() as u64
}

/// Enrols TOTP for the signed-in user; returns (secret, recovery codes).
async fn enrol(app: &TestApp, token: &str) -> (String, Vec<String>) {
    let r = app
        .send(Method::POST, "/api/collections/users/totp/setup", Some(token), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let secret = r.json["secret"].as_str().unwrap().to_string();
    assert!(
        r.json["uri"].as_str().unwrap().starts_with("otpauth://totp/"),
        "{}",
        r.text
    );
    let code = keel_auth::totp::code_at(&secret, now()).unwrap();
    let r = app
        .send(
            Method::POST,
            "/api/collections/users/totp/confirm",
            Some(token),
            Some(json!({"code": code})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let codes: Vec<String> = r.json["recoveryCodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

async fn totp_step(app: &TestApp, body: Value) -> Resp {
    app.send(Method::POST, "/api/collections/users/auth-with-totp", None, Some(body))
        .await
}

#[tokio::test]
async fn totp_is_a_required_second_factor_and_codes_cannot_be_replayed() {
    let app = TestApp::new().await;
    app.create_auth("users", "ada@example.com", PW).await;
    let token = app.login("users", "ada@example.com", PW).await;
    let (secret, recovery) = enrol(&app, &token).await;
    let r = app
        .send(Method::GET, "/api/collections/users/totp", Some(&token), None)
        .await;
    assert_eq!(r.json["enabled"], true);

    // The password alone is now only a first step.
    let r = password(&app, "ada@example.com", PW, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    assert!(r.json.get("token").is_none());
    let mfa_id = r.json["mfaId"].as_str().unwrap().to_string();

    let r = totp_step(&app, json!({"mfaId": mfa_id, "code": "000000"})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "a wrong code: {}", r.text);
    // The enrolment code's step is used up; the next step's code is fresh.
    let code = keel_auth::totp::code_at(&secret, now() + 30).unwrap();
    let r = totp_step(&app, json!({"mfaId": mfa_id, "code": code})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.json["token"].as_str().is_some_and(|t| !t.is_empty()));

    // The MFA session is gone and the same code is refused on a new one.
    let r = totp_step(&app, json!({"mfaId": mfa_id, "code": code})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    let mfa_id = password(&app, "ada@example.com", PW, None).await.json["mfaId"]
        .as_str()
        .unwrap()
        .to_string();
    let r = totp_step(&app, json!({"mfaId": mfa_id, "code": code})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "a replayed code: {}", r.text);

    // A recovery code works once.
    let r = totp_step(&app, json!({"mfaId": mfa_id, "recoveryCode": recovery[0]})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let mfa_id = password(&app, "ada@example.com", PW, None).await.json["mfaId"]
        .as_str()
        .unwrap()
        .to_string();
    let r = totp_step(&app, json!({"mfaId": mfa_id, "recoveryCode": recovery[0]})).await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "a replayed recovery code: {}",
        r.text
    );

    // A password step cannot stand in for the TOTP step.
    let r = password(&app, "ada@example.com", PW, Some(&mfa_id)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);

    // Disabling needs a valid code; afterwards the password is enough again.
    let r = app
        .send(
            Method::POST,
            "/api/collections/users/totp/disable",
            Some(&token),
            Some(json!({"code": "123456"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let r = app
        .send(
            Method::POST,
            "/api/collections/users/totp/disable",
            Some(&token),
            Some(json!({"recoveryCode": recovery[1]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(password(&app, "ada@example.com", PW, None).await.status, StatusCode::OK);

    // Every step is in the audit trail, never a code.
    let audit = app.state.store.collection("_audit").unwrap();
    let page = app
        .state
        .store
        .list_records(
            &audit,
            &keel_data::ListParams {
                per_page: 100,
                ..Default::default()
            },
            &keel_data::RequestInfo::default(),
            keel_data::Access::Superuser,
        )
        .await
        .unwrap();
    let events: Vec<String> = page
        .items
        .iter()
        .map(|r| format!("{}:{}", r.data["event"].as_str().unwrap(), r.data["success"]))
        .collect();
    for e in [
        "totp.enable:true",
        "auth.mfa_required:true",
        "auth.mfa:true",
        "totp.disable:false",
        "totp.disable:true",
    ] {
        assert!(events.iter().any(|x| x == e), "{e} missing from {events:?}");
    }
    let dump = serde_json::to_string(&page.items.iter().map(|r| &r.data).collect::<Vec<_>>()).unwrap();
    assert!(!dump.contains(&code) && !dump.contains(&recovery[0]) && !dump.contains(PW));
}

#[tokio::test]
async fn collection_mfa_needs_a_second_different_method() {
    let app = TestApp::new().await;
    app.create_auth("users", "bo@example.com", PW).await;
    app.state
        .store
        .update_collection("users", json!({"mfa": {"enabled": true, "duration": 600, "rule": ""}}))
        .await
        .unwrap();
    let r = password(&app, "bo@example.com", PW, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    let mfa_id = r.json["mfaId"].as_str().unwrap().to_string();
    let r = password(&app, "bo@example.com", PW, Some(&mfa_id)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "the same method twice: {}", r.text);
    assert!(r.json["message"].as_str().unwrap().contains("different"), "{}", r.text);
    let r = password(&app, "bo@example.com", PW, Some("nosuchmfa000000")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
}

#[tokio::test]
async fn repeated_failures_lock_the_identity_out_with_retry_after() {
    let mut app = TestApp::new().await;
    let mut config = (*app.state.config).clone();
    config.auth.lockout_attempts = 3;
    config.auth.lockout_secs = 600;
    app.state.edit().config = Arc::new(config);
    app.create_auth("users", "cy@example.com", PW).await;
    app.create_auth("users", "di@example.com", PW).await;
    for _ in 0..3 {
        let r = password(&app, "cy@example.com", "wrong-password", None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    }
    // Locked out now, even with the right password; another identity is not.
    let r = password(&app, "CY@example.com", PW, None).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    let wait: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=600).contains(&wait), "{wait}");
    assert_eq!(password(&app, "di@example.com", PW, None).await.status, StatusCode::OK);
    // The counters live in a namespace of Keel's own that the cache API refuses, even to a
    // superuser: clearing it cannot unlock the account.
    let su = app.superuser_token().await;
    for (method, uri) in [
        (Method::DELETE, "/api/cache/keel-auth-lockout"),
        (Method::GET, "/api/cache/keel-auth-lockout"),
        (Method::PUT, "/api/cache/keel-auth-lockout/x"),
        (Method::POST, "/api/cache/keel-ratelimit/x/incr"),
    ] {
        let r = app.send(method.clone(), uri, Some(&su), Some(json!(0))).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {uri}: {}", r.text);
        assert!(r.text.contains("reserved"), "{}", r.text);
    }
    let r = password(&app, "cy@example.com", PW, None).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
}

#[tokio::test]
async fn parallel_wrong_passwords_check_at_most_the_limit() {
    let mut app = TestApp::new().await;
    let mut config = (*app.state.config).clone();
    config.auth.lockout_attempts = 5;
    config.auth.lockout_secs = 600;
    app.state.edit().config = Arc::new(config);
    app.create_auth("users", "fa@example.com", PW).await;
    let app = Arc::new(app);
    let tries: Vec<_> = (0..60)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { password(&app, "fa@example.com", "wrong-password", None).await.status })
        })
        .collect();
    let mut checked = 0;
    for t in tries {
        match t.await.unwrap() {
            StatusCode::BAD_REQUEST => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected {other}"),
        }
    }
    // Each attempt is counted before its password is checked: only the first five are.
    assert_eq!(checked, 5, "passwords checked");
    let r = password(&app, "fa@example.com", PW, None).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
}

#[tokio::test]
async fn superusers_impersonate_with_a_token_that_cannot_be_refreshed() {
    let app = TestApp::new().await;
    let user = app.create_auth("users", "ed@example.com", PW).await;
    let su = app.superuser_token().await;
    let path = format!("/api/collections/users/impersonate/{}", user.id());
    let r = app
        .send(Method::POST, &path, Some(&su), Some(json!({"duration": 60})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let token = r.json["token"].as_str().unwrap().to_string();
    assert_eq!(r.json["record"]["id"], user.id());
    let r = app
        .send(
            Method::GET,
            &format!("/api/collections/users/records/{}", user.id()),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "the token works: {}", r.text);
    let r = app
        .send(Method::POST, "/api/collections/users/auth-refresh", Some(&token), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);

    // Only superusers impersonate.
    let own = app.login("users", "ed@example.com", PW).await;
    let r = app.send(Method::POST, &path, Some(&own), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = app
        .send(Method::POST, &path, Some(&su), Some(json!({"duration": -5})))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.json["data"]["duration"].is_object(), "{}", r.text);
}

#[tokio::test]
async fn revoking_sessions_refuses_every_earlier_token() {
    let app = TestApp::new().await;
    let user = app.create_auth("users", "fy@example.com", PW).await;
    let first = app.login("users", "fy@example.com", PW).await;
    let second = app.login("users", "fy@example.com", PW).await;
    let r = app
        .send(Method::POST, "/api/collections/users/auth-revoke", Some(&first), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    for t in [&first, &second] {
        let r = app
            .send(Method::POST, "/api/collections/users/auth-refresh", Some(t), None)
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "a revoked token refreshes: {}",
            r.text
        );
    }
    // A fresh sign-in works; a superuser can revoke it too, a guest cannot.
    let third = app.login("users", "fy@example.com", PW).await;
    let r = app
        .send(
            Method::POST,
            "/api/collections/users/auth-revoke",
            None,
            Some(json!({"id": user.id()})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let su = app.superuser_token().await;
    let r = app
        .send(
            Method::POST,
            "/api/collections/users/auth-revoke",
            Some(&su),
            Some(json!({"id": user.id()})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = app
        .send(Method::POST, "/api/collections/users/auth-refresh", Some(&third), None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn rate_limits_match_the_collection_reached_and_only_valid_credentials_count_as_auth() {
    let app = TestApp::new().await;
    app.create_auth("users", "ha@example.com", PW).await;
    let su = app.superuser_token().await;
    let users_id = app.state.store.collection("users").unwrap().id.clone();
    let settings = json!({"rateLimits": {"enabled": true,
        "rules": [{"label": "users:auth", "maxRequests": 1, "duration": 600, "audience": "@guest"}]}});
    let r = app
        .send(Method::PATCH, "/api/settings", Some(&su), Some(settings))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let sign_in = |path: String, junk_auth: bool| {
        let mut b = axum::http::Request::builder()
            .method(Method::POST)
            .uri(path)
            .header("content-type", "application/json")
            .header("x-forwarded-for", "10.1.1.1");
        if junk_auth {
            b = b.header("authorization", "Bearer not-a-token");
        }
        b.body(axum::body::Body::from(
            json!({"identity": "ha@example.com", "password": PW}).to_string(),
        ))
        .unwrap()
    };
    let first = app
        .raw(sign_in("/api/collections/users/auth-with-password".into(), false))
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    for (path, junk) in [
        (format!("/api/collections/{users_id}/auth-with-password"), false),
        ("/api/collections/Users/auth-with-password".to_string(), false),
        ("/api/collections/%75sers/auth-with-password".to_string(), false),
        ("/api/collections/users/auth-with-password".to_string(), true),
    ] {
        let r = app.raw(sign_in(path.clone(), junk)).await;
        assert_eq!(
            r.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{path} (junk auth: {junk}): {}",
            r.text
        );
    }
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after_and_honour_exclusions() {
    let app = TestApp::new().await;
    app.create_auth("users", "gi@example.com", PW).await;
    let su = app.superuser_token().await;
    let settings = json!({"trustedProxy": {"headers": ["X-Forwarded-For"], "useLeftmostIP": true},
        "rateLimits": {"enabled": true, "excludedIPs": ["10.0.0.9"],
        "rules": [{"label": "*:auth", "maxRequests": 2, "duration": 60, "audience": ""}]}});
    let r = app
        .send(Method::PATCH, "/api/settings", Some(&su), Some(settings))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let from = |ip: &str| {
        axum::http::Request::builder()
            .method(Method::POST)
            .uri("/api/collections/users/auth-with-password")
            .header("content-type", "application/json")
            .header("x-forwarded-for", ip)
            .body(axum::body::Body::from(
                json!({"identity": "gi@example.com", "password": PW}).to_string(),
            ))
            .unwrap()
    };
    for _ in 0..2 {
        assert_eq!(app.raw(from("10.0.0.1")).await.status, StatusCode::OK);
    }
    let r = app.raw(from("10.0.0.1")).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    assert!(r.headers["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(app.raw(from("10.0.0.2")).await.status, StatusCode::OK, "another client");
    for _ in 0..4 {
        assert_eq!(
            app.raw(from("10.0.0.9")).await.status,
            StatusCode::OK,
            "an excluded client"
        );
    }

    // The audit trail records the address the trusted header gives; a client cannot set it.
    let mut spoof = from("10.0.0.3");
    spoof
        .headers_mut()
        .insert("x-keel-client-ip", "6.6.6.6".parse().unwrap());
    assert_eq!(app.raw(spoof).await.status, StatusCode::OK);
    let audit = app.state.store.collection("_audit").unwrap();
    let page = app
        .state
        .store
        .list_records(
            &audit,
            &keel_data::ListParams {
                per_page: 100,
                filter: Some("event = 'auth.login'".into()),
                ..Default::default()
            },
            &keel_data::RequestInfo::default(),
            keel_data::Access::Superuser,
        )
        .await
        .unwrap();
    let ips: Vec<&str> = page.items.iter().map(|r| r.data["ip"].as_str().unwrap()).collect();
    assert!(ips.contains(&"10.0.0.3") && ips.contains(&"10.0.0.1"), "{ips:?}");
    assert!(!ips.contains(&"6.6.6.6"), "{ips:?}");
}

#[tokio::test]
async fn parallel_failures_all_count_towards_the_lockout() {
    let mut app = TestApp::new().await;
    let mut config = (*app.state.config).clone();
    config.auth.lockout_attempts = 6;
    app.state.edit().config = Arc::new(config);
    app.create_auth("users", "hu@example.com", PW).await;
    let tries = (0..6).map(|_| password(&app, "hu@example.com", "wrong-password", None));
    for r in futures::future::join_all(tries).await {
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    }
    let r = password(&app, "hu@example.com", PW, None).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
}
