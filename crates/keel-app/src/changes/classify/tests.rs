//! Table-driven: a sample collection, one change each, the codes and levels expected.

use keel_data::{Collection, Probe};
use serde_json::{json, Value};

use super::classify;
use crate::changes::finding::{verdict, Level};
use Level::{Major, Minor, Patch};

fn posts() -> Value {
    json!({
        "id": "pbc_posts", "name": "posts", "type": "base",
        "listRule": "", "viewRule": "", "createRule": "@request.auth.id != ''",
        "updateRule": "author = @request.auth.id", "deleteRule": null,
        "indexes": ["CREATE INDEX `idx_title` ON `posts` (`title`)",
                    "CREATE UNIQUE INDEX `idx_slug` ON `posts` (`slug`)"],
        "fields": [
            {"id": "text3208210256", "name": "id", "type": "text", "system": true, "required": true, "primaryKey": true, "min": 15, "max": 15},
            {"id": "f_title", "name": "title", "type": "text", "max": 100, "required": true},
            {"id": "f_slug", "name": "slug", "type": "text"},
            {"id": "f_body", "name": "body", "type": "editor"},
            {"id": "f_status", "name": "status", "type": "select", "values": ["draft", "published", "archived"], "maxSelect": 1},
            {"id": "f_tags", "name": "tags", "type": "select", "values": ["a", "b", "c"], "maxSelect": 3},
            {"id": "f_views", "name": "views", "type": "number", "min": 0, "max": 1000},
            {"id": "f_author", "name": "author", "type": "relation", "collectionId": "_pb_users_auth_", "maxSelect": 1},
            {"id": "f_files", "name": "files", "type": "file", "maxSelect": 5, "maxSize": 1000, "mimeTypes": ["image/png", "image/jpeg"]},
            {"id": "f_meta", "name": "meta", "type": "json"},
            {"id": "f_contact", "name": "contact", "type": "email"},
            {"id": "f_site", "name": "site", "type": "url"},
            {"id": "f_when", "name": "when", "type": "date"},
            {"id": "f_secret", "name": "secret", "type": "text", "hidden": true}
        ]
    })
}

fn users() -> Value {
    let mut u = serde_json::to_value(Collection::default_users()).unwrap_or_default();
    u["authToken"]["secret"] = json!("s1");
    u["verificationToken"]["secret"] = json!("v1");
    u["oauth2"] = json!({"enabled": true, "providers": [{"name": "google"}, {"name": "github"}]});
    u
}

fn field<'a>(c: &'a mut Value, name: &str) -> &'a mut Value {
    let fields = c["fields"].as_array_mut().unwrap();
    fields.iter_mut().find(|f| f["name"] == name).unwrap()
}

fn remove_field(c: &mut Value, name: &str) {
    c["fields"].as_array_mut().unwrap().retain(|f| f["name"] != name);
}

fn add_field(c: &mut Value, f: Value) {
    c["fields"].as_array_mut().unwrap().push(f);
}

type Case = (
    &'static str,
    fn() -> Value,
    fn(&mut Value),
    &'static [(&'static str, Level)],
);

