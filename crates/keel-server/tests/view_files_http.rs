//! Files through a view collection's file field: served from the source record (as
//! PocketBase), a protected one only to a file token passing the view's rule.

mod common;

use axum::http::{Method, StatusCode};
use common::{App, Multipart};
use serde_json::json;

#[tokio::test]
async fn a_views_file_field_serves_the_source_records_files() {
    let app = App::new().await;
    app.create_collection(json!({
        "name": "media",
        "type": "base",
        "listRule": "", "viewRule": "", "createRule": "",
        "fields": [
            {"name": "title", "type": "text"},
            {"name": "file", "type": "file", "maxSelect": 1},
            {"name": "secret", "type": "file", "maxSelect": 1, "protected": true}
        ]
    }))
    .await;
    let form = Multipart::new()
        .text("title", "x")
        .file("file", "hello.txt", "text/plain", b"public bytes")
        .file("secret", "hidden.txt", "text/plain", b"secret bytes");
    let r = app
        .multipart(Method::POST, "/api/collections/media/records", None, form)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let id = r.json["id"].as_str().unwrap().to_string();
    let file = r.json["file"].as_str().unwrap().to_string();
    let secret = r.json["secret"].as_str().unwrap().to_string();

    let su = app.superuser().await;
    let r = app
        .send(
            Method::POST,
            "/api/collections",
            Some(&su),
            Some(json!({
                "name": "gallery",
                "type": "view",
                "listRule": "",
                "viewRule": "@request.auth.id != ''",
                "viewQuery": "SELECT m.id AS id, m.title AS caption, m.file AS pic, m.secret AS hidden FROM media m"
            })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());

    // A public file: served through the view, whatever its rule (as PocketBase).
    let r = app
        .send(Method::GET, &format!("/api/files/gallery/{id}/{file}"), None, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.bytes, b"public bytes");

    // A name the view's record does not hold: 404.
    let r = app
        .send(Method::GET, &format!("/api/files/gallery/{id}/nope.txt"), None, None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // A protected file: the view's rule decides; a guest gets 404, a token passing it the file.
    let r = app
        .send(Method::GET, &format!("/api/files/gallery/{id}/{secret}"), None, None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.send(Method::POST, "/api/files/token", Some(&su), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let token = r.json["token"].as_str().unwrap().to_string();
    let r = app
        .send(
            Method::GET,
            &format!("/api/files/gallery/{id}/{secret}?token={token}"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.bytes, b"secret bytes");
}
