//! The records-engine behaviour suite: what the `Store` must do on every SQL engine
//! (SQLite, PostgreSQL, MariaDB). An engine is done when [`records_suite`] passes on it.
//!
//! Each case runs on a fresh `Store` from the caller's factory (a new file, schema or
//! database), all cases at once; the factory's cleanup runs after its case, pass or fail.
//! The cases are written against behaviour a Web API caller sees, so the same assertions
//! hold on every engine.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use futures::FutureExt;
use keel_core::Error;
use keel_data::{Access, AuthRecord, BatchOp, Expanded, ListParams, Record, RecordData, RequestInfo, Store};
use serde_json::{json, Value};

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A fresh store for one case, and what to run when the case is over (drop a schema…).
pub struct FreshStore {
    pub store: Arc<Store>,
    pub cleanup: Option<BoxFut<()>>,
}

type Case = fn(Arc<Store>) -> BoxFut<()>;

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        &[$((stringify!($name), |s| Box::pin($name(s)))),*]
    };
}

/// Every case, by name.
pub const CASES: &[(&str, Case)] = cases![
    collection_with_every_field_type,
    rename_and_remove_fields_keep_data,
    rename_a_collection,
    indexes_and_unique_constraints,
    failed_collection_change_keeps_everything,
    record_crud,
    filter_operators,
    like_escaping,
    any_and_each_operators,
    lower_modifier,
    datetime_macros,
    mismatched_types_match_nothing,
    collection_joins,
    relations_expand_and_back_relations,
    sort_random_and_insertion_order,
    fields_and_skip_total,
    batch_is_all_or_nothing,
    json_fields_round_trip,
    auth_email_is_case_insensitive,
    text_collation_is_binary,
    params_round_trip,
    json_rows_read_a_bound_array,
    system_logs_are_purged_by_age,
    realtime_rule_matching,
    a_newer_schema_is_refused,
    a_recreated_collection_with_other_types,
];

/// Runs every case on stores made by `make` (one per case), concurrently, and panics
/// naming every case that failed.
pub async fn records_suite<F>(engine: &str, make: F)
where
    F: Fn() -> BoxFut<FreshStore>,
{
    let mut runs = Vec::new();
    for (name, case) in CASES {
        let fresh = make();
        runs.push(tokio::spawn(async move {
            let FreshStore { store, cleanup } = fresh.await;
            let outcome = AssertUnwindSafe(case(store.clone())).catch_unwind().await;
            drop(store);
            if let Some(c) = cleanup {
                c.await;
            }
            (*name, outcome.is_ok())
        }));
    }
    let mut failed = Vec::new();
    for run in runs {
        match run.await {
            Ok((name, true)) => println!("records suite [{engine}]: {name} ok"),
            Ok((name, false)) => failed.push(name.to_string()),
            Err(e) => failed.push(format!("(a case's task: {e})")),
        }
    }
    assert!(failed.is_empty(), "records suite [{engine}] failed: {failed:?}");
}

// ---- helpers ------------------------------------------------------------------------

fn data(v: Value) -> RecordData {
    v.as_object().cloned().unwrap_or_default()
}

fn guest() -> RequestInfo {
    RequestInfo::default()
}

fn superuser(store: &Store) -> RequestInfo {
    let c = store.collection("_superusers").unwrap();
    let mut record = RecordData::new();
    record.insert("id".into(), json!("su0000000000001"));
    RequestInfo {
        auth: Some(AuthRecord::new(c, record)),
        ..Default::default()
    }
}

async fn create(store: &Store, coll: &str, v: Value) -> keel_core::Result<Record> {
    let c = store.collection(coll)?;
    store.create_record(&c, data(v), &guest(), Access::Superuser).await
}

async fn must_create(store: &Store, coll: &str, v: Value) -> Record {
    match create(store, coll, v.clone()).await {
        Ok(r) => r,
        Err(e) => panic!("create {coll} {v}: {e:?}"),
    }
}

/// Ids (or `field` values) of a superuser list with `filter` and `sort`.
async fn list_by(store: &Store, coll: &str, filter: &str, sort: Option<&str>, field: &str) -> Vec<String> {
    let c = store.collection(coll).unwrap();
    let params = ListParams {
        filter: (!filter.is_empty()).then(|| filter.to_string()),
        sort: sort.map(str::to_string),
        per_page: 500,
        ..Default::default()
    };
    let page = s_list(store, &c, &params).await;
    page.items
        .iter()
        .map(|r| match r.data.get(field) {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        })
        .collect()
}

async fn s_list(store: &Store, c: &Arc<keel_data::Collection>, params: &ListParams) -> keel_data::Page<Record> {
    store
        .list_records(c, params, &superuser(store), Access::Superuser)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "list {} filter {:?} sort {:?}: {e:?}",
                c.name, params.filter, params.sort
            )
        })
}

async fn titles(store: &Store, coll: &str, filter: &str) -> Vec<String> {
    let mut out = list_by(store, coll, filter, None, "title").await;
    out.sort();
    out
}

fn strs(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.split_whitespace().map(str::to_string).collect();
    v.sort();
    v
}

fn field_codes(e: &Error) -> Vec<(String, String)> {
    match e {
        Error::BadRequest { fields, .. } => fields.iter().map(|(k, v)| (k.clone(), v.code.clone())).collect(),
        other => panic!("expected a 400, got {other:?}"),
    }
}

