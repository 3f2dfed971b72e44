//! The change history over HTTP, the same scenario on SQLite, PostgreSQL
//! (`KEEL_TEST_POSTGRES_URL`) and MariaDB (`KEEL_TEST_MYSQL_URL`): every collection change
//! made through the API (create, update, rename, delete, import) is recorded with its
//! author, findings, verdict and the collection's semver version; `GET /api/changes` pages
//! and filters it, `GET /api/collections/{c}/versions[/{v}]` gives the versions and the
//! collection as it was (also after a rename or a delete), stats and the changelog export
//! count and list it. Reading needs `changes:read`; the history is append-only; secrets
//! never reach it; a refused change leaves no entry.

mod common;

use axum::http::{Method, StatusCode};
use common::engines::{mariadb, postgres, sqlite};
use common::App;
use serde_json::{json, Value};

#[tokio::test]
async fn change_history_on_sqlite() {
    let (app, _guard) = sqlite().await;
    scenario(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_history_on_postgres() {
    let Some((app, _guard)) = postgres().await else { return };
    scenario(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_history_on_mariadb() {
    let Some((app, _guard)) = mariadb().await else { return };
    scenario(&app).await;
}

/// A `users` record holding a role with `permissions` (none: no role), and its token.
async fn user_with(app: &App, su: &str, name: &str, permissions: &[&str]) -> String {
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
    token
}

async fn ok(app: &App, method: Method, uri: &str, token: &str, body: Option<Value>) -> Value {
    let r = app.send(method.clone(), uri, Some(token), body).await;
    assert_eq!(r.status, StatusCode::OK, "{method} {uri}: {}", r.text());
    r.json
}

async fn get(app: &App, uri: &str, token: &str) -> Value {
    ok(app, Method::GET, uri, token, None).await
}

/// `GET /api/changes` with a filter (URL-encoded here).
async fn changes(app: &App, token: &str, filter: &str) -> Value {
    let q: String = form_urlencoded::byte_serialize(filter.as_bytes()).collect();
    get(app, &format!("/api/changes?perPage=100&filter={q}"), token).await
}

fn strs<'a>(items: &'a Value, key: &str) -> Vec<&'a str> {
    items["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i[key].as_str().unwrap())
        .collect()
}

async fn scenario(app: &App) {
    let su = app.superuser().await;
    let reader = user_with(app, &su, "historian", &["changes:read"]).await;
    let nobody = user_with(app, &su, "nobody", &[]).await;

    // create, add a field (minor), make it required (major), rename (major), a no-op, delete
    let posts = ok(
        app,
        Method::POST,
        "/api/collections",
        &su,
        Some(json!({"name": "posts", "type": "base", "fields": [{"name": "title", "type": "text"}]})),
    )
    .await;
    let posts_id = posts["id"].as_str().unwrap().to_string();
    let path = format!("/api/collections/{posts_id}");
    let mut fields = posts["fields"].as_array().unwrap().clone();
    fields.push(json!({"name": "body", "type": "text"}));
    let added = ok(app, Method::PATCH, &path, &su, Some(json!({ "fields": fields }))).await;
    let mut fields = added["fields"].as_array().unwrap().clone();
    for f in fields.iter_mut() {
        if f["name"] == "title" {
            f["required"] = json!(true);
        }
    }
    ok(app, Method::PATCH, &path, &su, Some(json!({ "fields": fields }))).await;
    ok(app, Method::PATCH, &path, &su, Some(json!({"name": "articles"}))).await;
    ok(app, Method::PATCH, &path, &su, Some(json!({"name": "articles"}))).await;
    // a refused change is not recorded (it never committed)
    let r = app
        .send(
            Method::PATCH,
            &path,
            Some(&su),
            Some(json!({"indexes": ["CREATE INDEX broken ON articles (nosuchcolumn)"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let r = app.send(Method::DELETE, &path, Some(&su), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());

    // an import creates `tags`; an auth collection with an OAuth2 client secret
    let r = app
        .send(
            Method::PUT,
            "/api/collections/import",
            Some(&su),
            Some(json!({"collections": [{"name": "tags", "type": "base", "fields": [{"name": "label", "type": "text"}]}]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    ok(
        app,
        Method::POST,
        "/api/collections",
        &su,
        Some(
            json!({"name": "members", "type": "auth", "oauth2": {"enabled": true, "providers": [
                {"name": "github", "clientId": "client-id-1", "clientSecret": "oauth-client-secret-never-shown"}
            ]}}),
        ),
    )
    .await;
    // a system collection's change: superusers only
    ok(
        app,
        Method::PATCH,
        "/api/collections/_superusers",
        &su,
        Some(json!({"authToken": {"duration": 3600}})),
    )
    .await;

    // the history, newest first
    let all = get(app, "/api/changes?perPage=100", &su).await;
    assert_eq!(all["totalItems"], 8, "{all}");
    assert_eq!(
        strs(&all, "kind"),
        vec!["update", "create", "create", "delete", "rename", "update", "update", "create"]
    );
    let text = all.to_string();
    assert!(
        !text.contains("oauth-client-secret-never-shown"),
        "a secret reached the history"
    );

    // one collection's history through its changes, by its name at the time
    let history = changes(app, &su, &format!("collectionRef = '{posts_id}'")).await;
    assert_eq!(
        strs(&history, "version"),
        vec!["4.0.0", "3.0.0", "2.0.0", "1.1.0", "1.0.0"]
    );
    assert_eq!(
        strs(&history, "kind"),
        vec!["delete", "rename", "update", "update", "create"]
    );
    assert_eq!(
        strs(&history, "verdict"),
        vec!["major", "major", "major", "minor", "minor"]
    );
    assert_eq!(
        strs(&history, "collection"),
        vec!["articles", "articles", "posts", "posts", "posts"]
    );
    for item in history["items"].as_array().unwrap() {
        assert!(item["author"].as_str().unwrap().starts_with("_superusers/"), "{item}");
        assert_eq!(item["source"], "api");
        assert_eq!(item["state"], "applied");
    }
    let required = &history["items"][2];
    assert_eq!(required["previousVersion"], "1.1.0");
    let codes: Vec<&str> = required["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"field-required-no-default"), "{codes:?}");
    assert_eq!(
        required["diff"],
        json!([{"path": "fields.title.required", "before": false, "after": true}])
    );

    // filters over verdict, kind, collection, author, created
    let majors = changes(app, &su, "collection = 'posts' && verdict = 'major'").await;
    assert_eq!(strs(&majors, "version"), vec!["2.0.0"]);
    let imported = changes(app, &su, "source = 'import'").await;
    assert_eq!(strs(&imported, "collection"), vec!["tags"]);
    assert_eq!(imported["items"][0]["version"], "1.0.0");
    let renames = changes(app, &su, "kind = 'rename' && created > '2000-01-01'").await;
    assert_eq!(renames["totalItems"], 1);
    assert_eq!(renames["items"][0]["diff"][0]["path"], "name");
    let mine = changes(app, &su, "author ~ '_superusers/'").await;
    assert_eq!(mine["totalItems"], 8);
    let sorted = get(app, "/api/changes?sort=seq&perPage=2&page=1", &su).await;
    assert_eq!(strs(&sorted, "collection"), vec!["posts", "posts"]);
    assert_eq!(sorted["totalPages"], 4);
    let r = app
        .send(Method::GET, "/api/changes?filter=nosuchfield%3D1", Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());

    // one change
    let id = required["id"].as_str().unwrap();
    let one = get(app, &format!("/api/changes/{id}"), &su).await;
    assert_eq!(one["version"], "2.0.0");
    assert_eq!(one["before"]["name"], "posts");
    assert_eq!(one["after"]["fields"][1]["required"], true);
    let r = app
        .send(Method::GET, "/api/changes/nosuchchange", Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // versions: by the deleted collection's last name, its first name or its id
    for c in ["articles", "posts", posts_id.as_str()] {
        let v = get(app, &format!("/api/collections/{c}/versions"), &reader).await;
        assert_eq!(
            strs(&v, "version"),
            vec!["4.0.0", "3.0.0", "2.0.0", "1.1.0", "1.0.0"],
            "{c}"
        );
    }
    let at = get(app, "/api/collections/posts/versions/1.1.0", &reader).await;
    let names: Vec<&str> = at["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"body"), "{at}");
    assert_eq!(at["name"], "posts");
    let title = at["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "title")
        .unwrap();
    assert_eq!(title["required"], false);
    assert_eq!(
        get(app, "/api/collections/articles/versions/3.0.0", &reader).await["name"],
        "articles"
    );
    for missing in ["4.0.0", "9.9.9", "not-a-version"] {
        let r = app
            .send(
                Method::GET,
                &format!("/api/collections/articles/versions/{missing}"),
                Some(&reader),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{missing}: {}", r.text());
    }
    let r = app
        .send(Method::GET, "/api/collections/nosuch/versions", Some(&reader), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // a collection older than the history: its first recorded change starts from 1.0.0
    let users = get(app, "/api/collections/users/versions", &su).await;
    assert_eq!(users["totalItems"], 0);

    // stats
    let stats = get(app, "/api/changes/stats", &su).await;
    assert_eq!(stats["total"], 8);
    assert_eq!(stats["byKind"]["rename"], 1);
    assert_eq!(stats["byCollection"]["posts"], 3);
    assert_eq!(stats["byCollection"]["articles"], 2);
    let su_author = history["items"][0]["author"].as_str().unwrap();
    assert_eq!(stats["byAuthor"][su_author], 8);
    let weeks = stats["byWeek"].as_object().unwrap();
    assert_eq!(weeks.values().map(|v| v.as_u64().unwrap()).sum::<u64>(), 8);
    assert!(weeks.keys().all(|w| w.contains("-W")), "{weeks:?}");

    // export
    let r = app.send(Method::GET, "/api/changes/export", Some(&su), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("content-type").starts_with("text/markdown"));
    let md = r.text();
    assert!(md.starts_with("# Changelog"), "{md}");
    let three = md.find("### 3.0.0 (major)").unwrap();
    let two = md.find("### 2.0.0 (major)").unwrap();
    assert!(three < two, "{md}");
    assert!(md.contains("`field-required-no-default`"), "{md}");
    let r = app
        .send(
            Method::GET,
            "/api/changes/export?format=json&collection=posts",
            Some(&su),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let cols = r.json["collections"].as_array().unwrap();
    assert_eq!(cols.len(), 1);
    assert_eq!(cols[0]["collection"], "articles");
    assert_eq!(cols[0]["versions"].as_array().unwrap().len(), 5);
    let r = app
        .send(Method::GET, "/api/changes/export?format=pdf", Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(common::field_error(&r, "format"), "{}", r.text());

    // permissions: a guest 401, a user without changes:read 403, a reader sees no system changes
    for uri in [
        "/api/changes",
        "/api/changes/stats",
        "/api/changes/export",
        "/api/collections/tags/versions",
    ] {
        let r = app.send(Method::GET, uri, None, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{uri}: {}", r.text());
        let r = app.send(Method::GET, uri, Some(&nobody), None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{uri}: {}", r.text());
        assert!(r.text().contains("changes:read"), "{uri}: {}", r.text());
    }
    let seen = get(app, "/api/changes?perPage=100", &reader).await;
    assert_eq!(seen["totalItems"], 7);
    assert!(!strs(&seen, "collection").contains(&"_superusers"));
    let system_id = all["items"][0]["id"].as_str().unwrap();
    assert_eq!(all["items"][0]["collection"], "_superusers");
    let r = app
        .send(Method::GET, &format!("/api/changes/{system_id}"), Some(&reader), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(get(app, "/api/changes/stats", &reader).await["total"], 7);

    // append-only, whoever asks
    let r = app
        .send(
            Method::POST,
            "/api/collections/_changes/records",
            Some(&su),
            Some(json!({"collection": "x", "collectionRef": "x", "kind": "create", "state": "applied", "verdict": "none", "version": "1.0.0"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let r = app
        .send(
            Method::DELETE,
            &format!("/api/collections/_changes/records/{id}"),
            Some(&su),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let r = app
        .send(
            Method::PATCH,
            &format!("/api/collections/_changes/records/{id}"),
            Some(&su),
            Some(json!({"verdict": "patch"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let r = app
        .send(
            Method::PATCH,
            "/api/collections/_changes",
            Some(&su),
            Some(json!({"listRule": ""})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert_eq!(get(app, "/api/changes", &su).await["totalItems"], 8);
}
