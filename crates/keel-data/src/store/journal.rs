//! The journal of a collection change, kept in the database where DDL is not transactional
//! (MySQL/MariaDB commit each `ALTER`), so a process killed part way leaves a record of how
//! to put the table back, and the next [`recover`] (at `Store::open`) does.
//!
//! Protocol: a row of `_keel_schema_journal` (the collection id, its old and new JSON, the
//! undo statements, the phase) is written before the change's first DDL statement, which
//! commits it. Each step's undo statement is recorded *before* the step runs (the step's own
//! implicit commit makes it durable), so at most the last recorded step may not have run.
//! Phase `alter`: every step is reversible and `_collections` still holds the old
//! collection; recovery rolls back (undo in reverse order, new indexes dropped, old ones
//! recreated). Phase `forward` (set once the new indexes exist, before the columns set aside
//! are dropped): data of removed fields is going, so recovery rolls forward (drops what is
//! left aside, saves the new collection). The row is deleted after the `_collections` row
//! is saved. Engines with transactional DDL keep the journal in memory only.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use keel_core::{Error, Result};
use keel_sql::{ColumnType, Dialect, Tx};
use serde_json::Value;

use super::{alter, migrate, Store};
use crate::schema::Collection;

/// The table holding the journals of unfinished collection changes.
const TABLE: &str = "_keel_schema_journal";

