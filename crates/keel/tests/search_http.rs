//! Full-text search over records through HTTP (docs/search.md): ranking, the search syntax,
//! filter/sort/paging/highlights, the option's checks, the list rule as an attack, and the
//! index kept in step across writes, restarts, a `kill -9` and `keel search reindex`.
//!
//! The behaviours a user sees run once per records engine (`on_every_engine!`): SQLite with
//! the embedded index always, PostgreSQL with `KEEL_TEST_POSTGRES_URL` and MariaDB with
//! `KEEL_TEST_MYSQL_URL` (each in a fresh database, with the index in that database).

mod common;

use std::time::{Duration, Instant};

use common::engines::Db;
use common::{keel_command, superuser_token, KeelProcess};
use serde_json::{json, Value};

struct Api {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Api {
    async fn new(keel: &KeelProcess) -> Api {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        let url = keel.url().to_string();
        let token = superuser_token(&http, &url).await;
        Api { http, url, token }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>, su: bool) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if su {
            req = req.header("Authorization", &self.token);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let (s, v) = self.send(reqwest::Method::POST, path, Some(body), true).await;
        assert_eq!(s, 200, "POST {path}: {v}");
        v
    }

    /// GET a records list with `query` pairs (as the superuser when `su`).
    async fn list(&self, collection: &str, query: &[(&str, &str)], su: bool) -> (u16, Value) {
        let url = reqwest::Url::parse_with_params(&format!("{}/api/collections/{collection}/records", self.url), query)
            .unwrap();
        let mut req = self.http.get(url);
        if su {
            req = req.header("Authorization", &self.token);
        }
        let res = req.send().await.unwrap();
        (res.status().as_u16(), res.json().await.unwrap())
    }

    async fn titles(&self, collection: &str, query: &[(&str, &str)], su: bool) -> Vec<String> {
        let (s, v) = self.list(collection, query, su).await;
        assert_eq!(s, 200, "{query:?}: {v}");
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["title"].as_str().unwrap_or("").to_string())
            .collect()
    }
}

async fn posts(api: &Api) {
    api.post(
        "/api/collections",
        json!({
            "name": "posts",
            "fields": [
                {"name": "title", "type": "text"},
                {"name": "body", "type": "editor"},
                {"name": "status", "type": "text"},
            ],
            "listRule": "", "viewRule": "", "createRule": "", "updateRule": "", "deleteRule": "",
            "search": {"fields": {"title": 3, "body": 1}},
        }),
    )
    .await;
    for (title, body, status) in [
        ("Gardening notes", "the quick brown fox ran through the garden", "draft"),
        ("The quick brown fox", "a story", "published"),
        ("Lazy dogs", "dogs that sleep all day", "published"),
        ("Running tips", "how a fox runs fast", "published"),
    ] {
        api.post(
            "/api/collections/posts/records",
            json!({"title": title, "body": body, "status": status}),
        )
        .await;
    }
}

