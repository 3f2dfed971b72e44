//! Changing a collection's table to a new shape, and undoing that where DDL is not
//! transactional (MySQL commits each `ALTER`).
//!
//! Order: old indexes dropped, table renamed, removed columns renamed aside
//! (`__del_<field id>`), renamed fields moved (through temporary names, so swaps work), new
//! columns added, single ↔ multiple fields converted into a new column (the old one set
//! aside as `__old_<field id>`); the caller then creates the indexes and only then
//! [`drop_removed`] drops the columns set aside. Until that last step every
//! change can be reversed without losing data, and each one that ran is in the [`Journal`].

use keel_core::Result;
use serde_json::Value;

use super::{ddl, Store};
use crate::schema::{Collection, Field};
use keel_sql::{Dialect, Tx};

/// The statements reversing each DDL step that ran, run in the opposite order to undo.
#[derive(Default)]
pub(crate) struct Journal {
    undo: Vec<String>,
}

/// The temporary name of a removed field's column until [`drop_removed`].
fn removed_name(f: &Field) -> String {
    format!("__del_{}", f.id)
}

/// The temporary name of a converted field's former column until [`drop_removed`].
fn converted_name(f: &Field) -> String {
    format!("__old_{}", f.id)
}

/// The fields of `new` whose column changed between single and multiple values.
fn converted<'a>(old: &'a Collection, new: &'a Collection) -> impl Iterator<Item = &'a Field> {
    new.fields.iter().filter(|f| {
        old.fields
            .iter()
            .any(|o| o.id == f.id && o.is_multiple() != f.is_multiple())
    })
}

