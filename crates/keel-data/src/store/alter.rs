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

use super::journal::{self, Journal};
use super::{ddl, Store};
use crate::schema::{Collection, Field};
use keel_sql::{Dialect, Tx};

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
        journal
            .run(
                tx,
                &format!("ALTER TABLE {from} RENAME TO {table}"),
                format!("ALTER TABLE {table} RENAME TO {from}"),
            )
            .await?;
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
        journal
            .run(
                tx,
                &rename(&o.name, &removed_name(o)),
                rename(&removed_name(o), &o.name),
            )
            .await?;
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
        journal.run(tx, &rename(&o.name, &tmp), rename(&tmp, &o.name)).await?;
    }
    for (_, f) in &renamed {
        let tmp = format!("__tmp_{}", f.id);
        journal.run(tx, &rename(&tmp, &f.name), rename(&f.name, &tmp)).await?;
    }
    // New fields; single ↔ multiple: rebuild the column with converted values.
    for f in &new.fields {
        match old.fields.iter().find(|o| o.id == f.id) {
            None => {
                journal
                    .run(
                        tx,
                        &format!("ALTER TABLE {table} ADD COLUMN {}", ddl::column_def(f, d)),
                        format!("ALTER TABLE {table} DROP COLUMN {}", d.quote_ident(&f.name)),
                    )
                    .await?;
            }
            Some(o) if o.is_multiple() != f.is_multiple() => {
                convert_multiplicity(tx, &table, f, d, journal).await?;
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Drops the columns of the fields `new` removed from `old` (set aside by [`alter_table`]).
pub(crate) async fn drop_removed(tx: &mut dyn Tx, old: &Collection, new: &Collection, d: &dyn Dialect) -> Result<()> {
    for stmt in drop_removed_statements(old, new, d) {
        tx.execute(&stmt, &[]).await?;
    }
    Ok(())
}

/// The statements of [`drop_removed`].
pub(crate) fn drop_removed_statements(old: &Collection, new: &Collection, d: &dyn Dialect) -> Vec<String> {
    let table = d.quote_ident(&new.name);
    let removed = old
        .fields
        .iter()
        .filter(|o| !new.fields.iter().any(|f| f.id == o.id))
        .map(removed_name);
    removed
        .chain(converted(old, new).map(converted_name))
        .map(|name| format!("ALTER TABLE {table} DROP COLUMN {}", d.quote_ident(&name)))
        .collect()
}

/// Reverses the steps in `journal` (a change from `old` to `new` that failed part way on an
/// engine whose DDL commits by itself) and restores `old`'s indexes, then removes the
/// journal's durable row. Best effort: a step that fails is logged and the rest still run;
/// the row stays when a step failed, except the last recorded one when `recovering` (a
/// process killed before it ran that step).
pub(crate) async fn undo(store: &Store, old: &Collection, new: &Collection, journal: Journal, recovering: bool) {
    let d = store.engine.dialect();
    let (steps, durable) = journal.into_parts();
    let mut tx = match store.engine.begin().await {
        Ok(tx) => tx,
        Err(e) => {
            tracing::error!(collection = %old.name, error = %e, "cannot undo a failed collection change");
            return;
        }
    };
    let mut failed = false;
    // New indexes may not exist (or their table not have its new name yet): not a failure.
    for stmt in ddl::drop_indexes(new, d) {
        if let Err(e) = tx.execute(&stmt, &[]).await {
            tracing::debug!(collection = %old.name, error = %e, "an index to drop was not there");
        }
    }
    let last = steps.len().saturating_sub(1);
    for (i, step) in steps.iter().enumerate().rev() {
        if let Err(e) = tx.execute(step, &[]).await {
            if recovering && i == last {
                tracing::debug!(collection = %old.name, error = %e, "the last recorded step had not run");
            } else {
                failed = true;
                tracing::error!(collection = %old.name, error = %e, "a step undoing a collection change failed");
            }
        }
    }
    for stmt in ddl::create_indexes(old, d) {
        if let Err(e) = tx.execute(&stmt, &[]).await {
            failed = true;
            tracing::error!(collection = %old.name, error = %e, "cannot restore an index of a collection");
        }
    }
    if let Err(e) = tx.commit().await {
        failed = true;
        tracing::error!(collection = %old.name, error = %e, "cannot undo a failed collection change");
    }
    forget(store, durable, failed, &old.name).await;
}

/// Drops the table of `new`, a collection whose creation did not finish, and removes the
/// journal's durable row.
pub(crate) async fn undo_create(store: &Store, new: &Collection, journal: Journal) {
    let (_, durable) = journal.into_parts();
    let failed = !drop_table(store, &new.name).await;
    forget(store, durable, failed, &new.name).await;
}

/// Removes the journal row `durable` once its change is undone; keeps it (for the next
/// start to try again) when a step `failed`.
async fn forget(store: &Store, durable: Option<String>, failed: bool, collection: &str) {
    let Some(id) = durable else { return };
    if failed {
        tracing::error!(
            collection,
            "the schema journal keeps the change: repair the table by hand or restart"
        );
    } else if let Err(e) = journal::discard(store, &id).await {
        tracing::error!(collection, error = %e, "cannot remove a schema journal row");
    }
}

/// Drops `table` (a table whose collection could not be created, on an engine whose DDL
/// commits by itself); whether it is gone.
pub(crate) async fn drop_table(store: &Store, table: &str) -> bool {
    let d = store.engine.dialect();
    let sql = format!("DROP TABLE IF EXISTS {}", d.quote_ident(table));
    let done = match store.engine.begin().await {
        Ok(mut tx) => match tx.execute(&sql, &[]).await {
            Ok(_) => tx.commit().await,
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    if let Err(e) = &done {
        tracing::error!(table, error = %e, "cannot drop the table of a collection that failed to be created");
    }
    done.is_ok()
}

/// Rebuilds the column of `f` in the multiplicity `f` has now, converting each value; the
/// old column stays, renamed aside, until [`drop_removed`].
async fn convert_multiplicity(
    tx: &mut dyn Tx,
    table: &str,
    f: &Field,
    d: &dyn Dialect,
    journal: &mut Journal,
) -> Result<()> {
    let col = d.quote_ident(&f.name);
    let tmp = d.quote_ident(&format!("__conv_{}", f.id));
    let tmp_field = Field {
        name: format!("__conv_{}", f.id),
        ..f.clone()
    };
    journal
        .run(
            tx,
            &format!("ALTER TABLE {table} ADD COLUMN {}", ddl::column_def(&tmp_field, d)),
            format!("ALTER TABLE {table} DROP COLUMN {tmp}"),
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
    journal
        .run(
            tx,
            &format!("ALTER TABLE {table} RENAME COLUMN {col} TO {aside}"),
            format!("ALTER TABLE {table} RENAME COLUMN {aside} TO {col}"),
        )
        .await?;
    journal
        .run(
            tx,
            &format!("ALTER TABLE {table} RENAME COLUMN {tmp} TO {col}"),
            format!("ALTER TABLE {table} RENAME COLUMN {col} TO {tmp}"),
        )
        .await?;
    Ok(())
}
