//! The log store on every engine it runs on: SQLite (`auxiliary.db`), PostgreSQL
//! (`KEEL_TEST_POSTGRES_URL`, a fresh schema) and MariaDB (`KEEL_TEST_MYSQL_URL`, a fresh
//! database): batches written through the writer, filters over `data.*`, sorts, paging,
//! hourly stats and purges.

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use keel_data::ListParams;
use keel_logs::{LogEntry, LogStore, RequestLogs, LEVEL_ERROR, LEVEL_INFO};
use serde_json::{json, Map, Value};

fn entry(created: chrono::DateTime<Utc>, status: u16, method: &str) -> LogEntry {
    let mut data = Map::new();
    data.insert("type".into(), json!("request"));
    data.insert("status".into(), json!(status));
    data.insert("method".into(), json!(method));
    data.insert("execTime".into(), json!(1.5));
    LogEntry {
        id: String::new(),
        created,
        level: if status >= 400 { LEVEL_ERROR } else { LEVEL_INFO },
        message: format!("{method} /api/x"),
        data,
    }
}

fn params(filter: &str, sort: &str) -> ListParams {
    ListParams {
        page: 1,
        per_page: 2000,
        sort: (!sort.is_empty()).then(|| sort.to_string()),
        filter: (!filter.is_empty()).then(|| filter.to_string()),
        skip_total: false,
    }
}

fn statuses(items: &[LogEntry]) -> Vec<Value> {
    items.iter().map(|e| e.data["status"].clone()).collect()
}

