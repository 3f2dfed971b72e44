//! Free-standing search indexes through HTTP (`/api/search/indexes`, docs/search.md):
//! settings, documents, search with a filter and facets, the `search:*` permissions, bad
//! input, and a restart; once per records engine (`on_every_engine!`), each on its own
//! search provider.

mod common;

use std::time::Duration;

use common::engines::Db;
use common::{superuser_token, KeelProcess};
use reqwest::Method;
use serde_json::{json, Value};

struct Api {
    http: reqwest::Client,
    url: String,
    su: String,
}

impl Api {
    async fn new(url: &str) -> Api {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        let su = superuser_token(&http, url).await;
        Api {
            http,
            url: url.to_string(),
            su,
        }
    }

    /// `method path` with `token` (none: a guest) and a JSON `body`.
    async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.header("Authorization", t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn su(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (s, v) = self.call(method.clone(), path, Some(&self.su.clone()), body).await;
        assert!((200..300).contains(&s), "{method} {path}: {s} {v}");
        v
    }

    /// `GET /api/search/indexes/{name}` with `query` pairs, as `token`.
    async fn search(&self, name: &str, query: &[(&str, &str)], token: Option<&str>) -> (u16, Value) {
        let url = reqwest::Url::parse_with_params(&format!("{}/api/search/indexes/{name}", self.url), query).unwrap();
        let mut req = self.http.get(url);
        if let Some(t) = token {
            req = req.header("Authorization", t);
        }
        let res = req.send().await.unwrap();
        (res.status().as_u16(), res.json().await.unwrap())
    }

    /// A `users` record holding a role with `permissions`, signed in: its token.
    async fn user_with(&self, name: &str, permissions: &[&str]) -> String {
        self.su(
            Method::POST,
            "/api/roles",
            Some(json!({"name": name, "permissions": permissions})),
        )
        .await;
        let email = format!("{name}@keel.test");
        let user = self
            .su(
                Method::POST,
                "/api/collections/users/records",
                Some(json!({"email": email, "password": "user-password-123", "passwordConfirm": "user-password-123"})),
            )
            .await;
        let path = format!("/api/roles/{name}/members/users/{}", user["id"].as_str().unwrap());
        self.su(Method::PUT, &path, None).await;
        let (s, auth) = self
            .call(
                Method::POST,
                "/api/collections/users/auth-with-password",
                None,
                Some(json!({"identity": email, "password": "user-password-123"})),
            )
            .await;
        assert_eq!(s, 200, "{auth}");
        auth["token"].as_str().unwrap().to_string()
    }
}

fn settings() -> Value {
    json!({"fields": {"title": 3, "body": 1}, "language": "english", "filterable": ["category", "year", "tags"]})
}

fn books() -> Value {
    json!([
        {"id": "b1", "title": "Rust in Action", "body": "systems programming", "category": "books", "year": 2021, "tags": ["rust", "systems"]},
        {"id": "b2", "title": "Programming Rust", "body": "fast and safe", "category": "books", "year": 2019, "tags": ["rust"]},
        {"id": "f1", "title": "The Rust Belt", "body": "a documentary about running mills", "category": "films", "year": 2022, "tags": []},
        {"id": "g1", "title": "Gardening", "body": "rusty tools and roses", "category": "books", "year": 2023},
    ])
}

fn ids(v: &Value) -> Vec<&str> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect()
}