/// Moves the table of `old` to the shape of `new` (indexes are dropped here and recreated by
/// the caller; removed columns stay, renamed aside, until [`drop_removed`]).
pub(crate) async fn alter_table(
    tx: &mut dyn Tx,
    old: &Collection,
    new: &Collection,
    d: &dyn Dialect,
    journal: &mut Journal,
) -> Result<()> {
    for stmt in ddl::drop_indexes(old, d) {
        tx.execute(&stmt, &[]).await?;
    }
    let table = d.quote_ident(&new.name);
    if old.name != new.name {
        let from = d.quote_ident(&old.name);
        tx.execute(&format!("ALTER TABLE {from} RENAME TO {table}"), &[])
            .await?;
        journal.undo.push(format!("ALTER TABLE {table} RENAME TO {from}"));
    }
    let rename = |from: &str, to: &str| {
        format!(
            "ALTER TABLE {table} RENAME COLUMN {} TO {}",
            d.quote_ident(from),
            d.quote_ident(to)
        )
    };
    // Removed fields, set aside.
    for o in old.fields.iter().filter(|o| !new.fields.iter().any(|f| f.id == o.id)) {
        tx.execute(&rename(&o.name, &removed_name(o)), &[]).await?;
        journal.undo.push(rename(&removed_name(o), &o.name));
    }
    // Renamed fields, through temporary names so swaps work.
    let renamed: Vec<(&Field, &Field)> = new
        .fields
        .iter()
        .filter_map(|f| {
            old.fields
                .iter()
                .find(|o| o.id == f.id && o.name != f.name)
                .map(|o| (o, f))
        })
        .collect();
    for (o, f) in &renamed {
        let tmp = format!("__tmp_{}", f.id);
        tx.execute(&rename(&o.name, &tmp), &[]).await?;
        journal.undo.push(rename(&tmp, &o.name));
    }
    for (_, f) in &renamed {
        let tmp = format!("__tmp_{}", f.id);
        tx.execute(&rename(&tmp, &f.name), &[]).await?;
        journal.undo.push(rename(&f.name, &tmp));
    }
    // New fields; single ↔ multiple: rebuild the column with converted values.
    for f in &new.fields {
        match old.fields.iter().find(|o| o.id == f.id) {
            None => {
                tx.execute(
                    &format!("ALTER TABLE {table} ADD COLUMN {}", ddl::column_def(f, d)),
                    &[],
                )
                .await?;
                journal
                    .undo
                    .push(format!("ALTER TABLE {table} DROP COLUMN {}", d.quote_ident(&f.name)));
            }
            Some(o) if o.is_multiple() != f.is_multiple() => {
                convert_multiplicity(tx, &table, f, d).await?;
                let col = d.quote_ident(&f.name);
                journal.undo.push(rename(&converted_name(f), &f.name));
                journal.undo.push(format!("ALTER TABLE {table} DROP COLUMN {col}"));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Drops the columns of the fields `new` removed from `old` (set aside by [`alter_table`]).
pub(crate) async fn drop_removed(tx: &mut dyn Tx, old: &Collection, new: &Collection, d: &dyn Dialect) -> Result<()> {
    let table = d.quote_ident(&new.name);
    let removed = old
        .fields
        .iter()
        .filter(|o| !new.fields.iter().any(|f| f.id == o.id))
        .map(removed_name);
    for name in removed.chain(converted(old, new).map(converted_name)) {
        tx.execute(
            &format!("ALTER TABLE {table} DROP COLUMN {}", d.quote_ident(&name)),
            &[],
        )
        .await?;
    }
    Ok(())
}

/// Reverses the steps in `journal` (a change from `old` to `new` that failed part way on an
/// engine whose DDL commits by itself) and restores `old`'s indexes. Best effort: a step
/// that fails is logged and the rest still run.
pub(crate) async fn undo(store: &Store, old: &Collection, new: &Collection, journal: Journal) {
    let d = store.engine.dialect();
    let mut tx = match store.engine.begin().await {
        Ok(tx) => tx,
        Err(e) => {
            tracing::error!(collection = %old.name, error = %e, "cannot undo a failed collection change");
            return;
        }
    };
    let mut steps: Vec<Result<()>> = Vec::new();
    for stmt in ddl::drop_indexes(new, d) {
        steps.push(tx.execute(&stmt, &[]).await.map(|_| ()));
    }
    for step in journal.undo.into_iter().rev() {
        let sql = step;
        steps.push(tx.execute(&sql, &[]).await.map(|_| ()));
    }
    for stmt in ddl::create_indexes(old, d) {
        steps.push(tx.execute(&stmt, &[]).await.map(|_| ()));
    }
    steps.push(tx.commit().await);
    for e in steps.into_iter().filter_map(|s| s.err()) {
        tracing::error!(collection = %old.name, error = %e, "a step undoing a failed collection change failed");
    }
}

/// Drops `table` (a table whose collection could not be created, on an engine whose DDL
/// commits by itself).
pub(crate) async fn drop_table(store: &Store, table: &str) {
    let d = store.engine.dialect();
    let sql = format!("DROP TABLE IF EXISTS {}", d.quote_ident(table));
    let done = match store.engine.begin().await {
        Ok(mut tx) => match tx.execute(&sql, &[]).await {
            Ok(_) => tx.commit().await,
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    if let Err(e) = done {
        tracing::error!(table, error = %e, "cannot drop the table of a collection that failed to be created");
    }
}

/// Rebuilds the column of `f` in the multiplicity `f` has now, converting each value; the
/// old column stays, renamed aside, until [`drop_removed`].
async fn convert_multiplicity(tx: &mut dyn Tx, table: &str, f: &Field, d: &dyn Dialect) -> Result<()> {
    let col = d.quote_ident(&f.name);
    let tmp = d.quote_ident(&format!("__conv_{}", f.id));
    let tmp_field = Field {
        name: format!("__conv_{}", f.id),
        ..f.clone()
    };
    tx.execute(
        &format!("ALTER TABLE {table} ADD COLUMN {}", ddl::column_def(&tmp_field, d)),
        &[],
    )
    .await?;
    let rows = tx
        .fetch_all(&format!("SELECT \"id\", {col} AS v FROM {table}"), &[])
        .await?;
    let sql = format!(
        "UPDATE {table} SET {tmp} = {} WHERE \"id\" = {}",
        d.placeholder(1),
        d.placeholder(2)
    );
    for row in rows {
        let id = row.get("id").cloned().unwrap_or(Value::Null);
        let v = row.get("v").and_then(Value::as_str).unwrap_or("");
        let converted = if f.is_multiple() {
            let arr: Vec<Value> = if v.is_empty() { vec![] } else { vec![Value::from(v)] };
            Value::from(Value::Array(arr).to_string())
        } else {
            let arr: Vec<Value> = serde_json::from_str(v).unwrap_or_default();
            let first = arr
                .into_iter()
                .next()
                .and_then(|x| x.as_str().map(str::to_string))
                .unwrap_or_default();
            Value::from(first)
        };
        tx.execute(&sql, &[converted, id]).await?;
    }
    let aside = d.quote_ident(&converted_name(f));
    tx.execute(&format!("ALTER TABLE {table} RENAME COLUMN {col} TO {aside}"), &[])
        .await?;
    tx.execute(&format!("ALTER TABLE {table} RENAME COLUMN {tmp} TO {col}"), &[])
        .await?;
    Ok(())
}
