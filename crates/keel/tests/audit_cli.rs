//! `keel audit verify`, run as a user would: the built binary on a data dir whose audit
//! trail the CLI itself wrote (`keel roles create` is audited), then tampered with directly
//! in the database file.

mod common;

use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::Arc;

use keel_sql::Engine;
use tempfile::TempDir;

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

/// A data dir whose audit trail holds three entries (three roles created by the CLI).
fn trail() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in ["alpha", "beta", "gamma"] {
        let out = keel(dir.path(), &["roles", "create", name, "--permission", "cache:read"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    dir
}

/// The database file, opened directly (not through the store, no migration run).
async fn db(dir: &Path) -> Arc<dyn Engine> {
    Arc::new(
        keel_sql::sqlite::SqliteEngine::open(&dir.join("data.db"), 1)
            .await
            .unwrap(),
    )
}

async fn exec(engine: &Arc<dyn Engine>, sql: &str) {
    let mut tx = engine.begin().await.unwrap();
    assert_eq!(tx.execute(sql, &[]).await.unwrap(), 1, "{sql}");
    tx.commit().await.unwrap();
}

/// The id of the entry with `seq`.
async fn id_of(engine: &Arc<dyn Engine>, seq: i64) -> String {
    let rows = engine
        .fetch_all(&format!("SELECT \"id\" FROM \"_audit\" WHERE \"seq\" = {seq}"), &[])
        .await
        .unwrap();
    rows[0]["id"].as_str().unwrap().to_string()
}

/// Runs `keel audit verify`, which must exit with `code`; returns stdout and stderr.
fn verify(dir: &Path, code: i32) -> (String, String) {
    let out = keel(dir, &["audit", "verify"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(code), "{stdout}\n{stderr}");
    (stdout, stderr)
}

#[tokio::test]
async fn an_intact_trail_verifies_and_a_changed_entry_is_named() {
    let dir = trail();
    let (stdout, _) = verify(dir.path(), 0);
    assert!(stdout.contains("intact: 3 entries"), "{stdout}");
    assert!(stdout.contains("Head hash: "), "{stdout}");

    let engine = db(dir.path()).await;
    let second = id_of(&engine, 2).await;
    exec(
        &engine,
        &format!("UPDATE \"_audit\" SET \"ip\" = '203.0.113.66' WHERE \"id\" = '{second}'"),
    )
    .await;
    let (_, stderr) = verify(dir.path(), 1);
    assert!(stderr.contains(&format!("entry {second} (seq 2)")), "{stderr}");
    assert!(stderr.contains("content or its position (seq) was changed"), "{stderr}");
}

#[tokio::test]
async fn a_deleted_entry_is_a_gap_named_by_the_entry_after_it() {
    let dir = trail();
    let engine = db(dir.path()).await;
    let third = id_of(&engine, 3).await;
    exec(&engine, "DELETE FROM \"_audit\" WHERE \"seq\" = 2").await;
    let (_, stderr) = verify(dir.path(), 1);
    assert!(stderr.contains(&format!("entry {third} (seq 3)")), "{stderr}");
    assert!(stderr.contains("(seq 2) were deleted"), "{stderr}");
}

#[tokio::test]
async fn deleting_the_newest_entry_is_detected_too() {
    let dir = trail();
    let engine = db(dir.path()).await;
    let second = id_of(&engine, 2).await;
    exec(&engine, "DELETE FROM \"_audit\" WHERE \"seq\" = 3").await;
    let (_, stderr) = verify(dir.path(), 1);
    assert!(stderr.contains(&format!("entry {second} (seq 2)")), "{stderr}");
    assert!(
        stderr.contains("newest entries after it (seq 3 to 3) were deleted"),
        "{stderr}"
    );
}

#[tokio::test]
async fn reordering_two_entries_is_detected() {
    let dir = trail();
    let engine = db(dir.path()).await;
    let (first, second) = (id_of(&engine, 1).await, id_of(&engine, 2).await);
    // Swap their places in the chain (seq decides the order).
    let mut tx = engine.begin().await.unwrap();
    for (id, seq) in [(&first, -1), (&second, 1), (&first, 2)] {
        let sql = format!("UPDATE \"_audit\" SET \"seq\" = {seq} WHERE \"id\" = '{id}'");
        assert_eq!(tx.execute(&sql, &[]).await.unwrap(), 1);
    }
    tx.commit().await.unwrap();
    let (_, stderr) = verify(dir.path(), 1);
    assert!(stderr.contains(&format!("entry {second} (seq 1)")), "{stderr}");
    assert!(stderr.contains("position"), "{stderr}");
}