/// A test hook called after each journaled step of a collection change (`("step", n)` after
/// the `n`th, `("forward", 0)` once the change can only roll forward); a hook that never
/// returns stands in for a process killed there.
#[doc(hidden)]
pub type Failpoint = Arc<dyn Fn(&'static str, usize) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// The statements reversing each DDL step, run in the opposite order to undo.
#[derive(Default)]
pub(crate) struct Journal {
    undo: Vec<String>,
    /// The collection id of the durable row (engines whose DDL commits by itself).
    durable: Option<String>,
    dialect: Option<&'static dyn Dialect>,
    failpoint: Option<Failpoint>,
}

impl Journal {
    /// Starts the journal of changing `old` (`None`: creating) into `new`; on engines whose
    /// DDL commits by itself, writes its row in `tx` (committed by the first DDL statement).
    pub(crate) async fn start(
        store: &Store,
        tx: &mut dyn Tx,
        old: Option<&Collection>,
        new: &Collection,
    ) -> Result<Journal> {
        let d = store.engine.dialect();
        let failpoint = store.failpoint.read().ok().and_then(|f| f.clone());
        if d.transactional_ddl() {
            return Ok(Journal {
                failpoint,
                ..Journal::default()
            });
        }
        let old = old.map(serde_json::to_string).transpose().map_err(Error::internal)?;
        let new_json = serde_json::to_string(new).map_err(Error::internal)?;
        let p: Vec<String> = (1..=4).map(|n| d.placeholder(n)).collect();
        tx.execute(
            &format!(
                "INSERT INTO {TABLE} (id, old_json, new_json, phase, undo_steps) VALUES ({}, {}, {}, 'alter', '[]')",
                p[0], p[1], p[2]
            ),
            &[
                Value::from(new.id.clone()),
                old.map_or(Value::Null, Value::from),
                Value::from(new_json),
            ],
        )
        .await?;
        Ok(Journal {
            undo: Vec::new(),
            durable: Some(new.id.clone()),
            dialect: Some(d),
            failpoint,
        })
    }

    /// Runs the DDL statement `forward`, recording first that `undo` reverses it.
    pub(crate) async fn run(&mut self, tx: &mut dyn Tx, forward: &str, undo: String) -> Result<()> {
        self.record(tx, undo).await?;
        if let Err(e) = tx.execute(forward, &[]).await {
            // It did not run: nothing to undo for it (a durable row goes with the undo).
            self.undo.pop();
            return Err(e);
        }
        self.hook("step", self.undo.len()).await;
        Ok(())
    }

    /// Records that `undo` reverses the step about to run.
    pub(crate) async fn record(&mut self, tx: &mut dyn Tx, undo: String) -> Result<()> {
        self.undo.push(undo);
        if let (Some(id), Some(d)) = (&self.durable, self.dialect) {
            let steps = serde_json::to_string(&self.undo).map_err(Error::internal)?;
            tx.execute(
                &format!(
                    "UPDATE {TABLE} SET undo_steps = {} WHERE id = {}",
                    d.placeholder(1),
                    d.placeholder(2)
                ),
                &[Value::from(steps), Value::from(id.clone())],
            )
            .await?;
        }
        Ok(())
    }

    /// Marks the change as past its point of no return: the new indexes exist and the
    /// columns set aside are about to be dropped.
    pub(crate) async fn forward(&mut self, tx: &mut dyn Tx) -> Result<()> {
        if let (Some(id), Some(d)) = (&self.durable, self.dialect) {
            tx.execute(
                &format!("UPDATE {TABLE} SET phase = 'forward' WHERE id = {}", d.placeholder(1)),
                &[Value::from(id.clone())],
            )
            .await?;
        }
        self.hook("forward", 0).await;
        Ok(())
    }

    /// Removes the journal row (in the transaction saving the `_collections` row).
    pub(crate) async fn finish(&self, tx: &mut dyn Tx) -> Result<()> {
        if let (Some(id), Some(d)) = (&self.durable, self.dialect) {
            delete_row(tx, d, id).await?;
        }
        Ok(())
    }

    /// The recorded undo statements, in the order the steps ran, and the durable row's
    /// collection id, if any.
    pub(crate) fn into_parts(self) -> (Vec<String>, Option<String>) {
        (self.undo, self.durable)
    }

    async fn hook(&self, what: &'static str, n: usize) {
        if let Some(f) = &self.failpoint {
            f(what, n).await;
        }
    }
}

async fn delete_row(tx: &mut dyn Tx, d: &dyn Dialect, id: &str) -> Result<()> {
    tx.execute(
        &format!("DELETE FROM {TABLE} WHERE id = {}", d.placeholder(1)),
        &[Value::from(id)],
    )
    .await?;
    Ok(())
}

/// Finishes every collection change a killed process left in the journal: rolls back those
/// still reversible, rolls forward the others. Runs under the schema lock, so a change
/// another live process is making is never touched. Nothing to do where DDL is transactional.
pub(crate) async fn recover(store: &Store) -> Result<()> {
    let d = store.engine.dialect();
    if d.transactional_ddl() {
        return Ok(());
    }
    let (key, text) = (d.column_type(ColumnType::Key), d.column_type(ColumnType::Text));
    let mut tx = store.engine.begin().await?;
    tx.execute(
        &format!(
            "CREATE TABLE IF NOT EXISTS {TABLE} (id {key} PRIMARY KEY NOT NULL, old_json {text}, \
             new_json {text} NOT NULL, phase {key} NOT NULL, undo_steps {text} NOT NULL)"
        ),
        &[],
    )
    .await?;
    tx.commit().await?;
    let _lock = store.engine.lock_schema().await?;
    let rows = store
        .engine
        .fetch_all(
            &format!("SELECT id, old_json, new_json, phase, undo_steps FROM {TABLE}"),
            &[],
        )
        .await?;
    for row in rows {
        let text = |c: &str| row.get(c).and_then(Value::as_str).map(str::to_string);
        let id = text("id").unwrap_or_default();
        let parsed = (|| -> Result<_> {
            let new: Collection =
                serde_json::from_str(&text("new_json").unwrap_or_default()).map_err(Error::internal)?;
            let old: Option<Collection> = text("old_json")
                .map(|o| serde_json::from_str(&o))
                .transpose()
                .map_err(Error::internal)?;
            let undo: Vec<String> =
                serde_json::from_str(&text("undo_steps").unwrap_or_default()).map_err(Error::internal)?;
            Ok((old, new, undo))
        })();
        let (old, new, undo) = match parsed {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(collection = %id, error = %e, "an unreadable schema journal row is left in place");
                continue;
            }
        };
        let journal = Journal {
            undo,
            durable: Some(id.clone()),
            dialect: Some(d),
            failpoint: None,
        };
        if text("phase").as_deref() == Some("forward") {
            tracing::warn!(collection = %new.name, "finishing a collection change a stopped process left half done");
            roll_forward(store, old.as_ref(), &new).await?;
        } else {
            tracing::warn!(collection = %new.name, "undoing a collection change a stopped process left half done");
            match old {
                Some(old) => alter::undo(store, &old, &new, journal, true).await,
                None => alter::undo_create(store, &new, journal).await,
            }
        }
    }
    Ok(())
}

/// Completes the change to `new` past its point of no return: drops the columns still set
/// aside (each one dropped already is skipped) and saves `new` in `_collections`.
async fn roll_forward(store: &Store, old: Option<&Collection>, new: &Collection) -> Result<()> {
    let d = store.engine.dialect();
    let mut tx = store.engine.begin().await?;
    if let Some(old) = old {
        for stmt in alter::drop_removed_statements(old, new, d) {
            if let Err(e) = tx.execute(&stmt, &[]).await {
                tracing::debug!(error = %e, "a column set aside was dropped already");
            }
        }
    }
    let exists = !tx
        .fetch_all(
            &format!("SELECT id FROM _collections WHERE id = {}", d.placeholder(1)),
            &[Value::from(new.id.clone())],
        )
        .await?
        .is_empty();
    migrate::save_row(store, tx.as_mut(), new, !exists).await?;
    delete_row(tx.as_mut(), d, &new.id).await?;
    tx.commit().await
}

/// Deletes the journal row `id` in a transaction of its own (after an undo).
pub(crate) async fn discard(store: &Store, id: &str) -> Result<()> {
    let mut tx = store.engine.begin().await?;
    delete_row(tx.as_mut(), store.engine.dialect(), id).await?;
    tx.commit().await
}
