//! Review of collection changes over HTTP, the same scenario on SQLite, PostgreSQL
//! (`KEEL_TEST_POSTGRES_URL`) and MariaDB (`KEEL_TEST_MYSQL_URL`): with `changes.review`
//! required, a manager's direct change is refused and a superuser's goes through; a proposal
//! applies nothing until approved by a quorum of others (a breaking one by more), then
//! applies atomically unless the collection moved on (409, rebase needed); reject needs a
//! reason; rollback restores the previous collection; comments mention users and notify them;
//! permission refusals name `changes:approve`.

mod common;

use axum::http::{Method, StatusCode};
use common::engines::{mariadb, postgres, sqlite};
use common::{field_error, App};
use serde_json::{json, Value};

#[tokio::test]
async fn change_review_on_sqlite() {
    let (app, _guard) = sqlite().await;
    scenario(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_review_on_postgres() {
    let Some((app, _guard)) = postgres().await else { return };
    scenario(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_review_on_mariadb() {
    let Some((app, _guard)) = mariadb().await else { return };
    scenario(&app).await;
}

/// A `users` record holding a role with `permissions` (none: no role): its id and token.
async fn user_with(app: &App, su: &str, name: &str, permissions: &[&str]) -> (String, String) {
    let (rec, token) = app
        .auth_record("users", &format!("{name}@example.com"), "password-123456")
        .await;
    if !permissions.is_empty() {
        let r = app
            .send(
                Method::POST,
                "/api/roles",
                Some(su),
                Some(json!({"name": name, "permissions": permissions})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let r = app
            .send(
                Method::PUT,
                &format!("/api/roles/{name}/members/users/{}", rec.id()),
                Some(su),
                None,
            )
            .await;
        assert!(r.status.is_success(), "{}", r.text());
    }
    (rec.id().to_string(), token)
}

async fn ok(app: &App, method: Method, uri: &str, token: &str, body: Option<Value>) -> Value {
    let r = app.send(method.clone(), uri, Some(token), body).await;
    assert_eq!(r.status, StatusCode::OK, "{method} {uri}: {}", r.text());
    r.json
}

/// POST `uri` expecting `status`; returns the message.
async fn refused(app: &App, uri: &str, token: Option<&str>, body: Option<Value>, status: StatusCode) -> String {
    let r = app.send(Method::POST, uri, token, body).await;
    assert_eq!(r.status, status, "POST {uri}: {}", r.text());
    r.json["message"].as_str().unwrap_or_default().to_string()
}

async fn step(app: &App, id: &str, action: &str, token: &str) -> Value {
    ok(app, Method::POST, &format!("/api/changes/{id}/{action}"), token, None).await
}

async fn collection(app: &App, su: &str) -> Value {
    ok(app, Method::GET, "/api/collections/posts", su, None).await
}

fn field_names(c: &Value) -> Vec<String> {
    c["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect()
}

/// `posts` with `extra` fields added and `edit` applied to its fields, as a proposal body.
fn target(current: &Value, extra: &[Value], edit: impl Fn(&mut Value)) -> Value {
    let mut fields = current["fields"].as_array().unwrap().clone();
    fields.extend(extra.iter().cloned());
    fields.iter_mut().for_each(edit);
    json!({"name": "posts", "fields": fields})
}

async fn scenario(app: &App) {
    let su = app.superuser().await;
    let (_, author) = user_with(
        app,
        &su,
        "author",
        &["collections:manage", "changes:read", "changes:approve"],
    )
    .await;
    let (alice_id, alice) = user_with(app, &su, "alice", &["changes:approve", "changes:read"]).await;
    let (_, bob) = user_with(app, &su, "bob", &["changes:approve", "changes:read"]).await;
    let (_, nobody) = user_with(app, &su, "nobody", &["changes:read"]).await;
    ok(
        app,
        Method::POST,
        "/api/collections",
        &su,
        Some(json!({"name": "posts", "type": "base", "fields": [{"name": "title", "type": "text"}]})),
    )
    .await;

    // settings: validated with the field named; then review required for posts
    let r = app
        .send(
            Method::PATCH,
            "/api/settings",
            Some(&su),
            Some(json!({"changes": {"review": {"required": "maybe"}}})),
        )
        .await;
    assert!(field_error(&r, "changes.review.required"), "{}", r.text());
    let r = app
        .send(
            Method::PATCH,
            "/api/settings",
            Some(&su),
            Some(json!({"changes": {"review": {"required": "all", "quorum": 2, "breakingQuorum": 1}}})),
        )
        .await;
    assert!(field_error(&r, "changes.review.breakingQuorum"), "{}", r.text());
    ok(
        app,
        Method::PATCH,
        "/api/settings",
        &su,
        Some(json!({"changes": {"review": {"required": "listed", "collections": ["posts"], "quorum": 1, "breakingQuorum": 2}}})),
    )
    .await;

    // a manager's direct change is refused and says to propose it
    let posts = collection(app, &su).await;
    let r = app
        .send(
            Method::PATCH,
            "/api/collections/posts",
            Some(&author),
            Some(json!({"listRule": ""})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(r.text().contains("POST /api/changes"), "{}", r.text());

    // propose an optional field (minor): a draft, nothing applied
    let add_summary = target(&posts, &[json!({"name": "summary", "type": "text"})], |_| {});
    let p1 = ok(
        app,
        Method::POST,
        "/api/changes",
        &author,
        Some(json!({ "collection": add_summary })),
    )
    .await;
    let p1_id = p1["id"].as_str().unwrap().to_string();
    assert_eq!(p1["state"], "draft");
    assert_eq!(p1["verdict"], "minor");
    assert_eq!(p1["previousVersion"], "1.0.0");
    assert_eq!(p1["version"], "1.1.0");
    assert_eq!(p1["source"], "review");
    assert!(!field_names(&collection(app, &su).await).contains(&"summary".to_string()));
    // no permission to propose: 403 naming collections:manage; a guest: 401
    let m = refused(
        app,
        "/api/changes",
        Some(&nobody),
        Some(json!({"collection": add_summary})),
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(m.contains("collections:manage"), "{m}");
    refused(
        app,
        "/api/changes",
        None,
        Some(json!({"collection": add_summary})),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // a bad body names the field
    let r = app
        .send(
            Method::POST,
            "/api/changes",
            Some(&author),
            Some(json!({"submit": true})),
        )
        .await;
    assert!(field_error(&r, "collection"), "{}", r.text());

    // approving a draft: 409 naming its state; submitting: the author only
    let m = refused(
        app,
        &format!("/api/changes/{p1_id}/approve"),
        Some(&alice),
        None,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(m.contains("draft"), "{m}");
    refused(
        app,
        &format!("/api/changes/{p1_id}/submit"),
        Some(&bob),
        None,
        StatusCode::FORBIDDEN,
    )
    .await;
    let p1 = step(app, &p1_id, "submit", &author).await;
    assert_eq!(p1["state"], "in_review");

    // the author cannot approve; without changes:approve 403 naming it; a guest 401
    let m = refused(
        app,
        &format!("/api/changes/{p1_id}/approve"),
        Some(&author),
        None,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(m.contains("author"), "{m}");
    let m = refused(
        app,
        &format!("/api/changes/{p1_id}/approve"),
        Some(&nobody),
        None,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(m.contains("changes:approve"), "{m}");
    refused(
        app,
        &format!("/api/changes/{p1_id}/approve"),
        None,
        None,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // applying before approval: 409
    let m = refused(
        app,
        &format!("/api/changes/{p1_id}/apply"),
        Some(&author),
        None,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(m.contains("in_review"), "{m}");

    // quorum 1: one approval approves; a second by the same person counts once
    let p1 = step(app, &p1_id, "approve", &alice).await;
    assert_eq!(p1["state"], "approved");
    let p1 = step(app, &p1_id, "approve", &alice).await;
    assert_eq!(p1["review"]["approvals"].as_array().unwrap().len(), 1);

    // apply: the proposal row becomes the history entry, the collection its target
    let p1 = step(app, &p1_id, "apply", &author).await;
    assert_eq!(p1["state"], "applied");
    assert_eq!(p1["version"], "1.1.0");
    assert!(field_names(&collection(app, &su).await).contains(&"summary".to_string()));
    let versions = ok(app, Method::GET, "/api/collections/posts/versions", &su, None).await;
    assert_eq!(versions["items"][0]["version"], "1.1.0");
    assert_eq!(versions["items"][0]["changeId"], p1_id.as_str());
    let m = refused(
        app,
        &format!("/api/changes/{p1_id}/apply"),
        Some(&author),
        None,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(m.contains("applied"), "{m}");

    // rollback restores the previous collection, recorded as a change of its own
    let p1 = step(app, &p1_id, "rollback", &author).await;
    assert_eq!(p1["state"], "rolled_back");
    assert!(!field_names(&collection(app, &su).await).contains(&"summary".to_string()));
    let versions = ok(app, Method::GET, "/api/collections/posts/versions", &su, None).await;
    assert_eq!(versions["items"][0]["version"], "2.0.0");
    let reverse = ok(
        app,
        Method::GET,
        &format!("/api/changes/{}", versions["items"][0]["changeId"].as_str().unwrap()),
        &su,
        None,
    )
    .await;
    assert_eq!(reverse["source"], "rollback");
    assert_eq!(reverse["review"]["rollbackOf"], p1_id.as_str());
    let m = refused(
        app,
        &format!("/api/changes/{p1_id}/rollback"),
        Some(&author),
        None,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(m.contains("rolled_back"), "{m}");

    // a breaking change (title required) needs breakingQuorum = 2 approvers
    let posts = collection(app, &su).await;
    let required = target(&posts, &[], |f| {
        if f["name"] == "title" {
            f["required"] = json!(true);
        }
    });
    let p2 = ok(
        app,
        Method::POST,
        "/api/changes",
        &author,
        Some(json!({"collection": required, "submit": true})),
    )
    .await;
    let p2_id = p2["id"].as_str().unwrap().to_string();
    assert_eq!(
        (p2["state"].as_str(), p2["verdict"].as_str()),
        (Some("in_review"), Some("major"))
    );
    assert_eq!(p2["previousVersion"], "2.0.0");
    let p2 = step(app, &p2_id, "approve", &alice).await;
    assert_eq!(p2["state"], "in_review");
    let p2 = step(app, &p2_id, "approve", &alice).await;
    assert_eq!(
        (
            p2["state"].as_str(),
            p2["review"]["approvals"].as_array().unwrap().len()
        ),
        (Some("in_review"), 1)
    );
    let p2 = step(app, &p2_id, "approve", &bob).await;
    assert_eq!(p2["state"], "approved");

    // another proposal on the same base, approved; the first applied moves the collection
    let tags = target(&posts, &[json!({"name": "tags", "type": "json"})], |_| {});
    let p3 = ok(
        app,
        Method::POST,
        "/api/changes",
        &author,
        Some(json!({"collection": tags, "submit": true})),
    )
    .await;
    let p3_id = p3["id"].as_str().unwrap().to_string();
    step(app, &p3_id, "approve", &alice).await;
    let p2 = step(app, &p2_id, "apply", &author).await;
    assert_eq!(
        (p2["state"].as_str(), p2["version"].as_str()),
        (Some("applied"), Some("3.0.0"))
    );
    // stale: 409, nothing applied, the proposal still approved
    let m = refused(
        app,
        &format!("/api/changes/{p3_id}/apply"),
        Some(&author),
        None,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(m.contains("Rebase needed"), "{m}");
    assert!(!field_names(&collection(app, &su).await).contains(&"tags".to_string()));
    let p3 = ok(app, Method::GET, &format!("/api/changes/{p3_id}"), &su, None).await;
    assert_eq!(p3["state"], "approved");

    // reject needs a reason (400 naming it), then a rejected change moves no more
    let r = app
        .send(
            Method::POST,
            &format!("/api/changes/{p3_id}/reject"),
            Some(&bob),
            Some(json!({})),
        )
        .await;
    assert!(field_error(&r, "reason"), "{}", r.text());
    let p3 = ok(
        app,
        Method::POST,
        &format!("/api/changes/{p3_id}/reject"),
        &bob,
        Some(json!({"reason": "rebase it"})),
    )
    .await;
    assert_eq!(p3["state"], "rejected");
    assert_eq!(p3["review"]["rejected"]["reason"], "rebase it");
    let m = refused(
        app,
        &format!("/api/changes/{p3_id}/apply"),
        Some(&author),
        None,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(m.contains("rejected"), "{m}");

    // a superuser's direct change goes through (recorded), and rollback then refuses an
    // older change: the collection moved on
    ok(
        app,
        Method::PATCH,
        "/api/collections/posts",
        &su,
        Some(json!({"listRule": ""})),
    )
    .await;
    let m = refused(
        app,
        &format!("/api/changes/{p2_id}/rollback"),
        Some(&author),
        None,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(m.contains("Rebase needed"), "{m}");

    // a new collection proposed, approved, applied; its rollback deletes it
    let p4 = ok(
        app,
        Method::POST,
        "/api/changes",
        &author,
        Some(json!({"collection": {"name": "notes", "type": "base", "fields": [{"name": "body", "type": "text"}]}, "submit": true})),
    )
    .await;
    let p4_id = p4["id"].as_str().unwrap().to_string();
    assert_eq!(
        (p4["kind"].as_str(), p4["version"].as_str()),
        (Some("create"), Some("1.0.0"))
    );
    step(app, &p4_id, "approve", &alice).await;
    step(app, &p4_id, "apply", &author).await;
    ok(app, Method::GET, "/api/collections/notes", &su, None).await;
    step(app, &p4_id, "rollback", &author).await;
    let r = app.send(Method::GET, "/api/collections/notes", Some(&su), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // proposals are not versions: stats count applied changes only
    let stats = ok(app, Method::GET, "/api/changes/stats", &su, None).await;
    let drafts = ok(
        app,
        Method::GET,
        "/api/changes?filter=state%3D%27rejected%27",
        &su,
        None,
    )
    .await;
    assert_eq!(drafts["totalItems"], 1);
    assert!(stats["total"].as_u64().unwrap() >= 6, "{stats}");

    // comments, threaded, with a mention that notifies alice
    let c1 = ok(
        app,
        Method::POST,
        &format!("/api/changes/{p2_id}/comments"),
        &author,
        Some(json!({"text": "@alice@example.com thanks for the review"})),
    )
    .await;
    assert_eq!(c1["mentions"], json!([format!("users/{alice_id}")]));
    let c1_id = c1["id"].as_str().unwrap();
    ok(
        app,
        Method::POST,
        &format!("/api/changes/{p2_id}/comments"),
        &alice,
        Some(json!({"text": "welcome", "replyTo": c1_id})),
    )
    .await;
    let r = app
        .send(
            Method::POST,
            &format!("/api/changes/{p2_id}/comments"),
            Some(&alice),
            Some(json!({"text": "x", "replyTo": "nope"})),
        )
        .await;
    assert!(field_error(&r, "replyTo"), "{}", r.text());
    let r = app
        .send(
            Method::POST,
            &format!("/api/changes/{p2_id}/comments"),
            Some(&alice),
            Some(json!({"text": " "})),
        )
        .await;
    assert!(field_error(&r, "text"), "{}", r.text());
    let list = ok(
        app,
        Method::GET,
        &format!("/api/changes/{p2_id}/comments"),
        &nobody,
        None,
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert_eq!(list["items"][1]["replyTo"], c1_id);
    let inbox = ok(app, Method::GET, "/api/notifications?perPage=100", &alice, None).await;
    let subjects: Vec<&str> = inbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["subject"].as_str().unwrap_or_default())
        .collect();
    assert!(subjects.iter().any(|s| s.contains("mentioned you")), "{subjects:?}");
    // watchers (alice approved p2) hear of its state changes
    assert!(subjects.iter().any(|s| s.contains("applied")), "{subjects:?}");
}
