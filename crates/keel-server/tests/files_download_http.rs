//! File downloads over HTTP: ranges, entity tags and caching headers, thumbnails in
//! PocketBase's forms (made once, stored beside the original, removed with it), and large
//! uploads streamed through a spool.

mod common;

use std::io::Cursor;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{App, Multipart};
use serde_json::json;

fn url(id: &str, name: &str) -> String {
    format!("/api/files/media/{id}/{name}")
}

async fn media(app: &App) {
    app.create_collection(json!({
        "name": "media",
        "type": "base",
        "listRule": "", "viewRule": "", "createRule": "", "updateRule": "", "deleteRule": "",
        "fields": [
            {"name": "title", "type": "text"},
            {"name": "file", "type": "file", "maxSelect": 1, "maxSize": 8 * 1024 * 1024,
             "thumbs": ["50x50", "40x20t", "40x20b", "60x60f", "0x30", "30x0"]},
            {"name": "secret", "type": "file", "maxSelect": 1, "protected": true}
        ]
    }))
    .await;
}

/// A `w`×`h` PNG, top half red, bottom half blue.
fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbaImage::from_fn(w, h, |_, y| {
        if y < h / 2 {
            image::Rgba([255, 0, 0, 255])
        } else {
            image::Rgba([0, 0, 255, 255])
        }
    });
    let mut out = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgba8(img)
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

/// Uploads `data` as `name` into the field `field`; returns the record id and stored name.
async fn upload(app: &App, field: &str, name: &str, data: &[u8]) -> (String, String) {
    let form = Multipart::new()
        .text("title", "x")
        .file(field, name, "application/octet-stream", data);
    let r = app
        .multipart(Method::POST, "/api/collections/media/records", None, form)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    (
        r.json["id"].as_str().unwrap().into(),
        r.json[field].as_str().unwrap().into(),
    )
}

async fn get(app: &App, uri: &str, headers: &[(&str, &str)]) -> common::Resp {
    get_with(app, Method::GET, uri, headers).await
}

async fn get_with(app: &App, method: Method, uri: &str, headers: &[(&str, &str)]) -> common::Resp {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    app.raw(req.body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn ranges_etags_and_cache_headers() {
    let app = App::new().await;
    media(&app).await;
    let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let (id, name) = upload(&app, "file", "data.bin", &data).await;
    let u = url(&id, &name);

    let whole = get(&app, &u, &[]).await;
    assert_eq!(whole.status, StatusCode::OK);
    assert_eq!(whole.bytes, data);
    assert_eq!(whole.header("accept-ranges"), "bytes");
    assert_eq!(
        whole.header("cache-control"),
        "max-age=2592000, stale-while-revalidate=86400"
    );
    let etag = whole.header("etag").to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2, "{etag}");
    assert!(whole.header("last-modified").ends_with(" GMT"));

    let part = get(&app, &u, &[("range", "bytes=100-199")]).await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.bytes, &data[100..200]);
    assert_eq!(part.header("content-range"), "bytes 100-199/10000");
    assert_eq!(part.header("content-length"), "100");
    let tail = get(&app, &u, &[("range", "bytes=-10")]).await;
    assert_eq!(tail.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(tail.bytes, &data[9_990..]);
    assert_eq!(tail.header("content-range"), "bytes 9990-9999/10000");
    let open = get(&app, &u, &[("range", "bytes=9000-")]).await;
    assert_eq!(open.bytes, &data[9_000..]);

    let past = get(&app, &u, &[("range", "bytes=10000-")]).await;
    assert_eq!(past.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(past.header("content-range"), "bytes */10000");
    // Several ranges, or a stale If-Range: the whole file.
    let many = get(&app, &u, &[("range", "bytes=0-1,5-6")]).await;
    assert_eq!((many.status, many.bytes.len()), (StatusCode::OK, 10_000));
    let stale = get(&app, &u, &[("range", "bytes=0-1"), ("if-range", "\"other\"")]).await;
    assert_eq!(stale.status, StatusCode::OK);
    let fresh = get(&app, &u, &[("range", "bytes=0-1"), ("if-range", &etag)]).await;
    assert_eq!(fresh.status, StatusCode::PARTIAL_CONTENT);

    let cached = get(&app, &u, &[("if-none-match", &etag)]).await;
    assert_eq!(cached.status, StatusCode::NOT_MODIFIED);
    assert!(cached.bytes.is_empty());
    assert_eq!(cached.header("etag"), etag);
    let weak = format!("W/{etag}");
    let listed = format!("\"nope\", {weak}");
    assert_eq!(
        get(&app, &u, &[("if-none-match", &listed)]).await.status,
        StatusCode::NOT_MODIFIED
    );
    assert_eq!(
        get(&app, &u, &[("if-none-match", "\"nope\"")]).await.status,
        StatusCode::OK
    );
    let since = whole.header("last-modified").to_string();
    assert_eq!(
        get(&app, &u, &[("if-modified-since", &since)]).await.status,
        StatusCode::NOT_MODIFIED
    );
    assert_eq!(
        get(&app, &u, &[("if-modified-since", "Mon, 01 Jan 2001 00:00:00 GMT")])
            .await
            .status,
        StatusCode::OK
    );

    let head = get_with(&app, Method::HEAD, &u, &[]).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.header("content-length"), "10000");
    assert!(head.bytes.is_empty());

    // A new upload under the field: a new name, a new tag.
    let (id2, name2) = upload(&app, "file", "data.bin", &data[..500]).await;
    let other = get(&app, &url(&id2, &name2), &[]).await;
    assert_ne!(other.header("etag"), etag);
}

#[tokio::test]
async fn protected_files_are_private_to_caches() {
    let app = App::new().await;
    media(&app).await;
    let (id, name) = upload(&app, "secret", "s.txt", b"top secret").await;
    let (user, _) = app.auth_record("users", "ann@example.com", "password123").await;
    let token = app.sign(&user, keel_auth::TokenKind::File);
    let r = get(&app, &format!("{}?token={token}", url(&id, &name)), &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("cache-control"),
        "private, max-age=2592000, stale-while-revalidate=86400"
    );
}

fn dims(bytes: &[u8]) -> (u32, u32) {
    let img = image::load_from_memory(bytes).unwrap();
    (img.width(), img.height())
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p.to_string_lossy().into_owned());
            }
        }
    }
    out
}

