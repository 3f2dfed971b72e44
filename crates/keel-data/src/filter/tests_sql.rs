//! Compiler tests against a real in-memory SQLite: a small schema (users → orgs,
//! posts → users, comments → posts), filters run as `SELECT id … WHERE <compiled>`.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};
use sqlx::{Connection, Row as _, SqliteConnection};

use super::{compile_expr, CompileCtx, Origin, SchemaLookup};
use crate::request::{AuthRecord, RequestInfo};
use crate::schema::{
    Collection, CollectionType, EmptyOptions, Field, FieldKind, JsonOptions, NumberOptions, RelationOptions,
    SelectOptions, TextOptions,
};
use keel_sql::{Dialect, SqlBuf};

/// The SQLite SQL the real dialect will produce, for these tests only.
pub(super) struct TestDialect;

impl Dialect for TestDialect {
    fn name(&self) -> &'static str {
        "sqlite-test"
    }
    fn placeholder(&self, n: usize) -> String {
        format!("?{n}")
    }
    fn json_each(&self, expr: &str) -> String {
        format!("json_each({expr})")
    }
    fn json_array_length(&self, expr: &str) -> String {
        format!("COALESCE(json_array_length({expr}), 0)")
    }
    fn json_extract(&self, expr: &str, path: &str) -> String {
        // As the SQLite dialect: the path arrives unquoted.
        format!("json_extract({expr}, '{}')", path.replace('\'', "''"))
    }
    fn random(&self) -> &'static str {
        "random()"
    }

    fn insertion_order(&self, alias: Option<&str>) -> String {
        match alias {
            Some(a) => format!("{a}.rowid"),
            None => "rowid".into(),
        }
    }

    fn ci_eq(&self, column: &str, value: &str) -> String {
        format!("{column} = {value} COLLATE NOCASE")
    }

    fn ci_index(&self, column: &str) -> String {
        format!("{column} COLLATE NOCASE")
    }
}

pub(super) static DIALECT: TestDialect = TestDialect;

pub(super) use super::fuzzing::Schema;

fn base(name: &str, fields: Vec<Field>) -> Collection {
    let mut c = Collection::default_users();
    c.id = format!("pbc_{name}");
    c.name = name.into();
    c.kind = CollectionType::Base;
    c.auth = None;
    c.fields = Collection::system_fields(CollectionType::Base);
    c.fields.extend(fields);
    // Public, so callers' filters reach these rows through relations (see `tests_access.rs`).
    c.list_rule = Some(String::new());
    c.view_rule = Some(String::new());
    c
}

fn text(name: &str) -> Field {
    Field::new(name, FieldKind::Text(TextOptions::default()))
}

fn rel(name: &str, target: &str, max: i64) -> Field {
    let o = RelationOptions {
        collection_id: format!("pbc_{target}"),
        max_select: max,
        ..Default::default()
    };
    Field::new(name, FieldKind::Relation(o))
}

fn schema() -> Schema {
    let orgs = base("orgs", vec![text("title")]);
    let mut users = Collection::default_users();
    users.id = "pbc_users".into();
    // Public, so relation paths reach users in callers' filters (see `filter_access`).
    users.list_rule = Some(String::new());
    users.view_rule = Some(String::new());
    users.fields.push(rel("org", "orgs", 1));
    let posts = base(
        "posts",
        vec![
            text("title"),
            Field::new("views", FieldKind::Number(NumberOptions::default())),
            Field::new("published", FieldKind::Bool(EmptyOptions {})),
            Field::new(
                "tags",
                FieldKind::Select(SelectOptions {
                    values: vec![],
                    max_select: 3,
                }),
            ),
            rel("author", "users", 1),
            rel("editors", "users", 5),
            Field::new("data", FieldKind::Json(JsonOptions::default())),
            text("created"),
        ],
    );
    let comments = base("comments", vec![rel("post", "posts", 1), text("message")]);
    Schema(vec![orgs, users, posts, comments].into_iter().map(Arc::new).collect())
}

