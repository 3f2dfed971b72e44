//! Search across collections through HTTP (`GET /api/search`, docs/search.md): merged
//! ranking, paging, `fields`, the checks of `q`/`collections`, and each collection's list
//! rule held as an attack. Once per records engine (`on_every_engine!`).

mod common;

use std::time::Duration;

use common::engines::Db;
use common::superuser_token;
use serde_json::{json, Value};

struct Api {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Api {
    async fn new(url: &str) -> Api {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        let token = superuser_token(&http, url).await;
        Api {
            http,
            url: url.to_string(),
            token,
        }
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let res = self
            .http
            .post(format!("{}{path}", self.url))
            .header("Authorization", &self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let v: Value = res.json().await.unwrap();
        assert_eq!(status, 200, "POST {path}: {v}");
        v
    }

    /// `GET /api/search` with `query` pairs, as the superuser when `su`.
    async fn search(&self, query: &[(&str, &str)], su: bool) -> (u16, Value) {
        let url = reqwest::Url::parse_with_params(&format!("{}/api/search", self.url), query).unwrap();
        let mut req = self.http.get(url);
        if su {
            req = req.header("Authorization", &self.token);
        }
        let res = req.send().await.unwrap();
        (res.status().as_u16(), res.json().await.unwrap())
    }

    async fn titles(&self, query: &[(&str, &str)], su: bool) -> Vec<String> {
        let (s, v) = self.search(query, su).await;
        assert_eq!(s, 200, "{query:?}: {v}");
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                format!(
                    "{}:{}",
                    i["collectionName"].as_str().unwrap(),
                    i["title"].as_str().unwrap()
                )
            })
            .collect()
    }
}

/// `posts` (public), `notes` (only public ones listed, a hidden field), `vault_notes`
/// (superusers only) and `plain` (not searchable).
async fn collections(api: &Api) {
    let text = |n: &str| json!({"name": n, "type": "text"});
    api.post(
        "/api/collections",
        json!({
            "name": "posts", "fields": [text("title"), text("body")],
            "listRule": "", "viewRule": "",
            "search": {"fields": {"title": 3, "body": 1}},
        }),
    )
    .await;
    api.post(
        "/api/collections",
        json!({
            "name": "notes",
            "fields": [text("title"), text("body"), {"name": "public", "type": "bool"},
                       {"name": "secret", "type": "text", "hidden": true}],
            "listRule": "public = true", "viewRule": "public = true",
            "search": {"fields": {"title": 1, "body": 1}},
        }),
    )
    .await;
    api.post(
        "/api/collections",
        json!({
            "name": "vault_notes", "fields": [text("title")],
            "search": {"fields": {"title": 1}},
        }),
    )
    .await;
    api.post(
        "/api/collections",
        json!({"name": "plain", "fields": [text("title")], "listRule": ""}),
    )
    .await;
    for (title, body) in [
        ("Fox tracks in snow", "a fox walked here"),
        ("Gardening", "the fox ate the lettuce"),
        ("Lazy dogs", "dogs sleep"),
    ] {
        api.post("/api/collections/posts/records", json!({"title": title, "body": body}))
            .await;
    }
    for (title, body, public) in [
        ("Fox den map", "where the fox lives", true),
        ("Fox secret plan", "confidential fox business", false),
    ] {
        api.post(
            "/api/collections/notes/records",
            json!({"title": title, "body": body, "public": public, "secret": "zebra"}),
        )
        .await;
    }
    api.post("/api/collections/vault_notes/records", json!({"title": "Fox vault"}))
        .await;
}

