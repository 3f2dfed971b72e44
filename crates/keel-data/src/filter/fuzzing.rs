//! Test support, not for production code: [`check`] compiles an arbitrary expression over a
//! fixed schema for several callers, as a rule and as a caller's filter, and runs every SQL
//! it compiles to on an in-memory SQLite database. It panics when the compiler panics, when
//! an expression yields an error that is not the caller's fault (anything but a 400 or a
//! 403), or when compiled SQL does not run: each of those would be a 500. Used by the
//! `filter` fuzz target (`fuzz/`, `cargo +nightly fuzz run filter`) and by unit tests.

use std::cell::RefCell;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use serde_json::{json, Value};

use super::{compile_expr, CompileCtx, Origin, SchemaLookup};
use crate::request::{AuthRecord, RequestInfo};
use crate::schema::{
    Collection, CollectionType, Field, FieldKind, JsonOptions, NumberOptions, RelationOptions, SelectOptions,
    TextOptions,
};
use keel_sql::sqlite::SQLITE;
use keel_sql::SqlBuf;

/// A fixed schema, looked up by name or id (also the filter unit tests' schema).
pub(crate) struct Schema(pub Vec<Arc<Collection>>);

impl SchemaLookup for Schema {
    fn collection(&self, name_or_id: &str) -> Option<Arc<Collection>> {
        self.0
            .iter()
            .find(|c| c.name == name_or_id || c.id == name_or_id)
            .cloned()
    }
}

fn rel(name: &str, target: &str, max: i64) -> Field {
    Field::new(
        name,
        FieldKind::Relation(RelationOptions {
            collection_id: target.into(),
            max_select: max,
            ..Default::default()
        }),
    )
}

fn text(name: &str, hidden: bool) -> Field {
    let mut f = Field::new(name, FieldKind::Text(TextOptions::default()));
    f.hidden = hidden;
    f
}

fn base(name: &str, list: Option<&str>, view: Option<&str>, fields: Vec<Field>) -> Collection {
    let mut c = Collection::blank(name, CollectionType::Base);
    c.id = format!("pbc_{name}");
    c.list_rule = list.map(String::from);
    c.view_rule = view.map(String::from);
    let at = c.fields.len().saturating_sub(2);
    c.fields.splice(at..at, fields);
    c
}

/// users (auth, owner-only rules, hidden `secret`, `org` → orgs), orgs (public), posts
/// (public list, owner-only view; `owner` → users, `editors`, tags, JSON), notes (null
/// rules, `post` → posts), `_sys` (a system collection).
fn schema() -> Schema {
    let mut users = Collection::default_users();
    users.fields.push(text("secret", true));
    users.fields.push(rel("org", "pbc_orgs", 1));
    let orgs = base("orgs", Some(""), Some(""), vec![text("title", false)]);
    let posts = base(
        "posts",
        Some(""),
        Some("owner = @request.auth.id"),
        vec![
            text("title", false),
            text("hiddenNote", true),
            Field::new("views", FieldKind::Number(NumberOptions::default())),
            Field::new(
                "tags",
                FieldKind::Select(SelectOptions {
                    values: vec![],
                    max_select: 3,
                }),
            ),
            rel("owner", crate::schema::USERS_ID, 1),
            rel("editors", crate::schema::USERS_ID, 5),
            rel("sys", "pbc__sys", 1),
            Field::new("data", FieldKind::Json(JsonOptions::default())),
        ],
    );
    let notes = base(
        "notes",
        None,
        None,
        vec![text("body", false), rel("post", "pbc_posts", 1)],
    );
    let sys = base("_sys", Some(""), Some(""), vec![text("value", false)]);
    Schema(
        [users, orgs, posts, notes, sys, Collection::default_superusers()]
            .into_iter()
            .map(Arc::new)
            .collect(),
    )
}

struct Sandbox {
    conn: rusqlite::Connection,
    schema: Schema,
}

