mod common;

use common::*;
use keel_data::{Access, BatchOp, Expanded, ListParams, RequestInfo};
use serde_json::json;

/// orgs <- authors (org, single) <- posts (author single, editors multi) <- comments (post, cascade)
async fn setup() -> TestStore {
    let t = fresh().await;
    let s = &t.store;
    s.create_collection(
        json!({"name": "orgs", "viewRule": "hidden = false", "listRule": "", "fields": [
        {"name": "name", "type": "text"}, {"name": "hidden", "type": "bool"}]}),
    )
    .await
    .unwrap();
    s.create_collection(json!({"name": "authors", "viewRule": "", "listRule": "", "fields": [
        {"name": "name", "type": "text"},
        {"name": "org", "type": "relation", "collectionId": "orgs", "maxSelect": 1}]}))
        .await
        .unwrap();
    s.create_collection(json!({"name": "posts", "viewRule": "", "listRule": "", "fields": [
        {"name": "title", "type": "text"},
        {"name": "author", "type": "relation", "collectionId": "authors", "maxSelect": 1},
        {"name": "editors", "type": "relation", "collectionId": "authors", "maxSelect": 5}]}))
        .await
        .unwrap();
    s.create_collection(json!({"name": "comments", "viewRule": "", "listRule": "", "fields": [
        {"name": "text", "type": "text"},
        {"name": "post", "type": "relation", "collectionId": "posts", "maxSelect": 1, "cascadeDelete": true}]}))
        .await
        .unwrap();
    let o1 = create(s, "orgs", json!({"id": "org000000000001", "name": "acme"}))
        .await
        .unwrap();
    create(
        s,
        "orgs",
        json!({"id": "org000000000002", "name": "secret", "hidden": true}),
    )
    .await
    .unwrap();
    create(
        s,
        "authors",
        json!({"id": "aut000000000001", "name": "ann", "org": o1.id()}),
    )
    .await
    .unwrap();
    create(
        s,
        "authors",
        json!({"id": "aut000000000002", "name": "bob", "org": "org000000000002"}),
    )
    .await
    .unwrap();
    create(
        s,
        "posts",
        json!({"id": "pst000000000001", "title": "p1", "author": "aut000000000001",
        "editors": ["aut000000000002", "aut000000000001"]}),
    )
    .await
    .unwrap();
    create(
        s,
        "posts",
        json!({"id": "pst000000000002", "title": "p2", "author": "aut000000000002"}),
    )
    .await
    .unwrap();
    create(
        s,
        "comments",
        json!({"id": "cmt000000000001", "text": "c1", "post": "pst000000000001"}),
    )
    .await
    .unwrap();
    create(
        s,
        "comments",
        json!({"id": "cmt000000000002", "text": "c2", "post": "pst000000000001"}),
    )
    .await
    .unwrap();
    t
}

fn one(e: Option<&Expanded>) -> &keel_data::Record {
    match e {
        Some(Expanded::One(r)) => r,
        other => panic!("expected one, got {other:?}"),
    }
}

fn many(e: Option<&Expanded>) -> &Vec<keel_data::Record> {
    match e {
        Some(Expanded::Many(r)) => r,
        other => panic!("expected many, got {other:?}"),
    }
}

