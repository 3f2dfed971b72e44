//! Collections as code: with `[data] automigrate` every collection change made over the API
//! writes a migration file; `keel migrate up` replays them on another data dir, `down` reverts
//! them one by one; `create` and `collections` write files.

mod common;

use std::path::Path;
use std::process::Stdio;

use common::{keel_command, superuser_token, KeelProcess};
use serde_json::{json, Value};

fn keel(data: &Path, migrations: &Path, args: &[&str]) -> String {
    let out = keel_command(data)
        .env("KEEL_DATA__MIGRATIONS_DIR", migrations)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "keel {args:?}: {text}");
    text
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The collections of `data` other than Keel's own, by name, with their field names.
fn schema(data: &Path, _migrations: &Path) -> Vec<(String, Vec<String>)> {
    let snap_dir = tempfile::tempdir().unwrap();
    keel(data, snap_dir.path(), &["migrate", "collections"]);
    let name = &files(snap_dir.path())[0];
    let file: Value = serde_json::from_str(&std::fs::read_to_string(snap_dir.path().join(name)).unwrap()).unwrap();
    let mut out: Vec<(String, Vec<String>)> = file["up"]
        .as_array()
        .unwrap()
        .iter()
        .map(|op| {
            let c = &op["upsert"];
            let fields = c["fields"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["name"].as_str().unwrap().to_string())
                .collect();
            (c["name"].as_str().unwrap().to_string(), fields)
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn api_changes_are_written_as_migrations_replayed_and_reverted_elsewhere() {
    let migrations = tempfile::tempdir().unwrap();
    let mdir = migrations.path().to_str().unwrap().to_string();
    let keel_a =
        KeelProcess::start_with_env(&[("KEEL_DATA__AUTOMIGRATE", "true"), ("KEEL_DATA__MIGRATIONS_DIR", &mdir)]);
    let http = reqwest::Client::new();
    let token = superuser_token(&http, keel_a.url()).await;
    let send = |method: reqwest::Method, path: &str, body: Value| {
        http.request(method, format!("{}{path}", keel_a.url()))
            .header("Authorization", &token)
            .json(&body)
            .send()
    };
    let r = send(
        reqwest::Method::POST,
        "/api/collections",
        json!({"name": "notes", "type": "base", "fields": [{"name": "title", "type": "text"}]}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let notes: Value = send(reqwest::Method::GET, "/api/collections/notes", json!({}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut fields = notes["fields"].as_array().unwrap().clone();
    fields.push(json!({"name": "body", "type": "editor"}));
    let r = send(
        reqwest::Method::PATCH,
        "/api/collections/notes",
        json!({"fields": fields}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let written = files(migrations.path());
    assert_eq!(written.len(), 2, "{written:?}");
    assert!(
        written[0].ends_with("_created_notes.json") && written[1].ends_with("_updated_notes.json"),
        "{written:?}"
    );
    let a_schema = schema(keel_a.data_dir(), migrations.path());
    drop(keel_a);

    // Another, fresh data dir: `up` replays both; the schema is the same.
    let b = tempfile::tempdir().unwrap();
    let out = keel(b.path(), migrations.path(), &["migrate", "up"]);
    assert!(out.contains(&format!("Applied {}", written[1])), "{out}");
    assert_eq!(schema(b.path(), migrations.path()), a_schema);
    let out = keel(b.path(), migrations.path(), &["migrate"]);
    assert!(out.contains("Database is up to date."), "applied once: {out}");

    // `down` reverts the newest first: the field, then the collection.
    let out = keel(b.path(), migrations.path(), &["migrate", "down"]);
    assert!(out.contains(&format!("Reverted {}", written[1])), "{out}");
    let notes = schema(b.path(), migrations.path())
        .into_iter()
        .find(|(n, _)| n == "notes")
        .unwrap();
    assert!(
        notes.1.contains(&"title".to_string()) && !notes.1.contains(&"body".to_string()),
        "{notes:?}"
    );
    keel(b.path(), migrations.path(), &["migrate", "down"]);
    assert!(!schema(b.path(), migrations.path()).iter().any(|(n, _)| n == "notes"));

    // `create` writes an empty file that `up` then applies (nothing to do).
    let out = keel(b.path(), migrations.path(), &["migrate", "create", "Add tags!"]);
    assert!(out.contains("_add_tags.json"), "{out}");
    let newest = files(migrations.path()).pop().unwrap();
    let file: Value = serde_json::from_str(&std::fs::read_to_string(migrations.path().join(&newest)).unwrap()).unwrap();
    assert_eq!(file, json!({"up": [], "down": []}));
    let out = keel(b.path(), migrations.path(), &["migrate", "up"]);
    assert!(out.contains(&format!("Applied {newest}")), "{out}");
}
