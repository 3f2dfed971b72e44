//! `GET /api/audit`: the audit trail as a PocketBase list (paging, sort, filter, skipTotal),
//! with sign-in entries that carry the client's address and never a password.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{App, Resp};
use serde_json::json;

const PW: &str = "correct-horse-battery";

async fn sign_in(app: &App, password: &str, ip: &str) -> Resp {
    let body = json!({"identity": "alice@example.com", "password": password}).to_string();
    let req = Request::post("/api/collections/users/auth-with-password")
        .header("content-type", "application/json")
        .header("x-forwarded-for", format!("{ip}, 10.0.0.1"))
        .header("user-agent", "audit-test/1.0")
        .body(Body::from(body))
        .unwrap();
    app.raw(req).await
}

async fn audit(app: &App, token: &str, query: &str) -> Resp {
    app.send(Method::GET, &format!("/api/audit{query}"), Some(token), None)
        .await
}

#[tokio::test]
async fn sign_ins_are_audited_and_filterable() {
    let app = App::new().await;
    let su = app.superuser().await;
    let (alice, _) = app.auth_record("users", "alice@example.com", PW).await;

    assert_eq!(
        sign_in(&app, "wrong-password-1", "203.0.113.7").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(sign_in(&app, PW, "198.51.100.9").await.status, StatusCode::OK);

    let r = audit(&app, &su, "?filter=event%3D'auth.login'").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        (r.json["page"].clone(), r.json["perPage"].clone()),
        (json!(1), json!(30))
    );
    assert_eq!(
        (r.json["totalItems"].clone(), r.json["totalPages"].clone()),
        (json!(2), json!(1))
    );
    let items = r.json["items"].as_array().unwrap();
    // Newest first by default.
    assert_eq!(items[0]["success"], true);
    assert_eq!(items[0]["ip"], "198.51.100.9");
    assert_eq!(items[0]["recordRef"], alice.id());
    assert_eq!(items[0]["actor"], format!("users/{}", alice.id()));
    assert_eq!(items[0]["userAgent"], "audit-test/1.0");
    assert_eq!(items[1]["success"], false);
    assert_eq!(items[1]["ip"], "203.0.113.7");
    assert_eq!(items[1]["identity"], "alice@example.com");
    assert!(items[0]["created"].as_str().unwrap() >= items[1]["created"].as_str().unwrap());
    assert!(
        !r.text().contains("wrong-password-1") && !r.text().contains(PW),
        "{}",
        r.text()
    );

    let r = audit(&app, &su, "?filter=event%3D'auth.login'%20%26%26%20success%3Dfalse").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json["totalItems"], 1, "{}", r.text());
    assert_eq!(r.json["items"][0]["ip"], "203.0.113.7");

    let r = audit(
        &app,
        &su,
        "?filter=event%3D'auth.login'&sort=created&perPage=1&skipTotal=1",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json["perPage"], 1);
    assert_eq!(r.json["items"].as_array().unwrap().len(), 1);
    assert_eq!(r.json["items"][0]["success"], false);
    let r = audit(
        &app,
        &su,
        "?filter=event%3D'auth.login'&perPage=1&page=2&fields=event,success",
    )
    .await;
    assert_eq!(
        r.json["items"],
        json!([{"event": "auth.login", "success": false}]),
        "{}",
        r.text()
    );

    let r = audit(&app, &su, "?filter=nosuchfield%3D1").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.json["data"]["filter"].is_object(), "{}", r.text());
    let r = audit(
        &app,
        &su,
        "?filter=created%3E'2020-01-01%2000%3A00%3A00.000Z'%20%26%26%20event%3D'auth.login'",
    )
    .await;
    assert_eq!(r.json["totalItems"], 2, "{}", r.text());
    assert_eq!(audit(&app, &su, "?perPage=0").await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_trail_needs_audit_read() {
    let app = App::new().await;
    let su = app.superuser().await;
    let (alice, alice_token) = app.auth_record("users", "alice@example.com", PW).await;
    assert_eq!(
        app.send(Method::GET, "/api/audit", None, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = audit(&app, &alice_token, "").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(
        r.json["message"].as_str().unwrap().contains("audit:read"),
        "{}",
        r.text()
    );

    // The built-in operator role reads the trail, but a filter cannot reach other collections
    // (`@collection` is for superusers, as in PocketBase).
    let uri = format!("/api/roles/operator/members/users/{}", alice.id());
    assert_eq!(
        app.send(Method::PUT, &uri, Some(&su), None).await.status,
        StatusCode::OK
    );
    let r = audit(&app, &alice_token, "?filter=event%3D'role.assign'").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json["items"][0]["recordRef"], alice.id());
    let probe = "?filter=@collection.users.password%20~%20'argon'";
    let r = audit(&app, &alice_token, probe).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert_eq!(r.json["message"], "Only superusers can filter by @collection.");
}
