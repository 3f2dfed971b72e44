//! View collections: records computed by an SQL `SELECT` (`viewQuery`, in the engine's own
//! SQL), kept as an SQL view named like the collection.
//!
//! - Saving a view checks its query on the engine first ([`prepare`]): in a transaction of its
//!   own, a temporary view over the query is created and its columns read back (the engine
//!   reports any error in the query), the `id` of a sample of rows checked, then dropped.
//! - The fields are inferred from the query (as PocketBase does): `id` is the text primary
//!   key; a plain column of another collection keeps that field's type and options (its `id`
//!   becomes a relation to it); `COUNT(…)`, `TOTAL(…)` and `CAST(… AS type)` are numbers,
//!   text or bools; anything else is a `json` field.
//! - The SQL view is `SELECT * FROM (query)`, its `id` cast to text when the query's is not.
//! - A change to a collection that views read drops those views and creates them again after
//!   it (newest dependency last), in the change's transaction (journaled where DDL is not
//!   transactional): a change that breaks a view's query is refused. The dependent views'
//!   fields are inferred again and saved with it.

use std::sync::Arc;

use keel_core::{Error, Result};
use serde_json::Value;

use super::journal::Journal;
use super::view_query::{self, invalid, Parsed};
use super::Store;
use crate::filter::SchemaLookup;
use crate::schema::{
    Collection, EmptyOptions, Field, FieldKind, JsonOptions, NumberOptions, RelationOptions, TextOptions,
};
use keel_sql::{Dialect, Tx};

/// The name a subquery takes inside a view's SQL.
const SOURCE: &str = "_keel_view_source";

/// A column of a view as the engine reports it.
#[derive(Debug, Clone)]
pub(crate) struct Column {
    pub name: String,
    /// The engine's type name, lowercase (empty for an SQLite expression).
    pub ty: String,
}

impl Column {
    fn is_text(&self) -> bool {
        ["char", "text", "clob"].iter().any(|t| self.ty.contains(t))
    }
}

/// The columns of the table or view `name`, read in `tx`.
async fn columns(tx: &mut dyn Tx, d: &dyn Dialect, name: &str) -> Result<Vec<Column>> {
    let rows = tx.fetch_all(&d.columns_query(), &[Value::from(name)]).await?;
    Ok(rows
        .into_iter()
        .map(|r| Column {
            name: r.get("name").and_then(Value::as_str).unwrap_or("").to_string(),
            ty: r.get("type").and_then(Value::as_str).unwrap_or("").to_ascii_lowercase(),
        })
        .collect())
}

fn drop_sql(name: &str, d: &dyn Dialect) -> String {
    format!("DROP VIEW IF EXISTS {}", d.quote_ident(name))
}

/// `CREATE VIEW name AS SELECT … FROM (query)`: every column as the query has it (`*`), or,
/// given the columns, each named with `id` cast to text when it is not.
fn create_sql(name: &str, query: &str, cols: Option<&[Column]>, d: &dyn Dialect) -> String {
    let list = match cols {
        None => "*".to_string(),
        Some(cols) => cols
            .iter()
            .map(|c| {
                let q = d.quote_ident(&c.name);
                if c.name == "id" && !c.is_text() {
                    format!("{} AS {q}", d.text_cast(&q))
                } else {
                    q
                }
            })
            .collect::<Vec<_>>()
            .join(", "),
    };
    format!(
        "CREATE VIEW {} AS SELECT {list} FROM ({query}) AS {}",
        d.quote_ident(name),
        d.quote_ident(SOURCE)
    )
}

/// Creates the view `name` over `query` in `tx` (its `id` as text); returns its columns.
async fn save(tx: &mut dyn Tx, d: &dyn Dialect, name: &str, query: &str) -> Result<Vec<Column>> {
    tx.execute(&create_sql(name, query, None, d), &[]).await?;
    let cols = columns(tx, d, name).await?;
    if cols.iter().any(|c| c.name == "id" && !c.is_text()) {
        tx.execute(&drop_sql(name, d), &[]).await?;
        tx.execute(&create_sql(name, query, Some(&cols), d), &[]).await?;
    }
    Ok(cols)
}

/// The engine's words for what is wrong with a query (not a 500: the superuser wrote it).
fn engine_reason(e: &Error) -> String {
    let s = e.to_string();
    s.strip_prefix("internal error: ").unwrap_or(&s).to_string()
}