const CASES: &[Case] = &[
    ("nothing changes", posts, |_| {}, &[]),
    (
        "field removed",
        posts,
        |c| remove_field(c, "body"),
        &[("field-removed", Major)],
    ),
    (
        "field renamed keeps its id",
        posts,
        |c| field(c, "body")["name"] = json!("content"),
        &[("field-renamed", Major)],
    ),
    (
        "optional field added",
        posts,
        |c| add_field(c, json!({"id": "f_new", "name": "summary", "type": "text"})),
        &[("field-added", Minor)],
    ),
    (
        "required field added",
        posts,
        |c| {
            add_field(
                c,
                json!({"id": "f_new", "name": "summary", "type": "text", "required": true}),
            )
        },
        &[("field-added-required", Major)],
    ),
    (
        "type changed",
        posts,
        |c| {
            let f = field(c, "views");
            *f = json!({"id": "f_views", "name": "views", "type": "text"});
        },
        &[("field-type-changed", Major)],
    ),
    (
        "email widened to text",
        posts,
        |c| *field(c, "contact") = json!({"id": "f_contact", "name": "contact", "type": "text"}),
        &[("field-type-widened", Minor)],
    ),
    (
        "text widened to editor",
        posts,
        |c| *field(c, "slug") = json!({"id": "f_slug", "name": "slug", "type": "editor"}),
        &[("field-type-widened", Minor)],
    ),
    (
        "made required",
        posts,
        |c| field(c, "slug")["required"] = json!(true),
        &[("field-required-no-default", Major)],
    ),
    (
        "made optional",
        posts,
        |c| field(c, "title")["required"] = json!(false),
        &[("field-made-optional", Minor)],
    ),
    (
        "hidden",
        posts,
        |c| field(c, "body")["hidden"] = json!(true),
        &[("field-hidden", Major)],
    ),
    (
        "unhidden",
        posts,
        |c| field(c, "secret")["hidden"] = json!(false),
        &[("field-unhidden", Minor)],
    ),
    (
        "presentable",
        posts,
        |c| field(c, "title")["presentable"] = json!(true),
        &[("field-presentable-changed", Patch)],
    ),
    (
        "max length narrowed",
        posts,
        |c| field(c, "title")["max"] = json!(50),
        &[("max-length-narrowed", Major)],
    ),
    (
        "max 0 means 5000: narrowed",
        posts,
        |c| field(c, "slug")["max"] = json!(200),
        &[("max-length-narrowed", Major)],
    ),
    (
        "max length widened",
        posts,
        |c| field(c, "title")["max"] = json!(200),
        &[("max-length-widened", Minor)],
    ),
    (
        "min length raised",
        posts,
        |c| field(c, "title")["min"] = json!(3),
        &[("min-length-raised", Major)],
    ),
    (
        "pattern added",
        posts,
        |c| field(c, "slug")["pattern"] = json!("^[a-z-]+$"),
        &[("pattern-changed", Major)],
    ),
    (
        "encrypted",
        posts,
        |c| field(c, "secret")["encrypted"] = json!(true),
        &[("field-encryption-changed", Major)],
    ),
    (
        "range max lowered",
        posts,
        |c| field(c, "views")["max"] = json!(10),
        &[("range-narrowed", Major)],
    ),
    (
        "range min raised",
        posts,
        |c| field(c, "views")["min"] = json!(5),
        &[("range-narrowed", Major)],
    ),
    (
        "range widened",
        posts,
        |c| field(c, "views")["max"] = json!(5000),
        &[("range-widened", Minor)],
    ),
    (
        "only integers",
        posts,
        |c| field(c, "views")["onlyInt"] = json!(true),
        &[("number-made-integer", Major)],
    ),
    (
        "date range narrowed",
        posts,
        |c| field(c, "when")["min"] = json!("2024-01-01 00:00:00.000Z"),
        &[("range-narrowed", Major)],
    ),
    (
        "select values removed",
        posts,
        |c| field(c, "status")["values"] = json!(["draft", "published"]),
        &[("select-values-removed", Major)],
    ),
    (
        "select value added",
        posts,
        |c| field(c, "status")["values"] = json!(["draft", "published", "archived", "hidden"]),
        &[("select-values-added", Minor)],
    ),
    (
        "select value swapped",
        posts,
        |c| field(c, "status")["values"] = json!(["draft", "published", "gone"]),
        &[("select-values-removed", Major), ("select-values-added", Minor)],
    ),
    (
        "maxSelect lowered",
        posts,
        |c| field(c, "tags")["maxSelect"] = json!(2),
        &[("max-select-lowered", Major)],
    ),
    (
        "maxSelect raised",
        posts,
        |c| field(c, "tags")["maxSelect"] = json!(5),
        &[("max-select-raised", Minor)],
    ),
    (
        "multiple to single",
        posts,
        |c| field(c, "tags")["maxSelect"] = json!(1),
        &[("field-cardinality-changed", Major)],
    ),
    (
        "single to multiple",
        posts,
        |c| field(c, "status")["maxSelect"] = json!(2),
        &[("field-cardinality-changed", Major)],
    ),
    (
        "relation target changed",
        posts,
        |c| field(c, "author")["collectionId"] = json!("pbc_other"),
        &[("relation-target-changed", Major)],
    ),
    (
        "relation cascade on",
        posts,
        |c| field(c, "author")["cascadeDelete"] = json!(true),
        &[("relation-cascade-enabled", Major)],
    ),
    (
        "relation minSelect raised",
        posts,
        |c| field(c, "author")["minSelect"] = json!(1),
        &[("min-select-raised", Major)],
    ),
    (
        "file max size lowered",
        posts,
        |c| field(c, "files")["maxSize"] = json!(10),
        &[("max-size-lowered", Major)],
    ),
    (
        "file types restricted",
        posts,
        |c| field(c, "files")["mimeTypes"] = json!(["image/png"]),
        &[("file-types-restricted", Major)],
    ),
    (
        "file types relaxed",
        posts,
        |c| field(c, "files")["mimeTypes"] = json!([]),
        &[("file-types-relaxed", Minor)],
    ),
    (
        "file protected",
        posts,
        |c| field(c, "files")["protected"] = json!(true),
        &[("file-protected", Major)],
    ),
    (
        "json max size lowered",
        posts,
        |c| field(c, "meta")["maxSize"] = json!(100),
        &[("max-size-lowered", Major)],
    ),
    (
        "email domains restricted",
        posts,
        |c| field(c, "contact")["onlyDomains"] = json!(["example.com"]),
        &[("domains-restricted", Major)],
    ),
    (
        "url domains excluded",
        posts,
        |c| {
            field(c, "site")["exceptDomains"] = json!(["bad.com"]);
        },
        &[("domains-restricted", Major)],
    ),
    (
        "fields reordered",
        posts,
        |c| {
            let f = c["fields"].as_array_mut().unwrap();
            f.swap(1, 2);
        },
        &[("fields-reordered", Patch)],
    ),
    (
        "list rule tightened to superusers",
        posts,
        |c| c["listRule"] = json!(null),
        &[("rule-tightened", Major)],
    ),
    (
        "list rule everyone to expression",
        posts,
        |c| c["listRule"] = json!("@request.auth.id != ''"),
        &[("rule-tightened", Major)],
    ),
    (
        "delete rule opened to an expression",
        posts,
        |c| c["deleteRule"] = json!("author = @request.auth.id"),
        &[("rule-loosened", Minor)],
    ),
    (
        "update rule gains && condition",
        posts,
        |c| c["updateRule"] = json!("author = @request.auth.id && status = 'draft'"),
        &[("rule-tightened", Major)],
    ),
    (
        "update rule gains || alternative",
        posts,
        |c| c["updateRule"] = json!("author = @request.auth.id || @request.auth.role = 'editor'"),
        &[("rule-loosened", Minor)],
    ),
    (
        "create rule replaced",
        posts,
        |c| c["createRule"] = json!("@request.auth.verified = true"),
        &[("rule-changed", Major)],
    ),
    (
        "rule whitespace only",
        posts,
        |c| c["updateRule"] = json!("author  =  @request.auth.id"),
        &[],
    ),
    (
        "rule: || binds looser than &&",
        posts,
        |c| c["updateRule"] = json!("author = @request.auth.id && status = 'draft' || @request.auth.admin = true"),
        &[("rule-changed", Major)],
    ),
    (
        "rule: an || alternative dropped",
        || {
            let mut p = posts();
            p["updateRule"] = json!("author = @request.auth.id || (@request.auth.role = 'editor' && status != 'live')");
            p
        },
        |c| c["updateRule"] = json!("author = @request.auth.id"),
        &[("rule-tightened", Major)],
    ),
    (
        "rule: a && b || c is not loosened to a",
        || {
            let mut p = posts();
            p["updateRule"] = json!("author = @request.auth.id && status = 'draft' || @request.auth.admin = true");
            p
        },
        |c| c["updateRule"] = json!("author = @request.auth.id"),
        &[("rule-changed", Major)],
    ),
    (
        "rule: a parenthesized condition added",
        posts,
        |c| c["updateRule"] = json!("(author = @request.auth.id) && (status = 'draft' || status = 'review')"),
        &[("rule-tightened", Major)],
    ),
    (
        "unique index added",
        posts,
        |c| {
            c["indexes"]
                .as_array_mut()
                .unwrap()
                .push(json!("CREATE UNIQUE INDEX idx_title_u ON posts (title)"))
        },
        &[("unique-index-added", Major)],
    ),
    (
        "index made unique",
        posts,
        |c| c["indexes"][0] = json!("CREATE UNIQUE INDEX `idx_title` ON `posts` (`title`)"),
        &[("unique-index-added", Major)],
    ),
    (
        "index added",
        posts,
        |c| {
            c["indexes"]
                .as_array_mut()
                .unwrap()
                .push(json!("CREATE INDEX idx_views ON posts (views)"))
        },
        &[("index-added", Patch)],
    ),
    (
        "index removed",
        posts,
        |c| {
            c["indexes"].as_array_mut().unwrap().remove(0);
        },
        &[("index-removed", Patch)],
    ),
    (
        "unique index removed",
        posts,
        |c| {
            c["indexes"].as_array_mut().unwrap().remove(1);
        },
        &[("unique-index-removed", Minor)],
    ),
    (
        "renamed field keeps its index",
        posts,
        |c| {
            field(c, "slug")["name"] = json!("handle");
            c["indexes"][1] = json!("CREATE UNIQUE INDEX `idx_slug` ON `posts` (`handle`)");
        },
        &[("field-renamed", Major)],
    ),
    (
        "collection renamed",
        posts,
        |c| c["name"] = json!("articles"),
        &[("collection-renamed", Major)],
    ),
    (
        "auth token secret replaced",
        users,
        |c| c["authToken"]["secret"] = json!("s2"),
        &[("auth-signs-users-out", Major)],
    ),
    (
        "verification secret replaced",
        users,
        |c| c["verificationToken"]["secret"] = json!("v2"),
        &[("auth-pending-tokens-invalidated", Minor)],
    ),
    (
        "auth token duration lowered",
        users,
        |c| c["authToken"]["duration"] = json!(3600),
        &[("auth-token-duration-lowered", Minor)],
    ),
    (
        "password sign-in off",
        users,
        |c| c["passwordAuth"]["enabled"] = json!(false),
        &[("auth-method-disabled", Major)],
    ),
    (
        "identity field removed",
        users,
        |c| c["passwordAuth"]["identityFields"] = json!(["username"]),
        &[("auth-identity-field-removed", Major)],
    ),
    (
        "oauth2 provider removed",
        users,
        |c| c["oauth2"]["providers"] = json!([{"name": "google"}]),
        &[("auth-method-disabled", Major)],
    ),
    (
        "otp on",
        users,
        |c| c["otp"]["enabled"] = json!(true),
        &[("auth-method-enabled", Minor)],
    ),
    (
        "mfa on",
        users,
        |c| c["mfa"]["enabled"] = json!(true),
        &[("auth-mfa-required", Major)],
    ),
    (
        "manage rule opened",
        users,
        |c| c["manageRule"] = json!("@request.auth.role = 'admin'"),
        &[("rule-loosened", Minor)],
    ),
    (
        "auth rule tightened",
        users,
        |c| c["authRule"] = json!("verified = true"),
        &[("rule-tightened", Major)],
    ),
];