async fn posts(store: &Store) {
    store
        .create_collection(json!({
            "name": "posts",
            "listRule": "", "viewRule": "", "createRule": "", "updateRule": "", "deleteRule": "",
            "fields": [
                {"name": "title", "type": "text"},
                {"name": "views", "type": "number"},
                {"name": "published", "type": "bool"},
                {"name": "tags", "type": "select", "values": ["a", "b", "c"], "maxSelect": 3},
                {"name": "data", "type": "json"},
            ]
        }))
        .await
        .unwrap();
}

async fn seed_posts(store: &Store) {
    posts(store).await;
    for v in [
        json!({"title": "p1", "views": 5, "published": true, "tags": ["a", "b"], "data": {"n": 5, "s": "x", "arr": [1, 2]}}),
        json!({"title": "p2", "views": 10, "published": false, "tags": ["b"], "data": {"n": 10, "s": "y"}}),
        json!({"title": "p3", "views": 0, "published": false, "tags": [], "data": null}),
        json!({"title": "p4", "views": 2.5, "published": true, "tags": ["c", "a"], "data": [1, "two"]}),
    ] {
        must_create(store, "posts", v).await;
    }
}

// ---- cases ----------------------------------------------------------------------------

async fn collection_with_every_field_type(s: Arc<Store>) {
    s.create_collection(json!({
        "name": "everything",
        "fields": [
            {"name": "t", "type": "text"},
            {"name": "n", "type": "number"},
            {"name": "b", "type": "bool"},
            {"name": "e", "type": "email"},
            {"name": "u", "type": "url"},
            {"name": "d", "type": "date"},
            {"name": "ad", "type": "autodate", "onCreate": true, "onUpdate": true},
            {"name": "s1", "type": "select", "values": ["x", "y"], "maxSelect": 1},
            {"name": "sm", "type": "select", "values": ["x", "y"], "maxSelect": 2},
            {"name": "j", "type": "json"},
            {"name": "f1", "type": "file", "maxSelect": 1},
            {"name": "fm", "type": "file", "maxSelect": 3},
            {"name": "ed", "type": "editor"},
        ]
    }))
    .await
    .unwrap();
    let r = must_create(
        &s,
        "everything",
        json!({"t": "hi", "n": 1.5, "b": true, "e": "a@b.co", "u": "https://x.dev", "d": "2024-01-02 03:04:05.000Z",
               "s1": "x", "sm": ["x", "y"], "j": {"k": [1, {"z": null}]}, "f1": "a.png", "fm": ["b.png", "c.txt"], "ed": "<p>x</p>"}),
    )
    .await;
    let c = s.collection("everything").unwrap();
    let got = s.get_record(&c, r.id(), &guest(), Access::Superuser).await.unwrap();
    let d = &got.data;
    assert_eq!(d["t"], "hi");
    assert_eq!(d["n"], json!(1.5));
    assert_eq!(d["b"], true);
    assert_eq!(d["e"], "a@b.co");
    assert_eq!(d["u"], "https://x.dev");
    assert_eq!(d["d"], "2024-01-02 03:04:05.000Z");
    assert!(d["ad"].as_str().is_some_and(|x| !x.is_empty()));
    assert_eq!(d["s1"], "x");
    assert_eq!(d["sm"], json!(["x", "y"]));
    assert_eq!(d["j"], json!({"k": [1, {"z": null}]}));
    assert_eq!(d["f1"], "a.png");
    assert_eq!(d["fm"], json!(["b.png", "c.txt"]));
    assert_eq!(d["ed"], "<p>x</p>");
    // Defaults of a record created empty.
    let e = must_create(&s, "everything", json!({})).await;
    let d = &s
        .get_record(&c, e.id(), &guest(), Access::Superuser)
        .await
        .unwrap()
        .data;
    assert_eq!(
        (d["t"].clone(), d["n"].clone(), d["b"].clone()),
        (json!(""), json!(0), json!(false))
    );
    assert_eq!((d["sm"].clone(), d["j"].clone()), (json!([]), Value::Null));
    // Integral numbers read back as integers.
    let i = must_create(&s, "everything", json!({"n": 42})).await;
    let d = &s
        .get_record(&c, i.id(), &guest(), Access::Superuser)
        .await
        .unwrap()
        .data;
    assert_eq!(d["n"].to_string(), "42");
}

