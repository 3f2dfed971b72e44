//! `/api/batch` over HTTP: off by default, all-or-nothing, PocketBase's response shapes.

mod common;

use axum::http::{Method, StatusCode};
use common::{posts, App, Multipart, PNG};
use serde_json::json;

#[tokio::test]
async fn batch_is_off_until_enabled() {
    let app = App::new().await;
    posts(&app).await;
    let body =
        json!({"requests": [{"method": "POST", "url": "/api/collections/posts/records", "body": {"title": "One"}}]});
    let r = app.send(Method::POST, "/api/batch", None, Some(body)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json["message"], "Batch requests are not allowed.");
}

#[tokio::test]
async fn batch_creates_updates_upserts_and_deletes() {
    let app = App::new().await;
    posts(&app).await;
    app.enable_batch(10).await;
    let su = app.superuser().await;
    let existing = app.insert("posts", json!({"title": "Existing"})).await;
    let doomed = app.insert("posts", json!({"title": "Doomed"})).await;
    let body = json!({"requests": [
        {"method": "POST", "url": "/api/collections/posts/records?fields=id,title", "body": {"title": "Created"}},
        {"method": "PATCH", "url": format!("/api/collections/posts/records/{}", existing.id()), "body": {"views": 5}},
        {"method": "PUT", "url": "/api/collections/posts/records", "body": {"id": existing.id(), "title": "Upserted"}},
        {"method": "PUT", "url": "/api/collections/posts/records", "body": {"title": "Upsert-created"}},
        {"method": "DELETE", "url": format!("/api/collections/posts/records/{}", doomed.id())}
    ]});
    let r = app.send(Method::POST, "/api/batch", Some(&su), Some(body)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let out = r.json.as_array().unwrap();
    assert_eq!(out.len(), 5);
    assert_eq!(out[0]["status"], 200);
    assert_eq!(out[0]["body"]["title"], "Created");
    assert!(out[0]["body"].get("views").is_none(), "fields applies per request");
    assert_eq!(out[1]["body"]["views"], 5);
    assert_eq!(out[2]["body"]["title"], "Upserted");
    assert_eq!(out[2]["body"]["id"], existing.id());
    assert_eq!(out[3]["body"]["title"], "Upsert-created");
    assert_eq!(out[4], json!({"status": 204, "body": null}));

    let r = app
        .send(Method::GET, "/api/collections/posts/records", None, None)
        .await;
    assert_eq!(r.json["totalItems"], 3);
}

#[tokio::test]
async fn a_failing_request_rolls_the_whole_batch_back() {
    let app = App::new().await;
    posts(&app).await;
    app.enable_batch(10).await;
    let body = json!({"requests": [
        {"method": "POST", "url": "/api/collections/posts/records", "body": {"title": "Fine"}},
        {"method": "POST", "url": "/api/collections/posts/records", "body": {"title": "x"}}
    ]});
    let r = app.send(Method::POST, "/api/batch", None, Some(body)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert_eq!(r.json["message"], "Batch transaction failed.");
    let failed = &r.json["data"]["requests"]["1"];
    assert_eq!(failed["code"], "batch_request_failed");
    assert_eq!(failed["response"]["status"], 400);
    assert!(failed["response"]["data"]["title"].is_object(), "{}", r.text());
    let r = app
        .send(Method::GET, "/api/collections/posts/records", None, None)
        .await;
    assert_eq!(r.json["totalItems"], 0, "the first create was rolled back");

    // a superusers-only rule fails the batch with that request's 403
    let body = json!({"requests": [
        {"method": "POST", "url": "/api/collections/posts/records", "body": {"title": "Fine"}},
        {"method": "POST", "url": "/api/collections/_superusers/records", "body": {"email": "x@example.com"}}
    ]});
    let r = app.send(Method::POST, "/api/batch", None, Some(body)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json["data"]["requests"]["1"]["response"]["status"],
        403,
        "{}",
        r.text()
    );

    // unknown collections and unsupported requests fail their request
    let body = json!({"requests": [{"method": "GET", "url": "/api/collections/posts/records"}]});
    let r = app.send(Method::POST, "/api/batch", None, Some(body)).await;
    assert_eq!(r.json["data"]["requests"]["0"]["response"]["status"], 400);
    let body = json!({"requests": [{"method": "POST", "url": "/api/collections/nope/records", "body": {}}]});
    let r = app.send(Method::POST, "/api/batch", None, Some(body)).await;
    assert_eq!(r.json["data"]["requests"]["0"]["response"]["status"], 404);
}

#[tokio::test]
async fn limits_and_malformed_bodies() {
    let app = App::new().await;
    posts(&app).await;
    app.enable_batch(2).await;
    let req = json!({"method": "POST", "url": "/api/collections/posts/records", "body": {"title": "Fine"}});
    let r = app
        .send(
            Method::POST,
            "/api/batch",
            None,
            Some(json!({"requests": [req, req, req]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json["data"]["requests"].is_object());
    let r = app
        .send(Method::POST, "/api/batch", None, Some(json!({"nope": 1})))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app
        .send_bytes(Method::POST, "/api/batch", None, "application/json", b"{".to_vec())
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn multipart_batches_carry_files_like_the_sdk() {
    let app = App::new().await;
    posts(&app).await;
    app.enable_batch(10).await;
    let form = Multipart::new()
        .json(json!({"requests": [
            {"method": "POST", "url": "/api/collections/posts/records", "body": {"title": "With file"}},
            {"method": "POST", "url": "/api/collections/posts/records", "body": {"title": "Without"}}
        ]}))
        .file("requests.0.cover", "pic.png", "image/png", PNG);
    let r = app.multipart(Method::POST, "/api/batch", None, form).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let id = r.json[0]["body"]["id"].as_str().unwrap();
    let name = r.json[0]["body"]["cover"].as_str().unwrap();
    assert!(name.starts_with("pic_"));
    assert_eq!(r.json[1]["body"]["cover"], "");
    let r = app
        .send(Method::GET, &format!("/api/files/posts/{id}/{name}"), None, None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.bytes, PNG);
}

#[tokio::test]
async fn batch_cannot_write_vault_secrets_even_for_a_superuser() {
    let app = App::new().await;
    app.enable_batch(10).await;
    let su = app.superuser().await;
    let body = json!({"requests": [
        {"method": "POST", "url": "/api/collections/_vaultSecrets/records", "body": {"name": "forged", "type": "token"}}
    ]});
    let r = app.send(Method::POST, "/api/batch", Some(&su), Some(body)).await;
    assert_ne!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.text().contains("/api/vault/secrets"), "{}", r.text());
    let r = app
        .send(Method::GET, "/api/collections/_vaultSecrets/records", Some(&su), None)
        .await;
    assert_eq!(r.json["totalItems"], 0, "{}", r.text());
}