on_every_engine!(indexes_documents_filters_and_facets);
async fn indexes_documents_filters_and_facets(db: Db) {
    let keel = db.start();
    let api = Api::new(keel.url()).await;
    let put = api.su(Method::PUT, "/api/search/indexes/books", Some(settings())).await;
    assert_eq!(put["name"], "books");
    assert_eq!(put["filterable"], json!(["category", "year", "tags"]));
    let added = api
        .su(Method::POST, "/api/search/indexes/books/documents", Some(books()))
        .await;
    assert_eq!(added["indexed"], 4);
    // One document alone is fine too.
    api.su(
        Method::POST,
        "/api/search/indexes/books/documents",
        Some(json!({"id": "m1", "title": "Rust magazine", "category": "magazines", "year": 2024})),
    )
    .await;
    let listed = api.su(Method::GET, "/api/search/indexes", None).await;
    assert_eq!(
        listed["items"],
        json!([{"name": "books", "fields": {"body": 1, "title": 3}, "language": "english", "filterable": ["category", "year", "tags"]}])
    );

    // Ranked text search (title weight 3 first), the stored documents, facet counts.
    let (s, v) = api
        .search("books", &[("q", "rust"), ("facets", "category,tags")], Some(&api.su))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["totalItems"], 5, "{v}");
    if db.stems_and_typos() {
        // MariaDB's InnoDB FULLTEXT ranks by its own TF-IDF (docs/search.md), not by weight.
        assert_eq!(ids(&v).last(), Some(&"g1"), "a body-only prefix match ranks last: {v}");
    }
    let b1 = v["items"].as_array().unwrap().iter().find(|i| i["id"] == "b1").unwrap();
    assert_eq!(b1["document"], books()[0]);
    assert_eq!(v["facets"]["category"], json!({"books": 3, "films": 1, "magazines": 1}));
    assert_eq!(v["facets"]["tags"], json!({"rust": 2, "systems": 1}));

    // A filter narrows the set, and the facets count what it lets through.
    let (_, v) = api
        .search(
            "books",
            &[
                ("q", "rust"),
                ("filter", "category = 'books' && year >= 2020"),
                ("facets", "year"),
            ],
            Some(&api.su),
        )
        .await;
    let mut found = ids(&v);
    found.sort();
    assert_eq!((found, v["totalItems"].as_i64()), (vec!["b1", "g1"], Some(2)), "{v}");
    assert_eq!(v["facets"]["year"], json!({"2021": 1, "2023": 1}));
    // No text: every document the filter lets through, by id, paged.
    let (_, v) = api
        .search(
            "books",
            &[
                ("filter", "tags = 'rust' || category = \"films\""),
                ("perPage", "2"),
                ("page", "2"),
            ],
            Some(&api.su),
        )
        .await;
    assert_eq!(
        (ids(&v), v["totalItems"].as_i64(), v["totalPages"].as_i64()),
        (vec!["f1"], Some(3), Some(2)),
        "{v}"
    );

    // Replace and delete documents.
    api.su(
        Method::POST,
        "/api/search/indexes/books/documents",
        Some(json!({"id": "b2", "title": "Programming Go", "category": "books", "year": 2019})),
    )
    .await;
    api.su(Method::DELETE, "/api/search/indexes/books/documents/f1", None)
        .await;
    api.su(Method::DELETE, "/api/search/indexes/books/documents/never-there", None)
        .await;
    let (_, v) = api.search("books", &[("q", "rust")], Some(&api.su)).await;
    let mut found = ids(&v);
    found.sort();
    assert_eq!(found, ["b1", "g1", "m1"], "{v}");

    // A kill -9 and a restart keep the index and its documents (each write committed).
    let keel = KeelProcess::serve_with_env(keel.kill(), &db.env());
    let api = Api::new(keel.url()).await;
    let (s, v) = api.search("books", &[("q", "gardening")], Some(&api.su)).await;
    assert_eq!((s, ids(&v)), (200, vec!["g1"]), "{v}");

    // Changed settings empty the index; the same settings keep it; delete drops it.
    api.su(Method::PUT, "/api/search/indexes/books", Some(settings())).await;
    let (_, v) = api.search("books", &[], Some(&api.su)).await;
    assert_eq!(v["totalItems"], 4, "{v}");
    api.su(
        Method::PUT,
        "/api/search/indexes/books",
        Some(json!({"fields": {"title": 1}, "filterable": ["category"]})),
    )
    .await;
    let (_, v) = api.search("books", &[], Some(&api.su)).await;
    assert_eq!(v["totalItems"], 0, "{v}");
    api.su(Method::DELETE, "/api/search/indexes/books", None).await;
    let (s, _) = api.search("books", &[], Some(&api.su)).await;
    assert_eq!(s, 404);
    let listed = api.su(Method::GET, "/api/search/indexes", None).await;
    assert_eq!(listed["items"], json!([]));
}

