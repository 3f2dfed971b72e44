//! System migrations (system tables, the default collections) and the `_params` table.

use keel_core::{Error, Result};
use serde_json::Value;

use super::{ddl, Store};
use crate::schema::Collection;
use keel_sql::{ColumnType, Dialect, Tx};

/// Migration names in the order they apply.
const MIGRATIONS: &[&str] = &[
    "0001_system_tables",
    "0002_default_collections",
    "0003_identity",
    "0004_auth_origins",
    "0005_audit_chain",
    "0006_outbox",
    "0007_webhooks",
    "0008_notifications",
    "0009_vault",
    "0010_ops",
    "0011_changes",
    "0012_change_reviews",
    "0013_change_api",
];

/// Applies pending migrations, each in its own transaction; returns those applied. A
/// database holding a migration this binary does not know (written by a newer Keel) is
/// refused, naming it, before anything is changed.
pub(crate) async fn run(store: &Store) -> Result<Vec<String>> {
    let d = store.engine.dialect();
    let mut tx = store.engine.begin().await?;
    tx.execute(
        &format!(
            "CREATE TABLE IF NOT EXISTS _migrations (name {} PRIMARY KEY NOT NULL, applied {} NOT NULL {})",
            d.column_type(ColumnType::Key),
            d.column_type(ColumnType::Text),
            d.column_default(ColumnType::Text, "''")
        ),
        &[],
    )
    .await?;
    let applied: Vec<String> = tx
        .fetch_all("SELECT name FROM _migrations", &[])
        .await?
        .into_iter()
        .filter_map(|r| r.get("name").and_then(Value::as_str).map(str::to_string))
        .collect();
    tx.commit().await?;
    if let Some(unknown) = applied.iter().find(|a| !MIGRATIONS.contains(&a.as_str())) {
        return Err(newer_schema(unknown));
    }
    let mut done = Vec::new();
    for name in MIGRATIONS {
        if applied.iter().any(|a| a == name) {
            continue;
        }
        let mut tx = store.engine.begin().await?;
        apply(store, tx.as_mut(), name).await?;
        let sql = format!(
            "INSERT INTO _migrations (name, applied) VALUES ({}, {})",
            d.placeholder(1),
            d.placeholder(2)
        );
        tx.execute(&sql, &[Value::from(*name), Value::from(keel_core::time::now())])
            .await?;
        tx.commit().await?;
        done.push(name.to_string());
    }
    Ok(done)
}

/// The error for a database migrated by a newer Keel: a `Conflict` (the data is fine, this
/// binary is too old for it), naming the migration.
pub(crate) fn newer_schema(migration: &str) -> Error {
    Error::Conflict(format!(
        "the database has migration {migration:?}, which this Keel does not know: it was written by a newer \
         version; upgrade Keel (or point it at another database)"
    ))
}