on_every_engine!(search_ranks_and_combines_with_filter_sort_paging_and_highlights);
async fn search_ranks_and_combines_with_filter_sort_paging_and_highlights(db: Db) {
    let keel = db.start();
    let api = Api::new(&keel).await;
    posts(&api).await;

    // The collection JSON returns the option (language defaulted).
    let (_, c) = api
        .send(reqwest::Method::GET, "/api/collections/posts", None, true)
        .await;
    assert_eq!(
        c["search"],
        json!({"fields": {"title": 3, "body": 1}, "language": "english"})
    );

    // Words in any order; the title match (weight 3) outranks the body one (weight 1).
    assert_eq!(
        api.titles("posts", &[("search", "fox quick")], false).await,
        ["The quick brown fox", "Gardening notes"]
    );
    // Stemming, prefix, one typo (not on MariaDB), phrase, exclusion.
    assert_eq!(
        api.titles("posts", &[("search", "running")], false).await,
        ["Running tips"]
    );
    assert_eq!(
        api.titles("posts", &[("search", "garde")], false).await,
        ["Gardening notes"]
    );
    if db.stems_and_typos() {
        assert_eq!(api.titles("posts", &[("search", "brwon fox")], false).await.len(), 2);
        assert_eq!(
            api.titles("posts", &[("search", "run")], false).await,
            ["Running tips"],
            "'run' finds 'Running' and 'runs'"
        );
    }
    assert_eq!(
        api.titles("posts", &[("search", "\"brown fox\" -garden")], false).await,
        ["The quick brown fox"]
    );

    // With filter, sort, paging and skipTotal.
    let filtered = api
        .titles("posts", &[("search", "fox"), ("filter", "status = 'published'")], false)
        .await;
    assert_eq!(filtered.len(), 2);
    assert!(!filtered.contains(&"Gardening notes".to_string()));
    let sorted = api
        .titles("posts", &[("search", "fox"), ("sort", "title")], false)
        .await;
    assert_eq!(sorted, ["Gardening notes", "Running tips", "The quick brown fox"]);
    let (_, page2) = api
        .list(
            "posts",
            &[("search", "fox"), ("sort", "title"), ("perPage", "2"), ("page", "2")],
            false,
        )
        .await;
    assert_eq!(
        (page2["totalItems"].as_i64(), page2["totalPages"].as_i64()),
        (Some(3), Some(2))
    );
    assert_eq!(page2["items"][0]["title"], "The quick brown fox");
    let (_, ranked2) = api
        .list(
            "posts",
            &[("search", "fox"), ("perPage", "1"), ("page", "2"), ("skipTotal", "1")],
            false,
        )
        .await;
    assert_eq!(ranked2["totalItems"], -1);
    assert_eq!(ranked2["items"].as_array().unwrap().len(), 1);

    // Highlights, when asked for; none otherwise.
    let (_, v) = api
        .list(
            "posts",
            &[("search", "quick fox"), ("fields", "title,search.highlights")],
            false,
        )
        .await;
    assert_eq!(
        v["items"][0]["search"]["highlights"]["title"],
        "The <mark>quick</mark> brown <mark>fox</mark>"
    );
    assert_eq!(v["items"][0].as_object().unwrap().len(), 2, "{v}");
    let (_, v) = api.list("posts", &[("search", "quick fox")], false).await;
    assert!(v["items"][0].get("search").is_none());

    // Kept in step: an update and a delete are seen by the next search.
    let id = v["items"][0]["id"].as_str().unwrap().to_string();
    let (s, _) = api
        .send(
            reqwest::Method::PATCH,
            &format!("/api/collections/posts/records/{id}"),
            Some(json!({"title": "A slow green turtle"})),
            true,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        api.titles("posts", &[("search", "turtle")], false).await,
        ["A slow green turtle"]
    );
    assert_eq!(
        api.titles("posts", &[("search", "quick")], false).await,
        ["Gardening notes"]
    );
    let (s, _) = api
        .send(
            reqwest::Method::DELETE,
            &format!("/api/collections/posts/records/{id}"),
            None,
            true,
        )
        .await;
    assert_eq!(s, 204);
    assert!(api.titles("posts", &[("search", "turtle")], false).await.is_empty());

    // Bad input is a 400 naming what is wrong.
    let (s, v) = api.list("posts", &[("search", "-fox")], false).await;
    assert_eq!(
        (s, v["data"]["search"]["code"].as_str()),
        (400, Some("validation_invalid_search")),
        "{v}"
    );
    let (s, v) = api.list("_superusers", &[("search", "fox")], true).await;
    assert_eq!(
        (s, v["data"]["search"]["code"].as_str()),
        (400, Some("validation_not_searchable")),
        "{v}"
    );
}

