//! Collection changes on MariaDB (`KEEL_TEST_MYSQL_URL`), whose DDL is not transactional:
//! a change stopped between two steps (its task aborted at a failpoint, as a killed process
//! would stop) is finished or undone when the store is opened again, and two stores changing
//! collections at once never interleave their DDL. Each test has a fresh database.

use std::sync::Arc;

use keel_data::store::Failpoint;
use keel_data::{Access, ListParams, RequestInfo, Store};
use keel_sql::mysql::MySqlEngine;
use keel_testkit::mysql::{fresh_database, DatabaseGuard, MySqlDatabase};
use serde_json::{json, Value};
use tokio::sync::mpsc;

async fn open(url: &str) -> Store {
    let engine = MySqlEngine::connect(url, 4).await.unwrap();
    Store::open(Arc::new(engine)).await.unwrap()
}

/// A fresh database (dropped with the guard), or `None` without `KEEL_TEST_MYSQL_URL`.
async fn database() -> Option<(MySqlDatabase, DatabaseGuard)> {
    let url = keel_testkit::engine_url("KEEL_TEST_MYSQL_URL")?;
    let db = fresh_database(&url).await;
    let guard = db.guard();
    Some((db, guard))
}

/// A hook that reports reaching (`what`, `n`) and then never returns there.
fn stop_at(what: &'static str, n: usize) -> (Failpoint, mpsc::UnboundedReceiver<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let hook: Failpoint = Arc::new(move |w, k| {
        let hit = w == what && k == n;
        let tx = tx.clone();
        Box::pin(async move {
            if hit {
                let _ = tx.send(());
                std::future::pending::<()>().await;
            }
        })
    });
    (hook, rx)
}

/// `notes` with three records.
async fn notes(store: &Store) {
    store
        .create_collection(json!({
            "name": "notes",
            "fields": [
                {"name": "title", "type": "text"},
                {"name": "code", "type": "text"},
                {"name": "n", "type": "number"},
                {"name": "tag", "type": "select", "values": ["a", "b"], "maxSelect": 1}
            ],
            "indexes": ["CREATE INDEX idx_notes_code ON notes (code)"]
        }))
        .await
        .unwrap();
    let c = store.collection("notes").unwrap();
    for i in 0..3 {
        let data = json!({"title": format!("t{i}"), "code": format!("c{i}"), "n": i, "tag": "a"});
        store
            .create_record(
                &c,
                data.as_object().cloned().unwrap(),
                &RequestInfo::default(),
                Access::Superuser,
            )
            .await
            .unwrap();
    }
}

