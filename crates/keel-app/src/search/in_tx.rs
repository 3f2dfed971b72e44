//! Records search on a shared SQL engine: the index rows are written by the store's commit
//! hook **inside each record write's transaction** (`keel_data::store::CommitHook`), so
//! they commit or roll back with the records, in the records' own commit order, whichever
//! process wrote them. There is nothing to catch up after a crash, and no process can
//! overwrite a newer index row with an older one.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use keel_core::events::{RecordAction, RecordEvent};
use keel_core::Result;
use keel_data::store::CommitHook;
use keel_data::{Collection, Store};
use keel_search::sql::SqlIndex;
use keel_sql::Tx;

use super::rebuild::document;

/// The hook writing searchable collections' changes to their index.
pub(crate) struct IndexInTx {
    pub(crate) index: Arc<dyn SqlIndex>,
}

#[async_trait]
impl CommitHook for IndexInTx {
    async fn before_commit(&self, tx: &mut dyn Tx, changes: &[(Arc<Collection>, &RecordEvent)]) -> Result<()> {
        // Collection id → (collection, record id → its last change), in first-seen order.
        let mut by_collection: BTreeMap<&str, (&Arc<Collection>, BTreeMap<&str, &RecordEvent>)> = BTreeMap::new();
        for (c, e) in changes {
            if c.search.is_none() {
                continue;
            }
            let Some(id) = e.record.get("id").and_then(|v| v.as_str()) else {
                continue;
            };
            by_collection
                .entry(c.id.as_str())
                .or_insert_with(|| (c, BTreeMap::new()))
                .1
                .insert(id, e);
        }
        for (cid, (c, last)) in by_collection {
            let Some(settings) = c.search.as_ref().map(|s| s.settings()) else {
                continue;
            };
            let deletes: Vec<String> = last
                .iter()
                .filter(|(_, e)| e.action == RecordAction::Delete)
                .map(|(id, _)| id.to_string())
                .collect();
            let docs = last
                .values()
                .filter(|e| e.action != RecordAction::Delete)
                .map(|e| document(&settings, &e.record))
                .collect::<Vec<_>>();
            self.index.upsert_in(tx, cid, &settings, docs).await?;
            self.index.delete_in(tx, cid, &deletes).await?;
        }
        Ok(())
    }
}

/// Makes every record write through `store` keep the indexes of `index` (a provider on the
/// store's own engine) in its transaction.
pub(crate) fn install(store: &Store, index: Arc<dyn SqlIndex>) {
    store.set_commit_hook(Arc::new(IndexInTx { index }));
}
