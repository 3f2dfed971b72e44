//! Encrypted text fields (`"encrypted": true`) on SQLite and PostgreSQL (with
//! `KEEL_TEST_POSTGRES_URL`): stored sealed (no plaintext in the table), returned opened, a
//! value copied to another record does not open, filters, sorts, unique indexes and rules over
//! the field are refused with 400s naming it, re-wrapping under a new master key keeps every
//! value readable, and without a key nothing is written.

use std::sync::Arc;

use keel_app::vault::fields;
use keel_core::Error;
use keel_data::{Access, ListParams, RequestInfo, Store};
use keel_vault::{Keyring, Keys, MasterKey};
use serde_json::{json, Value};

const CANARY: &str = "ssn-Canary-4c1d9e77";

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

fn people(extra: Value) -> Value {
    let mut c = json!({
        "name": "people",
        "type": "base",
        "fields": [
            {"name": "name", "type": "text"},
            {"name": "ssn", "type": "text", "encrypted": true, "max": 40, "pattern": "^ssn-"},
        ],
    });
    if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            c.insert(k.clone(), v.clone());
        }
    }
    c
}

/// The error's field names and messages, for asserting a 400 names the field.
fn bad_request_text(e: Error) -> String {
    match e {
        Error::BadRequest { message, fields } => format!("{message} {fields:?}"),
        other => panic!("expected a 400, got {other:?}"),
    }
}

