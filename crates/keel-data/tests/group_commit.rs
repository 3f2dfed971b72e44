//! Group commit: concurrent creates share transactions, yet each succeeds or fails on its own.

mod common;

use std::sync::Arc;

use common::*;
use keel_data::{Access, ListParams};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_commit_together_and_fail_alone() {
    let t = fresh().await;
    let store = Arc::new(t.store);
    store
        .create_collection(json!({
            "name": "notes",
            "fields": [
                {"name": "title", "type": "text", "required": true},
                {"name": "code", "type": "text"}
            ],
            "indexes": ["CREATE UNIQUE INDEX idx_notes_code ON notes (code) WHERE code != ''"],
            "createRule": "@request.body.title != \"forbidden\""
        }))
        .await
        .unwrap();
    store.enable_group_commit();
    let mut events = store.subscribe();
    let c = store.collection("notes").unwrap();

    let mut tasks = Vec::new();
    for i in 0..200 {
        let (store, c) = (store.clone(), c.clone());
        tasks.push(tokio::spawn(async move {
            // Every 10th is invalid, every 10th (offset 5) breaks the create rule, and two
            // creates fight over one unique code.
            let body = match i % 10 {
                0 => json!({"title": ""}),
                5 => json!({"title": "forbidden"}),
                _ if i == 1 || i == 2 => json!({"title": format!("n{i}"), "code": "same"}),
                _ => json!({"title": format!("n{i}")}),
            };
            let mut req = guest();
            req.body = data(body.clone());
            let rule = "@request.body.title != \"forbidden\"";
            (i, store.create_record(&c, data(body), &req, Access::Rule(rule)).await)
        }));
    }
    let mut ok = Vec::new();
    let mut unique_failures = 0;
    for task in tasks {
        let (i, result) = task.await.unwrap();
        match (i % 10, result) {
            (0, Err(e)) => assert_eq!(code_of(&e, "title"), "validation_required"),
            (5, Err(e)) => assert_eq!(e.to_string(), "Failed to create record."),
            (_, Ok(r)) => ok.push(r.id().to_string()),
            (_, Err(e)) if i == 1 || i == 2 => {
                assert_eq!(code_of(&e, "code"), "validation_not_unique");
                unique_failures += 1;
            }
            (_, Err(e)) => panic!("create {i} failed: {e}"),
        }
    }
    assert_eq!(unique_failures, 1, "exactly one of the two same-code creates must fail");
    assert_eq!(ok.len(), 200 - 20 - 20 - 1);

    // Everything answered OK is stored, nothing else is, and each got one event.
    let params = ListParams {
        per_page: 1000,
        ..ListParams::default()
    };
    let page = store
        .list_records(&c, &params, &guest(), Access::Superuser)
        .await
        .unwrap();
    assert_eq!(page.total_items, ok.len() as i64);
    for id in &ok {
        assert!(page.items.iter().any(|r| r.id() == id));
    }
    let mut seen = 0;
    while let Ok(e) = events.try_recv() {
        assert!(ok
            .iter()
            .any(|id| e.record.get("id").and_then(|v| v.as_str()) == Some(id)));
        seen += 1;
    }
    assert_eq!(seen, ok.len());
}
