//! View collections over HTTP (`type: "view"`, records computed by `viewQuery`), the same
//! scenario on SQLite, PostgreSQL (`KEEL_TEST_POSTGRES_URL`) and MariaDB
//! (`KEEL_TEST_MYSQL_URL`): fields inferred from the query, list/view rules and expand
//! applied, writes refused, bad queries refused with a 400 naming `viewQuery`, the view
//! recreated when its query changes, and a collection the view reads protected.

mod common;

use axum::http::{Method, StatusCode};
use common::engines::{mariadb, postgres, sqlite};
use common::App;
use serde_json::{json, Value};

#[tokio::test]
async fn view_collections_on_sqlite() {
    let (app, _guard) = sqlite().await;
    scenario(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn view_collections_on_postgres() {
    let Some((app, _guard)) = postgres().await else { return };
    scenario(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn view_collections_on_mariadb() {
    let Some((app, _guard)) = mariadb().await else { return };
    scenario(&app).await;
}

fn field_names(c: &Value) -> Vec<String> {
    c["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect()
}

fn field<'a>(c: &'a Value, name: &str) -> &'a Value {
    c["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no field {name} in {c}"))
}

fn titles(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap().to_string())
        .collect()
}

const QUERY: &str = "SELECT p.id, p.title, p.views, p.author, u.id AS writer \
                     FROM posts p JOIN users u ON u.id = p.author WHERE p.published = TRUE";

async fn scenario(app: &App) {
    let su = app.superuser().await;
    let users = app.collection("users");
    let r = app
        .send(
            Method::POST,
            "/api/collections",
            Some(&su),
            Some(json!({
                "name": "posts", "type": "base",
                "listRule": "", "viewRule": "",
                "fields": [
                    {"name": "title", "type": "text"},
                    {"name": "views", "type": "number"},
                    {"name": "published", "type": "bool"},
                    {"name": "author", "type": "relation", "collectionId": users.id, "maxSelect": 1},
                ],
            })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let (alice, alice_token) = app.auth_record("users", "alice@example.com", "password123").await;
    let mut ids = Vec::new();
    for (title, views, published) in [("a", 3, true), ("b", 5, false), ("c", 7, true)] {
        let rec = app
            .insert(
                "posts",
                json!({"title": title, "views": views, "published": published, "author": alice.id()}),
            )
            .await;
        ids.push(rec.id().to_string());
    }

    // The scaffolds offer a view collection.
    let r = app
        .send(Method::GET, "/api/collections/meta/scaffolds", Some(&su), None)
        .await;
    assert_eq!(r.json["view"]["type"], "view");
    assert_eq!(r.json["view"]["viewQuery"], "");
    assert_eq!(r.json["view"]["fields"], json!([]));

    // Created: the fields come from the query.
    let r = app
        .send(
            Method::POST,
            "/api/collections",
            Some(&su),
            Some(
                json!({"name": "published_posts", "type": "view", "listRule": "", "viewRule": "", "viewQuery": QUERY}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let view = r.json.clone();
    assert_eq!(view["type"], "view");
    assert_eq!(view["viewQuery"], QUERY);
    assert_eq!(view["createRule"], Value::Null);
    assert_eq!(field_names(&view), ["id", "title", "views", "author", "writer"]);
    assert_eq!(field(&view, "id")["type"], "text");
    assert_eq!(field(&view, "id")["primaryKey"], true);
    assert_eq!(field(&view, "title")["type"], "text");
    assert_eq!(field(&view, "views")["type"], "number");
    assert_eq!(field(&view, "author")["type"], "relation");
    assert_eq!(field(&view, "author")["collectionId"], users.id.as_str());
    assert_eq!(field(&view, "writer")["type"], "relation");
    assert_eq!(field(&view, "writer")["collectionId"], users.id.as_str());
    assert!(view.get("authToken").is_none());

    // Aggregates: COUNT is an integer number; an expression without a source is json.
    let totals_query = "SELECT u.id, COUNT(p.id) AS total, MAX(p.title) AS latest \
                        FROM users u LEFT JOIN posts p ON p.author = u.id GROUP BY u.id";
    let r = app
        .send(
            Method::POST,
            "/api/collections",
            Some(&su),
            Some(json!({"name": "author_totals", "type": "view", "listRule": "", "viewQuery": totals_query})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(field(&r.json, "total")["type"], "number");
    assert_eq!(field(&r.json, "total")["onlyInt"], true);
    assert_eq!(field(&r.json, "latest")["type"], "json");
    let r = app
        .send(Method::GET, "/api/collections/author_totals/records", None, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json["totalItems"], 1);
    assert_eq!(r.json["items"][0]["id"], alice.id());
    assert_eq!(r.json["items"][0]["total"], 3);
    assert_eq!(r.json["items"][0]["latest"], "c");

    // Listed and viewed under the view's rules, with filter, sort and expand.
    let r = app
        .send(
            Method::GET,
            "/api/collections/published_posts/records?sort=-title&expand=author",
            Some(&alice_token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(titles(&r.json), ["c", "a"]);
    let first = &r.json["items"][0];
    assert_eq!(first["collectionName"], "published_posts");
    assert_eq!(first["views"], 7);
    assert_eq!(first["author"], alice.id());
    assert_eq!(first["writer"], alice.id());
    assert_eq!(first["expand"]["author"]["email"], "alice@example.com");
    // A guest may list the view, not see the users it points at (users' own view rule).
    let r = app
        .send(
            Method::GET,
            "/api/collections/published_posts/records?filter=views%3E5&expand=author",
            None,
            None,
        )
        .await;
    assert_eq!(titles(&r.json), ["c"]);
    assert!(r.json["items"][0]
        .get("expand")
        .is_none_or(|e| e.get("author").is_none()));
    let one = |id: &str| format!("/api/collections/published_posts/records/{id}");
    let r = app.send(Method::GET, &one(&ids[0]), None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json["title"], "a");
    let r = app.send(Method::GET, &one(&ids[1]), None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "unpublished posts are not in the view");

    // Rules of the view apply (changed like any collection's).
    let r = app
        .send(
            Method::PATCH,
            "/api/collections/published_posts",
            Some(&su),
            Some(json!({"listRule": "views > 4", "viewRule": null})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = app
        .send(Method::GET, "/api/collections/published_posts/records", None, None)
        .await;
    assert_eq!(titles(&r.json), ["c"]);
    let r = app.send(Method::GET, &one(&ids[0]), None, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "viewRule null: superusers only");
    let r = app.send(Method::GET, &one(&ids[0]), Some(&su), None).await;
    assert_eq!(r.status, StatusCode::OK);

    // Read-only: every write is refused as PocketBase refuses it.
    let records = "/api/collections/published_posts/records";
    let r = app
        .send(Method::POST, records, Some(&su), Some(json!({"title": "x"})))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json["message"], "Unsupported collection type.");
    let r = app
        .send(Method::PATCH, &one(&ids[0]), Some(&su), Some(json!({"title": "x"})))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app.send(Method::DELETE, &one(&ids[0]), Some(&su), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app
        .send(
            Method::DELETE,
            "/api/collections/published_posts/truncate",
            Some(&su),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // Bad definitions: 400s naming the key.
    let bad = |extra: Value| {
        let mut def = json!({"name": "bad_view", "type": "view", "viewQuery": "SELECT id FROM posts"});
        for (k, v) in extra.as_object().unwrap() {
            def[k] = v.clone();
        }
        def
    };
    for (extra, key, code) in [
        (json!({"createRule": ""}), "createRule", "validation_nil"),
        (
            json!({"indexes": ["CREATE INDEX i ON bad_view (id)"]}),
            "indexes",
            "validation_indexes_not_supported",
        ),
        (json!({"viewQuery": ""}), "viewQuery", "validation_required"),
        (
            json!({"viewQuery": "SELECT id FROM posts; DROP TABLE posts"}),
            "viewQuery",
            "validation_invalid_view_query",
        ),
        (
            json!({"viewQuery": "DELETE FROM posts"}),
            "viewQuery",
            "validation_invalid_view_query",
        ),
        (
            json!({"viewQuery": "SELECT title FROM posts"}),
            "viewQuery",
            "validation_invalid_view_query",
        ),
        (
            json!({"viewQuery": "SELECT * FROM posts"}),
            "viewQuery",
            "validation_invalid_view_query",
        ),
        (
            json!({"viewQuery": "SELECT id FROM nowhere"}),
            "viewQuery",
            "validation_invalid_view_query",
        ),
        (
            json!({"viewQuery": "SELECT author AS id FROM posts"}),
            "viewQuery",
            "validation_invalid_view_query",
        ),
    ] {
        let r = app
            .send(Method::POST, "/api/collections", Some(&su), Some(bad(extra.clone())))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{extra}: {}", r.text());
        assert_eq!(r.json["data"][key]["code"], code, "{extra}: {}", r.text());
    }
    let r = app
        .send(
            Method::POST,
            "/api/collections",
            Some(&su),
            Some(bad(json!({"viewQuery": "SELECT id FROM nowhere"}))),
        )
        .await;
    assert!(
        r.json["data"]["viewQuery"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid query - "),
        "{}",
        r.text()
    );
    let r = app
        .send(Method::GET, "/api/collections/bad_view", Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "nothing was left behind");
    let r = app
        .send(Method::GET, "/api/collections/posts/records", None, None)
        .await;
    assert_eq!(r.json["totalItems"], 3, "the posts are untouched");

    // A base collection cannot point a relation at a view.
    let r = app
        .send(
            Method::POST,
            "/api/collections",
            Some(&su),
            Some(json!({"name": "notes", "type": "base", "fields": [
                {"name": "post", "type": "relation", "collectionId": view["id"], "maxSelect": 1}
            ]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json["data"]["fields.1.collectionId"]["code"],
        "validation_relation_field_non_view_base_collection",
        "{}",
        r.text()
    );

    // A collection a view reads: a change that breaks the query is refused, others pass and
    // the view keeps working; deleting it is refused while the view exists.
    let posts = app
        .send(Method::GET, "/api/collections/posts", Some(&su), None)
        .await
        .json;
    let mut renamed = posts["fields"].clone();
    for f in renamed.as_array_mut().unwrap() {
        if f["name"] == "title" {
            f["name"] = json!("headline");
        }
    }
    let r = app
        .send(
            Method::PATCH,
            "/api/collections/posts",
            Some(&su),
            Some(json!({"fields": renamed})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(
        r.json["message"].as_str().unwrap().contains("published_posts"),
        "{}",
        r.text()
    );
    let mut added = posts["fields"].clone();
    added
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "summary", "type": "text"}));
    let r = app
        .send(
            Method::PATCH,
            "/api/collections/posts",
            Some(&su),
            Some(json!({"fields": added})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = app.send(Method::GET, records, Some(&su), None).await;
    assert_eq!(r.json["totalItems"], 2, "{}", r.text());
    let r = app
        .send(Method::DELETE, "/api/collections/posts", Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json["message"].as_str().unwrap().contains("view collection"),
        "{}",
        r.text()
    );

    // A new query recreates the view and its fields.
    let r = app
        .send(
            Method::PATCH,
            "/api/collections/published_posts",
            Some(&su),
            Some(json!({"viewQuery": "SELECT id, title FROM posts", "listRule": ""})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(field_names(&r.json), ["id", "title"]);
    assert_eq!(field(&r.json, "id")["id"], field(&view, "id")["id"]);
    let r = app
        .send(
            Method::GET,
            "/api/collections/published_posts/records?sort=title",
            None,
            None,
        )
        .await;
    assert_eq!(titles(&r.json), ["a", "b", "c"]);
    assert!(r.json["items"][0].get("views").is_none());

    // A numeric id is served as text.
    let r = app
        .send(
            Method::POST,
            "/api/collections",
            Some(&su),
            Some(json!({"name": "numbered", "type": "view", "listRule": "",
                        "viewQuery": "SELECT (ROW_NUMBER() OVER (ORDER BY title)) AS id, title FROM posts"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = app
        .send(Method::GET, "/api/collections/numbered/records?sort=title", None, None)
        .await;
    assert_eq!(r.json["items"][0]["id"], "1", "{}", r.text());

    // Deleting the views frees the collection they read.
    for name in ["numbered", "author_totals", "published_posts"] {
        let r = app
            .send(Method::DELETE, &format!("/api/collections/{name}"), Some(&su), None)
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{name}: {}", r.text());
    }
    let r = app
        .send(Method::DELETE, "/api/collections/posts", Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
}