/// Checks `c.view_query` on the engine and infers `c.fields` (ids of `old`'s fields with the
/// same name and type are kept). A 400 naming `viewQuery` when the query cannot be a view.
pub(crate) async fn prepare(
    store: &Store,
    lookup: &dyn SchemaLookup,
    c: &mut Collection,
    old: Option<&Collection>,
) -> Result<()> {
    let query = view_query::normalize(c.view_query.as_deref().unwrap_or(""))?;
    let parsed = view_query::parse(&query)?;
    let d = store.engine.dialect();
    let tmp = format!(
        "_keel_tmp_view_{}",
        keel_core::id::random_string(8, b"abcdefghijklmnopqrstuvwxyz")
    );
    let checked = async {
        let mut tx = store.engine.begin().await?;
        let cols = save(tx.as_mut(), d, &tmp, &query).await?;
        let ids = tx
            .fetch_all(
                &format!(
                    "SELECT {} AS id FROM {} LIMIT 10",
                    d.quote_ident("id"),
                    d.quote_ident(&tmp)
                ),
                &[],
            )
            .await;
        tx.execute(&drop_sql(&tmp, d), &[]).await?;
        tx.commit().await?;
        Ok::<_, Error>((cols, ids))
    }
    .await;
    if !d.transactional_ddl() {
        // The engine committed the temporary view: make sure it is gone.
        if let Ok(mut tx) = store.engine.begin().await {
            if tx.execute(&drop_sql(&tmp, d), &[]).await.is_ok() {
                let _ = tx.commit().await;
            }
        }
    }
    let (cols, ids) = checked.map_err(|e| invalid(engine_reason(&e)))?;
    if !cols.iter().any(|c| c.name == "id") {
        return Err(invalid(
            "missing required id column (you can use `(ROW_NUMBER() OVER()) as id` if you don't have one)",
        ));
    }
    if let Ok(rows) = ids {
        let mut seen = std::collections::HashSet::new();
        for r in rows {
            let id = match r.get("id") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => String::new(),
            };
            if id.is_empty() {
                return Err(invalid("the query could return records with empty or invalid ids"));
            }
            if !seen.insert(id) {
                return Err(invalid("the query could return records with non-unique ids"));
            }
        }
    }
    c.fields = fields(lookup, &parsed, &cols, old)?;
    Ok(())
}

/// The fields of a view whose query reads as `parsed` and whose columns are `cols`.
fn fields(lookup: &dyn SchemaLookup, parsed: &Parsed, cols: &[Column], old: Option<&Collection>) -> Result<Vec<Field>> {
    let mut out = Vec::with_capacity(cols.len());
    for col in cols {
        let ident = parsed.columns.iter().find(|i| i.alias.eq_ignore_ascii_case(&col.name));
        let mut f = match ident {
            _ if col.name == "id" => id_field(),
            Some(i) => infer(lookup, parsed, &i.original, &col.name)?,
            None => json_field(&col.name),
        };
        if let Some(o) = old.and_then(|o| o.field(&f.name)) {
            if o.kind.type_name() == f.kind.type_name() && !o.id.starts_with("_clone_") {
                f.id = o.id.clone();
            }
        }
        out.push(f);
    }
    Ok(out)
}

/// A field id as PocketBase makes one for a field without an id: its type and a checksum of
/// its name.
fn default_id(type_name: &str, name: &str) -> String {
    format!("{type_name}{}", crc32fast::hash(name.as_bytes()))
}

fn plain(name: &str, kind: FieldKind) -> Field {
    Field {
        id: default_id(kind.type_name(), name),
        name: name.to_string(),
        system: false,
        hidden: false,
        presentable: false,
        required: false,
        help: String::new(),
        kind,
    }
}

fn id_field() -> Field {
    let mut f = plain(
        "id",
        FieldKind::Text(TextOptions {
            pattern: "^[a-z0-9]+$".into(),
            primary_key: true,
            ..Default::default()
        }),
    );
    f.system = true;
    f.required = true;
    f
}

fn json_field(name: &str) -> Field {
    plain(name, FieldKind::Json(JsonOptions { max_size: 1 }))
}

fn number(name: &str, only_int: bool) -> Field {
    plain(
        name,
        FieldKind::Number(NumberOptions {
            only_int,
            ..Default::default()
        }),
    )
}