async fn suite(store: LogStore) {
    let at = |d: u32, h: u32, m: u32| Utc.with_ymd_and_hms(2024, 5, d, h, m, 0).unwrap();
    // 1,100 rows through the writer: more than one transaction (1,024 rows), full and
    // partial INSERT statements (64 rows).
    let logs = RequestLogs::start(store.clone());
    for i in 0..1100u32 {
        let e = entry(at(1, 10, 0) + Duration::milliseconds(i64::from(i)), 200, "GET");
        logs.record(e.created, e.level, e.message, serde_json::to_string(&e.data).unwrap());
    }
    logs.flush().await;
    let all = store.list(&params("", "")).await.unwrap();
    assert_eq!(all.total_items, 1100);
    assert_eq!(all.items.len(), 1100);
    assert!(all.items.iter().all(|e| e.id.len() == 15));
    assert_eq!(
        all.items[1099].data,
        entry(at(1, 10, 0), 200, "GET").data,
        "data kept as written"
    );
    assert!(
        all.items.windows(2).all(|w| w[0].created >= w[1].created),
        "newest first"
    );

    let mut more = vec![
        entry(at(2, 11, 30), 404, "POST"),
        entry(at(2, 11, 45), 500, "GET"),
        entry(at(2, 13, 0), 201, "POST"),
    ];
    store.insert(&mut more).await.unwrap();
    let view = store.view(&more[0].id).await.unwrap();
    assert_eq!(view.message, "POST /api/x");
    assert_eq!(view.data["status"], 404);
    assert_eq!(view.created, at(2, 11, 30));
    assert!(store.view("zzzzzzzzzzzzzzz").await.is_err());

    let failed = store.list(&params("data.status >= 400", "data.status")).await.unwrap();
    assert_eq!(statuses(&failed.items), vec![json!(404), json!(500)]);
    let failed = store.list(&params("level = 8", "-data.status")).await.unwrap();
    assert_eq!(statuses(&failed.items), vec![json!(500), json!(404)]);
    let posts = store
        .list(&params("data.method = 'POST' && created > '2024-05-02'", "created"))
        .await
        .unwrap();
    assert_eq!(statuses(&posts.items), vec![json!(404), json!(201)]);
    let msg = store.list(&params("message ~ 'POST'", "")).await.unwrap();
    assert_eq!(msg.total_items, 2);
    assert!(store.list(&params("nope = 1", "")).await.is_err());
    assert!(store.list(&params("", "nope")).await.is_err());
    assert!(store.list(&params("", "data.a-b")).await.is_err());

    let page = store
        .list(&ListParams {
            page: 2,
            per_page: 2,
            sort: Some("created".into()),
            filter: Some("created > '2024-05-02'".into()),
            skip_total: false,
        })
        .await
        .unwrap();
    assert_eq!((page.total_items, page.total_pages), (3, 2));
    assert_eq!(statuses(&page.items), vec![json!(201)]);

    let stats = store.stats(Some("created > '2024-05-02'")).await.unwrap();
    let stats: Vec<(i64, String)> = stats.into_iter().map(|s| (s.total, s.date)).collect();
    assert_eq!(
        stats,
        vec![
            (2, "2024-05-02 11:00:00.000Z".to_string()),
            (1, "2024-05-02 13:00:00.000Z".to_string())
        ]
    );
    assert_eq!(store.stats(None).await.unwrap()[0].total, 1100);

    // Older than the cutoff, or below the level.
    let gone = store.purge(at(2, 0, 0), 0).await.unwrap();
    assert_eq!(gone, 1100);
    let gone = store.purge(at(1, 0, 0), LEVEL_ERROR).await.unwrap();
    assert_eq!(gone, 1);
    assert_eq!(store.list(&params("", "")).await.unwrap().total_items, 2);
    store.clear().await.unwrap();
    assert_eq!(store.list(&params("", "")).await.unwrap().total_items, 0);

    // Quotes, backslashes, control characters and non-ASCII survive the batch's JSON.
    let mut odd = entry(at(2, 9, 0), 400, "PATCH");
    odd.message = "PATCH /api/x?q=\"a\\b\"\n\té😀'; DROP TABLE x; --".into();
    odd.data.insert(
        "details".into(),
        json!({"name": {"code": "bad \"quote\"", "n": [1, 2.5, null, true]}}),
    );
    logs.record(
        odd.created,
        odd.level,
        odd.message.clone(),
        serde_json::to_string(&odd.data).unwrap(),
    );
    logs.flush().await;
    let found = store.list(&params("data.status = 400", "")).await.unwrap();
    assert_eq!(found.items.len(), 1);
    assert_eq!(found.items[0].message, odd.message);
    assert_eq!(found.items[0].data, odd.data);
    assert_eq!(found.items[0].level, LEVEL_ERROR);
    let mut odd_rows = vec![odd.clone()];
    store.insert(&mut odd_rows).await.unwrap();
    assert_eq!(store.view(&odd_rows[0].id).await.unwrap().data, odd.data);

    callers(&store).await;
}

/// `callers`: the rows a filter matches, grouped by `data.auth` and `data.authId`, busiest
/// first; `_` in a LIKE pattern escaped matches only itself.
async fn callers(store: &LogStore) {
    store.clear().await.unwrap();
    let at = |m: u32| Utc.with_ymd_and_hms(2024, 6, 1, 10, m, 0).unwrap();
    let call = |m: u32, url: &str, auth: &str, id: Option<&str>| {
        let mut e = entry(at(m), 200, "GET");
        e.data.insert("url".into(), json!(url));
        e.data.insert("auth".into(), json!(auth));
        if let Some(id) = id {
            e.data.insert("authId".into(), json!(id));
        }
        e
    };
    let mut rows = vec![
        call(1, "/api/collections/my_posts/records?page=1", "users", Some("u1")),
        call(2, "/api/collections/my_posts/records/abc", "users", Some("u1")),
        call(3, "/api/collections/my_posts/records", "_apiKeys", Some("k1")),
        call(4, "/api/collections/my_posts/records", "", None),
        call(5, "/api/collections/myXposts/records", "users", Some("u2")),
        call(6, "/api/collections/other/records", "users", Some("u3")),
    ];
    store.insert(&mut rows).await.unwrap();
    let found = store
        .callers(
            "created >= '2024-06-01' && data.url ~ '/api/collections/my\\_posts/records%'",
            10,
        )
        .await
        .unwrap();
    let got: Vec<(&str, &str, i64)> = found
        .iter()
        .map(|c| (c.auth.as_str(), c.auth_id.as_str(), c.requests))
        .collect();
    assert_eq!(got[0], ("users", "u1", 2), "{found:?}");
    assert_eq!(got.len(), 3, "{found:?}");
    assert!(got.contains(&("_apiKeys", "k1", 1)), "{found:?}");
    assert!(got.contains(&("", "", 1)), "{found:?}");
    assert_eq!(found[0].last, "2024-06-01 10:02:00.000Z");
}

