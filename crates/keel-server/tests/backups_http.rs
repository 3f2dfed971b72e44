//! `/api/backups` as PocketBase has it: superusers only (the download takes a superuser's file
//! token), PocketBase's names and error codes, a zip holding a consistent `data.db` and the
//! uploaded files, uploads checked, restores staged for the restart, scheduled backups that
//! keep `cronMaxKeep`, and a clear refusal when records are not in SQLite.

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use common::{App, Multipart};
use keel_auth::token::TokenKind;
use serde_json::{json, Value};

async fn file_token(app: &App, auth: &str) -> String {
    let r = app.send(Method::POST, "/api/files/token", Some(auth), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json["token"].as_str().unwrap().to_string()
}

fn keys(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|b| b["key"].as_str().unwrap().to_string())
        .collect()
}

fn zip_names(bytes: &[u8]) -> Vec<String> {
    let archive = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    archive.file_names().map(|n| n.unwrap().into_owned()).collect()
}

fn field_code(r: &common::Resp, field: &str) -> String {
    r.json["data"][field]["code"].as_str().unwrap_or("").to_string()
}

/// A collection with a file field and one record holding a file.
async fn record_with_file(app: &App, su: &str) -> (String, String, String) {
    let r = app
        .send(
            Method::POST,
            "/api/collections",
            Some(su),
            Some(json!({"name": "docs", "type": "base", "fields": [
                {"name": "title", "type": "text"},
                {"name": "doc", "type": "file", "maxSelect": 1, "maxSize": 1000000}
            ]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let col = r.json["id"].as_str().unwrap().to_string();
    let form = Multipart::new()
        .text("title", "kept")
        .file("doc", "a.txt", "text/plain", b"hello backup");
    let r = app
        .multipart(Method::POST, "/api/collections/docs/records", Some(su), form)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    (
        col,
        r.json["id"].as_str().unwrap().to_string(),
        r.json["doc"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn only_superusers_reach_backups() {
    let app = App::new().await;
    let (user, user_token) = app.auth_record("users", "u@example.com", "password123").await;
    for (method, uri) in [
        (Method::GET, "/api/backups"),
        (Method::POST, "/api/backups"),
        (Method::DELETE, "/api/backups/x.zip"),
        (Method::POST, "/api/backups/x.zip/restore"),
    ] {
        let r = app.send(method.clone(), uri, None, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {uri}");
        assert_eq!(r.json["data"], json!({}));
        let r = app.send(method.clone(), uri, Some(&user_token), None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {uri}");
    }
    let form = Multipart::new().file("file", "a.zip", "application/zip", b"PK\x05\x06");
    let r = app
        .multipart(Method::POST, "/api/backups/upload", Some(&user_token), form)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // A user's file token does not open a backup.
    let su = app.superuser().await;
    let r = app
        .send(Method::POST, "/api/backups", Some(&su), Some(json!({"name": "b.zip"})))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let user_file = app.sign(&user, TokenKind::File);
    for uri in [
        "/api/backups/b.zip".to_string(),
        format!("/api/backups/b.zip?token={user_file}"),
        format!("/api/backups/b.zip?token={su}"),
    ] {
        let r = app.send(Method::GET, &uri, None, None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{uri}");
        assert_eq!(r.json["message"], "Insufficient permissions to access the resource.");
    }
}

#[tokio::test]
async fn create_list_download_and_delete() {
    let app = App::new().await;
    let su = app.superuser().await;
    let (col, rec, file) = record_with_file(&app, &su).await;

    let r = app.send(Method::GET, "/api/backups", Some(&su), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json, json!([]));

    let r = app
        .send(
            Method::POST,
            "/api/backups",
            Some(&su),
            Some(json!({"name": "!test.zip"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(field_code(&r, "name"), "validation_match_invalid");

    let r = app
        .send(
            Method::POST,
            "/api/backups",
            Some(&su),
            Some(json!({"name": "test.zip"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let r = app
        .send(
            Method::POST,
            "/api/backups",
            Some(&su),
            Some(json!({"name": "test.zip"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(field_code(&r, "name"), "validation_backup_name_exists");
    // Without a name: PocketBase's generated one.
    let r = app.send(Method::POST, "/api/backups", Some(&su), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());

    let r = app.send(Method::GET, "/api/backups", Some(&su), None).await;
    assert_eq!(r.status, StatusCode::OK);
    let names = keys(&r.json);
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names[0].starts_with("pb_backup_keel_") && names[0].ends_with(".zip"),
        "{names:?}"
    );
    assert_eq!(names[1], "test.zip");
    let item = &r.json[1];
    assert!(item["size"].as_u64().unwrap() > 0);
    let modified = item["modified"].as_str().unwrap();
    assert!(keel_core::time::parse(modified).is_some(), "{modified}");

    // Downloaded with a superuser's file token: data.db and the record's file.
    let token = file_token(&app, &su).await;
    let r = app
        .send(Method::GET, &format!("/api/backups/test.zip?token={token}"), None, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.header("content-type"), "application/zip");
    assert!(r.header("content-disposition").contains("test.zip"));
    let names = zip_names(&r.bytes);
    assert!(names.contains(&"data.db".to_string()), "{names:?}");
    let stored = format!("storage/{col}/{rec}/{file}");
    assert!(names.contains(&stored), "{names:?}");
    assert!(
        !names.iter().any(|n| n.contains("vault") || n.starts_with("backups")),
        "{names:?}"
    );
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(r.bytes.clone())).unwrap();
    let mut text = String::new();
    archive.by_name(&stored).unwrap().read_to_string(&mut text).unwrap();
    assert_eq!(text, "hello backup");

    let r = app
        .send(
            Method::GET,
            &format!("/api/backups/missing.zip?token={token}"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let r = app
        .send(Method::DELETE, "/api/backups/missing.zip", Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app.send(Method::DELETE, "/api/backups/test.zip", Some(&su), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app.send(Method::GET, "/api/backups", Some(&su), None).await;
    assert!(!keys(&r.json).contains(&"test.zip".to_string()));
}

#[tokio::test]
async fn uploads_are_checked_then_restorable() {
    let app = App::new().await;
    let su = app.superuser().await;
    let r = app
        .send(
            Method::POST,
            "/api/backups",
            Some(&su),
            Some(json!({"name": "orig.zip"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let token = file_token(&app, &su).await;
    let zip = app
        .send(Method::GET, &format!("/api/backups/orig.zip?token={token}"), None, None)
        .await
        .bytes;

    let r = app
        .multipart(
            Method::POST,
            "/api/backups/upload",
            Some(&su),
            Multipart::new().text("x", "y"),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(field_code(&r, "file"), "validation_required");
    let form = Multipart::new().file("file", "notes.zip", "application/zip", b"just text");
    let r = app
        .multipart(Method::POST, "/api/backups/upload", Some(&su), form)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(field_code(&r, "file"), "validation_invalid_mime_type");

    let form = Multipart::new().file("file", "uploaded.zip", "application/zip", &zip);
    let r = app
        .multipart(Method::POST, "/api/backups/upload", Some(&su), form)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let form = Multipart::new().file("file", "uploaded.zip", "application/zip", &zip);
    let r = app
        .multipart(Method::POST, "/api/backups/upload", Some(&su), form)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(field_code(&r, "file"), "validation_backup_name_exists");
    let r = app.send(Method::GET, "/api/backups", Some(&su), None).await;
    assert_eq!(keys(&r.json), ["orig.zip", "uploaded.zip"]);

    // A zip without data.db is refused when restoring it, before anything is replaced.
    let mut empty = Vec::new();
    {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(&mut empty));
        w.start_file("storage/x.txt", zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut w, b"x").unwrap();
        w.finish().unwrap();
    }
    let form = Multipart::new().file("file", "nodata.zip", "application/zip", &empty);
    let r = app
        .multipart(Method::POST, "/api/backups/upload", Some(&su), form)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let r = app
        .send(Method::POST, "/api/backups/nodata.zip/restore", Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json["message"].as_str().unwrap().contains("data.db is missing"),
        "{}",
        r.text()
    );
    let r = app
        .send(Method::POST, "/api/backups/missing.zip/restore", Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json["message"], "Missing or invalid backup file.");
    assert!(app.state.store.collection("users").is_ok());

    // A good one is staged for the restart (crates/keel/tests/backups_cli.rs follows a real
    // restart); a second restore meanwhile is refused.
    let r = app
        .send(Method::POST, "/api/backups/uploaded.zip/restore", Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let staged = app.dir.path().join(".keel_restore");
    assert!(staged.join("ready").exists());
    assert!(staged.join("pending/data.db").exists());
    let r = app
        .send(Method::POST, "/api/backups/orig.zip/restore", Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json["message"].as_str().unwrap().starts_with("Try again later"),
        "{}",
        r.text()
    );
}

#[tokio::test]
async fn backups_settings_are_validated() {
    let app = App::new().await;
    let su = app.superuser().await;
    let patch = |backups: Value| json!({ "backups": backups });
    let r = app
        .send(
            Method::PATCH,
            "/api/settings",
            Some(&su),
            Some(patch(json!({"cron": "not a cron"}))),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(field_code(&r, "backups.cron"), "validation_invalid_cron");
    let r = app
        .send(
            Method::PATCH,
            "/api/settings",
            Some(&su),
            Some(patch(json!({"cron": "0 3 * * *", "cronMaxKeep": 0}))),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(field_code(&r, "backups.cronMaxKeep"), "validation_required");
    let r = app
        .send(
            Method::PATCH,
            "/api/settings",
            Some(&su),
            Some(patch(json!({"s3": {"enabled": true}}))),
        )
        .await;
    // Checked like `s3`: enabled without its bucket, endpoint and keys is refused.
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert_eq!(field_code(&r, "backups.s3.bucket"), "validation_required");
    let r = app
        .send(
            Method::PATCH,
            "/api/settings",
            Some(&su),
            Some(patch(json!({"cron": "0 3 * * *", "cronMaxKeep": 2}))),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json["backups"]["cron"], "0 3 * * *");

    // backups.s3.secret is write-only: never read back, kept when a form sends it blank.
    let r = app
        .send(
            Method::PATCH,
            "/api/settings",
            Some(&su),
            Some(patch(json!({"s3": {"bucket": "b", "secret": "s3-very-secret"}}))),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(!r.text().contains("s3-very-secret"));
    assert_eq!(r.json["backups"]["s3"]["bucket"], "b");
    let r = app
        .send(
            Method::PATCH,
            "/api/settings",
            Some(&su),
            Some(patch(json!({"s3": {"secret": ""}}))),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = app.send(Method::GET, "/api/settings", Some(&su), None).await;
    assert!(!r.text().contains("s3-very-secret"));
    assert_eq!(app.state.settings.get().backups["s3"]["secret"], "s3-very-secret");
}

#[tokio::test]
async fn scheduled_backups_keep_cron_max_keep() {
    let app = App::new().await;
    let su = app.superuser().await;
    let r = app
        .send(
            Method::POST,
            "/api/backups",
            Some(&su),
            Some(json!({"name": "manual.zip"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let r = app
        .send(
            Method::PATCH,
            "/api/settings",
            Some(&su),
            Some(json!({"backups": {"cron": "* * * * * *", "cronMaxKeep": 1}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let tasks = keel_app::backups::schedule::spawn(&app.state, stopped);

    // Wait until a scheduled backup has replaced an older one (pruned to cronMaxKeep = 1).
    let queue = "_keel-backup";
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let page = app
            .state
            .jobs
            .store()
            .list(
                queue,
                &keel_jobs::JobFilter::state(keel_jobs::JobState::Completed),
                1,
                50,
            )
            .await
            .unwrap();
        let pruned = page.items.iter().any(|j| {
            j.result
                .as_ref()
                .is_some_and(|r| r["removed"].as_array().is_some_and(|a| !a.is_empty()))
        });
        if pruned {
            break;
        }
        assert!(Instant::now() < deadline, "no scheduled backup was pruned within 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop.send(true);
    for t in tasks {
        let _ = t.await;
    }
    let r = app.send(Method::GET, "/api/backups", Some(&su), None).await;
    let names = keys(&r.json);
    let auto: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with("@auto_pb_backup_keel_"))
        .collect();
    assert_eq!(auto.len(), 1, "{names:?}");
    assert!(
        names.contains(&"manual.zip".to_string()),
        "a backup made by hand is kept: {names:?}"
    );
}

#[tokio::test]
async fn on_postgres_and_mariadb_backups_point_to_the_engines_tools() {
    for (engine, tool) in [
        (keel_core::config::DataEngine::Postgres, "pg_dump"),
        (keel_core::config::DataEngine::Mysql, "mariadb-dump"),
    ] {
        let app = App::with_config(|c| c.data.engine = engine).await;
        let su = app.superuser().await;
        let r = app.send(Method::POST, "/api/backups", Some(&su), None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.json["message"].as_str().unwrap().contains(tool), "{}", r.text());
        let r = app
            .send(Method::POST, "/api/backups/x.zip/restore", Some(&su), None)
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.json["message"].as_str().unwrap().contains(tool), "{}", r.text());
        let r = app
            .send(
                Method::PATCH,
                "/api/settings",
                Some(&su),
                Some(json!({"backups": {"cron": "0 3 * * *", "cronMaxKeep": 2}})),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(field_code(&r, "backups.cron"), "validation_backups_unsupported");
        let r = app.send(Method::GET, "/api/backups", Some(&su), None).await;
        assert_eq!(r.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn backups_on_s3_are_made_listed_downloaded_and_restored_from_the_bucket() {
    let Some(moto) = keel_testkit::object_servers::Moto::start().await else {
        return;
    };
    let app = App::new().await;
    let su = app.superuser().await;
    let (col, rec, file) = record_with_file(&app, &su).await;
    let s3 = json!({
        "enabled": true, "bucket": moto.bucket, "region": "us-east-1", "endpoint": moto.endpoint,
        "accessKey": "test", "secret": "moto-secret", "forcePathStyle": true,
    });
    let r = app
        .send(
            Method::PATCH,
            "/api/settings",
            Some(&su),
            Some(json!({"backups": {"s3": s3}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());

    let r = app
        .send(Method::POST, "/api/backups", Some(&su), Some(json!({"name": "s3.zip"})))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    // In the bucket (under keel_backups/), not in the data dir.
    assert!(!app.dir.path().join("backups/s3.zip").exists());
    let bucket = keel_files::from_s3_settings(&s3).unwrap();
    let listed = keel_core::files::FileStore::list(&bucket, "keel_backups/")
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|f| f.key.as_str()).collect::<Vec<_>>(),
        ["keel_backups/s3.zip"]
    );

    let r = app.send(Method::GET, "/api/backups", Some(&su), None).await;
    assert_eq!(keys(&r.json), ["s3.zip"]);
    let token = file_token(&app, &su).await;
    let r = app
        .send(Method::GET, &format!("/api/backups/s3.zip?token={token}"), None, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let names = zip_names(&r.bytes);
    assert!(names.contains(&"data.db".to_string()), "{names:?}");
    assert!(names.contains(&format!("storage/{col}/{rec}/{file}")), "{names:?}");

    // A restore fetches it from the bucket and stages it for the restart.
    let r = app
        .send(Method::POST, "/api/backups/s3.zip/restore", Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let staged = app.dir.path().join(".keel_restore");
    assert!(staged.join("pending/data.db").exists());
}