/// Where the file field `field` of the view `view` comes from: the collection and field whose
/// records hold the files (followed through views of views), or `None` when the column is
/// not a plain column of a collection.
pub(crate) fn file_source(
    lookup: &dyn SchemaLookup,
    view: &Collection,
    field: &str,
) -> Option<(Arc<Collection>, String)> {
    let mut current = (view.clone(), field.to_string());
    for _ in 0..8 {
        let (c, name) = &current;
        if !c.is_view() {
            return Some((Arc::new(c.clone()), name.clone()));
        }
        let query = view_query::normalize(c.view_query.as_deref().unwrap_or("")).ok()?;
        let parsed = view_query::parse(&query).ok()?;
        let col = parsed.columns.iter().find(|col| col.alias.eq_ignore_ascii_case(name))?;
        let (alias, src_field) = match col.original.split_once('.') {
            Some((t, f)) if !f.contains('.') => (Some(t), f),
            Some(_) => return None,
            None => (None, col.original.as_str()),
        };
        let table = match alias {
            Some(a) => parsed.tables.iter().find(|t| t.alias.eq_ignore_ascii_case(a)),
            None => parsed.tables.first(),
        }?;
        let source = lookup
            .collection(&table.original)
            .filter(|s| s.name.eq_ignore_ascii_case(&table.original))?;
        let f = source.fields.iter().find(|f| f.name.eq_ignore_ascii_case(src_field))?;
        if !matches!(f.kind, FieldKind::File(_)) {
            return None;
        }
        current = ((*source).clone(), f.name.clone());
    }
    None
}

/// The field of the column `name` computed by the expression `original`.
fn infer(lookup: &dyn SchemaLookup, parsed: &Parsed, original: &str, name: &str) -> Result<Field> {
    let lower = original.to_ascii_lowercase();
    if lower.starts_with("count(") {
        return Ok(number(name, true));
    }
    if lower.starts_with("total(") {
        return Ok(number(name, false));
    }
    if let Some(ty) = cast_type(&lower) {
        match ty.as_str() {
            "real" | "decimal" | "numeric" | "double" | "float" => return Ok(number(name, false)),
            "int" | "integer" | "bigint" | "signed" => return Ok(number(name, true)),
            "text" | "char" | "varchar" => return Ok(plain(name, FieldKind::Text(TextOptions::default()))),
            "boolean" | "bool" => return Ok(plain(name, FieldKind::Bool(EmptyOptions {}))),
            _ => {}
        }
    }
    let (table_alias, field_name) = match original.split_once('.') {
        Some((t, f)) if !f.contains('.') => (Some(t), f),
        Some(_) => return Ok(json_field(name)),
        None => (None, original),
    };
    let table = match table_alias {
        Some(a) => parsed.tables.iter().find(|t| t.alias.eq_ignore_ascii_case(a)),
        None => parsed.tables.first(),
    };
    let Some(table) = table.filter(|t| !t.original.contains('(')) else {
        return Ok(json_field(name));
    };
    let Some(source) = lookup
        .collection(&table.original)
        .filter(|c| c.name.eq_ignore_ascii_case(&table.original))
    else {
        return Ok(json_field(name));
    };
    let Some(src) = source.fields.iter().find(|f| f.name.eq_ignore_ascii_case(field_name)) else {
        return Ok(json_field(name));
    };
    if field_name.eq_ignore_ascii_case("id") {
        return Ok(plain(
            name,
            FieldKind::Relation(RelationOptions {
                collection_id: source.id.clone(),
                max_select: 1,
                ..Default::default()
            }),
        ));
    }
    if src.is_encrypted() {
        return Err(invalid(format!(
            "the field {}.{} is encrypted and cannot be selected by a view",
            source.name, src.name
        )));
    }
    let mut f = src.clone();
    f.id = format!("_clone_{}", keel_core::id::random_string(4, keel_core::id::ID_ALPHABET));
    f.name = name.to_string();
    Ok(f)
}

/// `cast(x as type)` → `type` (the query already lowercased).
fn cast_type(lower: &str) -> Option<String> {
    let inner = lower.strip_prefix("cast")?.trim_start().strip_prefix('(')?;
    let inner = inner.trim_end().strip_suffix(')')?;
    let pos = inner.rfind(" as ")?;
    let ty = inner[pos + 4..].trim();
    let word: String = ty.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
    (!word.is_empty()).then_some(word)
}

