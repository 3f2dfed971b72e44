//! The outbox (`store/outbox.rs`) on SQLite, PostgreSQL and MariaDB: each case on a fresh
//! database or schema. Rows survive a reopen, a claim hides them for its lease, two
//! claimers never get the same row, and only `outbox_done` removes one.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use keel_core::events::RecordAction;
use keel_data::{Access, RequestInfo, Store};
use serde_json::json;

/// Runs every case on `store`; `reopen` opens a second store on the same database.
async fn outbox_cases(store: Arc<Store>, reopen: Arc<Store>) {
    assert_eq!(store.outbox_len().await.unwrap(), 0);
    let a = store.outbox_put("mail", &json!({"to": "a@example.com"})).await.unwrap();
    let b = store.outbox_put("mail", &json!({"to": "b@example.com"})).await.unwrap();
    // The relay's wake-up was armed by the commit: this resolves at once.
    tokio::time::timeout(Duration::from_secs(5), store.outbox_written())
        .await
        .expect("a committed outbox row wakes the relay");

    // Committed: another store on the same database (another process) sees the rows.
    assert_eq!(reopen.outbox_len().await.unwrap(), 2);
    let claimed = reopen.outbox_claim(10, Duration::from_secs(60)).await.unwrap();
    // Oldest first; two rows written in the same millisecond may come in either order.
    let mut ids: Vec<&str> = claimed.iter().map(|e| e.id.as_str()).collect();
    if claimed[0].created_ms == claimed[1].created_ms {
        ids.sort_by_key(|id| *id != a.as_str());
    }
    assert_eq!(ids, [a.as_str(), b.as_str()], "oldest first");
    let first = claimed.iter().find(|e| e.id == a).unwrap();
    assert_eq!(first.kind, "mail");
    assert_eq!(first.payload, json!({"to": "a@example.com"}));
    assert!(claimed[0].created_ms > 0);
    assert!(!claimed[0].reclaimed);

    // Held for the lease: nobody else gets them.
    assert!(store
        .outbox_claim(10, Duration::from_secs(60))
        .await
        .unwrap()
        .is_empty());
    // Done: gone for good.
    store.outbox_done(std::slice::from_ref(&a)).await.unwrap();
    assert_eq!(store.outbox_len().await.unwrap(), 1);

    // A claim whose lease ended (its holder died) is claimed again.
    let c = store.outbox_put("mail", &json!({"n": 3})).await.unwrap();
    let short = store.outbox_claim(10, Duration::ZERO).await.unwrap();
    assert_eq!(short.len(), 1, "only the row nobody holds: {short:?}");
    assert_eq!(short[0].id, c);
    let again = reopen.outbox_claim(10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(again.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), [c.as_str()]);
    assert!(
        again[0].reclaimed,
        "the consumer learns an earlier holder may have handed it on"
    );
    store.outbox_done(&[b, c]).await.unwrap();
    assert_eq!(store.outbox_len().await.unwrap(), 0);

    // Two claimers at once split the rows between them.
    for n in 0..40 {
        store.outbox_put("mail", &json!({"n": n})).await.unwrap();
    }
    let (x, y) = tokio::join!(
        store.outbox_claim(25, Duration::from_secs(60)),
        reopen.outbox_claim(25, Duration::from_secs(60))
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    let seen: HashSet<String> = x.iter().chain(&y).map(|e| e.id.clone()).collect();
    assert_eq!(x.len() + y.len(), 40, "every row claimed once");
    assert_eq!(seen.len(), 40, "no row claimed twice");

    // What is refused: a kind the relay cannot name a queue after, a payload too large.
    assert!(store.outbox_put("a.b", &json!({})).await.is_err());
    let big = json!("x".repeat(keel_data::store::MAX_OUTBOX_PAYLOAD_BYTES));
    let e = store.outbox_put("mail", &big).await.unwrap_err();
    assert!(matches!(e, keel_core::Error::TooLarge(_)), "{e:?}");
    assert_eq!(store.outbox_len().await.unwrap(), 40);
    store.outbox_done(&seen.into_iter().collect::<Vec<_>>()).await.unwrap();

    durable_event_cases(&store).await;
}

/// Wants creates and deletes of `posts`, nothing else.
struct PostsTap;

impl keel_data::store::EventTap for PostsTap {
    fn wants(&self, c: &keel_data::Collection, action: RecordAction) -> bool {
        c.name == "posts" && action != RecordAction::Update
    }
}

/// Record changes a tap wants are outbox rows written with the record; others are not.
async fn durable_event_cases(store: &Store) {
    let posts = store
        .create_collection(json!({"name": "posts", "fields": [
            {"name": "title", "type": "text"},
            {"name": "secret", "type": "text", "hidden": true}
        ]}))
        .await
        .unwrap();
    let create = |title: &str| {
        let mut data = keel_data::RecordData::new();
        data.insert("title".into(), json!(title));
        data.insert("secret".into(), json!("s3cret"));
        data
    };
    let (req, su) = (RequestInfo::default(), Access::Superuser);
    // No tap: a write costs no row.
    store.create_record(&posts, create("before"), &req, su).await.unwrap();
    assert_eq!(store.outbox_len().await.unwrap(), 0);

    store.set_event_tap(Arc::new(PostsTap));
    let rec = store.create_record(&posts, create("hello"), &req, su).await.unwrap();
    let id = rec.data["id"].as_str().unwrap().to_string();
    let mut change = keel_data::RecordData::new();
    change.insert("title".into(), json!("changed"));
    store.update_record(&posts, &id, change, &req, su).await.unwrap();
    // A write the rules refuse rolls its event back with it.
    let refused = store
        .create_record(&posts, create("refused"), &req, Access::Rule("title = 'never'"))
        .await;
    assert!(refused.is_err());
    store.delete_record(&posts, &id, &req, su).await.unwrap();

    let rows = store.outbox_claim(10, Duration::from_secs(60)).await.unwrap();
    // Rows of one millisecond come in any order (the outbox promises none).
    let mut types: Vec<&str> = rows.iter().map(|r| r.payload["type"].as_str().unwrap()).collect();
    types.sort_unstable();
    assert_eq!(types, ["record.created", "record.deleted"], "{rows:?}");
    for row in &rows {
        assert_eq!(row.kind, keel_data::store::EVENT_KIND);
        assert_eq!(row.payload["id"], json!(row.id), "the event's id is the row's");
        let data = &row.payload["data"];
        assert_eq!(data["collectionName"], json!("posts"));
        assert_eq!(data["collectionId"], json!(posts.id));
        assert_eq!(data["record"]["id"], json!(id));
        assert_eq!(
            data["record"]["title"],
            json!(if row.payload["type"] == "record.created" {
                "hello"
            } else {
                "changed"
            })
        );
        assert!(
            data["record"].get("secret").is_none(),
            "hidden fields never leave: {data}"
        );
        assert!(row.payload["timestamp"].as_str().unwrap().ends_with('Z'));
    }
    store
        .outbox_done(&rows.iter().map(|r| r.id.clone()).collect::<Vec<_>>())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.db");
    let open = || async {
        let engine = keel_sql::sqlite::SqliteEngine::open(&path, 2).await.unwrap();
        Arc::new(Store::open(Arc::new(engine)).await.unwrap())
    };
    let store = open().await;
    let reopen = open().await;
    outbox_cases(store, reopen).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_on_postgres() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_POSTGRES_URL") else {
        return;
    };
    let schema = keel_testkit::postgres::fresh_schema(&url, 4).await;
    let open = || async {
        let engine = keel_sql::postgres::PgEngine::new(schema.pool.clone());
        Arc::new(Store::open(Arc::new(engine)).await.unwrap())
    };
    let store = open().await;
    let reopen = open().await;
    outbox_cases(store, reopen).await;
    schema.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_on_mysql() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_MYSQL_URL") else {
        return;
    };
    let db = keel_testkit::mysql::fresh_database(&url).await;
    let open = || async {
        let engine = keel_sql::mysql::MySqlEngine::connect(&db.url, 4).await.unwrap();
        Arc::new(Store::open(Arc::new(engine)).await.unwrap())
    };
    let store = open().await;
    let reopen = open().await;
    outbox_cases(store, reopen).await;
    db.drop_database().await;
}