#[tokio::test]
async fn sqlite_auxiliary_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auxiliary.db");
    suite(LogStore::open_sqlite(&path).await.unwrap()).await;
    assert!(path.exists());
    // Opening again finds the table.
    let again = LogStore::open_sqlite(&path).await.unwrap();
    assert_eq!(again.table(), "_logs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_table() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_POSTGRES_URL") else {
        return;
    };
    let schema = keel_testkit::postgres::fresh_schema(&url, 4).await;
    let engine = keel_sql::postgres::PgEngine::new(schema.pool.clone());
    let store = LogStore::open(Arc::new(engine)).await.unwrap();
    assert_eq!(store.table(), "keel_request_logs");
    suite(store).await;
    schema.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_table() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_MYSQL_URL") else {
        return;
    };
    let db = keel_testkit::mysql::fresh_database(&url).await;
    let _drop = db.guard();
    let engine = keel_sql::mysql::MySqlEngine::connect(&db.url, 4).await.unwrap();
    suite(LogStore::open(Arc::new(engine)).await.unwrap()).await;
}

/// Writes a log table of an earlier Keel's shape (a text `id` key, an index on `created`)
/// holding two rows.
async fn write_earlier_table(engine: &dyn keel_sql::Engine, table: &str) {
    let d = engine.dialect();
    let (key, text) = (
        d.column_type(keel_sql::ColumnType::Key),
        d.column_type(keel_sql::ColumnType::Text),
    );
    let t = d.quote_ident(table);
    let mut tx = engine.begin().await.unwrap();
    tx.execute(
        &format!(
            "CREATE TABLE {t} (\"id\" {key} PRIMARY KEY NOT NULL, \"level\" BIGINT NOT NULL, \
             \"message\" {text} NOT NULL, \"data\" {text} NOT NULL, \"created\" {key} NOT NULL)"
        ),
        &[],
    )
    .await
    .unwrap();
    let index = d.quote_ident(&format!("{table}_created"));
    tx.execute(&format!("CREATE INDEX {index} ON {t} (\"created\")"), &[])
        .await
        .unwrap();
    for (id, created, status) in [
        ("mzzzzzzzzzzzzzz", "2024-05-01 10:00:02.000Z", 201),
        ("aaaaaaaaaaaaaaa", "2024-05-01 10:00:01.000Z", 200),
    ] {
        let (p1, p2, p3) = (d.placeholder(1), d.placeholder(2), d.placeholder(3));
        tx.execute(
            &format!(
                "INSERT INTO {t} (\"id\", \"level\", \"message\", \"data\", \"created\") \
                 VALUES ({p1}, 0, 'GET /api/x', {p2}, {p3})"
            ),
            &[json!(id), json!(format!("{{\"status\":{status}}}")), json!(created)],
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
}

/// What a store opened on [`write_earlier_table`]'s table holds: every row, in time order,
/// with new ids, and a new row numbered after them. Returns the ids, newest first.
async fn earlier_rows_were_moved(store: &LogStore) -> Vec<String> {
    let all = store.list(&params("", "")).await.unwrap();
    assert_eq!(statuses(&all.items), vec![json!(201), json!(200)], "newest first");
    let oldest = &all.items[1];
    assert_eq!(oldest.id, "000000000000001");
    assert_eq!(store.view(&oldest.id).await.unwrap().data["status"], 200);
    assert!(store.view("aaaaaaaaaaaaaaa").await.is_err(), "old ids are gone");
    let mut more = vec![entry(Utc::now(), 204, "GET")];
    store.insert(&mut more).await.unwrap();
    // Numbered after the moved rows (MariaDB may skip numbers after a multi-row insert).
    assert!(more[0].id > all.items[0].id, "{} after {}", more[0].id, all.items[0].id);
    let filter = format!("id = '{}'", more[0].id);
    assert_eq!(store.list(&params(&filter, "")).await.unwrap().total_items, 1);
    let all = store.list(&params("", "")).await.unwrap();
    all.items.into_iter().map(|e| e.id).collect()
}

/// A `_logs` table from an earlier Keel is moved to the numbered shape when the store opens.
#[tokio::test]
async fn sqlite_an_earlier_table_is_moved_with_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auxiliary.db");
    {
        let engine = keel_sql::sqlite::SqliteEngine::open(&path, 1).await.unwrap();
        write_earlier_table(&engine, "_logs").await;
    }
    let ids = earlier_rows_were_moved(&LogStore::open_sqlite(&path).await.unwrap()).await;
    // Opened again: already moved, nothing changes.
    assert_eq!(ids_of(&LogStore::open_sqlite(&path).await.unwrap()).await, ids);
}

/// The same on PostgreSQL, whose key index names are per schema (`…_pkey`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_earlier_table_is_moved_with_its_rows() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_POSTGRES_URL") else {
        return;
    };
    let schema = keel_testkit::postgres::fresh_schema(&url, 4).await;
    let engine: Arc<dyn keel_sql::Engine> = Arc::new(keel_sql::postgres::PgEngine::new(schema.pool.clone()));
    write_earlier_table(engine.as_ref(), "keel_request_logs").await;
    let ids = earlier_rows_were_moved(&LogStore::open(engine.clone()).await.unwrap()).await;
    assert_eq!(ids_of(&LogStore::open(engine).await.unwrap()).await, ids);
    schema.drop_schema().await;
}

