//! Data probes (`store/probe.rs`) on SQLite, PostgreSQL and MariaDB: the counts a schema
//! change's governance checks show, asked of real rows; and `preview_update`, the change an
//! update would make, computed without making it.

use std::sync::Arc;

use keel_data::{Access, Probe, RecordData, RequestInfo, SchemaActor, Store};
use serde_json::{json, Value};

fn data(v: Value) -> RecordData {
    v.as_object().cloned().unwrap()
}

async fn probe_cases(store: Arc<Store>) {
    let c = store
        .create_collection(json!({"name": "items", "fields": [
            {"name": "title", "type": "text"},
            {"name": "code", "type": "text"},
            {"name": "qty", "type": "number"},
            {"name": "done", "type": "bool"},
            {"name": "status", "type": "select", "values": ["new", "old", "gone"], "maxSelect": 1},
            {"name": "tags", "type": "select", "values": ["a", "b", "c", "d"], "maxSelect": 4},
            {"name": "meta", "type": "json"},
            {"name": "due", "type": "date"}
        ]}))
        .await
        .unwrap();
    let rows = [
        json!({"title": "héllo wörld", "code": "A", "qty": 5, "done": true, "status": "new", "tags": ["a", "b", "c"], "meta": {"x": 1}, "due": "2024-01-01 00:00:00.000Z"}),
        json!({"title": "hi", "code": "A", "qty": -1, "status": "old", "tags": ["a"]}),
        json!({"title": "", "code": "B", "qty": 0, "status": "gone", "tags": ["d"], "due": "2026-06-01 00:00:00.000Z"}),
        json!({"title": "a much longer title", "code": "B", "qty": 500, "status": "old", "tags": []}),
        json!({"title": "it's \"quoted\"", "code": "C", "qty": 7}),
    ];
    for r in rows {
        store
            .create_record(&c, data(r), &RequestInfo::default(), Access::Superuser)
            .await
            .unwrap();
    }
    let n = |p: Probe| {
        let store = store.clone();
        async move { store.probe("items", &p).await.unwrap() }
    };
    let f = |s: &str| s.to_string();
    assert_eq!(n(Probe::Rows).await, 5);
    assert_eq!(n(Probe::Empty { field: f("title") }).await, 1, "one empty title");
    assert_eq!(n(Probe::Empty { field: f("status") }).await, 1);
    assert_eq!(n(Probe::Empty { field: f("qty") }).await, 1);
    assert_eq!(n(Probe::Empty { field: f("done") }).await, 4);
    assert_eq!(n(Probe::Empty { field: f("tags") }).await, 2, "[] and never set");
    assert_eq!(n(Probe::NotEmpty { field: f("status") }).await, 4);
    // Characters, not bytes: "héllo wörld" is 11 characters.
    assert_eq!(
        n(Probe::Length {
            field: f("title"),
            min: None,
            max: Some(11)
        })
        .await,
        2,
        "'a much longer title' and the quoted one are over 11; héllo wörld is not"
    );
    assert_eq!(
        n(Probe::Length {
            field: f("title"),
            min: Some(3),
            max: None
        })
        .await,
        1,
        "'hi' (empty is not counted)"
    );
    assert_eq!(
        n(Probe::Range {
            field: f("qty"),
            min: Some(0.0),
            max: Some(100.0)
        })
        .await,
        2,
        "-1 and 500"
    );
    assert_eq!(
        n(Probe::Range {
            field: f("qty"),
            min: None,
            max: Some(6.5)
        })
        .await,
        2,
        "7 and 500"
    );
    assert_eq!(
        n(Probe::DateRange {
            field: f("due"),
            min: Some(f("2025-01-01 00:00:00.000Z")),
            max: None
        })
        .await,
        1,
        "the 2024 date (empty dates are not counted)"
    );
    assert_eq!(
        n(Probe::Using {
            field: f("status"),
            values: vec![f("old"), f("gone")]
        })
        .await,
        3
    );
    assert_eq!(
        n(Probe::Using {
            field: f("tags"),
            values: vec![f("b"), f("d")]
        })
        .await,
        2
    );
    assert_eq!(
        n(Probe::Using {
            field: f("tags"),
            values: vec![f("it's")]
        })
        .await,
        0
    );
    assert_eq!(
        n(Probe::MoreThan {
            field: f("tags"),
            max: 2
        })
        .await,
        1
    );
    assert_eq!(
        n(Probe::MoreThan {
            field: f("tags"),
            max: 0
        })
        .await,
        3
    );
    assert_eq!(
        n(Probe::Duplicates {
            columns: vec![f("code")]
        })
        .await,
        2,
        "A twice, B twice"
    );
    assert_eq!(
        n(Probe::Duplicates {
            columns: vec![f("code"), f("status")]
        })
        .await,
        0
    );
    // A field the collection lacks is a 400 naming it, never SQL.
    let e = store
        .probe(
            "items",
            &Probe::Empty {
                field: f("nope\" OR 1=1 --"),
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(e, keel_core::Error::BadRequest { .. }), "{e:?}");

    // preview_update: the target, checked like an update, with nothing applied.
    let mut target = store.collection("items").unwrap().public_json();
    target["name"] = json!("things");
    let fields = target["fields"].as_array_mut().unwrap();
    fields.retain(|f| f["name"] != "qty");
    for f in fields.iter_mut().filter(|f| f["name"] == "title") {
        f["required"] = json!(true);
    }
    let (before, after) = store.preview_update("items", target, SchemaActor::Superuser).unwrap();
    assert_eq!(before.name, "items");
    assert_eq!(after.name, "things");
    assert!(after.field("title").unwrap().required);
    assert!(
        after.field("qty").is_none(),
        "fields not sent are dropped, as an update drops them"
    );
    assert_eq!(after.field("title").unwrap().id, before.field("title").unwrap().id);
    let now = store.collection("items").unwrap();
    assert_eq!(now.fields.len(), before.fields.len(), "nothing applied");
    assert!(store.collection("things").is_err());
    let bad = store
        .preview_update(
            "items",
            json!({"fields": [{"name": "x", "type": "nope"}]}),
            SchemaActor::Superuser,
        )
        .unwrap_err();
    assert!(matches!(bad, keel_core::Error::BadRequest { .. }), "{bad:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let engine = keel_sql::sqlite::SqliteEngine::open(&dir.path().join("data.db"), 2)
        .await
        .unwrap();
    probe_cases(Arc::new(Store::open(Arc::new(engine)).await.unwrap())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_on_postgres() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_POSTGRES_URL") else {
        return;
    };
    let schema = keel_testkit::postgres::fresh_schema(&url, 4).await;
    let engine = keel_sql::postgres::PgEngine::new(schema.pool.clone());
    probe_cases(Arc::new(Store::open(Arc::new(engine)).await.unwrap())).await;
    schema.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_on_mysql() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_MYSQL_URL") else {
        return;
    };
    let db = keel_testkit::mysql::fresh_database(&url).await;
    let engine = keel_sql::mysql::MySqlEngine::connect(&db.url, 4).await.unwrap();
    probe_cases(Arc::new(Store::open(Arc::new(engine)).await.unwrap())).await;
    db.drop_database().await;
}