// PocketBase's JS SDK passes `search` through its list options (`tests/sdk/search.mjs`).
on_every_engine!(the_js_sdk_passes_search_through);
async fn the_js_sdk_passes_search_through(db: Db) {
    if let Some(why) = common::node::missing_sdk() {
        assert!(
            !common::node::engines_required(),
            "the SDK search check cannot run: {why}"
        );
        println!("skipped the JS SDK search check: {why}");
        return;
    }
    let keel = db.start();
    let api = Api::new(&keel).await;
    posts(&api).await;
    let mut cmd = std::process::Command::new("node");
    cmd.arg("tests/sdk/search.mjs").env("KEEL_URL", keel.url());
    let status = tokio::task::spawn_blocking(move || common::node::run(cmd, "[sdk search] ", Duration::from_secs(120)))
        .await
        .unwrap();
    assert!(
        status.success(),
        "tests/sdk/search.mjs failed ({status}); its output is above"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_search_option_is_checked() {
    let keel = KeelProcess::start();
    let api = Api::new(&keel).await;
    let def = |search: Value| {
        json!({
            "name": "things",
            "fields": [
                {"name": "title", "type": "text"},
                {"name": "secret", "type": "text", "hidden": true},
                {"name": "n", "type": "number"},
            ],
            "search": search,
        })
    };
    for (search, key) in [
        (json!({"fields": {"nope": 1}}), "search.fields.nope"),
        (json!({"fields": {"secret": 1}}), "search.fields.secret"),
        (json!({"fields": {"n": 1}}), "search.fields.n"),
        (json!({"fields": {"title": 0}}), "search.fields.title"),
        (
            json!({"fields": {"title": 1}, "language": "klingon"}),
            "search.language",
        ),
        (json!({"fields": {}}), "search.fields"),
    ] {
        let (s, v) = api
            .send(
                reqwest::Method::POST,
                "/api/collections",
                Some(def(search.clone())),
                true,
            )
            .await;
        assert_eq!(s, 400, "{search}: {v}");
        assert!(v["data"].get(key).is_some(), "{search}: {key} expected in {v}");
    }
    let c = api
        .post(
            "/api/collections",
            def(json!({"fields": {"title": 2}, "language": "french"})),
        )
        .await;
    // A searchable field cannot become hidden.
    let mut fields = c["fields"].clone();
    for f in fields.as_array_mut().unwrap() {
        if f["name"] == "title" {
            f["hidden"] = json!(true);
        }
    }
    let (s, v) = api
        .send(
            reqwest::Method::PATCH,
            "/api/collections/things",
            Some(json!({"fields": fields})),
            true,
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(v["data"].get("search.fields.title").is_some(), "{v}");
}

on_every_engine!(rules_hold_against_a_search_as_an_attack);
async fn rules_hold_against_a_search_as_an_attack(db: Db) {
    let keel = db.start();
    let api = Api::new(&keel).await;
    api.post(
        "/api/collections",
        json!({
            "name": "notes",
            "fields": [
                {"name": "title", "type": "text"},
                {"name": "body", "type": "text"},
                {"name": "public", "type": "bool"},
                {"name": "secret", "type": "text", "hidden": true},
            ],
            "listRule": "public = true",
            "search": {"fields": {"title": 1, "body": 1}},
        }),
    )
    .await;
    for (title, body, public) in [
        ("alpha public", "nothing", true),
        ("alpha private", "alpha alpha alpha confidential", false),
        ("beta private", "confidential plan", false),
    ] {
        api.post(
            "/api/collections/notes/records",
            json!({"title": title, "body": body, "public": public, "secret": "zebra"}),
        )
        .await;
    }
    // A guest: only what the list rule lets through, counted as such, highlighted as such.
    let (s, v) = api
        .list(
            "notes",
            &[("search", "alpha"), ("fields", "*,search.highlights")],
            false,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["totalItems"], 1, "the count includes no hidden record: {v}");
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    assert_eq!(v["items"][0]["title"], "alpha public");
    assert!(
        !v.to_string().contains("confidential"),
        "nothing of a hidden record leaks: {v}"
    );
    for q in ["confidential", "beta", "\"confidential plan\"", "confidentail"] {
        let (_, v) = api.list("notes", &[("search", q)], false).await;
        assert_eq!(
            (v["totalItems"].as_i64(), v["items"].as_array().map(Vec::len)),
            (Some(0), Some(0)),
            "{q}: {v}"
        );
    }
    // A filter or sort cannot widen it either.
    let (_, v) = api
        .list(
            "notes",
            &[
                ("search", "alpha"),
                ("filter", "public = false || public = true"),
                ("sort", "-title"),
            ],
            false,
        )
        .await;
    assert_eq!(v["totalItems"], 1, "{v}");
    // The superuser sees both; a hidden field's words find nothing, even for the superuser.
    let (_, v) = api.list("notes", &[("search", "alpha")], true).await;
    assert_eq!(v["totalItems"], 2, "{v}");
    let (_, v) = api.list("notes", &[("search", "zebra")], true).await;
    assert_eq!(v["totalItems"], 0, "{v}");

    // What a guest's records match never depends on the records it cannot read: were a typo
    // looked for only when no record holds the word as typed, or a prefix widened to its
    // commonest completions, the guest's own "gardin" and "plasma" would come and go as
    // hidden records hold "garden" or many other words starting "pla".
    api.post(
        "/api/collections/notes/records",
        json!({"title": "gardin plasma", "body": "", "public": true, "secret": "x"}),
    )
    .await;
    let guest_finds = |q: &'static str| {
        let api = &api;
        async move {
            let (s, v) = api.list("notes", &[("search", q)], false).await;
            assert_eq!(s, 200, "{q}: {v}");
            let titles: Vec<String> = v["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["title"].as_str().unwrap_or_default().to_string())
                .collect();
            (v["totalItems"].as_i64(), titles)
        }
    };
    let before = (guest_finds("garden").await, guest_finds("pla").await);
    assert!(before.1 .1.contains(&"gardin plasma".to_string()), "{before:?}");
    for i in 0..3 {
        api.post(
            "/api/collections/notes/records",
            json!({"title": format!("garden {i}"), "body": "plate plane planet plaza plank plain", "public": false}),
        )
        .await;
    }
    let after = (guest_finds("garden").await, guest_finds("pla").await);
    assert_eq!(before, after, "hidden records changed what the guest finds");
}

/// Writes a `posts` record straight into the database (the server stopped), so the index
/// never heard of it.
async fn insert_behind_the_index(db: &std::path::Path) {
    use sqlx::ConnectOptions;
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .connect()
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO posts (id, title, body, status, created, updated) \
         VALUES ('unindexed00001x', 'An unindexed fox', '', 'draft', '2026-01-01 00:00:00.000Z', '2026-01-01 00:00:00.000Z')",
    )
    .execute(&mut conn)
    .await
    .unwrap();
}

async fn eventually_found(api: &Api, q: &str, want: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (s, v) = api.list("posts", &[("search", q)], false).await;
        if s == 200 && v["totalItems"].as_i64() == Some(want as i64) {
            return;
        }
        assert!(Instant::now() < deadline, "{q}: {want} expected, got {s} {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_survives_kill_9_restarts_and_reindex() {
    let keel = KeelProcess::start();
    let api = Api::new(&keel).await;
    posts(&api).await;
    eventually_found(&api, "fox", 3).await;

    // kill -9: the index is not known in step at the next start and is rebuilt. A record
    // committed but never indexed (as when the kill falls between the two commits; written
    // here straight into the database) is found after the restart.
    let dir = keel.kill();
    insert_behind_the_index(&dir.path().join("data.db")).await;
    let keel = KeelProcess::serve(dir);
    let api = Api::new(&keel).await;
    eventually_found(&api, "fox", 4).await;
    eventually_found(&api, "unindexed", 1).await;
    api.post(
        "/api/collections/posts/records",
        json!({"title": "Another fox", "status": "draft"}),
    )
    .await;
    eventually_found(&api, "fox", 5).await;

    // A clean stop, then `keel search reindex` (the server stopped), then serve again.
    let mut keel = keel;
    keel.terminate();
    assert!(keel.wait_exit(Duration::from_secs(30)).is_some_and(|s| s.success()));
    let dir = keel.kill();
    let out = keel_command(dir.path())
        .args(["search", "reindex", "posts"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Rebuilt the search index of posts: 6 records."),
        "{stdout}"
    );
    let keel = KeelProcess::serve(dir);
    let api = Api::new(&keel).await;
    eventually_found(&api, "fox", 5).await;

    // Removing the option drops the index: searching is then refused.
    let (s, v) = api
        .send(
            reqwest::Method::PATCH,
            "/api/collections/posts",
            Some(json!({"search": null})),
            true,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = api.list("posts", &[("search", "fox")], false).await;
    assert_eq!(s, 400, "{v}");
}

/// With records on PostgreSQL or MariaDB the index is the database's: a second process finds
/// what the first indexed, the first finds what the second writes, a `kill -9` loses nothing,
/// and `keel search reindex` runs beside a serving process.
async fn processes_share_the_index(db: Db) {
    let first = db.start();
    let api1 = Api::new(&first).await;
    posts(&api1).await;
    let second = db.start();
    let api2 = Api::new(&second).await;
    assert_eq!(
        api2.titles("posts", &[("search", "fox quick")], false).await,
        ["The quick brown fox", "Gardening notes"],
        "the second process finds what the first indexed"
    );
    api2.post(
        "/api/collections/posts/records",
        json!({"title": "Another fox", "status": "draft"}),
    )
    .await;
    let (_, v) = api1.list("posts", &[("search", "fox")], false).await;
    assert_eq!(v["totalItems"], 4, "the first finds what the second wrote: {v}");

    // kill -9 the first: nothing it acknowledged is missing, for the second or a third.
    let dir = first.kill();
    let (_, v) = api2.list("posts", &[("search", "fox")], false).await;
    assert_eq!(v["totalItems"], 4, "{v}");
    let third = db.start();
    let api3 = Api::new(&third).await;
    let (_, v) = api3.list("posts", &[("search", "fox")], false).await;
    assert_eq!(v["totalItems"], 4, "{v}");

    // Reindex while the others serve.
    let out = keel_command(dir.path())
        .envs(db.env())
        .args(["search", "reindex", "posts"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Rebuilt the search index of posts: 5 records."),
        "{stdout}"
    );
    let (_, v) = api2.list("posts", &[("search", "fox")], false).await;
    assert_eq!(v["totalItems"], 4, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn processes_share_the_index_on_postgres() {
    if let Some(db) = Db::postgres().await {
        processes_share_the_index(db).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn processes_share_the_index_on_mariadb() {
    if let Some(db) = Db::mariadb().await {
        processes_share_the_index(db).await;
    }
}

// Writes go on while the option changes (each change rebuilds the index): once the writers
// and the changes are answered, every acknowledged record is found.
on_every_engine!(writes_during_a_rebuild_are_not_lost);
async fn writes_during_a_rebuild_are_not_lost(db: Db) {
    let keel = db.start();
    let api = std::sync::Arc::new(Api::new(&keel).await);
    api.post(
        "/api/collections",
        json!({
            "name": "items",
            "fields": [{"name": "title", "type": "text"}, {"name": "body", "type": "text"}],
            "listRule": "", "createRule": "",
            "search": {"fields": {"title": 1}},
        }),
    )
    .await;
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let api = api.clone();
            tokio::spawn(async move {
                for i in 0..60 {
                    api.post(
                        "/api/collections/items/records",
                        json!({"title": format!("gizmo {w} {i}")}),
                    )
                    .await;
                }
            })
        })
        .collect();
    for weight in [2, 3, 1] {
        let search = json!({"search": {"fields": {"title": weight, "body": 1}}});
        let (s, v) = api
            .send(reqwest::Method::PATCH, "/api/collections/items", Some(search), true)
            .await;
        assert_eq!(s, 200, "{v}");
    }
    for w in writers {
        w.await.unwrap();
    }
    let (_, v) = api.list("items", &[("search", "gizmo")], false).await;
    assert_eq!(v["totalItems"], 180, "every acknowledged record is in the index");
    let (s, v) = api
        .send(
            reqwest::Method::PATCH,
            "/api/collections/items",
            Some(json!({"search": {"fields": {"title": 5}}})),
            true,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (_, v) = api
        .list("items", &[("search", "gizmo"), ("skipTotal", "0")], false)
        .await;
    assert_eq!(v["totalItems"], 180, "every acknowledged record is in the index");
}