async fn rename_and_remove_fields_keep_data(s: Arc<Store>) {
    seed_posts(&s).await;
    let c = s.collection("posts").unwrap();
    let mut fields = serde_json::to_value(&c.fields).unwrap();
    let list = fields.as_array_mut().unwrap();
    for f in list.iter_mut() {
        if f["name"] == "title" {
            f["name"] = json!("headline");
        }
    }
    list.retain(|f| f["name"] != "views");
    list.push(json!({"name": "extra", "type": "text"}));
    s.update_collection("posts", json!({"fields": fields})).await.unwrap();
    let mut got = list_by(&s, "posts", "", None, "headline").await;
    got.sort();
    assert_eq!(got, strs("p1 p2 p3 p4"));
    let c = s.collection("posts").unwrap();
    assert!(c.field("views").is_none() && c.field("extra").is_some());
    let r = must_create(&s, "posts", json!({"headline": "p5", "extra": "e"})).await;
    assert_eq!(r.data["extra"], "e");
    assert!(!r.data.contains_key("views"));
    assert_eq!(
        list_by(&s, "posts", "headline = 'p1'", None, "tags").await,
        vec![r#"["a","b"]"#]
    );
    // A multi select made single keeps its first value.
    let c = s.collection("posts").unwrap();
    let mut fields = serde_json::to_value(&c.fields).unwrap();
    for f in fields.as_array_mut().unwrap() {
        if f["name"] == "tags" {
            f["maxSelect"] = json!(1);
        }
    }
    s.update_collection("posts", json!({"fields": fields})).await.unwrap();
    assert_eq!(list_by(&s, "posts", "headline = 'p1'", None, "tags").await, vec!["a"]);
}

async fn rename_a_collection(s: Arc<Store>) {
    seed_posts(&s).await;
    s.update_collection(
        "posts",
        json!({"name": "articles", "indexes": ["CREATE INDEX `idx_title` ON `posts` (`title`)"]}),
    )
    .await
    .unwrap();
    assert!(s.collection("posts").is_err());
    assert_eq!(titles(&s, "articles", "views > 1").await, strs("p1 p2 p4"));
    s.update_collection("articles", json!({"name": "posts2"}))
        .await
        .unwrap();
    assert_eq!(titles(&s, "posts2", "").await, strs("p1 p2 p3 p4"));
    must_create(&s, "posts2", json!({"title": "p5"})).await;
    // A new collection may take the old name.
    posts(&s).await;
    assert!(titles(&s, "posts", "").await.is_empty());
    s.delete_collection("posts2").await.unwrap();
    assert!(s.collection("posts2").is_err());
}

async fn indexes_and_unique_constraints(s: Arc<Store>) {
    s.create_collection(json!({
        "name": "slugs",
        "fields": [{"name": "slug", "type": "text"}, {"name": "lang", "type": "text"}],
        "indexes": ["CREATE UNIQUE INDEX `idx_slug_lang` ON `slugs` (`slug`, `lang`)"]
    }))
    .await
    .unwrap();
    must_create(&s, "slugs", json!({"slug": "a", "lang": "en"})).await;
    must_create(&s, "slugs", json!({"slug": "a", "lang": "fr"})).await;
    let e = create(&s, "slugs", json!({"slug": "a", "lang": "en"}))
        .await
        .unwrap_err();
    let codes = field_codes(&e);
    assert!(
        codes.contains(&("slug".into(), "validation_not_unique".into()))
            && codes.contains(&("lang".into(), "validation_not_unique".into())),
        "{codes:?}"
    );
    // A duplicate id is the same kind of error.
    let r = must_create(&s, "slugs", json!({"slug": "b"})).await;
    let e = create(&s, "slugs", json!({"id": r.id(), "slug": "c"}))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::BadRequest { .. }), "{e:?}");
    // A unique index over existing duplicates is refused, naming it; the old one stays.
    let e = s
        .update_collection(
            "slugs",
            json!({"indexes": ["CREATE UNIQUE INDEX `idx_slug_lang` ON `slugs` (`slug`, `lang`)",
                               "CREATE UNIQUE INDEX idx_slug ON slugs (slug)"]}),
        )
        .await
        .unwrap_err();
    assert_eq!(field_codes(&e)[0].0, "indexes.1");
    assert!(create(&s, "slugs", json!({"slug": "a", "lang": "fr"})).await.is_err());
    // Dropping the index allows duplicates.
    s.update_collection("slugs", json!({"indexes": []})).await.unwrap();
    must_create(&s, "slugs", json!({"slug": "a", "lang": "en"})).await;
}