/// The same on MariaDB, whose DDL is not transactional.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_an_earlier_table_is_moved_with_its_rows() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_MYSQL_URL") else {
        return;
    };
    let db = keel_testkit::mysql::fresh_database(&url).await;
    let _drop = db.guard();
    let engine: Arc<dyn keel_sql::Engine> = Arc::new(keel_sql::mysql::MySqlEngine::connect(&db.url, 4).await.unwrap());
    write_earlier_table(engine.as_ref(), "keel_request_logs").await;
    let ids = earlier_rows_were_moved(&LogStore::open(engine.clone()).await.unwrap()).await;
    assert_eq!(ids_of(&LogStore::open(engine).await.unwrap()).await, ids);
}

/// The ids of every row, newest first.
async fn ids_of(store: &LogStore) -> Vec<String> {
    let all = store.list(&params("", "")).await.unwrap();
    all.items.into_iter().map(|e| e.id).collect()
}

/// A move cut off after the old table was dropped and before the new one was renamed
/// (possible where DDL is not transactional) is finished on the next open: the rows in
/// `_logs_next` become `_logs`.
#[tokio::test]
async fn an_interrupted_move_is_finished() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auxiliary.db");
    {
        let store = LogStore::open_sqlite(&path).await.unwrap();
        store.insert(&mut [entry(Utc::now(), 201, "POST")]).await.unwrap();
    }
    {
        let engine = keel_sql::sqlite::SqliteEngine::open(&path, 1).await.unwrap();
        use keel_sql::Engine as _;
        let mut tx = engine.begin().await.unwrap();
        tx.execute("ALTER TABLE _logs RENAME TO _logs_next", &[]).await.unwrap();
        tx.commit().await.unwrap();
    }
    let store = LogStore::open_sqlite(&path).await.unwrap();
    let all = store.list(&params("", "")).await.unwrap();
    assert_eq!(statuses(&all.items), vec![json!(201)]);
    assert_eq!(all.items[0].id, "000000000000001");
}
