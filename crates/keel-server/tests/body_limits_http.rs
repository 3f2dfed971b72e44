//! Request bodies are bounded per route: a sign-in takes a small body, a record's JSON a
//! document-sized one, only uploads and batches the large `max_body_bytes`; JSON nesting and
//! array lengths are bounded before anything is built.

mod support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::json;
use support::{Resp, TestApp};

async fn post_raw(app: &TestApp, uri: &str, token: Option<&str>, content_type: &str, body: Vec<u8>) -> Resp {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header("content-type", content_type);
    if let Some(t) = token {
        req = req.header("authorization", t);
    }
    app.raw(req.body(Body::from(body)).unwrap()).await
}

/// `{"identity":[0,0,…]}` of about `bytes` bytes, the shape that once took gigabytes.
fn zeros_body(bytes: usize) -> Vec<u8> {
    let mut body = b"{\"identity\":[0".to_vec();
    while body.len() < bytes {
        body.extend_from_slice(b",0");
    }
    body.extend_from_slice(b"],\"password\":\"x\"}");
    body
}

const SIGN_IN: &str = "/api/collections/users/auth-with-password";

#[tokio::test]
async fn a_sign_in_body_over_the_small_limit_is_413() {
    let app = TestApp::new().await;
    let r = post_raw(&app, SIGN_IN, None, "application/json", zeros_body(200 * 1024)).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);
    assert_eq!(r.json["status"], 413, "{}", r.text);
    assert!(r.json["message"].as_str().unwrap().contains("65536"), "{}", r.text);

    // a normal sign-in still works (well, fails as a sign-in)
    let ok = json!({"identity": "nobody@example.com", "password": "whatever-1"});
    let r = post_raw(&app, SIGN_IN, None, "application/json", ok.to_string().into_bytes()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.json["data"].get("body").is_none(), "{}", r.text);
}

#[tokio::test]
async fn the_small_limit_is_configurable() {
    let app = TestApp::with_config(|c| c.limits.small_body_bytes = 1024).await;
    let body = json!({"identity": "a".repeat(2000), "password": "x"});
    let r = post_raw(&app, SIGN_IN, None, "application/json", body.to_string().into_bytes()).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);
}

#[tokio::test]
async fn too_deep_or_too_long_json_is_a_400_naming_the_body() {
    let app = TestApp::new().await;
    // 40 levels of arrays: small, but deeper than the default 32
    let deep = format!("{{\"identity\":{}0{}}}", "[".repeat(40), "]".repeat(40));
    let r = post_raw(&app, SIGN_IN, None, "application/json", deep.into_bytes()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(r.json["data"]["body"]["code"], "validation_too_deep", "{}", r.text);

    // 20,000 members in 40 KB: under the byte limit, over the 10,000 members allowed
    let r = post_raw(&app, SIGN_IN, None, "application/json", zeros_body(40_000)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(r.json["data"]["body"]["code"], "validation_too_long", "{}", r.text);

    // the same bounds hold for a record's JSON and for a multipart `@jsonPayload`
    let su = app.superuser_token().await;
    let deep = format!("{{\"name\":{}1{}}}", "[".repeat(40), "]".repeat(40));
    let r = post_raw(
        &app,
        "/api/collections/users/records",
        Some(&su),
        "application/json",
        deep.clone().into_bytes(),
    )
    .await;
    assert_eq!(r.json["data"]["body"]["code"], "validation_too_deep", "{}", r.text);
    let boundary = "XyZ";
    let multipart = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"@jsonPayload\"\r\n\r\n{deep}\r\n--{boundary}--\r\n"
    );
    let r = post_raw(
        &app,
        "/api/collections/users/records",
        Some(&su),
        &format!("multipart/form-data; boundary={boundary}"),
        multipart.into_bytes(),
    )
    .await;
    assert_eq!(r.json["data"]["body"]["code"], "validation_too_deep", "{}", r.text);
}

#[tokio::test]
async fn record_json_gets_the_document_limit_and_uploads_the_large_one() {
    let app = TestApp::new().await;
    let su = app.superuser_token().await;
    let r = app
        .send(
            Method::POST,
            "/api/collections",
            Some(&su),
            Some(json!({
                "name": "notes",
                "type": "base",
                "createRule": "",
                "fields": [
                    {"name": "title", "type": "text"},
                    {"name": "doc", "type": "file", "maxSelect": 1, "maxSize": 10_000_000}
                ]
            })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    // JSON over 1 MiB: 413
    let big = json!({"title": "x".repeat(1_100_000)});
    let r = post_raw(
        &app,
        "/api/collections/notes/records",
        None,
        "application/json",
        big.to_string().into_bytes(),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);

    // a 3 MB file in multipart: within max_body_bytes
    let boundary = "XyZ";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nhello\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"doc\"; filename=\"a.bin\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend(std::iter::repeat_n(b'a', 3_000_000));
    body.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
    let r = post_raw(
        &app,
        "/api/collections/notes/records",
        None,
        &format!("multipart/form-data; boundary={boundary}"),
        body,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["title"], "hello");
}