/// A change that fails at its last step (a unique index over duplicates) leaves the table
/// and the collection as they were, data included (MySQL commits each DDL statement: there
/// the store undoes the steps that ran).
async fn failed_collection_change_keeps_everything(s: Arc<Store>) {
    seed_posts(&s).await;
    must_create(&s, "posts", json!({"title": "p1", "views": 7})).await;
    let before = s.collection("posts").unwrap();
    let mut fields = serde_json::to_value(&before.fields).unwrap();
    let list = fields.as_array_mut().unwrap();
    for f in list.iter_mut() {
        if f["name"] == "title" {
            f["name"] = json!("headline");
        }
        if f["name"] == "tags" {
            f["maxSelect"] = json!(1);
        }
    }
    list.retain(|f| f["name"] != "views");
    list.push(json!({"name": "extra", "type": "text"}));
    let e = s
        .update_collection(
            "posts",
            json!({"name": "articles", "fields": fields,
                   "indexes": ["CREATE UNIQUE INDEX idx_headline ON articles (headline)"]}),
        )
        .await
        .unwrap_err();
    assert_eq!(field_codes(&e)[0].0, "indexes.0");
    assert!(s.collection("articles").is_err());
    assert_eq!(s.collection("posts").unwrap().fields.len(), before.fields.len());
    assert_eq!(
        list_by(&s, "posts", "title = 'p1'", None, "views").await,
        vec!["5", "7"]
    );
    assert_eq!(
        list_by(&s, "posts", "title = 'p1'", None, "tags").await,
        vec![r#"["a","b"]"#, "[]"]
    );
    must_create(&s, "posts", json!({"title": "p9", "views": 1, "tags": ["a", "c"]})).await;
    // The same change without the impossible index goes through.
    s.update_collection("posts", json!({"name": "articles", "fields": fields}))
        .await
        .unwrap();
    assert_eq!(
        list_by(&s, "articles", "headline = 'p9'", None, "tags").await,
        vec!["a"]
    );
    // A collection that cannot be created leaves its name free.
    let bad = json!({"name": "later", "fields": [{"name": "a", "type": "text"}],
                     "indexes": ["CREATE INDEX idx_later ON later (a, nosuch(a))"]});
    assert!(s.create_collection(bad).await.is_err());
    s.create_collection(json!({"name": "later", "fields": [{"name": "a", "type": "text"}]}))
        .await
        .unwrap();
}

async fn record_crud(s: Arc<Store>) {
    posts(&s).await;
    let r = must_create(&s, "posts", json!({"title": "one", "views": 1})).await;
    assert_eq!(r.id().len(), 15);
    let c = s.collection("posts").unwrap();
    let (_, after) = s
        .update_record(
            &c,
            r.id(),
            data(json!({"title": "uno", "views": 2})),
            &guest(),
            Access::Superuser,
        )
        .await
        .unwrap();
    assert_eq!(
        (after.data["title"].clone(), after.data["views"].clone()),
        (json!("uno"), json!(2))
    );
    let got = s
        .get_record(&c, r.id(), &guest(), Access::Rule("views = 2"))
        .await
        .unwrap();
    assert_eq!(got.data["title"], "uno");
    let e = s
        .get_record(&c, r.id(), &guest(), Access::Rule("views = 3"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound(_)));
    let deleted = s.delete_record(&c, r.id(), &guest(), Access::Superuser).await.unwrap();
    assert_eq!(deleted.len(), 1);
    assert!(matches!(
        s.get_record(&c, r.id(), &guest(), Access::Superuser).await,
        Err(Error::NotFound(_))
    ));
    assert!(s.find_by_field(&c, "title", &json!("uno")).await.unwrap().is_none());
}

async fn filter_operators(s: Arc<Store>) {
    seed_posts(&s).await;
    let cases = [
        ("views = 5", "p1"),
        ("views != 5", "p2 p3 p4"),
        ("views > 2.5", "p1 p2"),
        ("views >= 2.5", "p1 p2 p4"),
        ("views < 5", "p3 p4"),
        ("views <= 5 && views > 0", "p1 p4"),
        ("views = '5'", "p1"),
        ("published = true", "p1 p4"),
        ("published = false", "p2 p3"),
        ("published != true", "p2 p3"),
        ("title = 'p1' || title = 'p3'", "p1 p3"),
        ("title != 'p1'", "p2 p3 p4"),
        ("title ~ 'p'", "p1 p2 p3 p4"),
        ("title !~ '1'", "p2 p3 p4"),
        ("title > 'p2'", "p3 p4"),
        ("views = null", "p3"),
        ("views = ''", "p3"),
        ("data = null", "p3"),
        ("data.n = 5", "p1"),
        ("data.n > 6", "p2"),
        ("data.s = 'y'", "p2"),
        ("data.s ~ 'x'", "p1"),
        ("data.missing = null", "p1 p2 p3 p4"),
        ("data.arr:length = 2", "p1"),
        ("data:length = 2", "p4"),
        ("tags:length = 2", "p1 p4"),
        ("tags:length = 0", "p3"),
        ("tags = ''", "p3"),
        ("(views > 1 && published = true) || title = 'p3'", "p1 p3 p4"),
        ("id != ''", "p1 p2 p3 p4"),
        ("created != '' && updated >= created", "p1 p2 p3 p4"),
        ("@request.method = 'GET'", ""),
        ("'a' = 'a'", "p1 p2 p3 p4"),
        ("1 < 2", "p1 p2 p3 p4"),
        ("'10' < '9'", "p1 p2 p3 p4"),
    ];
    for (f, want) in cases {
        assert_eq!(titles(&s, "posts", f).await, strs(want), "filter {f}");
    }
}

async fn like_escaping(s: Arc<Store>) {
    posts(&s).await;
    for t in ["100%", "a_b", "axb", "back\\slash", "plain", "UPPER"] {
        must_create(&s, "posts", json!({"title": t})).await;
    }
    let cases = [
        ("title ~ '%'", "100% a_b axb back\\slash plain UPPER"),
        ("title ~ '0\\%'", "100%"),
        ("title ~ '_'", "a_b"),
        ("title ~ 'a_'", "a_b"),
        ("title ~ 'a%b'", "a_b axb"),
        ("title ~ 'k\\s'", "back\\slash"),
        ("title ~ 'upper'", "UPPER"),
        ("title ~ 'Plain'", "plain"),
        ("title !~ 'a'", "100% UPPER"),
    ];
    for (f, want) in cases {
        assert_eq!(titles(&s, "posts", f).await, strs(want), "filter {f}");
    }
}

async fn any_and_each_operators(s: Arc<Store>) {
    seed_posts(&s).await;
    let cases = [
        ("tags ?= 'a'", "p1 p4"),
        ("tags = 'b'", "p2"),
        ("tags ?!= 'a'", "p1 p2 p3 p4"),
        ("tags:each = 'b'", "p2"),
        ("tags:each ?= 'c'", ""),
        ("tags:each ?= 'b'", "p2"),
        ("tags ?~ 'c'", "p4"),
        ("tags ?= ''", "p3"),
        ("tags:each != 'z'", "p1 p2 p3 p4"),
    ];
    for (f, want) in cases {
        assert_eq!(titles(&s, "posts", f).await, strs(want), "filter {f}");
    }
    // `@request.body` arrays are multi-valued too.
    let c = s.collection("posts").unwrap();
    let req = RequestInfo {
        body: data(json!({"want": ["p2", "p4"], "n": [10, 99]})),
        ..Default::default()
    };
    for (f, want) in [
        ("title ?= @request.body.want", "p2 p4"),
        ("views ?= @request.body.n", "p2"),
        ("@request.body.want:length = 2", "p1 p2 p3 p4"),
    ] {
        let params = ListParams {
            filter: Some(f.into()),
            ..Default::default()
        };
        let page = s.list_records(&c, &params, &req, Access::Superuser).await.unwrap();
        let mut got: Vec<String> = page
            .items
            .iter()
            .map(|r| r.data["title"].as_str().unwrap().to_string())
            .collect();
        got.sort();
        assert_eq!(got, strs(want), "filter {f}");
    }
}

async fn lower_modifier(s: Arc<Store>) {
    posts(&s).await;
    for (t, views) in [("Hello", 1), ("HELLO", 2), ("other", 3)] {
        must_create(&s, "posts", json!({"title": t, "views": views})).await;
    }
    assert_eq!(titles(&s, "posts", "title:lower = 'hello'").await, strs("HELLO Hello"));
    assert_eq!(titles(&s, "posts", "title:lower ~ 'ell'").await, strs("HELLO Hello"));
    assert_eq!(titles(&s, "posts", "title = 'hello'").await, Vec::<String>::new());
    assert_eq!(titles(&s, "posts", "views:lower = '2'").await, strs("HELLO"));
}

async fn datetime_macros(s: Arc<Store>) {
    s.create_collection(
        json!({"name": "events", "fields": [{"name": "title", "type": "text"}, {"name": "at", "type": "date"}]}),
    )
    .await
    .unwrap();
    must_create(&s, "events", json!({"title": "past", "at": "2001-01-01 00:00:00.000Z"})).await;
    must_create(
        &s,
        "events",
        json!({"title": "future", "at": "2999-01-01 00:00:00.000Z"}),
    )
    .await;
    let now = chrono::Utc::now().format("%Y-%m-%d 00:00:00.001Z").to_string();
    must_create(&s, "events", json!({"title": "today", "at": now})).await;
    let cases = [
        ("at < @now", "past today"),
        ("at > @now", "future"),
        ("at >= @todayStart && at <= @todayEnd", "today"),
        ("at >= @monthStart && at <= @monthEnd", "today"),
        ("at >= @yearStart && at <= @yearEnd", "today"),
        ("@year > 2000", "future past today"),
        (
            "@month >= 1 && @month <= 12 && @day >= 1 && @weekday <= 6 && @hour < 24",
            "future past today",
        ),
        ("created <= @now", "future past today"),
    ];
    for (f, want) in cases {
        assert_eq!(titles(&s, "events", f).await, strs(want), "filter {f}");
    }
}

async fn mismatched_types_match_nothing(s: Arc<Store>) {
    seed_posts(&s).await;
    let cases = [
        ("views = 'abc'", ""),
        ("views != 'abc'", "p1 p2 p3 p4"),
        ("views > 'abc'", ""),
        ("published = 'abc'", ""),
        ("published = 1", "p1 p4"),
        ("title = 5", ""),
        ("title > 5", "p1 p2 p3 p4"),
        ("data.n = 'abc'", ""),
        ("data.s = 5", ""),
        ("title = true", ""),
        ("views ~ 1", "p2"),
        ("'abc' = 5", ""),
        ("tags ?= 5", ""),
    ];
    for (f, want) in cases {
        assert_eq!(titles(&s, "posts", f).await, strs(want), "filter {f}");
    }
}

async fn collection_joins(s: Arc<Store>) {
    seed_posts(&s).await;
    s.create_collection(
        json!({"name": "likes", "fields": [{"name": "post", "type": "text"}, {"name": "n", "type": "number"}]}),
    )
    .await
    .unwrap();
    must_create(&s, "likes", json!({"post": "p1", "n": 3})).await;
    must_create(&s, "likes", json!({"post": "p2", "n": 0})).await;
    let cases = [
        ("@collection.likes.post = title", "p1 p2"),
        ("@collection.likes.post = title && @collection.likes.n > 0", "p1"),
        ("@collection.likes:l.post = title && @collection.likes:l.n = views", ""),
        ("@collection.likes.n = views", "p3"),
        ("@collection.likes.n ?> views", "p3 p4"),
    ];
    for (f, want) in cases {
        assert_eq!(titles(&s, "posts", f).await, strs(want), "filter {f}");
    }
}

async fn relations_expand_and_back_relations(s: Arc<Store>) {
    s.create_collection(json!({"name": "authors", "listRule": "", "viewRule": "", "fields": [{"name": "name", "type": "text"}, {"name": "age", "type": "number"}]}))
        .await
        .unwrap();
    s.create_collection(json!({"name": "books", "listRule": "", "viewRule": "", "fields": [
        {"name": "title", "type": "text"},
        {"name": "author", "type": "relation", "collectionId": "authors", "maxSelect": 1, "cascadeDelete": true},
        {"name": "editors", "type": "relation", "collectionId": "authors", "maxSelect": 5}]}))
        .await
        .unwrap();
    let ann = must_create(&s, "authors", json!({"name": "ann", "age": 30})).await;
    let bob = must_create(&s, "authors", json!({"name": "bob", "age": 40})).await;
    must_create(
        &s,
        "books",
        json!({"title": "b1", "author": ann.id(), "editors": [bob.id(), ann.id()]}),
    )
    .await;
    must_create(&s, "books", json!({"title": "b2", "author": bob.id()})).await;
    let e = create(&s, "books", json!({"title": "b3", "author": "nope00000000000"}))
        .await
        .unwrap_err();
    assert!(field_codes(&e).iter().any(|(f, _)| f == "author"));
    let cases = [
        ("author.name = 'ann'", "b1"),
        ("author.age > 35", "b2"),
        ("editors.name ?= 'bob'", "b1"),
        ("editors.age:each > 35", ""),
        ("editors.age:each > 25", "b1"),
        ("editors:length = 2", "b1"),
    ];
    for (f, want) in cases {
        assert_eq!(titles(&s, "books", f).await, strs(want), "filter {f}");
    }
    let mut names = list_by(&s, "authors", "books_via_author.title ?= 'b2'", None, "name").await;
    names.sort();
    assert_eq!(names, strs("bob"));
    let mut names = list_by(&s, "authors", "books_via_editors.title ?= 'b1'", None, "name").await;
    names.sort();
    assert_eq!(names, strs("ann bob"));
    // Expand, nested and back.
    let c = s.collection("books").unwrap();
    let mut page = s
        .list_records(&c, &ListParams::default(), &guest(), Access::Rule(""))
        .await
        .unwrap();
    s.expand(&mut page.items, "author, editors", &guest()).await.unwrap();
    let b1 = &page.items[0];
    match b1.expand.get("author") {
        Some(Expanded::One(r)) => assert_eq!(r.data["name"], "ann"),
        other => panic!("author: {other:?}"),
    }
    match b1.expand.get("editors") {
        Some(Expanded::Many(v)) => assert_eq!(
            v.iter().map(|r| r.data["name"].as_str().unwrap()).collect::<Vec<_>>(),
            ["bob", "ann"]
        ),
        other => panic!("editors: {other:?}"),
    }
    let a = s.collection("authors").unwrap();
    let mut authors = s
        .list_records(&a, &ListParams::default(), &guest(), Access::Rule(""))
        .await
        .unwrap();
    s.expand(&mut authors.items, "books_via_author", &guest())
        .await
        .unwrap();
    match authors.items[0].expand.get("books_via_author") {
        Some(Expanded::Many(v)) => assert_eq!(v[0].data["title"], "b1"),
        other => panic!("books_via_author: {other:?}"),
    }
    // Deleting bob cascades to b2 and removes him from b1's editors.
    let deleted = s
        .delete_record(&a, bob.id(), &guest(), Access::Superuser)
        .await
        .unwrap();
    assert_eq!(deleted.len(), 2);
    assert_eq!(titles(&s, "books", "").await, strs("b1"));
    assert_eq!(
        list_by(&s, "books", "", None, "editors").await,
        vec![format!("[\"{}\"]", ann.id())]
    );
}

async fn sort_random_and_insertion_order(s: Arc<Store>) {
    posts(&s).await;
    for (t, v) in [("c", 2), ("a", 3), ("b", 1), ("d", 2)] {
        must_create(&s, "posts", json!({"title": t, "views": v})).await;
    }
    assert_eq!(list_by(&s, "posts", "", None, "title").await, ["c", "a", "b", "d"]);
    assert_eq!(
        list_by(&s, "posts", "", Some("@rowid"), "title").await,
        ["c", "a", "b", "d"]
    );
    assert_eq!(
        list_by(&s, "posts", "", Some("-@rowid"), "title").await,
        ["d", "b", "a", "c"]
    );
    assert_eq!(
        list_by(&s, "posts", "", Some("title"), "title").await,
        ["a", "b", "c", "d"]
    );
    assert_eq!(
        list_by(&s, "posts", "", Some("-views,title"), "title").await,
        ["a", "c", "d", "b"]
    );
    let mut random = list_by(&s, "posts", "", Some("@random"), "title").await;
    random.sort();
    assert_eq!(random, ["a", "b", "c", "d"]);
    let c = s.collection("posts").unwrap();
    // A page from the middle of a sorted list: the right records, in order.
    let page = s
        .list_records(
            &c,
            &ListParams {
                sort: Some("-views,title".into()),
                per_page: 2,
                page: 2,
                ..Default::default()
            },
            &guest(),
            Access::Superuser,
        )
        .await
        .unwrap();
    let got: Vec<&str> = page.items.iter().filter_map(|r| r.data["title"].as_str()).collect();
    assert_eq!(got, ["d", "b"]);
    // An update keeps a record's place.
    let first = s.find_by_field(&c, "title", &json!("c")).await.unwrap().unwrap();
    s.update_record(&c, first.id(), data(json!({"title": "z"})), &guest(), Access::Superuser)
        .await
        .unwrap();
    assert_eq!(list_by(&s, "posts", "", None, "title").await, ["z", "a", "b", "d"]);
    let e = s
        .list_records(
            &c,
            &ListParams {
                sort: Some("nope".into()),
                ..Default::default()
            },
            &guest(),
            Access::Superuser,
        )
        .await
        .unwrap_err();
    assert_eq!(field_codes(&e)[0].0, "sort");
}

async fn fields_and_skip_total(s: Arc<Store>) {
    seed_posts(&s).await;
    let c = s.collection("posts").unwrap();
    let page = s
        .list_records(
            &c,
            &ListParams {
                per_page: 3,
                page: 2,
                filter: Some("views >= 0".into()),
                ..Default::default()
            },
            &guest(),
            Access::Superuser,
        )
        .await
        .unwrap();
    assert_eq!((page.total_items, page.total_pages, page.items.len()), (4, 2, 1));
    let page = s
        .list_records(
            &c,
            &ListParams {
                per_page: 3,
                skip_total: true,
                ..Default::default()
            },
            &guest(),
            Access::Superuser,
        )
        .await
        .unwrap();
    assert_eq!((page.total_items, page.total_pages, page.items.len()), (-1, -1, 3));
    // Every column comes back, and only the fields (no engine column).
    let mut keys: Vec<&String> = page.items[0].data.keys().collect();
    keys.sort();
    let mut want: Vec<String> = c.fields.iter().map(|f| f.name.clone()).collect();
    want.sort();
    assert_eq!(keys, want.iter().collect::<Vec<_>>());
}

async fn batch_is_all_or_nothing(s: Arc<Store>) {
    posts(&s).await;
    let c = s.collection("posts").unwrap();
    let keep = must_create(&s, "posts", json!({"title": "keep"})).await;
    let op = |title: &str| BatchOp::Create {
        collection: c.clone(),
        data: data(json!({"title": title})),
        rule: None,
    };
    let bad = BatchOp::Create {
        collection: c.clone(),
        data: data(json!({"id": "BAD"})),
        rule: None,
    };
    let update = BatchOp::Update {
        collection: c.clone(),
        id: keep.id().to_string(),
        data: data(json!({"title": "changed"})),
        rule: None,
    };
    let (i, _) = s
        .batch(vec![op("x1"), update.clone(), bad], &guest())
        .await
        .unwrap_err();
    assert_eq!(i, 2);
    assert_eq!(titles(&s, "posts", "").await, strs("keep"));
    let done = s.batch(vec![op("x1"), update, op("x2")], &guest()).await.unwrap();
    assert_eq!(done.len(), 3);
    assert_eq!(titles(&s, "posts", "").await, strs("changed x1 x2"));
}

async fn json_fields_round_trip(s: Arc<Store>) {
    s.create_collection(
        json!({"name": "docs", "fields": [{"name": "title", "type": "text"}, {"name": "j", "type": "json"}]}),
    )
    .await
    .unwrap();
    let values = [
        json!({"a": {"b": [1, 2.5, "x", true, null]}, "é": "ü"}),
        json!([1, [2, [3]]]),
        json!("a string"),
        json!(12),
        json!(-0.5),
        json!(true),
        json!(false),
        json!({}),
        json!([]),
    ];
    let c = s.collection("docs").unwrap();
    for (i, v) in values.iter().enumerate() {
        let r = must_create(&s, "docs", json!({"title": format!("d{i}"), "j": v})).await;
        let got = s.get_record(&c, r.id(), &guest(), Access::Superuser).await.unwrap();
        assert_eq!(&got.data["j"], v, "value {i}");
    }
    assert_eq!(titles(&s, "docs", "j.a.b.1 = 2.5").await, strs("d0"));
    assert_eq!(titles(&s, "docs", "j.a.b.2 = 'x'").await, strs("d0"));
    assert_eq!(titles(&s, "docs", "j.a.b.3 = true").await, strs("d0"));
    assert_eq!(titles(&s, "docs", "j.a.b.4 = null && j.a != null").await, strs("d0"));
    assert_eq!(titles(&s, "docs", "j = 12").await, strs("d3"));
    assert_eq!(titles(&s, "docs", "j = 'a string'").await, strs(""));
    assert_eq!(titles(&s, "docs", "j = '\"a string\"'").await, strs("d2"));
    assert_eq!(titles(&s, "docs", "j = true").await, strs(""));
    assert_eq!(titles(&s, "docs", "j = '[]'").await, strs("d8"));
}

async fn auth_email_is_case_insensitive(s: Arc<Store>) {
    let users = s.collection("users").unwrap();
    let u = must_create(
        &s,
        "users",
        json!({"email": "Ann@Example.com", "password": "secret-password-1", "passwordConfirm": "secret-password-1"}),
    )
    .await;
    let e = create(
        &s,
        "users",
        json!({"email": "ann@example.COM", "password": "secret-password-2", "passwordConfirm": "secret-password-2"}),
    )
    .await
    .unwrap_err();
    assert!(
        field_codes(&e).contains(&("email".into(), "validation_not_unique".into())),
        "{e:?}"
    );
    let found = s
        .find_by_field(&users, "email", &json!("ANN@example.com"))
        .await
        .unwrap();
    assert_eq!(found.map(|r| r.id().to_string()), Some(u.id().to_string()));
    let bob = must_create(
        &s,
        "users",
        json!({"email": "bob@example.com", "password": "secret-password-3", "passwordConfirm": "secret-password-3"}),
    )
    .await;
    // Changing one's email to another's, in another case, is refused too.
    let e = s
        .update_record(
            &users,
            bob.id(),
            data(json!({"email": "ANN@example.com"})),
            &guest(),
            Access::Superuser,
        )
        .await
        .unwrap_err();
    assert!(field_codes(&e).iter().any(|(f, _)| f == "email"), "{e:?}");
    let su = superuser(&s);
    let page = s
        .list_records(&users, &ListParams::default(), &su, Access::Superuser)
        .await
        .unwrap();
    assert_eq!(page.total_items, 2);
    let f = ListParams {
        filter: Some("email:lower = 'ann@example.com'".into()),
        ..Default::default()
    };
    assert_eq!(
        s.list_records(&users, &f, &su, Access::Superuser)
            .await
            .unwrap()
            .total_items,
        1
    );
}

async fn text_collation_is_binary(s: Arc<Store>) {
    posts(&s).await;
    for t in ["b", "B", "a", "A", "_", "é"] {
        must_create(&s, "posts", json!({"title": t})).await;
    }
    assert_eq!(
        list_by(&s, "posts", "", Some("title"), "title").await,
        ["A", "B", "_", "a", "b", "é"]
    );
    assert_eq!(titles(&s, "posts", "title = 'a'").await, strs("a"));
    assert_eq!(titles(&s, "posts", "title > 'Z'").await, strs("_ a b é"));
    assert_eq!(titles(&s, "posts", "title ~ 'B'").await, strs("B b"));
}

/// `Dialect::json_rows`: one row per object of a bound JSON array, each named member as text
/// (NULL where missing or null), text kept byte for byte.
async fn json_rows_read_a_bound_array(s: Arc<Store>) {
    let engine = s.engine();
    let d = engine.dialect();
    let sql = format!(
        "SELECT c.k, c.v FROM {} ORDER BY c.k",
        d.json_rows(&d.placeholder(1), "c", &["k", "v"])
    );
    let list = json!([
        {"k": "b", "v": "{\"x\":[1,\"é\"]}"},
        {"k": "a", "v": null},
        {"k": "c"},
        {"k": "d", "v": "it's \"quoted\"", "other": 1},
    ]);
    let rows = engine.fetch_all(&sql, &[json!(list.to_string())]).await.unwrap();
    let got: Vec<(Value, Value)> = rows
        .iter()
        .map(|r| {
            (
                r.get("k").cloned().unwrap_or_default(),
                r.get("v").cloned().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (json!("a"), Value::Null),
            (json!("b"), json!("{\"x\":[1,\"é\"]}")),
            (json!("c"), Value::Null),
            (json!("d"), json!("it's \"quoted\"")),
        ]
    );
    let none = engine.fetch_all(&sql, &[json!("[]")]).await.unwrap();
    assert!(none.is_empty(), "an empty array is no rows: {none:?}");
}

async fn params_round_trip(s: Arc<Store>) {
    assert_eq!(s.get_param("nothing").await.unwrap(), None);
    s.set_param("settings", &json!({"a": [1, "x"], "b": null}))
        .await
        .unwrap();
    s.set_param("settings", &json!({"a": [2]})).await.unwrap();
    assert_eq!(s.get_param("settings").await.unwrap(), Some(json!({"a": [2]})));
    assert!(s.migrate().await.unwrap().is_empty(), "migrations run once");
}

async fn system_logs_are_purged_by_age(s: Arc<Store>) {
    let c = s.collection("_webhookDeliveries").unwrap();
    for i in 0..5 {
        let row = data(json!({"webhook": "w1", "messageId": format!("msg_{i}"), "status": "succeeded", "attempt": 1}));
        s.create_record(&c, row, &superuser(&s), Access::Superuser)
            .await
            .unwrap();
    }
    let past = "2000-01-01 00:00:00.000Z";
    let future = "2999-01-01 00:00:00.000Z";
    assert_eq!(
        s.purge_created_before("_webhookDeliveries", past, 100).await.unwrap(),
        0
    );
    assert_eq!(
        s.purge_created_before("_webhookDeliveries", future, 3).await.unwrap(),
        3,
        "a batch"
    );
    assert_eq!(
        s.purge_created_before("_webhookDeliveries", future, 100).await.unwrap(),
        2
    );
    assert!(
        s.purge_created_before("users", future, 100).await.is_err(),
        "only system collections are purged by age"
    );
}

async fn realtime_rule_matching(s: Arc<Store>) {
    seed_posts(&s).await;
    let c = s.collection("posts").unwrap();
    let r = s.find_by_field(&c, "title", &json!("p1")).await.unwrap().unwrap();
    for (rule, want) in [
        ("views = 5 && published = true", true),
        ("tags ?= 'b' && data.n > 1", true),
        ("title ~ 'x'", false),
        ("views = 'abc'", false),
    ] {
        assert_eq!(
            s.record_matches(&c, &r.data, rule, &guest()).await.unwrap(),
            want,
            "rule {rule}"
        );
    }
}

async fn a_newer_schema_is_refused(s: Arc<Store>) {
    // Reopening an up-to-date database changes nothing.
    let again = Store::open(s.engine().clone()).await.unwrap();
    assert!(again.collection("users").is_ok());
    let d = s.engine().dialect();
    let mut tx = s.engine().begin().await.unwrap();
    let sql = format!(
        "INSERT INTO _migrations (name, applied) VALUES ({}, {})",
        d.placeholder(1),
        d.placeholder(2)
    );
    tx.execute(&sql, &[json!("9999_from_a_newer_keel"), json!("")])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    match Store::open(s.engine().clone()).await {
        Ok(_) => panic!("a database with an unknown migration was opened"),
        Err(e) => {
            assert!(matches!(e, Error::Conflict(_)), "{e:?}");
            assert!(e.to_string().contains("9999_from_a_newer_keel"), "{e}");
        }
    }
}

async fn a_recreated_collection_with_other_types(s: Arc<Store>) {
    for round in 0..2 {
        let v = if round == 0 {
            json!({"name": "v", "type": "number"})
        } else {
            json!({"name": "v", "type": "text"})
        };
        s.create_collection(json!({"name": "things", "fields": [v]}))
            .await
            .unwrap();
        let value = if round == 0 { json!(7) } else { json!("seven") };
        let r = must_create(&s, "things", json!({"v": value})).await;
        let c = s.collection("things").unwrap();
        // Reads on the pool and inside write transactions, several times (each pooled
        // connection may hold statements prepared before the change).
        for _ in 0..4 {
            assert_eq!(
                list_by(&s, "things", "", None, "v").await,
                vec![value.to_string().trim_matches('"').to_string()]
            );
            let (_, after) = s
                .update_record(&c, r.id(), data(json!({"v": value})), &guest(), Access::Superuser)
                .await
                .unwrap();
            assert_eq!(after.data["v"], value);
        }
        s.delete_collection("things").await.unwrap();
    }
}