on_every_engine!(permissions_and_bad_input);
async fn permissions_and_bad_input(db: Db) {
    let keel = db.start();
    let api = Api::new(keel.url()).await;
    api.su(Method::PUT, "/api/search/indexes/books", Some(settings())).await;
    api.su(Method::POST, "/api/search/indexes/books/documents", Some(books()))
        .await;
    let reader = api.user_with("reader", &["search:read"]).await;
    let writer = api.user_with("writer", &["search:write"]).await;
    let manager = api.user_with("manager", &["search:manage"]).await;
    let doc = json!({"id": "x1", "title": "new"});
    type Case<'a> = (Method, String, Option<&'a str>, Option<Value>, u16);
    let cases: Vec<Case<'_>> = vec![
        (Method::GET, "/api/search/indexes".into(), None, None, 401),
        (Method::GET, "/api/search/indexes".into(), Some(&writer), None, 403),
        (Method::GET, "/api/search/indexes".into(), Some(&reader), None, 200),
        (
            Method::POST,
            "/api/search/indexes/books/documents".into(),
            Some(&reader),
            Some(doc.clone()),
            403,
        ),
        (
            Method::POST,
            "/api/search/indexes/books/documents".into(),
            Some(&writer),
            Some(doc.clone()),
            200,
        ),
        (
            Method::DELETE,
            "/api/search/indexes/books/documents/x1".into(),
            Some(&manager),
            None,
            403,
        ),
        (
            Method::DELETE,
            "/api/search/indexes/books/documents/x1".into(),
            Some(&writer),
            None,
            204,
        ),
        (
            Method::PUT,
            "/api/search/indexes/other".into(),
            Some(&writer),
            Some(settings()),
            403,
        ),
        (
            Method::PUT,
            "/api/search/indexes/other".into(),
            Some(&manager),
            Some(settings()),
            200,
        ),
        (
            Method::DELETE,
            "/api/search/indexes/other".into(),
            Some(&reader),
            None,
            403,
        ),
        (
            Method::DELETE,
            "/api/search/indexes/other".into(),
            Some(&manager),
            None,
            204,
        ),
    ];
    for (method, path, token, body, want) in cases {
        let (s, v) = api.call(method.clone(), &path, token, body).await;
        assert_eq!(s, want, "{method} {path}: {v}");
    }
    let (s, _) = api.search("books", &[("q", "rust")], None).await;
    assert_eq!(s, 401);
    let (s, _) = api.search("books", &[("q", "rust")], Some(&writer)).await;
    assert_eq!(s, 403);
    let (s, v) = api.search("books", &[("q", "rust")], Some(&reader)).await;
    assert_eq!((s, v["totalItems"].as_i64()), (200, Some(4)), "{v}");

    // Bad input: a 400 naming what to fix.
    for (path, body, field) in [
        ("/api/search/indexes/bad%20name", settings(), "name"),
        ("/api/search/indexes/x", json!({"fields": {}}), "fields"),
        (
            "/api/search/indexes/x",
            json!({"fields": {"title": 11}}),
            "fields.title",
        ),
        (
            "/api/search/indexes/x",
            json!({"fields": {"title": 1}, "language": "klingon"}),
            "language",
        ),
        (
            "/api/search/indexes/x",
            json!({"fields": {"title": 1}, "filterable": [3]}),
            "filterable",
        ),
        (
            "/api/search/indexes/x",
            json!({"fields": {"title": 1}, "sortable": []}),
            "sortable",
        ),
    ] {
        let (s, v) = api.call(Method::PUT, path, Some(&api.su), Some(body)).await;
        assert_eq!(s, 400, "{path}: {v}");
        assert!(v["data"].get(field).is_some(), "{field}: {v}");
    }
    for (body, field) in [
        (json!({"title": "no id"}), "id"),
        (json!({"id": "a b", "title": "bad id"}), "id"),
        (json!([{"id": "ok"}, {"id": "b", "title": 3}]), "1.title"),
        (json!({"id": "c", "category": {"nested": true}}), "category"),
        (json!([]), "documents"),
    ] {
        let (s, v) = api
            .call(
                Method::POST,
                "/api/search/indexes/books/documents",
                Some(&api.su),
                Some(body),
            )
            .await;
        assert_eq!(s, 400, "{v}");
        assert!(v["data"].get(field).is_some(), "{field}: {v}");
    }
    let (s, _) = api
        .call(
            Method::POST,
            "/api/search/indexes/nosuch/documents",
            Some(&api.su),
            Some(doc),
        )
        .await;
    assert_eq!(s, 404);
    for (query, field) in [
        (vec![("filter", "price > 3")], "filter"),
        (vec![("filter", "category = ")], "filter"),
        (vec![("facets", "title")], "facets"),
        (vec![("q", "-rust")], "q"),
    ] {
        let (s, v) = api.search("books", &query, Some(&api.su)).await;
        assert_eq!(s, 400, "{query:?}: {v}");
        assert!(v["data"].get(field).is_some(), "{field}: {v}");
    }
}
