//! The identity store on a real records store (SQLite; PostgreSQL with
//! `KEEL_TEST_DATA_ENGINE=postgres`, MariaDB with `KEEL_TEST_DATA_ENGINE=mysql`): API keys,
//! roles, one-time codes and the purge.

use std::sync::Arc;

use keel_auth::Identity;
use keel_data::Store;
use keel_testkit::postgres::{data_engine_url, SchemaGuard};
use serde_json::Value;

/// The identity store over a fresh records store: SQLite, or a fresh PostgreSQL schema with
/// `KEEL_TEST_DATA_ENGINE=postgres`, or a fresh MariaDB database with
/// `KEEL_TEST_DATA_ENGINE=mysql`. The second value keeps the database until dropped.
async fn identity() -> (Identity, Box<dyn std::any::Any + Send>) {
    let dir = tempfile::tempdir().unwrap();
    if let Some(url) = keel_testkit::mysql::data_engine_url() {
        let db = keel_testkit::mysql::fresh_database(&url).await;
        let engine = keel_sql::mysql::MySqlEngine::connect(&db.url, 4).await.unwrap();
        let store = Arc::new(Store::open(Arc::new(engine)).await.unwrap());
        return (Identity::new(store), Box::new((dir, db.guard())));
    }
    if let Some(url) = data_engine_url() {
        let schema = keel_testkit::postgres::fresh_schema(&url, 4).await;
        let engine = keel_sql::postgres::PgEngine::new(schema.pool.clone());
        let store = Arc::new(Store::open(Arc::new(engine)).await.unwrap());
        let guard = SchemaGuard { url, name: schema.name };
        return (Identity::new(store), Box::new((dir, guard)));
    }
    let engine = keel_sql::sqlite::SqliteEngine::open(&dir.path().join("data.db"), 2)
        .await
        .unwrap();
    let store = Arc::new(Store::open(Arc::new(engine)).await.unwrap());
    (Identity::new(store), Box::new(dir))
}

#[tokio::test]
async fn api_keys_verify_until_revoked_and_rotation_replaces_the_secret() {
    let (id, _dir) = identity().await;
    let (key, secret) = id
        .create_api_key("ci", vec!["operator".into()], None, "test")
        .await
        .unwrap();
    assert!(secret.starts_with("keel_") && secret.len() > 50, "{secret}");
    let found = id.verify_api_key(&secret).await.unwrap().unwrap();
    assert_eq!(found.id, key.id);
    let stored = id.api_key(&key.id).await.unwrap().unwrap();
    assert!(!stored.last_used.is_empty(), "the first use is recorded");
    // not a key at all: tried as a token by the caller
    assert!(id.verify_api_key("eyJhbGciOi.x.y").await.unwrap().is_none());
    // a forged secret for a real id
    let forged = format!("keel_{}_{}", key.id, "x".repeat(40));
    assert!(id.verify_api_key(&forged).await.is_err());
    let (_, rotated) = id.rotate_api_key(&key.id).await.unwrap();
    assert!(
        id.verify_api_key(&secret).await.is_err(),
        "the old secret after rotation"
    );
    assert!(id.verify_api_key(&rotated).await.unwrap().is_some());
    id.revoke_api_key(&key.id).await.unwrap();
    assert!(id.verify_api_key(&rotated).await.is_err(), "a revoked key");
    // the secret is never stored as it is
    let rows = id
        .store()
        .engine()
        .fetch_all("SELECT * FROM \"_apiKeys\"", &[])
        .await
        .unwrap();
    assert!(!Value::from(rows).to_string().contains(&rotated));
    // bad input names the field
    let e = id.create_api_key("", vec![], None, "t").await.unwrap_err();
    assert!(format!("{e:?}").contains("name"), "{e:?}");
    let e = id
        .create_api_key("k", vec!["nope".into()], None, "t")
        .await
        .unwrap_err();
    assert!(format!("{e:?}").contains("roles"), "{e:?}");
    let e = id
        .create_api_key("k", vec![], Some("2001-01-01 00:00:00.000Z"), "t")
        .await
        .unwrap_err();
    assert!(format!("{e:?}").contains("expires"), "{e:?}");
}

