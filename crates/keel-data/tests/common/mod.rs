//! Shared helpers: a store over a fresh SQLite file.
#![allow(dead_code)]

use std::sync::Arc;

use keel_data::{Access, RecordData, RequestInfo, Store};
use keel_sql::sqlite::SqliteEngine;
use serde_json::{json, Value};
use tempfile::TempDir;

pub struct TestStore {
    pub dir: TempDir,
    pub store: Store,
}

pub async fn open_in(dir: &TempDir) -> Store {
    let engine = SqliteEngine::open(&dir.path().join("data.db"), 4).await.unwrap();
    Store::open(Arc::new(engine)).await.unwrap()
}

pub async fn fresh() -> TestStore {
    let dir = TempDir::new().unwrap();
    let store = open_in(&dir).await;
    TestStore { dir, store }
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