fn col_type(f: &Field) -> &'static str {
    match f.kind {
        FieldKind::Number(_) => "NUMERIC",
        FieldKind::Bool(_) => "INTEGER",
        _ => "TEXT",
    }
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    params: &[Value],
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
    for p in params {
        q = match p {
            Value::Null => q.bind(Option::<String>::None),
            Value::Bool(b) => q.bind(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => q.bind(i),
                None => q.bind(n.as_f64().unwrap()),
            },
            Value::String(s) => q.bind(s.clone()),
            other => q.bind(other.to_string()),
        };
    }
    q
}

/// An in-memory database with the schema's tables and a few rows.
pub(super) struct Db {
    pub conn: SqliteConnection,
    pub schema: Schema,
    pub now: DateTime<Utc>,
    /// Who wrote the expressions compiled: a caller's filter unless a test says otherwise.
    pub origin: Origin,
}

impl Db {
    pub async fn new() -> Db {
        let mut conn = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        let schema = schema();
        for c in &schema.0 {
            let cols: Vec<String> = c
                .fields
                .iter()
                .map(|f| format!("\"{}\" {}", f.name, col_type(f)))
                .collect();
            let sql = format!("CREATE TABLE \"{}\" ({})", c.name, cols.join(", "));
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
        }
        let now = Utc.with_ymd_and_hms(2024, 6, 15, 12, 0, 0).unwrap();
        let mut db = Db {
            conn,
            schema,
            now,
            origin: Origin::Filter,
        };
        db.insert("orgs", json!({"id": "o1", "title": "Acme"})).await;
        db.insert("orgs", json!({"id": "o2", "title": "Globex"})).await;
        db.insert("users", json!({"id": "u1", "name": "Alice", "email": "a@x.io", "emailVisibility": true, "verified": true, "org": "o1", "password": "h1", "tokenKey": "k1"})).await;
        db.insert("users", json!({"id": "u2", "name": "bob", "email": "b@x.io", "emailVisibility": false, "verified": false, "org": "o2", "password": "h2", "tokenKey": "k2"})).await;
        db.insert("posts", json!({"id": "p1", "title": "Hello World", "views": 10, "published": true, "tags": ["a", "b"], "author": "u1", "editors": ["u1", "u2"], "data": {"score": 5, "tags": ["x"]}, "created": "2024-01-01 10:00:00.000Z"})).await;
        db.insert("posts", json!({"id": "p2", "title": "50% off_sale", "views": 0, "published": false, "tags": ["a"], "author": "u2", "editors": ["u2"], "data": {"score": 1}, "created": "2024-06-01 00:00:00.000Z"})).await;
        db.insert("posts", json!({"id": "p3", "title": "", "views": 5, "published": false, "tags": [], "author": "", "editors": [], "data": null, "created": "2024-06-15 08:00:00.000Z"})).await;
        db.insert("posts", json!({"id": "p4", "title": null, "views": null, "published": false, "tags": [], "author": null, "editors": [], "created": "2023-03-03 00:00:00.000Z"})).await;
        db.insert("comments", json!({"id": "c1", "post": "p1", "message": "nice"}))
            .await;
        db.insert("comments", json!({"id": "c2", "post": "p1", "message": "meh"}))
            .await;
        db.insert("comments", json!({"id": "c3", "post": "p2", "message": "nice"}))
            .await;
        db
    }

