//! Property: a caller's filter (and sort) never reaches a field or row the caller cannot
//! read directly. Random filters run as a guest and as a user against two real SQLite stores
//! that hold the same records and differ only in what those callers may not read: hidden
//! fields, emails with `emailVisibility` off, owner-only diaries of other users, notes whose
//! rules are null (superusers only) and the superusers' emails. Every answer (the ids in
//! order, or the error) must be the same on both stores, and a subset of what the caller
//! may list without a filter.

mod common;

use std::sync::Arc;

use common::{data, guest, open_in};
use keel_data::{Access, AuthRecord, ListParams, RequestInfo, Store};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Value};
use tempfile::TempDir;

/// What differs between the two stores (`a` and `b`).
fn secret(a: bool, what: &str) -> String {
    if a {
        format!("a-{what}@a.io")
    } else {
        format!("zz-{what}@b.io")
    }
}

async fn create(store: &Store, coll: &str, v: Value) {
    let c = store.collection(coll).unwrap();
    store
        .create_record(&c, data(v), &guest(), Access::Superuser)
        .await
        .unwrap_or_else(|e| panic!("{coll}: {e:?}"));
}

const U1: &str = "user00000000001";
const U2: &str = "user00000000002";
const U3: &str = "user00000000003";
const ROOT: &str = "root00000000001";

async fn store(dir: &TempDir, a: bool) -> Store {
    let s = open_in(dir).await;
    let users = serde_json::to_value(&*s.collection("users").unwrap()).unwrap();
    let mut fields = users["fields"].as_array().cloned().unwrap();
    fields.push(json!({"name": "secret", "type": "text", "hidden": true}));
    s.update_collection("users", json!({"listRule": "", "viewRule": "", "fields": fields}))
        .await
        .unwrap();
    s.create_collection(json!({
        "name": "diaries", "listRule": "owner = @request.auth.id", "viewRule": "owner = @request.auth.id",
        "fields": [{"name": "body", "type": "text"},
                   {"name": "owner", "type": "relation", "collectionId": keel_data::schema::USERS_ID, "maxSelect": 1}]
    }))
    .await
    .unwrap();
    s.create_collection(json!({
        "name": "posts", "listRule": "", "viewRule": "",
        "fields": [{"name": "title", "type": "text"},
                   {"name": "hiddenNote", "type": "text", "hidden": true},
                   {"name": "owner", "type": "relation", "collectionId": keel_data::schema::USERS_ID, "maxSelect": 1},
                   {"name": "editors", "type": "relation", "collectionId": keel_data::schema::USERS_ID, "maxSelect": 5},
                   {"name": "diary", "type": "relation", "collectionId": "diaries", "maxSelect": 1},
                   {"name": "reviewer", "type": "relation", "collectionId": keel_data::schema::SUPERUSERS_ID, "maxSelect": 1}]
    }))
    .await
    .unwrap();
    s.create_collection(json!({
        "name": "notes",
        "fields": [{"name": "body", "type": "text"},
                   {"name": "post", "type": "relation", "collectionId": "posts", "maxSelect": 1}]
    }))
    .await
    .unwrap();
    create(
        &s,
        "_superusers",
        json!({"id": ROOT, "email": secret(a, "root"), "password": "x"}),
    )
    .await;
    for (id, email, visible) in [
        (U1, "alice@x.io".to_string(), true),
        (U2, secret(a, "bob"), false),
        (U3, secret(a, "carol"), false),
    ] {
        create(
            &s,
            "users",
            json!({"id": id, "email": email, "emailVisibility": visible, "name": id, "password": "x",
                   "secret": secret(a, id)}),
        )
        .await;
    }
    for (i, owner) in [U1, U2, U3].iter().enumerate() {
        let body = if *owner == U1 {
            "mine".to_string()
        } else {
            secret(a, owner)
        };
        create(
            &s,
            "diaries",
            json!({"id": format!("diary0000000{i:03}"), "body": body, "owner": owner}),
        )
        .await;
    }
    for (i, (owner, editors)) in [(U1, vec![U2]), (U2, vec![U1, U3]), (U3, vec![]), ("", vec![U2])]
        .into_iter()
        .enumerate()
    {
        let diary = if owner.is_empty() {
            String::new()
        } else {
            format!("diary0000000{:03}", i.min(2))
        };
        let reviewer = if i % 2 == 0 { ROOT } else { "" };
        create(
            &s,
            "posts",
            json!({"id": format!("post00000000{i:03}"), "title": format!("t{i} a@x"), "hiddenNote": secret(a, "n"),
                   "owner": owner, "editors": editors, "diary": diary, "reviewer": reviewer}),
        )
        .await;
        create(
            &s,
            "notes",
            json!({"id": format!("note00000000{i:03}"), "body": secret(a, "note"), "post": format!("post00000000{i:03}")}),
        )
        .await;
    }
    s
}

