//! The commit hook: work another part of Keel must do **in the transaction of a record
//! write**, after its statements and before its commit, so that it commits or rolls back
//! with the records (the search index of a shared engine keeps its rows there: a crash can
//! never leave it behind the records it describes).
//!
//! The hook sees every record change of the write with its collection (as this process's
//! schema cache knows it), in the order they were made. A hook that fails fails the write.

use std::sync::Arc;

use async_trait::async_trait;
use keel_core::events::RecordEvent;
use keel_core::Result;
use keel_sql::Tx;

use super::records::Write;
use super::Store;
use crate::schema::Collection;

/// Work done inside every record write's transaction, just before it commits.
#[async_trait]
pub trait CommitHook: Send + Sync + 'static {
    /// Runs in `tx` with the write's `changes` (never empty), in order.
    async fn before_commit(&self, tx: &mut dyn Tx, changes: &[(Arc<Collection>, &RecordEvent)]) -> Result<()>;
}

impl Store {
    /// Sets the hook run inside every record write's transaction (once per process; a later
    /// call replaces it).
    pub fn set_commit_hook(&self, hook: Arc<dyn CommitHook>) {
        *self.commit_hook.write().unwrap_or_else(|p| p.into_inner()) = Some(hook);
    }

    fn commit_hook(&self) -> Option<Arc<dyn CommitHook>> {
        self.commit_hook.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Write<'_> {
    /// Runs the commit hook on this write's changes (called by `commit`, before the commit).
    pub(super) async fn run_commit_hook(&mut self) -> Result<()> {
        if self.events.is_empty() {
            return Ok(());
        }
        let Some(hook) = self.store.commit_hook() else {
            return Ok(());
        };
        let schema = self.store.schema();
        let changes: Vec<(Arc<Collection>, &RecordEvent)> = self
            .events
            .iter()
            .filter_map(|e| Some((schema.get(&e.collection_id)?, e)))
            .collect();
        if changes.is_empty() {
            return Ok(());
        }
        hook.before_commit(self.tx.as_mut(), &changes).await
    }
}
