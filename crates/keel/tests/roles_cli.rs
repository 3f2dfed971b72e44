//! `keel roles` and `keel apikeys`, run as a user would: the built binary on a fresh data
//! dir, checked through its output, exit codes and the identity store it writes.

mod common;

use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::Arc;

use keel_auth::Identity;
use keel_data::{Access, RequestInfo, Store};
use serde_json::{json, Value};
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

/// Runs a command that must succeed; returns its stdout.
fn ok(dir: &Path, args: &[&str]) -> String {
    let out = keel(dir, args);
    assert!(
        out.status.success(),
        "keel {args:?} failed ({}):\n{}\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Runs a command that must fail with `code`; returns its stderr.
fn fails(dir: &Path, args: &[&str], code: i32) -> String {
    let out = keel(dir, args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "keel {args:?}:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stderr)
}

/// The identity store over the data dir (opened after the CLI has made it).
async fn identity(dir: &Path) -> Identity {
    let engine = keel_sql::sqlite::SqliteEngine::open(&dir.join("data.db"), 2)
        .await
        .unwrap();
    Identity::new(Arc::new(Store::open(Arc::new(engine)).await.unwrap()))
}

async fn create_user(dir: &Path, email: &str) -> String {
    let id = identity(dir).await;
    let users = id.store().collection("users").unwrap();
    let data = json!({"email": email, "password": "not-a-real-hash", "verified": true});
    let data = data.as_object().unwrap().clone();
    let rec = id
        .store()
        .create_record(&users, data, &RequestInfo::default(), Access::Superuser)
        .await
        .unwrap();
    rec.id().to_string()
}

#[tokio::test]
async fn roles_are_created_assigned_and_deleted() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let listed = ok(d, &["roles", "list"]);
    assert!(listed.starts_with("NAME"), "{listed}");
    assert!(
        listed.contains("admin") && listed.contains("operator") && listed.contains("*:read"),
        "{listed}"
    );

    let out = ok(
        d,
        &[
            "roles",
            "create",
            "editor",
            "--permission",
            "cache:read",
            "--permission",
            "jobs:read",
            "--description",
            "Edits",
        ],
    );
    assert!(out.contains("Created role editor"), "{out}");
    let roles: Value = serde_json::from_str(&ok(d, &["roles", "list", "--json"])).unwrap();
    let editor = roles["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "editor")
        .unwrap()
        .clone();
    assert_eq!(
        editor,
        json!({"name": "editor", "description": "Edits", "permissions": ["cache:read", "jobs:read"], "builtin": false})
    );

    let err = fails(d, &["roles", "create", "bad", "--permission", "jobs"], 2);
    assert!(err.contains("permissions"), "{err}");
    let err = fails(d, &["roles", "delete", "admin"], 1);
    assert!(err.contains("built-in"), "{err}");

    let user = create_user(d, "alice@example.com").await;
    let out = ok(d, &["roles", "assign", "editor", "users", &user]);
    assert!(out.contains(&format!("users/{user}")), "{out}");
    let id = identity(d).await;
    assert_eq!(
        id.roles_of(keel_data::schema::USERS_ID, &user).await.unwrap(),
        ["editor"]
    );
    let members = ok(d, &["roles", "members", "editor"]);
    assert!(members.contains("users") && members.contains(&user), "{members}");

    fails(d, &["roles", "assign", "editor", "users", "nosuchrecord12"], 1);
    fails(d, &["roles", "assign", "nope", "users", &user], 1);
    let err = fails(d, &["roles", "assign", "editor", "_superusers", &user], 2);
    assert!(err.contains("collection"), "{err}");

    ok(d, &["roles", "unassign", "editor", "users", &user]);
    assert!(id
        .roles_of(keel_data::schema::USERS_ID, &user)
        .await
        .unwrap()
        .is_empty());
    ok(d, &["roles", "delete", "editor"]);
    assert!(id.role("editor").await.unwrap().is_none());
    fails(d, &["roles", "delete", "editor"], 1);
}

#[tokio::test]
async fn api_keys_are_created_rotated_and_revoked() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let out = keel(
        d,
        &[
            "apikeys",
            "create",
            "ci",
            "--role",
            "operator",
            "--expires",
            "2099-01-31",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let secret = text(&out.stdout).trim().to_string();
    assert!(secret.starts_with("keel_"), "{secret}");
    assert!(text(&out.stderr).contains("shown this once"), "{}", text(&out.stderr));

    let id = identity(d).await;
    let key = id.verify_api_key(&secret).await.unwrap().unwrap();
    assert_eq!(
        (key.name.as_str(), key.roles.clone()),
        ("ci", vec!["operator".to_string()])
    );
    assert_eq!(key.expires, "2099-01-31 00:00:00.000Z");
    assert_eq!(key.created_by, "cli");

    let listed = ok(d, &["apikeys", "list"]);
    assert!(
        listed.contains(&key.id) && listed.contains("operator") && listed.contains("active"),
        "{listed}"
    );
    assert!(!listed.contains(&secret));
    let keys: Value = serde_json::from_str(&ok(d, &["apikeys", "list", "--json"])).unwrap();
    assert_eq!(keys["items"][0]["id"], key.id.as_str());
    assert!(keys["items"][0].get("hash").is_none());

    let err = fails(d, &["apikeys", "create", "x", "--role", "nope"], 2);
    assert!(err.contains("roles"), "{err}");
    let err = fails(d, &["apikeys", "create", "x", "--expires", "2001-01-01"], 2);
    assert!(err.contains("expires"), "{err}");

    let rotated = ok(d, &["apikeys", "rotate", &key.id]).trim().to_string();
    assert!(rotated.starts_with("keel_") && rotated != secret);
    assert!(id.verify_api_key(&secret).await.is_err(), "the old secret still works");
    assert!(id.verify_api_key(&rotated).await.unwrap().is_some());

    let out = ok(d, &["apikeys", "revoke", &key.id]);
    assert!(out.contains("Revoked"), "{out}");
    assert!(id.verify_api_key(&rotated).await.is_err(), "a revoked key still works");
    assert!(ok(d, &["apikeys", "list"]).contains("revoked"));
    fails(d, &["apikeys", "revoke", "nosuchkey00001"], 1);
}
