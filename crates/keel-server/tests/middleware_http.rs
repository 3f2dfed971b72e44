//! The middleware stack every route is served through: a request id on every answer (kept when
//! the client sends one), PocketBase's CORS answers, and the same on unmatched paths.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::App;

#[tokio::test]
async fn every_answer_carries_a_request_id_and_keeps_the_clients() {
    let app = App::new().await;
    let r = app.send(Method::GET, "/api/health", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let id = r.header("x-request-id");
    assert_eq!(id.len(), 36, "a UUID: {id:?}");

    let req = Request::builder()
        .uri("/api/health")
        .header("x-request-id", "client-chosen-42")
        .body(Body::empty())
        .unwrap();
    let r = app.raw(req).await;
    assert_eq!(r.header("x-request-id"), "client-chosen-42");

    // An unmatched path goes through the same stack.
    let r = app.send(Method::GET, "/api/no-such-thing", None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.header("x-request-id").len(), 36);
}

#[tokio::test]
async fn cors_answers_preflights_and_marks_answers_for_any_origin() {
    let app = App::new().await;
    let req = Request::builder()
        .method(Method::OPTIONS)
        .uri("/api/collections/users/records")
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "PATCH")
        .header("access-control-request-headers", "authorization, content-type")
        .body(Body::empty())
        .unwrap();
    let r = app.raw(req).await;
    assert!(r.status.is_success(), "{}", r.status);
    assert_eq!(r.header("access-control-allow-origin"), "*");
    assert!(
        r.header("access-control-allow-methods").contains("PATCH"),
        "{:?}",
        r.headers
    );
    assert!(!r.header("x-request-id").is_empty(), "preflights get a request id too");

    let req = Request::builder()
        .uri("/api/health")
        .header("origin", "https://app.example.com")
        .body(Body::empty())
        .unwrap();
    let r = app.raw(req).await;
    assert_eq!(r.header("access-control-allow-origin"), "*");
    assert!(
        r.header("access-control-expose-headers").contains("x-request-id"),
        "{:?}",
        r.headers
    );
}