async fn apply(store: &Store, tx: &mut dyn Tx, name: &str) -> Result<()> {
    match name {
        "0001_system_tables" => {
            let d = store.engine.dialect();
            let (key, text, bool, json) = (
                d.column_type(ColumnType::Key),
                d.column_type(ColumnType::Text),
                d.column_type(ColumnType::Bool),
                d.column_type(ColumnType::Json),
            );
            let order = d.insertion_order_column().map(|c| format!(", {c}")).unwrap_or_default();
            let (empty, base) = (
                d.column_default(ColumnType::Text, "''"),
                d.column_default(ColumnType::Text, "'base'"),
            );
            tx.execute(
                &format!(
                    "CREATE TABLE IF NOT EXISTS _collections (id {key} PRIMARY KEY NOT NULL, name {text} NOT NULL, \
                     type {text} NOT NULL {base}, \"system\" {bool} NOT NULL DEFAULT FALSE, json {text} NOT NULL, \
                     created {text} NOT NULL {empty}, updated {text} NOT NULL {empty}{order})"
                ),
                &[],
            )
            .await?;
            for stmt in d.ci_unique_index("_collections_name", "_collections", "name", false) {
                tx.execute(&stmt, &[]).await?;
            }
            tx.execute(
                &format!(
                    "CREATE TABLE IF NOT EXISTS _params (\"key\" {key} PRIMARY KEY NOT NULL, value {json} DEFAULT NULL, \
                     created {text} NOT NULL {empty}, updated {text} NOT NULL {empty})"
                ),
                &[],
            )
            .await?;
            Ok(())
        }
        "0002_default_collections" => {
            for c in [Collection::default_superusers(), Collection::default_users()] {
                for stmt in ddl::create_table(&c, store.engine.dialect()) {
                    tx.execute(&stmt, &[]).await?;
                }
                save_row(store, tx, &c, true).await?;
            }
            Ok(())
        }
        "0003_identity" => {
            for c in crate::system::identity_collections() {
                for stmt in ddl::create_table(&c, store.engine.dialect()) {
                    tx.execute(&stmt, &[]).await?;
                }
                save_row(store, tx, &c, true).await?;
            }
            Ok(())
        }
        "0004_auth_origins" => {
            let c = crate::system::auth_origins_collection();
            for stmt in ddl::create_table(&c, store.engine.dialect()) {
                tx.execute(&stmt, &[]).await?;
            }
            save_row(store, tx, &c, true).await
        }
        "0005_audit_chain" => audit_chain(store, tx).await,
        "0006_outbox" => super::outbox::migrate(store, tx).await,
        "0007_webhooks" => create_system_collections(store, tx, crate::system::webhook_collections()).await,
        "0008_notifications" => create_system_collections(store, tx, crate::system::notification_collections()).await,
        "0009_vault" => create_system_collections(store, tx, crate::system::vault_collections()).await,
        "0010_ops" => create_system_collections(store, tx, crate::system::ops_collections()).await,
        "0011_changes" => create_system_collections(store, tx, crate::system::change_collections()).await,
        "0012_change_reviews" => {
            add_fields(store, tx, crate::system::CHANGES, crate::system::change_review_fields()).await
        }
        "0013_change_api" => add_fields(store, tx, crate::system::CHANGES, crate::system::change_api_fields()).await,
        other => Err(Error::internal(format!("unknown migration {other}"))),
    }
}

/// Creates the tables of system collections `cs` and records them in `_collections`.
async fn create_system_collections(store: &Store, tx: &mut dyn Tx, cs: Vec<Collection>) -> Result<()> {
    for c in cs {
        for stmt in ddl::create_table(&c, store.engine.dialect()) {
            tx.execute(&stmt, &[]).await?;
        }
        save_row(store, tx, &c, true).await?;
    }
    Ok(())
}

/// Adds `fields` (before its autodates) to the system collection `name`: its columns, and its
/// definition in `_collections`.
async fn add_fields(store: &Store, tx: &mut dyn Tx, name: &str, fields: Vec<crate::schema::Field>) -> Result<()> {
    let d = store.engine.dialect();
    let sql = format!("SELECT json FROM _collections WHERE name = {}", d.placeholder(1));
    let rows = tx.fetch_all(&sql, &[Value::from(name)]).await?;
    let json = rows
        .first()
        .and_then(|r| r.get("json"))
        .and_then(Value::as_str)
        .ok_or_else(|| Error::internal(format!("the {name} collection is missing")))?;
    let mut c = Collection::from_stored_json(json).map_err(Error::internal)?;
    let table = d.quote_ident(&c.name);
    for f in &fields {
        tx.execute(
            &format!("ALTER TABLE {table} ADD COLUMN {}", ddl::column_def(f, d)),
            &[],
        )
        .await?;
    }
    let at = c
        .fields
        .iter()
        .position(|f| f.name == "created")
        .unwrap_or(c.fields.len());
    c.fields.splice(at..at, fields);
    c.updated = keel_core::time::now();
    save_row(store, tx, &c, false).await
}

