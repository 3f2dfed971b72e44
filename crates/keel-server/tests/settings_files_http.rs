//! `settings.s3` over HTTP: the secret is write-only, enabling it moves new uploads to the
//! bucket without a restart (moto), and the settings' test actions (`/api/settings/test/s3`,
//! `/api/settings/test/email` with aiosmtpd).

mod common;

use axum::http::{Method, StatusCode};
use common::{App, Multipart};
use futures::TryStreamExt;
use keel_core::files::FileStore;
use keel_testkit::object_servers::Moto;
use keel_testkit::smtp_server::SmtpServer;
use serde_json::{json, Value};

fn s3(moto: &Moto, enabled: bool) -> Value {
    json!({
        "enabled": enabled, "bucket": moto.bucket, "region": "us-east-1", "endpoint": moto.endpoint,
        "accessKey": "test", "secret": "moto-secret", "forcePathStyle": true,
    })
}

#[tokio::test]
async fn the_s3_secret_is_write_only_and_checked() {
    let app = App::new().await;
    let su = app.superuser().await;
    let patch = json!({"s3": {"enabled": false, "bucket": "b", "endpoint": "http://127.0.0.1:1", "secret": "s3cret"}});
    let r = app.send(Method::PATCH, "/api/settings", Some(&su), Some(patch)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json["s3"]["secret"], "");
    assert_eq!(r.json["s3"]["bucket"], "b");
    let r = app.send(Method::GET, "/api/settings", Some(&su), None).await;
    assert_eq!(r.json["s3"]["secret"], "");
    assert!(!r.text().contains("s3cret"));
    // A form sending the blank secret back keeps the stored one.
    let r = app
        .send(
            Method::PATCH,
            "/api/settings",
            Some(&su),
            Some(json!({"s3": {"secret": "", "region": "eu"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(app.state.settings.get().s3["secret"], "s3cret");
    assert_eq!(app.state.settings.get().s3["region"], "eu");
    // Enabled without what it needs: a 400 naming each member.
    let r = app
        .send(
            Method::PATCH,
            "/api/settings",
            Some(&su),
            Some(json!({"s3": {"enabled": true, "bucket": "", "accessKey": ""}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert_eq!(r.json["data"]["s3.bucket"]["code"], "validation_required");
    assert_eq!(r.json["data"]["s3.accessKey"]["code"], "validation_required");
    assert!(r.json["data"].get("s3.secret").is_none(), "the stored secret counts");
    // Wrong types are refused.
    let r = app
        .send(
            Method::PATCH,
            "/api/settings",
            Some(&su),
            Some(json!({"s3": {"enabled": "yes"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

async fn up(app: &App, title: &str) -> (String, String) {
    let form = Multipart::new()
        .text("title", title)
        .file("docs", "a.txt", "text/plain", title.as_bytes());
    let r = app
        .multipart(Method::POST, "/api/collections/posts/records", None, form)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let id = r.json["id"].as_str().unwrap().to_string();
    let name = r.json["docs"][0].as_str().unwrap().to_string();
    (id, name)
}

#[tokio::test]
async fn enabling_s3_moves_new_uploads_to_the_bucket_without_a_restart() {
    let Some(moto) = Moto::start().await else { return };
    let app = App::new().await;
    common::posts(&app).await;
    let su = app.superuser().await;
    let (local_id, local_name) = up(&app, "on local disk").await;
    let r = app
        .send(
            Method::PATCH,
            "/api/settings",
            Some(&su),
            Some(json!({"s3": s3(&moto, true)})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(app.state.files.name(), "s3");
    let (id, name) = up(&app, "in the bucket").await;
    let r = app
        .send(Method::GET, &format!("/api/files/posts/{id}/{name}"), None, None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.bytes, b"in the bucket");
    // It is really in the bucket, not on the disk.
    let bucket = keel_files::from_s3_settings(&s3(&moto, true)).unwrap();
    let col = app.collection("posts").id.clone();
    let obj = bucket.get(&format!("{col}/{id}/{name}")).await.unwrap();
    let bytes: Vec<bytes::Bytes> = obj.stream.try_collect().await.unwrap();
    assert_eq!(bytes.concat(), b"in the bucket");
    let on_disk = app.dir.path().join("storage").join(&col).join(&id);
    assert!(!on_disk.exists(), "nothing on the local disk for the new record");
    // Files stored before the switch stay where they were (PocketBase does not move them).
    let r = app
        .send(
            Method::GET,
            &format!("/api/files/posts/{local_id}/{local_name}"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Deleting the record deletes its object.
    let r = app
        .send(
            Method::DELETE,
            &format!("/api/collections/posts/records/{id}"),
            Some(&su),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(bucket.head(&format!("{col}/{id}/{name}")).await.is_err());
    // Disabled again: back to the local disk.
    let r = app
        .send(
            Method::PATCH,
            "/api/settings",
            Some(&su),
            Some(json!({"s3": {"enabled": false}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(app.state.files.name(), "local");
    let r = app
        .send(
            Method::GET,
            &format!("/api/files/posts/{local_id}/{local_name}"),
            None,
            None,
        )
        .await;
    assert_eq!(r.bytes, b"on local disk");
}

#[tokio::test]
async fn test_s3_writes_and_deletes_a_file() {
    let Some(moto) = Moto::start().await else { return };
    let app = App::new().await;
    let su = app.superuser().await;
    let path = "/api/settings/test/s3";
    let r = app
        .send(Method::POST, path, None, Some(json!({"filesystem": "storage"})))
        .await;
    assert!(
        matches!(r.status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN),
        "{}",
        r.status
    );
    let r = app.send(Method::POST, path, Some(&su), Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json["data"]["filesystem"]["code"], "validation_required");
    let r = app
        .send(Method::POST, path, Some(&su), Some(json!({"filesystem": "nope"})))
        .await;
    assert_eq!(r.json["data"]["filesystem"]["code"], "validation_in_invalid");
    let r = app
        .send(Method::POST, path, Some(&su), Some(json!({"filesystem": "storage"})))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json["message"].as_str().unwrap().contains("not enabled"),
        "{}",
        r.text()
    );

    let r = app
        .send(
            Method::PATCH,
            "/api/settings",
            Some(&su),
            Some(json!({"s3": s3(&moto, true)})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app
        .send(Method::POST, path, Some(&su), Some(json!({"filesystem": "storage"})))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    // Nothing is left behind in the bucket.
    let bucket = keel_files::from_s3_settings(&s3(&moto, true)).unwrap();
    let listed = reqwest::get(format!("{}/{}", moto.endpoint, moto.bucket))
        .await
        .unwrap();
    let body = listed.text().await.unwrap();
    assert!(!body.contains("keel_settings_test_"), "{body}");
    drop(bucket);

    // A bucket that does not exist: a 400 with the store's error, never the secret.
    let mut wrong = s3(&moto, true);
    wrong["bucket"] = json!("no-such-bucket");
    let r = app
        .send(
            Method::PATCH,
            "/api/settings",
            Some(&su),
            Some(json!({"backups": {"s3": wrong}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = app
        .send(Method::POST, path, Some(&su), Some(json!({"filesystem": "backups"})))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let msg = r.json["message"].as_str().unwrap();
    assert!(msg.starts_with("Failed to test the S3 filesystem."), "{msg}");
    assert!(!msg.contains("moto-secret"));
    // The backups' S3 secret is write-only too.
    let r = app.send(Method::GET, "/api/settings", Some(&su), None).await;
    assert!(
        r.json["backups"]["s3"]["secret"].as_str().unwrap_or("").is_empty(),
        "{}",
        r.text()
    );
    assert!(!r.text().contains("moto-secret"));
}

#[tokio::test]
async fn test_email_sends_the_template() {
    let app = App::new().await;
    let su = app.superuser().await;
    let path = "/api/settings/test/email";
    let r = app
        .send(
            Method::POST,
            path,
            None,
            Some(json!({"email": "a@b.test", "template": "verification"})),
        )
        .await;
    assert!(matches!(r.status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN));
    let r = app
        .send(
            Method::POST,
            path,
            Some(&su),
            Some(json!({"email": "nope", "template": "x", "collection": "posts"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json["data"]["email"]["code"], "validation_is_email");
    assert_eq!(r.json["data"]["template"]["code"], "validation_in_invalid");
    assert_eq!(r.json["data"]["collection"]["code"], "validation_invalid_collection");
    // SMTP off and no provider: a 400 saying so.
    let r = app
        .send(
            Method::POST,
            path,
            Some(&su),
            Some(json!({"email": "ann@x.test", "template": "verification"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    let Some(smtp) = SmtpServer::start() else { return };
    let settings = json!({
        "meta": {"appName": "Acme", "senderName": "Acme", "senderAddress": "support@acme.test"},
        "smtp": {"enabled": true, "host": smtp.host, "port": smtp.port, "tls": false}
    });
    let r = app
        .send(Method::PATCH, "/api/settings", Some(&su), Some(settings))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    for (template, n) in [("verification", 1), ("password-reset", 2), ("email-change", 3)] {
        let body = json!({"email": "ann@x.test", "template": template, "collection": "users"});
        let r = app.send(Method::POST, path, Some(&su), Some(body)).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{template}: {}", r.text());
        let got = smtp.wait_for_messages(n, std::time::Duration::from_secs(30)).await;
        assert_eq!(got.len(), n);
        assert_eq!(got[n - 1].to[0].email, "ann@x.test");
    }
}