#[tokio::test]
async fn expand_nested_multi_and_back_relations() {
    let t = setup().await;
    let c = t.store.collection("posts").unwrap();
    let mut page = t
        .store
        .list_records(&c, &ListParams::default(), &guest(), Access::Rule(""))
        .await
        .unwrap();
    t.store
        .expand(
            &mut page.items,
            "author.org, editors, comments_via_post, nope",
            &guest(),
        )
        .await
        .unwrap();
    let p1 = &page.items[0];
    let author = one(p1.expand.get("author"));
    assert_eq!(author.data["name"], "ann");
    assert_eq!(one(author.expand.get("org")).data["name"], "acme");
    let editors = many(p1.expand.get("editors"));
    assert_eq!(
        editors
            .iter()
            .map(|r| r.data["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        vec!["bob", "ann"]
    );
    assert_eq!(many(p1.expand.get("comments_via_post")).len(), 2);
    // bob's org is hidden by the orgs view rule: skipped silently for a guest...
    let p2 = &page.items[1];
    let bob = one(p2.expand.get("author"));
    assert!(!bob.expand.contains_key("org"));
    assert!(!p2.expand.contains_key("comments_via_post"));
    // ...but shown to a superuser.
    let su = RequestInfo {
        auth: Some(keel_data::AuthRecord::new(
            t.store.collection("_superusers").unwrap(),
            data(json!({"id": "x"})),
        )),
        ..Default::default()
    };
    let mut items = page.items.clone();
    for r in &mut items {
        r.expand.clear();
    }
    t.store.expand(&mut items, "author.org", &su).await.unwrap();
    assert_eq!(
        one(one(items[1].expand.get("author")).expand.get("org")).data["name"],
        "secret"
    );
    // Back-relation with nesting.
    let authors = t.store.collection("authors").unwrap();
    let mut a = vec![t
        .store
        .get_record(&authors, "aut000000000001", &guest(), Access::Rule(""))
        .await
        .unwrap()];
    t.store
        .expand(&mut a, "posts_via_author.comments_via_post", &guest())
        .await
        .unwrap();
    let posts = many(a[0].expand.get("posts_via_author"));
    assert_eq!(posts.len(), 1);
    assert_eq!(many(posts[0].expand.get("comments_via_post")).len(), 2);
}

#[tokio::test]
async fn delete_cascades_and_unlinks() {
    let t = setup().await;
    let mut rx = t.store.subscribe();
    let posts = t.store.collection("posts").unwrap();
    let deleted = t
        .store
        .delete_record(&posts, "pst000000000001", &guest(), Access::Superuser)
        .await
        .unwrap();
    assert_eq!(deleted[0].id(), "pst000000000001");
    let mut ids: Vec<_> = deleted.iter().map(|r| r.id().to_string()).collect();
    ids.sort();
    assert_eq!(ids, vec!["cmt000000000001", "cmt000000000002", "pst000000000001"]);
    let comments = t.store.collection("comments").unwrap();
    assert_eq!(
        t.store
            .list_records(&comments, &ListParams::default(), &guest(), Access::Superuser)
            .await
            .unwrap()
            .total_items,
        0
    );
    let mut n = 0;
    while rx.try_recv().is_ok() {
        n += 1;
    }
    assert_eq!(n, 3);

    // Deleting an author unlinks it from posts (no cascade): p2.author becomes "".
    let authors = t.store.collection("authors").unwrap();
    t.store
        .delete_record(&authors, "aut000000000002", &guest(), Access::Superuser)
        .await
        .unwrap();
    let p2 = t
        .store
        .get_record(&posts, "pst000000000002", &guest(), Access::Superuser)
        .await
        .unwrap();
    assert_eq!(p2.data["author"], "");
}

#[tokio::test]
async fn required_relation_blocks_delete() {
    let t = setup().await;
    t.store
        .create_collection(json!({"name": "pins", "fields": [
            {"name": "org", "type": "relation", "collectionId": "orgs", "maxSelect": 1, "required": true}]}))
        .await
        .unwrap();
    create(&t.store, "pins", json!({"org": "org000000000001"}))
        .await
        .unwrap();
    let orgs = t.store.collection("orgs").unwrap();
    let e = t
        .store
        .delete_record(&orgs, "org000000000001", &guest(), Access::Superuser)
        .await
        .unwrap_err();
    assert!(matches!(e, keel_core::Error::BadRequest { .. }));
    assert!(t
        .store
        .get_record(&orgs, "org000000000001", &guest(), Access::Superuser)
        .await
        .is_ok());
}

#[tokio::test]
async fn batch_is_all_or_nothing() {
    let t = setup().await;
    let orgs = t.store.collection("orgs").unwrap();
    let mut rx = t.store.subscribe();
    let ops = vec![
        BatchOp::Create {
            collection: orgs.clone(),
            data: data(json!({"name": "new1"})),
            rule: None,
        },
        BatchOp::Update {
            collection: orgs.clone(),
            id: "org000000000001".into(),
            data: data(json!({"name": "renamed"})),
            rule: None,
        },
        BatchOp::Create {
            collection: orgs.clone(),
            data: data(json!({"id": "BAD"})),
            rule: None,
        },
    ];
    let (i, _) = t.store.batch(ops, &guest()).await.unwrap_err();
    assert_eq!(i, 2);
    assert!(rx.try_recv().is_err(), "no events for a rolled back batch");
    let all = t
        .store
        .list_records(&orgs, &ListParams::default(), &guest(), Access::Superuser)
        .await
        .unwrap();
    assert_eq!(all.total_items, 2);
    assert_eq!(all.items[0].data["name"], "acme");

    let ops = vec![
        BatchOp::Create {
            collection: orgs.clone(),
            data: data(json!({"id": "org000000000003", "name": "new1"})),
            rule: Some("".into()),
        },
        BatchOp::Update {
            collection: orgs.clone(),
            id: "org000000000003".into(),
            data: data(json!({"name": "new2"})),
            rule: None,
        },
        BatchOp::Delete {
            collection: orgs.clone(),
            id: "org000000000002".into(),
            rule: Some("hidden = false".into()),
        },
    ];
    let (i, e) = t.store.batch(ops.clone(), &guest()).await.unwrap_err();
    assert_eq!(i, 2);
    assert!(matches!(e, keel_core::Error::NotFound(_)));
    let ok = t.store.batch(ops[..2].to_vec(), &guest()).await.unwrap();
    assert_eq!(ok[1][0].data["name"], "new2");
    assert_eq!(rx.try_recv().unwrap().action.as_str(), "create");
    assert_eq!(rx.try_recv().unwrap().action.as_str(), "update");
}

#[tokio::test]
async fn truncate_removes_everything() {
    let t = setup().await;
    t.store.truncate_collection("posts").await.unwrap();
    let comments = t.store.collection("comments").unwrap();
    assert_eq!(
        t.store
            .list_records(&comments, &ListParams::default(), &guest(), Access::Superuser)
            .await
            .unwrap()
            .total_items,
        0
    );
}