#[tokio::test]
async fn thumbnails_in_pocketbase_forms() {
    let app = App::new().await;
    media(&app).await;
    let original = png(200, 100);
    let (id, name) = upload(&app, "file", "photo.png", &original).await;
    let thumb = |size: &str| format!("{}?thumb={size}", url(&id, &name));

    for (size, want) in [
        ("50x50", (50, 50)),
        ("40x20t", (40, 20)),
        ("60x60f", (60, 30)),
        ("0x30", (60, 30)),
        ("30x0", (30, 15)),
        ("100x100", (100, 100)),
    ] {
        let r = get(&app, &thumb(size), &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{size}");
        assert_eq!(dims(&r.bytes), want, "{size}");
        assert_eq!(r.header("content-type"), "image/png");
        assert!(
            r.header("content-disposition").contains(&format!("{size}_{name}")),
            "{size}"
        );
    }
    // The top crop of a wide box keeps red, the bottom crop blue.
    let top = image::load_from_memory(&get(&app, &thumb("40x20t"), &[]).await.bytes)
        .unwrap()
        .to_rgb8();
    assert_eq!(top.get_pixel(20, 2).0, [255, 0, 0]);
    let bottom = image::load_from_memory(&get(&app, &thumb("40x20b"), &[]).await.bytes)
        .unwrap()
        .to_rgb8();
    assert_eq!(bottom.get_pixel(20, 17).0, [0, 0, 255]);

    // Sizes the field does not allow, and malformed ones: the original.
    for size in ["77x77", "10x10", "abc"] {
        let r = get(&app, &thumb(size), &[]).await;
        assert_eq!(r.bytes, original, "{size}");
    }

    // Stored once, beside the original, as PocketBase names them.
    let col = app.collection("media").id.clone();
    let thumb_key = format!("{col}/{id}/thumbs_{name}/50x50_{name}");
    let stored = app.state.files.head(&thumb_key).await.unwrap();
    let again = get(&app, &thumb("50x50"), &[]).await;
    assert_eq!(dims(&again.bytes), (50, 50));
    assert_eq!(
        app.state.files.head(&thumb_key).await.unwrap().last_modified,
        stored.last_modified,
        "not made again"
    );

    // Replacing the file removes its thumbnails; so does deleting the record.
    let form = Multipart::new().file("file", "other.png", "image/png", &png(10, 10));
    let r = app
        .multipart(
            Method::PATCH,
            &format!("/api/collections/media/records/{id}"),
            None,
            form,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(
        app.state.files.head(&thumb_key).await.is_err(),
        "old thumbnails are gone"
    );
    let new_name = r.json["file"].as_str().unwrap().to_string();
    assert_eq!(
        dims(
            &get(&app, &format!("{}?thumb=50x50", url(&id, &new_name)), &[])
                .await
                .bytes
        ),
        (50, 50)
    );
    let r = app
        .send(
            Method::DELETE,
            &format!("/api/collections/media/records/{id}"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let left: Vec<String> = walk(&app.dir.path().join("storage"))
        .into_iter()
        .filter(|p| p.contains(&id))
        .collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
}

#[tokio::test]
async fn thumbs_of_non_images_and_broken_images_are_the_original() {
    let app = App::new().await;
    media(&app).await;
    let (id, name) = upload(&app, "file", "notes.txt", b"plain text").await;
    let r = get(&app, &format!("{}?thumb=50x50", url(&id, &name)), &[]).await;
    assert_eq!(r.bytes, b"plain text");
    let (id, name) = upload(&app, "file", "broken.png", b"\x89PNG\r\n\x1a\nnot really").await;
    let r = get(&app, &format!("{}?thumb=50x50", url(&id, &name)), &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.bytes, b"\x89PNG\r\n\x1a\nnot really");
}

#[tokio::test]
async fn large_uploads_are_spooled_and_stored_whole() {
    let app = App::new().await;
    media(&app).await;
    // Larger than what a part keeps in memory and than one store part.
    let data: Vec<u8> = (0..6 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    let (id, name) = upload(&app, "file", "big.bin", &data).await;
    let r = get(&app, &url(&id, &name), &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.bytes.len(), data.len());
    assert!(r.bytes == data, "the same bytes");
    let spool = app.dir.path().join(".uploads");
    assert!(walk(&spool).is_empty(), "spooled parts are removed: {:?}", walk(&spool));
    // Past the field's maxSize: a field error, nothing stored.
    let too_big = vec![0u8; 8 * 1024 * 1024 + 1];
    let form = Multipart::new().file("file", "huge.bin", "application/octet-stream", &too_big);
    let r = app
        .multipart(Method::POST, "/api/collections/media/records", None, form)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json["data"]["file"]["code"], "validation_file_size_limit");
    assert!(walk(&spool).is_empty());
}

#[tokio::test]
async fn uploads_past_the_body_limit_are_413() {
    let app = App::with_config(|c| c.max_body_bytes = 64 * 1024).await;
    media(&app).await;
    let form = Multipart::new().file("file", "big.bin", "application/octet-stream", &vec![1u8; 100 * 1024]);
    let r = app
        .multipart(Method::POST, "/api/collections/media/records", None, form)
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
}