/// Operands per base collection; the values compared against them.
const POSTS: &[&str] = &[
    "id",
    "title",
    "hiddenNote",
    "owner",
    "owner.email",
    "owner.email:lower",
    "owner.secret",
    "owner.name",
    "editors.email",
    "editors.email:each",
    "editors.name",
    "diary.body",
    "diary.owner.email",
    "reviewer.email",
    "notes_via_post.body",
    "owner.diaries_via_owner.body",
    "owner.posts_via_owner.hiddenNote",
    "@collection.notes.body",
    "@request.auth.email",
    "@request.auth.id",
];
const USERS: &[&str] = &[
    "id",
    "name",
    "email",
    "secret",
    "emailVisibility",
    "diaries_via_owner.body",
    "posts_via_owner.title",
    "posts_via_editors.owner.email",
    "@collection.users.email",
    "@request.auth.id",
];
const VALUES: &[&str] = &[
    "''",
    "null",
    "'a'",
    "'a%'",
    "'z%'",
    "'zz'",
    "'@a.io'",
    "'mine'",
    "true",
    "'alice@x.io'",
    "'user00000000002'",
];
const OPS: &[&str] = &["=", "!=", "~", "!~", "?=", "?!=", "?~", "?!~", ">", "<"];
const SORTS: &[&str] = &["", "email,id", "-email,id", "-name", "secret", "title,-id"];

fn expr(operands: &'static [&'static str]) -> impl Strategy<Value = String> {
    let rhs = prop_oneof![
        prop::sample::select(VALUES).prop_map(String::from),
        prop::sample::select(operands).prop_map(String::from),
    ];
    let cmp =
        (prop::sample::select(operands), prop::sample::select(OPS), rhs).prop_map(|(l, o, r)| format!("{l} {o} {r}"));
    cmp.prop_recursive(3, 8, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} && {b})")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("({a} || {b})")),
        ]
    })
}

fn case() -> impl Strategy<Value = (&'static str, String, &'static str)> {
    prop_oneof![
        (expr(POSTS), prop::sample::select(SORTS)).prop_map(|(e, s)| ("posts", e, s)),
        (expr(USERS), prop::sample::select(SORTS)).prop_map(|(e, s)| ("users", e, s)),
    ]
}

/// The answer of one list: ids in order, or the error (kind and message).
async fn answer(store: &Store, coll: &str, filter: &str, sort: &str, req: &RequestInfo) -> Result<Vec<String>, String> {
    let c = store.collection(coll).unwrap();
    let params = ListParams {
        filter: Some(filter.to_string()),
        sort: Some(sort.to_string()).filter(|s| !s.is_empty()),
        per_page: 100,
        ..Default::default()
    };
    let rule = c.list_rule.clone().unwrap_or_default();
    match store.list_records(&c, &params, req, Access::Rule(&rule)).await {
        Ok(page) => {
            assert_eq!(page.total_items, page.items.len() as i64, "{filter}");
            Ok(page.items.iter().map(|r| r.id().to_string()).collect())
        }
        Err(keel_core::Error::Internal(e)) => panic!("{filter} (sort {sort:?}): a server error: {e}"),
        Err(e) => Err(format!("{e:?}")),
    }
}

async fn user(store: &Store) -> RequestInfo {
    let users = store.collection("users").unwrap();
    let rec = store.get_record(&users, U1, &guest(), Access::Superuser).await.unwrap();
    RequestInfo {
        auth: Some(AuthRecord::new(Arc::clone(&users), rec.data)),
        ..RequestInfo::default()
    }
}

#[test]
fn filters_never_depend_on_what_the_caller_cannot_read() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (da, db) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let (a, b, callers) = rt.block_on(async {
        let a = store(&da, true).await;
        let b = store(&db, false).await;
        let callers = vec![("guest", guest(), guest()), ("user", user(&a).await, user(&b).await)];
        (a, b, callers)
    });
    // Sanity: the stores do differ where the callers cannot look.
    let su = rt.block_on(async {
        let users = a.collection("_superusers").unwrap();
        let rec = a.get_record(&users, ROOT, &guest(), Access::Superuser).await.unwrap();
        RequestInfo {
            auth: Some(AuthRecord::new(users, rec.data)),
            ..RequestInfo::default()
        }
    });
    let probe = "owner.email ~ 'zz%' || notes_via_post.body ~ 'zz%'";
    let in_a = rt.block_on(answer(&a, "posts", probe, "", &su)).unwrap();
    let in_b = rt.block_on(answer(&b, "posts", probe, "", &su)).unwrap();
    assert!(in_a.is_empty() && !in_b.is_empty(), "{in_a:?} {in_b:?}");

    let mut runner = TestRunner::new(Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&case(), |(coll, filter, sort)| {
        for (who, req_a, req_b) in &callers {
            let (x, y, all) = rt.block_on(async {
                (
                    answer(&a, coll, &filter, sort, req_a).await,
                    answer(&b, coll, &filter, sort, req_b).await,
                    answer(&a, coll, "", "", req_a).await,
                )
            });
            if x != y {
                return Err(TestCaseError::fail(format!(
                    "{who}: {coll}?filter={filter}&sort={sort} depends on what {who} cannot read: {x:?} vs {y:?}"
                )));
            }
            if let (Ok(ids), Ok(all)) = (&x, &all) {
                if let Some(extra) = ids.iter().find(|id| !all.contains(id)) {
                    return Err(TestCaseError::fail(format!(
                        "{who}: {coll}?filter={filter} returned {extra}, which {who} cannot list"
                    )));
                }
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