fn parse(v: Value) -> Collection {
    serde_json::from_value(v).unwrap()
}

#[test]
fn every_case_gives_its_codes_and_levels() {
    assert!(CASES.len() >= 40, "{} cases", CASES.len());
    let mut failures = Vec::new();
    for (name, base, change, expected) in CASES {
        let before = base();
        let mut after = before.clone();
        change(&mut after);
        let found = classify(Some(&parse(before)), Some(&parse(after)));
        let mut got: Vec<(String, Level)> = found.iter().map(|f| (f.code.clone(), f.level)).collect();
        let mut want: Vec<(String, Level)> = expected.iter().map(|(c, l)| (c.to_string(), *l)).collect();
        got.sort();
        want.sort();
        if got != want {
            failures.push(format!("{name}: expected {want:?}, got {got:?}"));
        }
        if verdict(&found) != expected.iter().map(|(_, l)| *l).max() {
            failures.push(format!("{name}: verdict {:?}", verdict(&found)));
        }
        for f in &found {
            assert!(!f.message.is_empty(), "{name}");
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn created_and_deleted_collections() {
    let c = parse(posts());
    let created = classify(None, Some(&c));
    assert_eq!(created[0].code, "collection-created");
    assert_eq!(created[0].level, Minor);
    let deleted = classify(Some(&c), None);
    assert_eq!(deleted[0].code, "collection-deleted");
    assert_eq!(deleted[0].level, Major);
    assert_eq!(deleted[0].probe, Some(Probe::Rows));
}

#[test]
fn messages_name_the_field_and_probes_read_the_current_column() {
    let before = posts();
    let mut after = before.clone();
    field(&mut after, "status")["name"] = json!("state");
    field(&mut after, "state")["values"] = json!(["draft"]);
    let found = classify(Some(&parse(before)), Some(&parse(after)));
    let removed = found.iter().find(|f| f.code == "select-values-removed").unwrap();
    assert!(removed.message.contains("state"), "{}", removed.message);
    assert!(removed.message.contains("published, archived"), "{}", removed.message);
    assert_eq!(
        removed.probe,
        Some(Probe::Using {
            field: "status".into(),
            values: vec!["published".into(), "archived".into()]
        })
    );
}

#[test]
fn unique_index_on_a_new_column_is_not_counted() {
    let before = posts();
    let mut after = before.clone();
    add_field(&mut after, json!({"id": "f_code", "name": "code", "type": "text"}));
    after["indexes"]
        .as_array_mut()
        .unwrap()
        .push(json!("CREATE UNIQUE INDEX idx_code ON posts (code)"));
    let found = classify(Some(&parse(before)), Some(&parse(after)));
    let u = found.iter().find(|f| f.code == "unique-index-added").unwrap();
    assert_eq!(u.probe, None);
}