/// The views that read `names` (the collections being changed), directly or through other
/// views, in the order they can be created (what a view reads comes first).
pub(crate) fn dependents(all: &[Arc<Collection>], names: &[&str]) -> Vec<Arc<Collection>> {
    let views: Vec<&Arc<Collection>> = all.iter().filter(|c| c.is_view()).collect();
    let mut hit: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut out: Vec<Arc<Collection>> = Vec::new();
    loop {
        let before = out.len();
        for v in &views {
            let q = v.view_query.as_deref().unwrap_or("");
            if !out.iter().any(|o| o.id == v.id) && hit.iter().any(|n| view_query::mentions(q, n)) {
                out.push((*v).clone());
                hit.push(v.name.clone());
            }
        }
        if out.len() == before {
            break;
        }
    }
    creation_order(out)
}

/// `views` ordered so that a view comes after every view its query names.
fn creation_order(mut views: Vec<Arc<Collection>>) -> Vec<Arc<Collection>> {
    let mut out: Vec<Arc<Collection>> = Vec::with_capacity(views.len());
    while !views.is_empty() {
        let ready = views.iter().position(|v| {
            let q = v.view_query.as_deref().unwrap_or("");
            !views.iter().any(|o| o.id != v.id && view_query::mentions(q, &o.name))
        });
        // A cycle cannot be created; should one be stored, keep the stored order.
        out.push(views.remove(ready.unwrap_or(0)));
    }
    out
}

/// Drops `views` (the last first) in `tx`, journaled with the statement recreating each.
pub(crate) async fn drop_all(
    tx: &mut dyn Tx,
    d: &dyn Dialect,
    views: &[Arc<Collection>],
    journal: &mut Journal,
) -> Result<()> {
    for v in views.iter().rev() {
        let query = view_query::normalize(v.view_query.as_deref().unwrap_or("")).unwrap_or_default();
        // Only engines whose DDL commits by itself ever run the undo statement.
        let undo = if d.transactional_ddl() {
            String::new()
        } else {
            let cols = columns(tx, d, &v.name).await?;
            create_sql(&v.name, &query, Some(&cols), d)
        };
        journal.run(tx, &drop_sql(&v.name, d), undo).await?;
    }
    Ok(())
}

/// Creates `view` in `tx` (journaled) and infers its fields again against `lookup`.
pub(crate) async fn create(
    tx: &mut dyn Tx,
    d: &dyn Dialect,
    lookup: &dyn SchemaLookup,
    view: &Collection,
    journal: &mut Journal,
) -> Result<Vec<Field>> {
    let query = view_query::normalize(view.view_query.as_deref().unwrap_or(""))?;
    journal.record(tx, drop_sql(&view.name, d)).await?;
    let cols = save(tx, d, &view.name, &query).await?;
    fields(lookup, &view_query::parse(&query)?, &cols, Some(view))
}

/// Creates the dependent `view` again after a change to what it reads; a 400 naming the view
/// when the change broke its query.
pub(crate) async fn recreate(
    tx: &mut dyn Tx,
    d: &dyn Dialect,
    lookup: &dyn SchemaLookup,
    view: &Collection,
    journal: &mut Journal,
) -> Result<Vec<Field>> {
    create(tx, d, lookup, view, journal).await.map_err(|e| {
        Error::bad_request(format!(
            "The change breaks the view collection {} ({}): change its viewQuery first.",
            view.name,
            engine_reason(&e)
        ))
    })
}

/// Drops the view `name` in `tx`.
pub(crate) async fn drop(tx: &mut dyn Tx, d: &dyn Dialect, name: &str) -> Result<()> {
    tx.execute(&drop_sql(name, d), &[]).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn casts() {
        assert_eq!(cast_type("cast(a.b as real)").as_deref(), Some("real"));
        assert_eq!(cast_type("cast( x + 1  as  integer )").as_deref(), Some("integer"));
        assert_eq!(cast_type("cast(x as decimal(10,2))").as_deref(), Some("decimal"));
        assert_eq!(cast_type("count(x)"), None);
    }

    #[test]
    fn ids_like_pocketbase() {
        assert_eq!(id_field().id, "text3208210256");
    }

    fn view(name: &str, q: &str) -> Arc<Collection> {
        let mut c = Collection::blank(name, crate::schema::CollectionType::View);
        c.id = format!("id_{name}");
        c.view_query = Some(q.into());
        Arc::new(c)
    }

    #[test]
    fn dependents_in_creation_order() {
        let all = vec![
            view("b", "SELECT id FROM a"),
            view("a", "SELECT id FROM posts"),
            view("c", "SELECT id FROM users"),
        ];
        let names: Vec<String> = dependents(&all, &["posts"]).iter().map(|c| c.name.clone()).collect();
        assert_eq!(names, vec!["a", "b"]);
    }
}