fn sandbox() -> Sandbox {
    let conn = rusqlite::Connection::open_in_memory().unwrap_or_else(|e| panic!("sqlite: {e}"));
    let schema = schema();
    for c in &schema.0 {
        let cols: Vec<String> = c
            .fields
            .iter()
            .map(|f| {
                let ty = match f.kind {
                    FieldKind::Number(_) => "NUMERIC",
                    FieldKind::Bool(_) => "INTEGER",
                    _ => "TEXT",
                };
                format!("\"{}\" {ty}", f.name)
            })
            .collect();
        let sql = format!("CREATE TABLE \"{}\" ({})", c.name, cols.join(", "));
        conn.execute_batch(&sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    conn.execute_batch(
        "INSERT INTO orgs (id, title) VALUES ('o1', 'Acme');
         INSERT INTO users (id, email, emailVisibility, secret, org) VALUES ('u1', 'a@x.io', 1, 's1', 'o1'), ('u2', 'b@x.io', 0, 's2', '');
         INSERT INTO posts (id, title, views, tags, owner, editors, data) VALUES
           ('p1', 'Hello', 3, '[\"a\"]', 'u1', '[\"u1\",\"u2\"]', '{\"k\":[1]}'), ('p2', NULL, NULL, '[]', 'u2', '[]', NULL);
         INSERT INTO notes (id, body, post) VALUES ('n1', 'x', 'p1');
         INSERT INTO _sys (id, value) VALUES ('s1', 'v');",
    )
    .unwrap_or_else(|e| panic!("fixture: {e}"));
    Sandbox { conn, schema }
}

thread_local! {
    static SANDBOX: RefCell<Option<Sandbox>> = const { RefCell::new(None) };
}

/// The callers an expression is compiled for: a guest, a user, a holder of
/// `records:manage`, a superuser.
fn requests(schema: &Schema) -> Vec<RequestInfo> {
    let plain = RequestInfo {
        method: "GET".into(),
        context: "default".into(),
        body: json!({"tags": ["a"], "n": 1}).as_object().cloned().unwrap_or_default(),
        ..Default::default()
    };
    let auth = |collection: &str, record: Value| {
        schema.collection(collection).map(|collection| AuthRecord {
            collection,
            record: record.as_object().cloned().unwrap_or_default().into(),
        })
    };
    let user = RequestInfo {
        auth: auth(
            "users",
            json!({"id": "u1", "email": "a@x.io", "org": "o1", "secret": "s1"}),
        ),
        ..plain.clone()
    };
    let manager = RequestInfo {
        manages_records: true,
        ..user.clone()
    };
    let superuser = RequestInfo {
        auth: auth("_superusers", json!({"id": "su1"})),
        ..plain.clone()
    };
    vec![plain, user, manager, superuser]
}

/// Compiles `src` over `posts` and `users` for every caller, as a rule and as a filter, and
/// runs what compiles. Panics on anything that would be a 500 (see the module docs).
pub fn check(src: &str) {
    SANDBOX.with(|cell| {
        let mut slot = cell.borrow_mut();
        let sb = slot.get_or_insert_with(sandbox);
        let now = Utc
            .with_ymd_and_hms(2024, 6, 15, 12, 0, 0)
            .single()
            .unwrap_or_else(Utc::now);
        for req in requests(&sb.schema) {
            for collection in ["posts", "users"] {
                let Some(coll) = sb.schema.collection(collection) else {
                    continue;
                };
                for origin in [Origin::Rule, Origin::Filter] {
                    let ctx = CompileCtx {
                        collection: &coll,
                        alias: "t",
                        schema: &sb.schema,
                        request: &req,
                        now,
                        origin,
                    };
                    let mut buf = SqlBuf::new(&SQLITE);
                    match compile_expr(src, "filter", &ctx, &mut buf) {
                        Ok(cond) => {
                            let sql = format!("SELECT t.\"id\" AS id FROM \"{collection}\" t WHERE {cond}");
                            if let Err(e) = keel_sql::sqlite::readers::run(&sb.conn, &sql, &buf.params) {
                                panic!("{src:?} compiled to SQL SQLite refuses: {e}\n{sql}\n{:?}", buf.params);
                            }
                        }
                        Err(keel_core::Error::BadRequest { .. } | keel_core::Error::Forbidden(_)) => {}
                        Err(e) => panic!("{src:?}: an error that is not the caller's: {e:?}"),
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    /// Expressions the fuzz target found, or that cover each part of the language.
    #[test]
    fn known_inputs_compile_or_fail_cleanly() {
        for src in [
            "",
            "title = 'x' && owner.email ~ 'a%'",
            "owner.org.title ?= 'Acme' || editors.email ?~ 'b'",
            "posts_via_owner.title ?= 'Hello'",
            "notes_via_post.body ?= 'x'",
            "sys.value = 'v'",
            "@collection._sys.value = 'v' && @collection.users:u.email = owner.email",
            "@request.auth.org.title = owner.org.title",
            "owner.email = @request.auth.id",
            "email != '' && secret = 's1'",
            "tags:each ~ 'a' && data.k.0 = 1 && tags:length > 0",
            "@request.body.tags ?= tags && @request.body.n:isset = true",
            "((((title = 1))))",
            "title ~ '\\\\' || title ~ '%\\\\'",
        ] {
            super::check(src);
        }
    }
}