/// The change the tests stop part way, for `store`'s `notes`: `code` renamed to `label`, `n`
/// removed, `tag` made multiple, `extra` added, the table renamed to `memos`.
fn change_for(store: &Store) -> Value {
    let c = store.collection("notes").unwrap();
    let mut fields: Vec<Value> = serde_json::to_value(&*c).unwrap()["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["name"] != "n")
        .cloned()
        .collect();
    for f in &mut fields {
        if f["name"] == "code" {
            f["name"] = json!("label");
        }
        if f["name"] == "tag" {
            f["maxSelect"] = json!(2);
        }
    }
    fields.push(json!({"name": "extra", "type": "text"}));
    json!({
        "name": "memos",
        "fields": fields,
        "indexes": ["CREATE INDEX idx_memos_label ON memos (label)"]
    })
}

/// `name`'s fields with `x` renamed to `y`.
fn rename_x(store: &Store, name: &str) -> Value {
    let c = store.collection(name).unwrap();
    let mut fields = serde_json::to_value(&*c).unwrap()["fields"].clone();
    for f in fields.as_array_mut().unwrap() {
        if f["name"] == "x" {
            f["name"] = json!("y");
        }
    }
    json!({ "fields": fields })
}

/// Each record of `collection` as `field → value` for `fields`, by title.
async fn rows(store: &Store, collection: &str, fields: &[&str]) -> Vec<Value> {
    let c = store.collection(collection).unwrap();
    let page = store
        .list_records(
            &c,
            &ListParams {
                sort: Some("title".into()),
                ..ListParams::default()
            },
            &RequestInfo::default(),
            Access::Superuser,
        )
        .await
        .unwrap();
    page.items
        .iter()
        .map(|r| Value::Object(fields.iter().map(|f| (f.to_string(), r.data[*f].clone())).collect()))
        .collect()
}

/// The table's column names, hidden ones (`_keel_…`) left out.
async fn columns(store: &Store, table: &str) -> Vec<String> {
    let rows = store
        .engine()
        .fetch_all(
            "SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
             AND TABLE_NAME = ?1 AND COLUMN_NAME NOT LIKE '\\_keel\\_%' ESCAPE '\\' ORDER BY COLUMN_NAME",
            &[json!(table)],
        )
        .await
        .unwrap();
    rows.iter().map(|r| r["c"].as_str().unwrap().to_string()).collect()
}

/// Runs the change on `store` until the hook stops it at (`what`, `n`), then aborts it as a
/// killed process would stop.
async fn stop_change_at(store: Arc<Store>, what: &'static str, n: usize) {
    let (hook, mut reached) = stop_at(what, n);
    store.set_schema_failpoint(Some(hook));
    let task = change_until_hook(&store, &mut reached).await;
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
}

/// Starts the change on `store` in a task of its own; returns once its failpoint hook
/// reports (the task is then waiting in the hook).
async fn change_until_hook(
    store: &Arc<Store>,
    reached: &mut mpsc::UnboundedReceiver<()>,
) -> tokio::task::JoinHandle<keel_core::Result<Arc<keel_data::Collection>>> {
    let patch = change_for(store);
    let mut task = tokio::spawn({
        let store = store.clone();
        async move { store.update_collection("notes", patch).await }
    });
    tokio::select! {
        _ = reached.recv() => {}
        done = &mut task => panic!("the change ended before its failpoint: {done:?}"),
    }
    task
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_stopped_while_reversible_is_undone_on_open() {
    let Some((db, _drop)) = database().await else { return };
    let store = Arc::new(open(&db.url).await);
    notes(&store).await;
    let before = rows(&store, "notes", &["title", "code", "n", "tag"]).await;
    let old_columns = columns(&store, "notes").await;
    // Several stopping points: after the table rename, after setting `n` aside, in the
    // middle of the renames, in the middle of converting `tag`.
    for step in [1, 2, 3, 6] {
        stop_change_at(store.clone(), "step", step).await;
        let reopened = open(&db.url).await;
        let c = reopened.collection("notes").expect("the collection keeps its name");
        let names: Vec<&str> = c.fields.iter().map(|f| f.name.as_str()).collect();
        assert!(
            names.contains(&"code") && names.contains(&"n"),
            "step {step}: {names:?}"
        );
        assert!(reopened.collection("memos").is_err());
        assert_eq!(columns(&reopened, "notes").await, old_columns, "step {step}");
        assert!(columns(&reopened, "memos").await.is_empty(), "step {step}");
        assert_eq!(
            rows(&reopened, "notes", &["title", "code", "n", "tag"]).await,
            before,
            "step {step}"
        );
    }
    // And the change runs whole afterwards, data carried over.
    let reopened = open(&db.url).await;
    reopened
        .update_collection("notes", change_for(&reopened))
        .await
        .unwrap();
    let after = rows(&reopened, "memos", &["title", "label", "tag"]).await;
    assert_eq!(after[2], json!({"title": "t2", "label": "c2", "tag": ["a"]}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_stopped_past_its_point_of_no_return_is_finished_on_open() {
    let Some((db, _drop)) = database().await else { return };
    let store = Arc::new(open(&db.url).await);
    notes(&store).await;
    stop_change_at(store.clone(), "forward", 0).await;
    let reopened = open(&db.url).await;
    assert!(reopened.collection("notes").is_err());
    let c = reopened.collection("memos").expect("the change is finished");
    let names: Vec<&str> = c.fields.iter().map(|f| f.name.as_str()).collect();
    assert!(names.contains(&"label") && !names.contains(&"n"), "{names:?}");
    let cols = columns(&reopened, "memos").await;
    assert!(cols.iter().all(|c| !c.starts_with("__")), "{cols:?}");
    assert!(cols.contains(&"label".to_string()) && !cols.contains(&"n".to_string()));
    assert_eq!(
        rows(&reopened, "memos", &["title", "label", "tag"]).await,
        vec![
            json!({"title": "t0", "label": "c0", "tag": ["a"]}),
            json!({"title": "t1", "label": "c1", "tag": ["a"]}),
            json!({"title": "t2", "label": "c2", "tag": ["a"]}),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_stopped_part_way_leaves_no_table() {
    let Some((db, _drop)) = database().await else { return };
    let store = Arc::new(open(&db.url).await);
    let (hook, mut reached) = stop_at("step", 1);
    store.set_schema_failpoint(Some(hook));
    let mut task = tokio::spawn({
        let store = store.clone();
        async move { notes(&store).await }
    });
    tokio::select! {
        _ = reached.recv() => {}
        _ = &mut task => panic!("the create ended before its failpoint"),
    }
    task.abort();
    let _ = task.await;
    let reopened = open(&db.url).await;
    assert!(reopened.collection("notes").is_err());
    assert!(columns(&reopened, "notes").await.is_empty());
    notes(&reopened).await;
    assert_eq!(rows(&reopened, "notes", &["title"]).await.len(), 3);
}

/// Two stores (two processes) change collections at once: while one is stopped inside its
/// change, the other's waits for the schema lock instead of interleaving DDL with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_changes_from_two_stores_are_serialized() {
    let Some((db, _drop)) = database().await else { return };
    let a = Arc::new(open(&db.url).await);
    let b = Arc::new(open(&db.url).await);
    notes(&a).await;
    b.create_collection(json!({"name": "other", "fields": [{"name": "x", "type": "text"}]}))
        .await
        .unwrap();

    // A stops inside its change (the hook waits for a go-ahead); B starts one meanwhile.
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let go_rx = Arc::new(tokio::sync::Mutex::new(Some(go_rx)));
    let (reached_tx, mut reached) = mpsc::unbounded_channel();
    let hook: Failpoint = Arc::new(move |w, n| {
        let (go_rx, reached_tx) = (go_rx.clone(), reached_tx.clone());
        Box::pin(async move {
            if w == "step" && n == 2 {
                let _ = reached_tx.send(());
                if let Some(rx) = go_rx.lock().await.take() {
                    let _ = rx.await;
                }
            }
        })
    });
    a.set_schema_failpoint(Some(hook));
    let task_a = change_until_hook(&a, &mut reached).await;
    let task_b = tokio::spawn({
        let b = b.clone();
        async move {
            let patch = rename_x(&b, "other");
            b.update_collection("other", patch).await
        }
    });
    // B is waiting on the lock A holds (seen from the server, not by timing).
    let probe = MySqlEngine::connect(&db.url, 1).await.unwrap();
    loop {
        let waiting = keel_sql::Engine::fetch_all(
            &probe,
            "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB = DATABASE() \
             AND INFO LIKE 'SELECT GET_LOCK%'",
            &[],
        )
        .await
        .unwrap();
        if waiting[0]["n"].as_i64() == Some(1) {
            break;
        }
        assert!(!task_b.is_finished(), "B's change ran while A's was in progress");
        tokio::task::yield_now().await;
    }
    assert!(!task_b.is_finished());
    assert_eq!(
        columns(&a, "other").await,
        ["created", "id", "updated", "x"].map(String::from)
    );
    go_tx.send(()).unwrap();
    task_a.await.unwrap().unwrap();
    task_b.await.unwrap().unwrap();

    let reopened = open(&db.url).await;
    assert_eq!(
        columns(&reopened, "other").await,
        ["created", "id", "updated", "y"].map(String::from)
    );
    assert_eq!(rows(&reopened, "memos", &["title", "label"]).await.len(), 3);
}
