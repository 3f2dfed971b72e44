//! Files over HTTP: multipart uploads into file fields, downloads, limits, protected files.

mod common;

use axum::http::{Method, StatusCode};
use common::{posts, App, Multipart, PNG};
use keel_auth::TokenKind;
use serde_json::json;

fn file_url(collection: &str, id: &str, name: &str) -> String {
    format!("/api/files/{collection}/{id}/{name}")
}

#[tokio::test]
async fn upload_then_download_the_same_bytes() {
    let app = App::new().await;
    posts(&app).await;
    let form = Multipart::new()
        .text("title", "With cover")
        .file("cover", "My Cover.PNG", "image/png", PNG);
    let r = app
        .multipart(Method::POST, "/api/collections/posts/records", None, form)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let id = r.json["id"].as_str().unwrap().to_string();
    let name = r.json["cover"].as_str().unwrap().to_string();
    assert!(
        name.starts_with("my_cover_") && name.ends_with(".png") && name.len() == "my_cover_".len() + 14,
        "{name}"
    );

    let r = app.send(Method::GET, &file_url("posts", &id, &name), None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.bytes, PNG);
    assert_eq!(r.header("content-type"), "image/png");
    assert_eq!(r.header("content-length"), PNG.len().to_string());
    assert!(r.header("content-disposition").starts_with("inline"));
    assert_eq!(
        r.header("cache-control"),
        "max-age=2592000, stale-while-revalidate=86400"
    );

    let r = app
        .send(
            Method::GET,
            &format!("{}?download=1", file_url("posts", &id, &name)),
            None,
            None,
        )
        .await;
    assert!(r.header("content-disposition").starts_with("attachment"));
    let r = app
        .send(
            Method::GET,
            &format!("{}?thumb=100x100", file_url("posts", &id, &name)),
            None,
            None,
        )
        .await;
    assert_eq!(r.bytes, PNG, "thumbs fall back to the original");

    // by collection id too; unknown names 404
    let col_id = app.collection("posts").id.clone();
    let r = app.send(Method::GET, &file_url(&col_id, &id, &name), None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app
        .send(Method::GET, &file_url("posts", &id, "other.png"), None, None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .send(Method::GET, &file_url("posts", "nosuchrecord123", &name), None, None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // deleting the record deletes the file
    let su = app.superuser().await;
    let r = app
        .send(
            Method::DELETE,
            &format!("/api/collections/posts/records/{id}"),
            Some(&su),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app.send(Method::GET, &file_url("posts", &id, &name), None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let key = format!("{col_id}/{id}/{name}");
    assert!(app.state.files.get(&key).await.is_err(), "the stored file is gone");
}

#[tokio::test]
async fn size_mime_and_count_limits_are_field_errors() {
    let app = App::new().await;
    posts(&app).await;
    let big = vec![0u8; 2048];
    let form = Multipart::new()
        .text("title", "Too big")
        .file("cover", "big.png", "image/png", &big);
    let r = app
        .multipart(Method::POST, "/api/collections/posts/records", None, form)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json["data"]["cover"]["code"],
        "validation_file_size_limit",
        "{}",
        r.text()
    );

    let form = Multipart::new()
        .text("title", "Wrong type")
        .file("cover", "notes.txt", "text/plain", b"hello");
    let r = app
        .multipart(Method::POST, "/api/collections/posts/records", None, form)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json["data"]["cover"]["code"],
        "validation_invalid_mime_type",
        "{}",
        r.text()
    );

    let mut form = Multipart::new().text("title", "Too many");
    for i in 0..4 {
        form = form.file("docs", &format!("d{i}.txt"), "text/plain", b"x");
    }
    let r = app
        .multipart(Method::POST, "/api/collections/posts/records", None, form)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json["data"]["docs"].is_object(), "{}", r.text());

    // a failed create leaves no record and no files behind
    let r = app
        .send(Method::GET, "/api/collections/posts/records", None, None)
        .await;
    assert_eq!(r.json["totalItems"], 0);
    let storage = app.dir.path().join("storage");
    let leftover = walk(&storage);
    assert!(leftover.is_empty(), "{leftover:?}");

    // a record failing validation also removes its already-stored upload
    let form = Multipart::new()
        .text("title", "ab")
        .file("cover", "ok.png", "image/png", PNG);
    let r = app
        .multipart(Method::POST, "/api/collections/posts/records", None, form)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let leftover = walk(&storage);
    assert!(leftover.is_empty(), "{leftover:?}");

    // The control: a create that succeeds leaves its file exactly where the checks above looked.
    let form = Multipart::new()
        .text("title", "Kept")
        .file("cover", "kept.png", "image/png", PNG);
    let r = app
        .multipart(Method::POST, "/api/collections/posts/records", None, form)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let stored = walk(&storage);
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(std::fs::read(&stored[0]).unwrap(), PNG);
}

/// Every file under `dir`; a directory that cannot be read fails the test (a wrong path must
/// not pass for an empty one).
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let rd = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    for e in rd {
        let p = e
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
            .path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn append_remove_and_replace_files_on_update() {
    let app = App::new().await;
    posts(&app).await;
    let (user, token) = app.auth_record("users", "owner@example.com", "ownerpassword").await;
    let form = Multipart::new()
        .json(json!({"title": "Docs", "author": user.id()}))
        .file("docs", "a.txt", "text/plain", b"A")
        .file("docs", "b.txt", "text/plain", b"B");
    let r = app
        .multipart(Method::POST, "/api/collections/posts/records", Some(&token), form)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let id = r.json["id"].as_str().unwrap().to_string();
    let docs: Vec<String> = r.json["docs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(docs.len(), 2);
    let url = format!("/api/collections/posts/records/{id}");

    // append one
    let form = Multipart::new().file("docs+", "c.txt", "text/plain", b"C");
    let r = app.multipart(Method::PATCH, &url, Some(&token), form).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let now: Vec<String> = r.json["docs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(now.len(), 3);
    assert_eq!(&now[..2], &docs[..]);

    // a fourth is over maxSelect
    let form = Multipart::new().file("docs+", "d.txt", "text/plain", b"D");
    let r = app.multipart(Method::PATCH, &url, Some(&token), form).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());

    // remove the first: its file is deleted, the others stay
    let r = app
        .send(Method::PATCH, &url, Some(&token), Some(json!({"docs-": [docs[0]]})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json["docs"].as_array().unwrap().len(), 2);
    let r = app
        .send(Method::GET, &file_url("posts", &id, &docs[0]), None, None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .send(Method::GET, &file_url("posts", &id, &docs[1]), None, None)
        .await;
    assert_eq!(r.bytes, b"B");

    // replacing the single cover deletes the old one
    let form = Multipart::new().file("cover", "one.png", "image/png", PNG);
    let r = app.multipart(Method::PATCH, &url, Some(&token), form).await;
    let first = r.json["cover"].as_str().unwrap().to_string();
    let form = Multipart::new().file("cover", "two.png", "image/png", PNG);
    let r = app.multipart(Method::PATCH, &url, Some(&token), form).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let second = r.json["cover"].as_str().unwrap().to_string();
    assert_ne!(first, second);
    let r = app.send(Method::GET, &file_url("posts", &id, &first), None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .send(Method::GET, &file_url("posts", &id, &second), None, None)
        .await;
    assert_eq!(r.status, StatusCode::OK);

    // clearing with an empty value
    let r = app
        .send(Method::PATCH, &url, Some(&token), Some(json!({"cover": ""})))
        .await;
    assert_eq!(r.json["cover"], "");
    let r = app
        .send(Method::GET, &file_url("posts", &id, &second), None, None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn protected_files_need_a_file_token_that_passes_the_view_rule() {
    let app = App::new().await;
    app.create_collection(json!({
        "name": "private_docs",
        "listRule": "owner = @request.auth.id",
        "viewRule": "owner = @request.auth.id",
        "createRule": null,
        "fields": [
            {"name": "owner", "type": "relation", "collectionId": keel_data::schema::USERS_ID, "maxSelect": 1},
            {"name": "doc", "type": "file", "maxSelect": 1, "protected": true}
        ]
    }))
    .await;
    let (alice, alice_token) = app.auth_record("users", "alice@example.com", "alicepassword").await;
    let (bob, _) = app.auth_record("users", "bob@example.com", "bobpassword1").await;
    let su = app.superuser().await;
    let form =
        Multipart::new()
            .text("owner", alice.id())
            .file("doc", "secret.pdf", "application/pdf", b"%PDF-1.4 secret");
    let r = app
        .multipart(Method::POST, "/api/collections/private_docs/records", Some(&su), form)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let id = r.json["id"].as_str().unwrap().to_string();
    let name = r.json["doc"].as_str().unwrap().to_string();
    let url = file_url("private_docs", &id, &name);

    let r = app.send(Method::GET, &url, None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "no token");
    let r = app.send(Method::GET, &format!("{url}?token=garbage"), None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "bad token");
    // an auth token is not a file token
    let r = app
        .send(Method::GET, &format!("{url}?token={alice_token}"), None, None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // bob's file token fails the view rule
    let bob_file = app.sign(&bob, TokenKind::File);
    let r = app
        .send(Method::GET, &format!("{url}?token={bob_file}"), None, None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // alice asks for a file token and gets the file
    let r = app
        .send(Method::POST, "/api/files/token", Some(&alice_token), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let file_token = r.json["token"].as_str().unwrap().to_string();
    let r = app
        .send(Method::GET, &format!("{url}?token={file_token}"), None, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.bytes, b"%PDF-1.4 secret");
    assert_eq!(r.header("content-type"), "application/pdf");

    // guests get no file token
    let r = app.send(Method::POST, "/api/files/token", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}
