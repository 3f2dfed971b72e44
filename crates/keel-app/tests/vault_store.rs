//! The vault's storage (`keel_app::vault::rows`) on SQLite and PostgreSQL (with
//! `KEEL_TEST_POSTGRES_URL`): sealed rows written and found by id and name, unique names, last
//! use, and re-wrapping under a new master key interrupted part way, then finished, the
//! ciphertexts untouched and every secret opening with the new key alone.

use std::sync::Arc;

use keel_app::vault::{rows, secret};
use keel_data::Store;
use keel_vault::{Keyring, MasterKey};
use serde_json::{json, Map, Value};

/// The stores to run on: SQLite always, a fresh PostgreSQL schema when the URL is set. The
/// boxed values keep the databases until dropped.
async fn stores() -> Vec<(&'static str, Arc<Store>, Box<dyn std::any::Any>)> {
    let dir = tempfile::tempdir().unwrap();
    let engine = keel_sql::sqlite::SqliteEngine::open(&dir.path().join("data.db"), 2)
        .await
        .unwrap();
    let sqlite = Arc::new(Store::open(Arc::new(engine)).await.unwrap());
    let mut out: Vec<(&'static str, Arc<Store>, Box<dyn std::any::Any>)> = vec![("sqlite", sqlite, Box::new(dir))];
    if let Some(url) = keel_testkit::env::engine_url("KEEL_TEST_POSTGRES_URL") {
        let schema = keel_testkit::postgres::fresh_schema(&url, 4).await;
        let engine = keel_sql::postgres::PgEngine::new(schema.pool.clone());
        let store = Arc::new(Store::open(Arc::new(engine)).await.unwrap());
        let guard = keel_testkit::postgres::SchemaGuard { url, name: schema.name };
        out.push(("postgres", store, Box::new(guard)));
    }
    out
}

async fn insert(store: &Store, ring: &Keyring, name: &str, password: &str) -> rows::SecretRow {
    let id = keel_core::id::new_id();
    let data = secret::validate(
        secret::SecretType::Password,
        json!({"username": "admin", "password": password}),
    )
    .unwrap();
    let mut fields: Map<String, Value> = rows::sealed_fields(ring, &id, &data).unwrap();
    fields.insert("id".into(), Value::from(id));
    fields.insert("name".into(), Value::from(name));
    fields.insert("type".into(), Value::from("password"));
    rows::insert(store, fields).await.unwrap()
}

fn ciphertext(row: &rows::SecretRow) -> String {
    row.sealed.split(':').nth(3).unwrap().to_string()
}

#[tokio::test]
async fn secrets_are_stored_sealed_found_and_rewrapped_on_every_engine() {
    for (engine, store, _keep) in stores().await {
        let old = MasterKey::generate();
        let before = Keyring::new(old.clone(), Vec::new());
        let mut made = Vec::new();
        for i in 0..5 {
            made.push(insert(&store, &before, &format!("s{i}"), &format!("password-{i}")).await);
        }
        assert!(made
            .iter()
            .all(|r| !r.sealed.contains("password-") && r.key_id == before.current_id().0));

        // Found by id and by name; listed by name; names are unique.
        let by_name = rows::find(&store, "s3").await.unwrap().unwrap();
        assert_eq!(by_name.id, made[3].id, "{engine}");
        assert_eq!(rows::find(&store, &made[3].id).await.unwrap().unwrap().name, "s3");
        assert!(rows::find(&store, "nope").await.unwrap().is_none());
        let page = rows::page(&store, 1, 10).await.unwrap();
        let names: Vec<_> = page.items.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["s0", "s1", "s2", "s3", "s4"], "{engine}");
        let data = secret::validate(secret::SecretType::Token, json!({"token": "abcd"})).unwrap();
        let mut dup = rows::sealed_fields(&before, "dupdupdupdupdup", &data).unwrap();
        dup.insert("name".into(), Value::from("s1"));
        dup.insert("type".into(), Value::from("token"));
        assert!(rows::insert(&store, dup).await.is_err(), "{engine}: a second s1");

        rows::mark_used(&store, &made[0].id, "run_1").await.unwrap();
        let used = rows::find(&store, "s0").await.unwrap().unwrap();
        assert_eq!(used.last_used_by, "run_1");
        assert!(!used.last_used_at.is_empty());

        // A rotation interrupted after two secrets: both keys still open everything.
        let new = MasterKey::generate();
        let during = Keyring::new(new.clone(), vec![old.clone()]);
        let done = rows::rewrap_all(&store, &during, Some(2)).await.unwrap();
        assert_eq!(done.rewrapped, 2, "{engine}");
        assert_eq!(rows::not_under(&store, new.id(), 100).await.unwrap().len(), 3);
        for r in &made {
            let row = rows::find(&store, &r.id).await.unwrap().unwrap();
            assert!(rows::open_row(&during, &row).is_ok(), "{engine}: {}", row.name);
        }
        // The rerun re-wraps only what is left.
        let done = rows::rewrap_all(&store, &during, None).await.unwrap();
        assert_eq!(done.rewrapped, 3, "{engine}");
        assert!(rows::not_under(&store, new.id(), 100).await.unwrap().is_empty());
        let new_only = Keyring::new(new.clone(), Vec::new());
        for (i, r) in made.iter().enumerate() {
            let row = rows::find(&store, &r.id).await.unwrap().unwrap();
            assert_eq!(row.key_id, new.id().0);
            assert_eq!(ciphertext(&row), ciphertext(r), "{engine}: the data was re-encrypted");
            let opened = rows::open_row(&new_only, &row).unwrap();
            assert_eq!(opened.get("password"), Some(format!("password-{i}").as_str()));
            assert!(rows::open_row(&before, &row).is_err());
        }
        // Nothing left: a third run does nothing.
        assert_eq!(rows::rewrap_all(&store, &during, None).await.unwrap().rewrapped, 0);
    }
}
