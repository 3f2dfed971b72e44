mod common;

use common::*;
use keel_data::{Access, ListParams, RequestInfo};
use serde_json::json;

async fn setup() -> TestStore {
    let t = fresh().await;
    t.store
        .create_collection(json!({
            "name": "notes",
            "listRule": "public = true",
            "viewRule": "public = true",
            "createRule": "@request.body.title = \"ok\"",
            "updateRule": "public = true",
            "deleteRule": "public = true",
            "fields": [
                {"name": "title", "type": "text"},
                {"name": "public", "type": "bool"},
                {"name": "n", "type": "number"},
            ]
        }))
        .await
        .unwrap();
    for (title, public, n) in [
        ("a", true, 1),
        ("b", false, 2),
        ("c", true, 3),
        ("d", true, 4),
        ("e", false, 5),
    ] {
        create(&t.store, "notes", json!({"title": title, "public": public, "n": n}))
            .await
            .unwrap();
    }
    t
}

fn titles(page: &keel_data::Page<keel_data::Record>) -> Vec<String> {
    page.items
        .iter()
        .map(|r| r.data["title"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn list_rule_filters_and_filter_applies() {
    let t = setup().await;
    let c = t.store.collection("notes").unwrap();
    let rule = c.list_rule.clone().unwrap();
    let p = t
        .store
        .list_records(&c, &ListParams::default(), &guest(), Access::Rule(&rule))
        .await
        .unwrap();
    assert_eq!(titles(&p), vec!["a", "c", "d"]);
    assert_eq!(p.total_items, 3);
    let params = ListParams {
        filter: Some("n >= 3".into()),
        sort: Some("-n".into()),
        ..Default::default()
    };
    let p = t
        .store
        .list_records(&c, &params, &guest(), Access::Rule(&rule))
        .await
        .unwrap();
    assert_eq!(titles(&p), vec!["d", "c"]);
    let params = ListParams {
        filter: Some("nope = 1".into()),
        ..Default::default()
    };
    let e = t
        .store
        .list_records(&c, &params, &guest(), Access::Rule(&rule))
        .await
        .unwrap_err();
    assert!(codes(&e).iter().any(|(f, _)| f == "filter"));
}

#[tokio::test]
async fn view_update_delete_hidden_are_404() {
    let t = setup().await;
    let c = t.store.collection("notes").unwrap();
    let all = t
        .store
        .list_records(&c, &ListParams::default(), &guest(), Access::Superuser)
        .await
        .unwrap();
    let hidden = all
        .items
        .iter()
        .find(|r| r.data["title"] == "b")
        .unwrap()
        .id()
        .to_string();
    let shown = all
        .items
        .iter()
        .find(|r| r.data["title"] == "a")
        .unwrap()
        .id()
        .to_string();
    let rule = "public = true";
    assert!(matches!(
        t.store.get_record(&c, &hidden, &guest(), Access::Rule(rule)).await,
        Err(keel_core::Error::NotFound(_))
    ));
    assert!(t
        .store
        .get_record(&c, &shown, &guest(), Access::Rule(rule))
        .await
        .is_ok());
    let e = t
        .store
        .update_record(&c, &hidden, data(json!({"title": "z"})), &guest(), Access::Rule(rule))
        .await
        .unwrap_err();
    assert!(matches!(e, keel_core::Error::NotFound(_)));
    let e = t
        .store
        .delete_record(&c, &hidden, &guest(), Access::Rule(rule))
        .await
        .unwrap_err();
    assert!(matches!(e, keel_core::Error::NotFound(_)));
    assert_eq!(
        t.store
            .delete_record(&c, &shown, &guest(), Access::Rule(rule))
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn create_rule_is_checked_against_the_new_record() {
    let t = setup().await;
    let c = t.store.collection("notes").unwrap();
    let rule = c.create_rule.clone().unwrap();
    let mut req = RequestInfo {
        body: data(json!({"title": "nope"})),
        ..Default::default()
    };
    let e = t
        .store
        .create_record(&c, data(json!({"title": "nope"})), &req, Access::Rule(&rule))
        .await
        .unwrap_err();
    assert!(matches!(e, keel_core::Error::BadRequest { ref message, .. } if message == "Failed to create record."));
    req.body = data(json!({"title": "ok"}));
    t.store
        .create_record(&c, data(json!({"title": "ok"})), &req, Access::Rule(&rule))
        .await
        .unwrap();
    let all = t
        .store
        .list_records(&c, &ListParams::default(), &guest(), Access::Superuser)
        .await
        .unwrap();
    assert_eq!(all.total_items, 6, "the refused create was rolled back");
}

#[tokio::test]
async fn paging_sorting_and_skip_total() {
    let t = setup().await;
    let c = t.store.collection("notes").unwrap();
    let params = ListParams {
        page: 2,
        per_page: 2,
        ..Default::default()
    };
    let p = t
        .store
        .list_records(&c, &params, &guest(), Access::Superuser)
        .await
        .unwrap();
    assert_eq!(titles(&p), vec!["c", "d"]);
    assert_eq!((p.total_items, p.total_pages, p.page, p.per_page), (5, 3, 2, 2));
    let params = ListParams {
        per_page: 2,
        skip_total: true,
        sort: Some("-title".into()),
        ..Default::default()
    };
    let p = t
        .store
        .list_records(&c, &params, &guest(), Access::Superuser)
        .await
        .unwrap();
    assert_eq!(titles(&p), vec!["e", "d"]);
    assert_eq!((p.total_items, p.total_pages), (-1, -1));
    let params = ListParams {
        sort: Some("@random".into()),
        ..Default::default()
    };
    assert_eq!(
        t.store
            .list_records(&c, &params, &guest(), Access::Superuser)
            .await
            .unwrap()
            .items
            .len(),
        5
    );
    let params = ListParams {
        sort: Some("public,-@rowid".into()),
        ..Default::default()
    };
    let p = t
        .store
        .list_records(&c, &params, &guest(), Access::Superuser)
        .await
        .unwrap();
    assert_eq!(titles(&p), vec!["e", "b", "d", "c", "a"]);
    let params = ListParams {
        sort: Some("nope".into()),
        ..Default::default()
    };
    let e = t
        .store
        .list_records(&c, &params, &guest(), Access::Superuser)
        .await
        .unwrap_err();
    assert_eq!(code_of(&e, "sort"), "validation_invalid_sort");
}

#[tokio::test]
async fn record_matches_evaluates_data() {
    let t = setup().await;
    let c = t.store.collection("notes").unwrap();
    let rec = data(json!({"id": "aaaaaaaaaaaaaaa", "title": "x", "public": true, "n": 3}));
    assert!(t
        .store
        .record_matches(&c, &rec, "public = true && n > 2", &guest())
        .await
        .unwrap());
    assert!(!t.store.record_matches(&c, &rec, "n > 3", &guest()).await.unwrap());
    assert!(t.store.record_matches(&c, &rec, "", &guest()).await.unwrap());
}