#[tokio::test]
async fn custom_roles_grant_their_permissions_and_builtins_are_fixed() {
    let (id, _dir) = identity().await;
    id.create_role("editor", "edits posts", vec!["posts:write".into(), "cache:read".into()])
        .await
        .unwrap();
    // Each refusal is the 400 naming the field at fault, not just any error.
    let refused = |e: keel_core::Error, field: &str, code: &str| match &e {
        keel_core::Error::BadRequest { fields, .. } => {
            assert_eq!(fields.get(field).map(|f| f.code.as_str()), Some(code), "{e:?}")
        }
        other => panic!("expected a 400 naming {field}, got {other:?}"),
    };
    let taken = id.create_role("editor", "", vec![]).await.unwrap_err();
    refused(taken, "name", "validation_role_exists");
    let builtin = id.create_role("viewer", "", vec![]).await.unwrap_err();
    refused(builtin, "name", "validation_role_exists");
    assert!(matches!(
        id.create_role("Bad Name", "", vec![]).await.unwrap_err(),
        keel_core::Error::BadRequest { ref fields, .. } if fields.contains_key("name")
    ));
    assert!(matches!(
        id.create_role("x", "", vec!["not a permission".into()]).await.unwrap_err(),
        keel_core::Error::BadRequest { ref fields, .. } if fields.contains_key("permissions")
    ));
    assert!(id.update_role("admin", None, Some(vec![])).await.is_err());
    assert!(id.delete_role("viewer").await.is_err());
    id.assign_role("users", "rec1", "editor").await.unwrap();
    id.assign_role("users", "rec1", "viewer").await.unwrap();
    assert_eq!(id.roles_of("users", "rec1").await.unwrap(), vec!["editor", "viewer"]);
    let perms = id
        .permissions_of(&id.roles_of("users", "rec1").await.unwrap())
        .await
        .unwrap();
    assert!(keel_auth::permissions::grants(&perms, "posts:write"));
    assert!(keel_auth::permissions::grants(&perms, "jobs:read"), "viewer's *:read");
    assert!(!keel_auth::permissions::grants(&perms, "jobs:enqueue"));
    id.delete_role("editor").await.unwrap();
    assert_eq!(
        id.roles_of("users", "rec1").await.unwrap(),
        vec!["viewer"],
        "assignments go with the role"
    );
}

#[tokio::test]
async fn one_time_codes_work_once_and_old_ones_are_purged() {
    let (id, _dir) = identity().await;
    let (otp, code) = id.create_otp("users", "rec1", "a@example.com", 8).await.unwrap();
    assert_eq!(code.len(), 8);
    assert_eq!(id.take_otp("users", &otp, "00000000", 300).await.unwrap(), None);
    assert_eq!(
        id.take_otp("users", &otp, &code, 300).await.unwrap().as_deref(),
        Some("rec1")
    );
    assert_eq!(id.take_otp("users", &otp, &code, 300).await.unwrap(), None, "used up");

    let (old, _) = id.create_otp("users", "rec1", "a@example.com", 8).await.unwrap();
    let mfa = id.create_mfa("users", "rec1", "password").await.unwrap();
    for (table, rid) in [("_otps", &old), ("_mfas", &mfa)] {
        let mut tx = id.store().engine().begin().await.unwrap();
        tx.execute(
            &format!(
                "UPDATE \"{table}\" SET \"created\" = '2020-01-01 00:00:00.000Z' WHERE \"id\" = {}",
                id.store().engine().dialect().placeholder(1)
            ),
            &[Value::from(rid.as_str())],
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let fresh = id.create_mfa("users", "rec1", "otp").await.unwrap();
    assert_eq!(id.purge(0).await.unwrap(), 2);
    assert!(id.mfa_session("users", &fresh, 600).await.unwrap().is_some());
    assert!(
        id.mfa_session("users", &mfa, 10_000_000_000).await.unwrap().is_none(),
        "purged"
    );
}