on_every_engine!(merges_ranked_results_across_collections);
async fn merges_ranked_results_across_collections(db: Db) {
    let keel = db.start();
    let api = Api::new(keel.url()).await;
    collections(&api).await;

    // The superuser sees every match of every collection, each tagged with its collection,
    // a title match above a body match in each.
    let (s, v) = api
        .search(&[("q", "fox"), ("collections", "posts,notes,vault_notes")], true)
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["totalItems"], 5, "{v}");
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    for i in items {
        assert!(i["collectionId"].as_str().is_some_and(|s| !s.is_empty()), "{i}");
    }
    let titles = api.titles(&[("q", "fox"), ("collections", "posts,notes")], true).await;
    let pos = |t: &str| titles.iter().position(|x| x == t).unwrap();
    assert!(pos("posts:Fox tracks in snow") < pos("posts:Gardening"), "{titles:?}");
    // Each collection's best match comes before any collection's lesser ones.
    assert!(pos("notes:Fox den map") < pos("posts:Gardening"), "{titles:?}");

    // Paging walks the merged list without repeating or dropping an item.
    let mut paged = Vec::new();
    for page in ["1", "2", "3"] {
        let (s, v) = api
            .search(
                &[
                    ("q", "fox"),
                    ("collections", "posts,notes"),
                    ("perPage", "2"),
                    ("page", page),
                ],
                true,
            )
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!((v["totalItems"].as_i64(), v["totalPages"].as_i64()), (Some(4), Some(2)));
        paged.extend(v["items"].as_array().unwrap().iter().map(|i| {
            format!(
                "{}:{}",
                i["collectionName"].as_str().unwrap(),
                i["title"].as_str().unwrap()
            )
        }));
    }
    assert_eq!(paged, titles);

    // `fields` shapes the items as on a records list; the search syntax is the records'.
    let (_, v) = api
        .search(
            &[("q", "fox -snow"), ("collections", "posts"), ("fields", "title")],
            true,
        )
        .await;
    assert_eq!(v["items"], json!([{"title": "Gardening"}]), "{v}");
    assert!(api
        .titles(&[("q", "cats"), ("collections", "posts,notes")], true)
        .await
        .is_empty());
}

on_every_engine!(bad_input_is_a_400_naming_the_parameter);
async fn bad_input_is_a_400_naming_the_parameter(db: Db) {
    let keel = db.start();
    let api = Api::new(keel.url()).await;
    collections(&api).await;
    for (query, field) in [
        (vec![("collections", "posts")], "q"),
        (vec![("q", "   "), ("collections", "posts")], "q"),
        (vec![("q", "-fox"), ("collections", "posts")], "q"),
        (vec![("q", "fox")], "collections"),
        (vec![("q", "fox"), ("collections", " , ")], "collections"),
        (vec![("q", "fox"), ("collections", "posts,nosuch")], "collections"),
        (vec![("q", "fox"), ("collections", "plain")], "collections"),
        (vec![("q", "fox"), ("collections", "posts"), ("page", "0")], "page"),
        (
            vec![
                ("q", "fox"),
                ("collections", "posts"),
                ("page", "20"),
                ("perPage", "1000"),
            ],
            "page",
        ),
    ] {
        let (s, v) = api.search(&query, false).await;
        assert_eq!(s, 400, "{query:?}: {v}");
        assert!(v["data"].get(field).is_some(), "{query:?} names {field}: {v}");
    }
}

on_every_engine!(each_collections_rules_hold_against_a_search_as_an_attack);
async fn each_collections_rules_hold_against_a_search_as_an_attack(db: Db) {
    let keel = db.start();
    let api = Api::new(keel.url()).await;
    collections(&api).await;
    // A guest: posts whole, the public note only, nothing of the superusers-only
    // collection (no error either), counted as such.
    let (s, v) = api
        .search(&[("q", "fox"), ("collections", "posts,notes,vault_notes")], false)
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["totalItems"], 3, "only what the rules let through is counted: {v}");
    let text = v.to_string();
    for leaked in ["secret plan", "confidential", "Fox vault", "zebra"] {
        assert!(!text.contains(leaked), "{leaked} leaked: {v}");
    }
    // Words only a hidden record or a hidden field holds find nothing.
    for q in ["confidential", "zebra", "vault", "\"secret plan\""] {
        let (s, v) = api
            .search(&[("q", q), ("collections", "notes,vault_notes")], false)
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(
            (v["totalItems"].as_i64(), v["items"].as_array().map(Vec::len)),
            (Some(0), Some(0)),
            "{q}: {v}"
        );
    }
    // A superusers-only collection alone answers like one with no match.
    let (s, v) = api.search(&[("q", "fox"), ("collections", "vault_notes")], false).await;
    assert_eq!((s, v["totalItems"].as_i64()), (200, Some(0)), "{v}");
    // The superuser's view of the same.
    let (_, v) = api
        .search(&[("q", "vault"), ("collections", "vault_notes")], true)
        .await;
    assert_eq!(v["totalItems"], 1, "{v}");
}