    async fn insert(&mut self, table: &str, row: Value) {
        let obj = row.as_object().unwrap();
        let cols: Vec<String> = obj.keys().map(|k| format!("\"{k}\"")).collect();
        let marks: Vec<String> = (1..=obj.len()).map(|i| format!("?{i}")).collect();
        let sql = format!(
            "INSERT INTO \"{table}\" ({}) VALUES ({})",
            cols.join(", "),
            marks.join(", ")
        );
        let params: Vec<Value> = obj
            .values()
            .map(|v| {
                if v.is_array() || v.is_object() {
                    Value::String(v.to_string())
                } else {
                    v.clone()
                }
            })
            .collect();
        bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), &params)
            .execute(&mut self.conn)
            .await
            .unwrap();
    }

    /// A request authenticated as `users/<id>` (`None` = guest).
    pub fn req(&self, user: Option<&str>) -> RequestInfo {
        let mut req = RequestInfo {
            method: "GET".into(),
            context: "default".into(),
            ..Default::default()
        };
        if let Some(id) = user {
            let users = self.schema.collection("users").unwrap();
            let (verified, org) = if id == "u1" { (true, "o1") } else { (false, "o2") };
            let record = json!({"id": id, "name": id, "verified": verified, "org": org, "tokenKey": "k"});
            req.auth = Some(AuthRecord {
                collection: users,
                record: record.as_object().unwrap().clone().into(),
            });
        }
        req
    }

    /// Compiles `filter` over `collection` and returns the SQL, its params or the error.
    pub fn compile(&self, collection: &str, filter: &str, req: &RequestInfo) -> keel_core::Result<SqlBuf> {
        let coll = self.schema.collection(collection).unwrap();
        let ctx = CompileCtx {
            collection: &coll,
            alias: "t",
            schema: &self.schema,
            request: req,
            now: self.now,
            origin: self.origin,
        };
        let mut buf = SqlBuf::new(&DIALECT);
        let sql = compile_expr(filter, "filter", &ctx, &mut buf)?;
        buf.text = sql;
        // Every bound parameter is referenced (PostgreSQL refuses unused ones).
        let used: std::collections::BTreeSet<usize> = buf
            .text
            .split('?')
            .skip(1)
            .filter_map(|s| s.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
            .collect();
        assert_eq!(
            used,
            (1..=buf.params.len()).collect(),
            "params of {filter}: {}",
            buf.text
        );
        Ok(buf)
    }

    /// Ids of `collection` rows matching `filter` for `req`, sorted.
    pub async fn ids_as(&mut self, collection: &str, filter: &str, req: &RequestInfo) -> Vec<String> {
        let buf = self
            .compile(collection, filter, req)
            .unwrap_or_else(|e| panic!("{filter}: {e:?}"));
        let sql = format!(
            "SELECT t.\"id\" FROM \"{collection}\" AS t WHERE {} ORDER BY t.\"id\"",
            buf.text
        );
        let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql.clone())), &buf.params)
            .fetch_all(&mut self.conn)
            .await
            .unwrap_or_else(|e| panic!("{filter}\n{sql}\n{:?}\n{e}", buf.params));
        rows.iter().map(|r| r.get::<String, _>(0)).collect()
    }

    /// Posts matching `filter` for a guest.
    pub async fn posts(&mut self, filter: &str) -> Vec<String> {
        let req = self.req(None);
        self.ids_as("posts", filter, &req).await
    }

    /// The error message for `filter` on `collection` as `req`.
    pub fn error(&self, collection: &str, filter: &str, req: &RequestInfo) -> String {
        match self.compile(collection, filter, req) {
            Ok(buf) => panic!("{filter} compiled: {}", buf.text),
            Err(keel_core::Error::BadRequest { fields, .. }) => fields["filter"].message.clone(),
            Err(e) => panic!("{e:?}"),
        }
    }
}

/// A superuser's request.
pub(super) fn superuser(db: &Db) -> RequestInfo {
    let mut su = db.req(None);
    su.auth = Some(AuthRecord {
        collection: Arc::new(Collection::default_superusers()),
        record: json!({"id": "s1"}).as_object().unwrap().clone().into(),
    });
    su
}

