//! Shared helpers: a store over a fresh database — an SQLite file, or a fresh PostgreSQL
//! schema when `KEEL_TEST_DATA_ENGINE=postgres` (with `KEEL_TEST_POSTGRES_URL`), so these
//! tests also run on PostgreSQL. The records-engine suite (`engine_*.rs`) is the contract.
#![allow(dead_code)]

use std::sync::Arc;

use keel_data::{Access, RecordData, RequestInfo, Store};
use keel_sql::postgres::PgEngine;
use keel_sql::sqlite::SqliteEngine;
use keel_testkit::postgres::{data_engine_url, SchemaGuard};
use serde_json::{json, Value};
use tempfile::TempDir;

pub struct TestStore {
    pub dir: TempDir,
    pub store: Store,
    /// The PostgreSQL schema of this test (dropped with the `TestStore`).
    pub pg: Option<SchemaGuard>,
}

/// Opens the store of `dir` (SQLite only: tests that reopen a store use [`TestStore::reopen`]).
pub async fn open_in(dir: &TempDir) -> Store {
    let engine = SqliteEngine::open(&dir.path().join("data.db"), 4).await.unwrap();
    Store::open(Arc::new(engine)).await.unwrap()
}

pub async fn fresh() -> TestStore {
    let dir = TempDir::new().unwrap();
    match data_engine_url() {
        Some(url) => {
            let schema = keel_testkit::postgres::fresh_schema(&url, 4).await;
            let store = Store::open(Arc::new(PgEngine::new(schema.pool.clone()))).await.unwrap();
            TestStore {
                dir,
                store,
                pg: Some(SchemaGuard { url, name: schema.name }),
            }
        }
        None => {
            let store = open_in(&dir).await;
            TestStore { dir, store, pg: None }
        }
    }
}

/// A second store over the database of a `TestStore` (`dir`, `pg`), as after a restart.
pub async fn reopen(dir: &TempDir, pg: &Option<SchemaGuard>) -> Store {
    match pg {
        Some(pg) => {
            let schema = keel_testkit::postgres::existing_schema(&pg.url, &pg.name, 4).await;
            Store::open(Arc::new(PgEngine::new(schema.pool.clone()))).await.unwrap()
        }
        None => open_in(dir).await,
    }
}

pub fn data(v: Value) -> RecordData {
    v.as_object().cloned().unwrap()
}

pub fn guest() -> RequestInfo {
    RequestInfo::default()
}

/// Creates a record as a superuser.
pub async fn create(store: &Store, coll: &str, v: Value) -> keel_core::Result<keel_data::Record> {
    let c = store.collection(coll).unwrap();
    store.create_record(&c, data(v), &guest(), Access::Superuser).await
}

/// The field error codes of a 400.
pub fn codes(e: &keel_core::Error) -> Vec<(String, String)> {
    match e {
        keel_core::Error::BadRequest { fields, .. } => {
            fields.iter().map(|(k, v)| (k.clone(), v.code.clone())).collect()
        }
        other => panic!("expected a 400, got {other:?}"),
    }
}

pub fn code_of(e: &keel_core::Error, field: &str) -> String {
    codes(e)
        .into_iter()
        .find(|(k, _)| k == field)
        .map(|(_, c)| c)
        .unwrap_or_else(|| panic!("no error on {field}: {e:?}"))
}

pub async fn posts(store: &Store) {
    store
        .create_collection(json!({
            "name": "posts",
            "type": "base",
            "listRule": "", "viewRule": "", "createRule": "", "updateRule": "", "deleteRule": "",
            "fields": [
                {"name": "title", "type": "text", "required": true, "max": 20},
                {"name": "views", "type": "number"},
                {"name": "tags", "type": "select", "values": ["a", "b", "c"], "maxSelect": 3},
            ]
        }))
        .await
        .unwrap();
}