/// Adds `seq`, `prevHash` and `hash` to `_audit` and chains the entries already there, in
/// insertion order (see `store/audit.rs`).
async fn audit_chain(store: &Store, tx: &mut dyn Tx) -> Result<()> {
    let d = store.engine.dialect();
    let sql = format!("SELECT json FROM _collections WHERE name = {}", d.placeholder(1));
    let rows = tx.fetch_all(&sql, &[Value::from(crate::system::AUDIT)]).await?;
    let json = rows
        .first()
        .and_then(|r| r.get("json"))
        .and_then(Value::as_str)
        .ok_or_else(|| Error::internal("the _audit collection is missing"))?;
    let mut c = Collection::from_stored_json(json).map_err(Error::internal)?;
    let table = d.quote_ident(&c.name);
    let at = c
        .fields
        .iter()
        .position(|f| f.name == "created")
        .unwrap_or(c.fields.len());
    let added = crate::system::audit_chain_fields();
    for f in &added {
        tx.execute(
            &format!("ALTER TABLE {table} ADD COLUMN {}", ddl::column_def(f, d)),
            &[],
        )
        .await?;
    }
    c.fields.splice(at..at, added);
    let c = std::sync::Arc::new(c);
    super::audit::backfill(tx, d, &c).await?;
    let mut c = (*c).clone();
    c.indexes.push(crate::system::AUDIT_SEQ_INDEX.to_string());
    tx.execute(&ddl::executable_index(crate::system::AUDIT_SEQ_INDEX, &c, d), &[])
        .await?;
    c.updated = keel_core::time::now();
    save_row(store, tx, &c, false).await
}

/// Inserts (`insert`) or updates the `_collections` row of `c`.
pub(crate) async fn save_row(store: &Store, tx: &mut dyn Tx, c: &Collection, insert: bool) -> Result<()> {
    let d = store.engine.dialect();
    let json = serde_json::to_string(c).map_err(Error::internal)?;
    let kind = match c.kind {
        crate::schema::CollectionType::Base => "base",
        crate::schema::CollectionType::Auth => "auth",
        crate::schema::CollectionType::View => "view",
    };
    let p: Vec<String> = (1..=7).map(|n| d.placeholder(n)).collect();
    let sql = if insert {
        format!(
            "INSERT INTO _collections (id, name, type, \"system\", json, created, updated) VALUES ({})",
            p.join(", ")
        )
    } else {
        format!(
            "UPDATE _collections SET name = {}, type = {}, \"system\" = {}, json = {}, created = {}, updated = {} WHERE id = {}",
            p[1], p[2], p[3], p[4], p[5], p[6], p[0]
        )
    };
    let params = [
        Value::from(c.id.clone()),
        Value::from(c.name.clone()),
        Value::from(kind),
        Value::Bool(c.system),
        Value::from(json),
        Value::from(c.created.clone()),
        Value::from(c.updated.clone()),
    ];
    tx.execute(&sql, &params).await?;
    Ok(())
}

pub(crate) async fn get_param(store: &Store, key: &str) -> Result<Option<Value>> {
    let sql = format!(
        "SELECT value FROM _params WHERE \"key\" = {}",
        store.engine.dialect().placeholder(1)
    );
    let rows = store.engine.fetch_all(&sql, &[Value::from(key)]).await?;
    let Some(row) = rows.into_iter().next() else {
        return Ok(None);
    };
    Ok(Some(match row.get("value") {
        Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::String(s.clone())),
        Some(v) => v.clone(),
        None => Value::Null,
    }))
}

pub(crate) async fn set_param(store: &Store, key: &str, value: &Value) -> Result<()> {
    let mut tx = store.engine.begin().await?;
    set_param_in(&mut *tx, store.engine.dialect(), key, value).await?;
    tx.commit().await
}

/// Sets a `_params` value inside `tx`.
pub(crate) async fn set_param_in(tx: &mut dyn Tx, d: &dyn Dialect, key: &str, value: &Value) -> Result<()> {
    let sql = format!(
        "INSERT INTO _params (\"key\", value, created, updated) VALUES ({p1}, {p2}, {p3}, {p3}) {upsert}",
        upsert = d.upsert("key", &["value", "updated"]),
        p1 = d.placeholder(1),
        p2 = d.placeholder(2),
        p3 = d.placeholder(3)
    );
    let now = keel_core::time::now();
    tx.execute(
        &sql,
        &[Value::from(key), Value::from(value.to_string()), Value::from(now)],
    )
    .await?;
    Ok(())
}