/// `["p1", "p2"]` from `"p1 p2"`.
pub(super) fn ids(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

#[tokio::test]
async fn sql_shape() {
    let db = Db::new().await;
    let g = db.req(None);
    let cases = [
        ("title = 'x'", "\"t\".\"title\" = ?1"),
        ("title = ''", "COALESCE(\"t\".\"title\", ?1) = ?1"),
        ("tags ?= 'a'", "EXISTS (SELECT 1 FROM json_each(\"t\".\"tags\") AS \"__j1\" WHERE \"__j1\".value = ?1)"),
        (
            "author.name = 'x'",
            "(SELECT \"__r1\".\"name\" FROM \"users\" AS \"__r1\" WHERE \"__r1\".\"id\" = \"t\".\"author\" LIMIT 1) = ?1",
        ),
        ("title ~ 'a'", "\"t\".\"title\" LIKE ?1 ESCAPE '\\'"),
        ("@request.auth.id = ''", "1=1"),
        ("@request.auth.id != ''", "1=0"),
        ("", "1=1"),
    ];
    for (f, want) in cases {
        assert_eq!(db.compile("posts", f, &g).unwrap().text, want, "{f}");
    }
    let coll = db.schema.0[2].clone();
    let ctx = super::CompileCtx {
        collection: &coll,
        alias: "t",
        schema: &db.schema,
        request: &g,
        now: db.now,
        origin: Origin::Filter,
    };
    let mut buf = keel_sql::SqlBuf::new(&DIALECT);
    match super::compile_expr("nope = 1", "listRule", &ctx, &mut buf) {
        Err(keel_core::Error::BadRequest { fields, .. }) => assert!(fields.contains_key("listRule")),
        other => panic!("{other:?}"),
    }
    let parsed = super::parse("title = 'x'").unwrap();
    let cached: std::sync::Arc<super::ast::Expr> = std::sync::Arc::new(parsed);
    let mut buf = keel_sql::SqlBuf::new(&DIALECT);
    assert_eq!(
        super::compile(&cached, "filter", &ctx, &mut buf).unwrap(),
        "\"t\".\"title\" = ?1"
    );
}

/// Every operand against every operand with every operator: either a clean 400 or SQL
/// that SQLite accepts, with every parameter used.
#[tokio::test]
async fn operand_operator_matrix_is_valid_sql() {
    let mut db = Db::new().await;
    let operands = [
        "title",
        "views",
        "published",
        "tags",
        "tags:length",
        "tags:each",
        "tags:lower",
        "author",
        "author.name",
        "editors.name",
        "editors:length",
        "data",
        "data.score",
        "comments_via_post.message",
        "author.email",
        "editors.email",
        "@collection.comments.message",
        "@request.auth.id",
        "@request.auth.org.title",
        "@request.auth.name:lower",
        "@request.body.tags",
        "@request.body.tags:each",
        "@request.body.n",
        "@request.body.obj",
        "@now",
        "''",
        "null",
        "1",
        "-2.5",
        "true",
        "'a%'",
    ];
    let ops = [
        "=", "!=", ">", ">=", "<", "<=", "~", "!~", "?=", "?!=", "?>", "?>=", "?<", "?<=", "?~", "?!~",
    ];
    let mut compiled = 0;
    for origin in [Origin::Rule, Origin::Filter] {
        db.origin = origin;
        for user in [None, Some("u1")] {
            let mut req = db.req(user);
            req.body = json!({"tags": ["a", "b"], "n": 2, "obj": {"k": [1]}})
                .as_object()
                .unwrap()
                .clone();
            for l in operands {
                for r in operands {
                    for op in ops {
                        let f = format!("{l} {op} {r}");
                        match db.compile("posts", &f, &req) {
                            Ok(_) => {
                                db.ids_as("posts", &f, &req).await;
                                compiled += 1;
                            }
                            Err(e) => assert!(
                                expected_error(&f, origin, &e),
                                "{f} ({origin:?}, {user:?}) failed to compile: {e:?}"
                            ),
                        }
                    }
                }
            }
        }
    }
    // Everything else compiled (a compiler that refused everything would pass the loop).
    let with_collection = operands.iter().filter(|o| o.starts_with("@collection")).count();
    let refused_per_pass = (2 * with_collection * operands.len() - with_collection * with_collection) * ops.len();
    let total = 2 * 2 * operands.len() * operands.len() * ops.len();
    assert_eq!(compiled, total - 2 * refused_per_pass);
}

/// The only cases of the matrix that fail: `@collection` in a caller's filter (a 403, as in
/// PocketBase). Every other operand/operator pair has a meaning and compiles.
fn expected_error(f: &str, origin: Origin, e: &keel_core::Error) -> bool {
    f.contains("@collection")
        && origin == Origin::Filter
        && matches!(e, keel_core::Error::Forbidden(m) if m == "Only superusers can filter by @collection.")
}
