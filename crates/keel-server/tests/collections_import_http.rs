//! `PUT /api/collections/import` as PocketBase has it: creates and updates matched by id or
//! name in the order relations need, fields merged (or, with `deleteMissing`, dropped),
//! collections left out deleted with `deleteMissing`, and a refused import undone.

mod common;

use axum::http::{Method, StatusCode};
use common::App;
use serde_json::{json, Value};

async fn import(app: &App, su: &str, body: Value) -> common::Resp {
    app.send(Method::PUT, "/api/collections/import", Some(su), Some(body))
        .await
}

fn field_names(app: &App, collection: &str) -> Vec<String> {
    app.collection(collection)
        .fields
        .iter()
        .map(|f| f.name.clone())
        .collect()
}

#[tokio::test]
async fn import_creates_in_the_order_relations_need_and_merges_fields() {
    let app = App::new().await;
    let su = app.superuser().await;
    // `posts` points at `authors`, listed after it; the view reads `posts`, listed before both.
    let r = import(
        &app,
        &su,
        json!({"collections": [
            {"name": "post_titles", "type": "view", "viewQuery": "SELECT id, title FROM posts", "listRule": ""},
            {"name": "posts", "type": "base", "fields": [
                {"name": "title", "type": "text"},
                {"name": "author", "type": "relation", "collectionId": "authors_col_001", "maxSelect": 1}
            ]},
            {"id": "authors_col_001", "name": "authors", "type": "base", "fields": [{"name": "name", "type": "text"}]}
        ]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert_eq!(app.collection("authors").id, "authors_col_001");
    let author = app.insert("authors", json!({"name": "Ann"})).await;
    app.insert("posts", json!({"title": "Hello", "author": author.id()}))
        .await;
    let titles = app
        .send(Method::GET, "/api/collections/post_titles/records", None, None)
        .await;
    assert_eq!(titles.json["items"][0]["title"], "Hello", "{}", titles.text());

    // Matched by name; `title` is left out (kept, with its data), `body` is new.
    let r = import(
        &app,
        &su,
        json!({"collections": [{"name": "posts", "type": "base", "listRule": "", "fields": [{"name": "body", "type": "text"}]}]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let names = field_names(&app, "posts");
    assert!(
        names.contains(&"title".to_string()) && names.contains(&"body".to_string()),
        "{names:?}"
    );
    let list = app
        .send(Method::GET, "/api/collections/posts/records", None, None)
        .await;
    assert_eq!(list.status, StatusCode::OK, "the imported listRule applies");
    assert_eq!(list.json["items"][0]["title"], "Hello");
    assert!(
        app.collection("authors").fields.iter().any(|f| f.name == "name"),
        "untouched"
    );
}

#[tokio::test]
async fn delete_missing_drops_collections_and_fields_left_out_but_not_system_ones() {
    let app = App::new().await;
    let su = app.superuser().await;
    for def in [
        json!({"name": "keep", "type": "base", "fields": [{"name": "a", "type": "text"}, {"name": "b", "type": "text"}]}),
        json!({"name": "drop", "type": "base", "fields": [{"name": "x", "type": "text"}]}),
    ] {
        app.create_collection(def).await;
    }
    let users = app
        .send(Method::GET, "/api/collections/users", Some(&su), None)
        .await
        .json;
    let r = import(
        &app,
        &su,
        json!({"deleteMissing": true, "collections": [
            users,
            {"name": "keep", "type": "base", "fields": [{"name": "a", "type": "text"}]}
        ]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let r = app.send(Method::GET, "/api/collections/drop", Some(&su), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "left out: deleted");
    let names = field_names(&app, "keep");
    assert!(
        names.contains(&"a".to_string()) && !names.contains(&"b".to_string()),
        "{names:?}"
    );
    assert!(names.contains(&"id".to_string()), "system fields stay: {names:?}");
    let r = app
        .send(Method::GET, "/api/collections/_superusers", Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "system collections are never deleted");
}

#[tokio::test]
async fn a_refused_import_changes_nothing_and_says_which_collection_and_why() {
    let app = App::new().await;
    let su = app.superuser().await;
    let r = import(&app, &su, json!({"collections": []})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json["data"]["collections"]["code"], "validation_required");

    app.create_collection(json!({"name": "notes", "type": "base", "fields": [{"name": "text", "type": "text"}]}))
        .await;
    let r = import(
        &app,
        &su,
        json!({"collections": [
            {"name": "fresh", "type": "base", "fields": [{"name": "t", "type": "text"}]},
            {"name": "notes", "type": "base", "listRule": "", "fields": [{"name": "text", "type": "text"}]},
            {"name": "broken", "type": "base", "fields": [{"name": "n", "type": "no-such-type"}]}
        ]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert_eq!(
        r.json["data"]["collections"]["code"],
        "validation_collections_import_failure",
        "{}",
        r.text()
    );
    let message = r.json["data"]["collections"]["message"].as_str().unwrap();
    assert!(message.contains("broken"), "{message}");
    let r = app.send(Method::GET, "/api/collections/fresh", Some(&su), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "the created collection was undone");
    assert_eq!(app.collection("notes").list_rule, None, "the update was undone");

    let (_, user) = app.auth_record("users", "u@example.com", "userpassword").await;
    let r = import(&app, &user, json!({"collections": [{"name": "x"}]})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}
