//! Backups end to end on the real binary: a restore through the API restarts `keel serve`
//! (same process, same address) into the backup's data; `keel backup create|list|restore`
//! on the data dir, `restore` refused while a server holds it.

mod common;

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::KeelProcess;
use serde_json::{json, Value};

fn keel(dir: &Path, args: &[&str]) -> Output {
    common::keel_command(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A free loopback port (the server must come back on the same address after a restart).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn post(http: &reqwest::Client, url: &str, token: &str, body: Value) -> reqwest::Response {
    http.post(url)
        .header("authorization", token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn add_note(http: &reqwest::Client, base: &str, token: &str, title: &str) {
    let r = post(
        http,
        &format!("{base}/api/collections/notes/records"),
        token,
        json!({"title": title}),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

async fn notes_collection(http: &reqwest::Client, base: &str, token: &str) {
    let r = post(
        http,
        &format!("{base}/api/collections"),
        token,
        json!({"name": "notes", "type": "base", "fields": [{"name": "title", "type": "text"}]}),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// The notes' titles, sorted; `None` while the server does not answer (restarting).
async fn titles(http: &reqwest::Client, base: &str, token: &str) -> Option<Vec<String>> {
    let r = http
        .get(format!("{base}/api/collections/notes/records?perPage=100"))
        .header("authorization", token)
        .send()
        .await
        .ok()?;
    if r.status() != 200 {
        return None;
    }
    let body: Value = r.json().await.ok()?;
    let mut t: Vec<String> = body["items"]
        .as_array()?
        .iter()
        .map(|i| i["title"].as_str().unwrap_or("").to_string())
        .collect();
    t.sort();
    Some(t)
}

#[tokio::test]
async fn a_restore_through_the_api_restarts_into_the_backup() {
    let dir = tempfile::Builder::new().prefix("keel-test-").tempdir().unwrap();
    common::upsert_superuser(dir.path(), common::SUPERUSER_EMAIL, common::SUPERUSER_PASSWORD);
    let addr = format!("127.0.0.1:{}", free_port());
    let mut server = KeelProcess::serve_on(dir, &addr, &[]);
    let pid = server.pid();
    let base = server.url().to_string();
    let http = reqwest::Client::new();
    let token = common::superuser_token(&http, &base).await;
    notes_collection(&http, &base, &token).await;
    add_note(&http, &base, &token, "before").await;
    let r = post(
        &http,
        &format!("{base}/api/backups"),
        &token,
        json!({"name": "snap.zip"}),
    )
    .await;
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    add_note(&http, &base, &token, "after").await;
    assert_eq!(titles(&http, &base, &token).await.unwrap(), ["after", "before"]);

    let r = post(
        &http,
        &format!("{base}/api/backups/snap.zip/restore"),
        &token,
        json!({}),
    )
    .await;
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());

    // The same process comes back on the same address serving the backup's data.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if titles(&http, &base, &token).await.as_deref() == Some(&["before".to_string()][..]) {
            break;
        }
        assert!(server.try_status().is_none(), "keel exited instead of restarting");
        assert!(
            Instant::now() < deadline,
            "the restored data was not served within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(server.pid(), pid);
    assert!(!server.data_dir().join(".keel_restore").exists());
    // Writes work on the restored data, and the backup is still listed.
    add_note(&http, &base, &token, "later").await;
    let r = http
        .get(format!("{base}/api/backups"))
        .header("authorization", &token)
        .send()
        .await
        .unwrap();
    let list: Value = r.json().await.unwrap();
    assert_eq!(list[0]["key"], "snap.zip");
}

#[tokio::test]
async fn the_cli_creates_lists_and_restores_a_stopped_data_dir() {
    let mut server = KeelProcess::start();
    let base = server.url().to_string();
    let dir = server.data_dir().to_path_buf();
    let http = reqwest::Client::new();
    let token = common::superuser_token(&http, &base).await;
    notes_collection(&http, &base, &token).await;
    add_note(&http, &base, &token, "one").await;

    // A backup beside the running server.
    let out = keel(&dir, &["backup", "create", "cli.zip"]);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        text(&out.stdout).contains("Created backup cli.zip"),
        "{}",
        text(&out.stdout)
    );
    let out = keel(&dir, &["backup", "create", "Bad Name"]);
    assert!(!out.status.success());
    let out = keel(&dir, &["backup", "list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("cli.zip\t"), "{}", text(&out.stdout));

    add_note(&http, &base, &token, "two").await;
    // Refused while the server holds the data dir.
    let out = keel(&dir, &["backup", "restore", "cli.zip"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("server stopped"), "{}", text(&out.stderr));

    server.terminate();
    assert!(server.wait_exit(Duration::from_secs(30)).is_some(), "keel did not stop");
    let out = keel(&dir, &["backup", "restore", "missing.zip"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no backup named missing.zip"),
        "{}",
        text(&out.stderr)
    );
    let out = keel(&dir, &["backup", "restore", "cli.zip"]);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stdout).contains("Restored cli.zip"), "{}", text(&out.stdout));

    let data = server.kill();
    let server = KeelProcess::serve(data);
    let base = server.url().to_string();
    let token = common::superuser_token(&http, &base).await;
    assert_eq!(titles(&http, &base, &token).await.unwrap(), ["one"]);
}