async fn raw_values(store: &Store, table: &str) -> Vec<String> {
    let sql = format!("SELECT \"ssn\" AS v FROM \"{table}\"");
    store
        .engine()
        .fetch_all(&sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get("v").and_then(Value::as_str).unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn encrypted_fields_are_sealed_opened_refused_in_queries_and_rewrapped_on_every_engine() {
    for (engine, store, _keep) in stores().await {
        let old = MasterKey::generate();
        fields::install(&store, Arc::new(Keys::fixed(Keyring::new(old.clone(), Vec::new()))));
        let c = store.create_collection(people(json!({}))).await.unwrap();
        let su = RequestInfo::default();
        let mut data = keel_data::store::obj(&[("name", json!("Ada")), ("ssn", json!(CANARY))]);
        let ada = store
            .create_record(&c, data.clone(), &su, Access::Superuser)
            .await
            .unwrap();
        assert_eq!(ada.data["ssn"], CANARY, "{engine}");
        data.insert("name".into(), json!("Bob"));
        data.insert("ssn".into(), json!("ssn-bob"));
        let bob = store.create_record(&c, data, &su, Access::Superuser).await.unwrap();

        // The table holds ciphertext only; reads (one, a list) return the plaintext.
        let raw = raw_values(&store, "people").await;
        assert_eq!(raw.len(), 2, "{engine}");
        assert!(
            raw.iter()
                .all(|v| v.starts_with("kv1:") && !v.contains(CANARY) && !v.contains("bob")),
            "{engine}: {raw:?}"
        );
        let got = store.get_record(&c, ada.id(), &su, Access::Superuser).await.unwrap();
        assert_eq!(got.data["ssn"], CANARY, "{engine}");
        let page = store
            .list_records(&c, &ListParams::default(), &su, Access::Superuser)
            .await
            .unwrap();
        let listed: Vec<&Value> = page.items.iter().map(|r| &r.data["ssn"]).collect();
        assert_eq!(listed, [&json!(CANARY), &json!("ssn-bob")], "{engine}");

        // An update re-seals; validation ran on the plaintext.
        let (_, after) = store
            .update_record(
                &c,
                bob.id(),
                keel_data::store::obj(&[("ssn", json!("ssn-robert"))]),
                &su,
                Access::Superuser,
            )
            .await
            .unwrap();
        assert_eq!(after.data["ssn"], "ssn-robert", "{engine}");
        let e = store
            .update_record(
                &c,
                bob.id(),
                keel_data::store::obj(&[("ssn", json!("no-prefix"))]),
                &su,
                Access::Superuser,
            )
            .await
            .unwrap_err();
        assert!(bad_request_text(e).contains("ssn"), "{engine}");

        // Ada's sealed value copied into Bob's row does not open there.
        let ada_raw = raw_values(&store, "people")
            .await
            .into_iter()
            .find(|v| !v.is_empty())
            .unwrap();
        let copy = "UPDATE \"people\" SET \"ssn\" = ".to_string();
        let d = store.engine().dialect();
        let sql = format!("{copy}{} WHERE \"id\" = {}", d.placeholder(1), d.placeholder(2));
        let mut tx = store.engine().begin().await.unwrap();
        tx.execute(&sql, &[Value::from(ada_raw.clone()), Value::from(bob.id())])
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let e = store
            .get_record(&c, bob.id(), &su, Access::Superuser)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Internal(_)), "{engine}: {e:?}");
        assert!(!format!("{e}").contains(CANARY), "{engine}");
        let sql = format!("DELETE FROM \"people\" WHERE \"id\" = {}", d.placeholder(1));
        let mut tx = store.engine().begin().await.unwrap();
        tx.execute(&sql, &[Value::from(bob.id())]).await.unwrap();
        tx.commit().await.unwrap();

        // Filters, sorts and lookups over the field: 400s naming it.
        for (filter, sort) in [(Some("ssn = 'x'"), None), (None, Some("-ssn"))] {
            let params = ListParams {
                filter: filter.map(str::to_string),
                sort: sort.map(str::to_string),
                ..Default::default()
            };
            let e = store
                .list_records(&c, &params, &su, Access::Superuser)
                .await
                .unwrap_err();
            let text = bad_request_text(e);
            assert!(
                text.contains("\\\"ssn\\\"") && text.contains("encrypted"),
                "{engine}: {text}"
            );
        }
        assert!(
            store.find_by_field(&c, "ssn", &json!(CANARY)).await.is_err(),
            "{engine}"
        );

        // A rule reading it, a unique index over it, switching a field: refused on save.
        let e = store
            .update_collection("people", json!({"listRule": "ssn != ''"}))
            .await
            .unwrap_err();
        let text = bad_request_text(e);
        assert!(
            text.contains("listRule") && text.contains("encrypted"),
            "{engine}: {text}"
        );
        let e = store
            .update_collection(
                "people",
                json!({"indexes": ["CREATE UNIQUE INDEX idx_ssn ON people (ssn)"]}),
            )
            .await
            .unwrap_err();
        let text = bad_request_text(e);
        assert!(text.contains("indexes.0") && text.contains("ssn"), "{engine}: {text}");
        let mut fields_now = serde_json::to_value(&c.fields).unwrap();
        let name_field = fields_now
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|f| f["name"] == "name")
            .unwrap();
        name_field["encrypted"] = json!(true);
        let e = store
            .update_collection("people", json!({"fields": fields_now}))
            .await
            .unwrap_err();
        assert!(bad_request_text(e).contains("encrypted"), "{engine}");

        // Re-wrapped under a new key (interrupted, then finished): the ciphertext stays, and
        // the new key alone opens every value.
        let new = MasterKey::generate();
        let both = Keyring::new(new.clone(), vec![old.clone()]);
        let mut more = keel_data::store::obj(&[("name", json!("Cy")), ("ssn", json!("ssn-cy"))]);
        store
            .create_record(&c, more.clone(), &su, Access::Superuser)
            .await
            .unwrap();
        more.insert("name".into(), json!("Di"));
        store.create_record(&c, more, &su, Access::Superuser).await.unwrap();
        let before = raw_values(&store, "people").await;
        let first = fields::rewrap_all(&store, &both, Some(1)).await.unwrap();
        assert_eq!(first.rewrapped, 1, "{engine}");
        let rest = fields::rewrap_all(&store, &both, None).await.unwrap();
        assert_eq!((rest.rewrapped, rest.changed), (2, 0), "{engine}");
        let after = raw_values(&store, "people").await;
        for (b, a) in before.iter().zip(&after) {
            assert_ne!(a, b, "{engine}");
            assert_eq!(
                a.split(':').nth(3),
                b.split(':').nth(3),
                "{engine}: the ciphertext is untouched"
            );
            assert!(a.contains(&format!(":{}:", new.id())), "{engine}");
        }
        assert_eq!(
            fields::rewrap_all(&store, &both, None).await.unwrap().rewrapped,
            0,
            "{engine}"
        );
        fields::install(&store, Arc::new(Keys::fixed(Keyring::new(new, Vec::new()))));
        let got = store.get_record(&c, ada.id(), &su, Access::Superuser).await.unwrap();
        assert_eq!(got.data["ssn"], CANARY, "{engine}");

        // Without a master key: 503 saying how to set one, nothing written.
        fields::install(&store, Arc::new(Keys::default()));
        let e = store
            .create_record(
                &c,
                keel_data::store::obj(&[("ssn", json!("ssn-nokey"))]),
                &su,
                Access::Superuser,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::Unavailable(m) if m.contains("KEEL_MASTER_KEY")),
            "{engine}: {e:?}"
        );
        assert_eq!(raw_values(&store, "people").await.len(), 3, "{engine}");
    }
}
