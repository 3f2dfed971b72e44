//! `keel search reindex [COLLECTION]`: rebuilds the embedded search index of one searchable
//! collection, or of every one, from its records. The embedded index is written by one
//! process: this needs the server stopped (it takes the data dir's lock); a running server
//! rebuilds by itself what needs it at start and after collection changes.

use anyhow::Context;
use clap::Subcommand;
use keel_core::config::Config;

use crate::wiring::{open_search, open_store_alone};

#[derive(Debug, Subcommand)]
pub enum SearchCommand {
    /// Rebuild the search index of COLLECTION (name or id), or of every searchable collection
    Reindex {
        /// The collection; every searchable one when left out
        collection: Option<String>,
    },
}

pub async fn run(cfg: &Config, cmd: SearchCommand) -> anyhow::Result<()> {
    match cmd {
        SearchCommand::Reindex { collection } => {
            let embedded = crate::datadir::embedded_in(cfg);
            let _lock = crate::datadir::DataDirLock::acquire(&cfg.data_dir, &embedded)
                .context("reindex needs the server stopped: the embedded index is written by one process")?;
            let store = open_store_alone(cfg).await?;
            let search = open_search(cfg, &store).await?;
            let collections = match collection {
                Some(name) => vec![store
                    .collection(&name)
                    .map_err(|_| anyhow::anyhow!("no collection {name:?}"))?],
                None => store.collections().into_iter().filter(|c| c.search.is_some()).collect(),
            };
            if collections.is_empty() {
                println!("No collection is searchable.");
            }
            for c in collections {
                let n = keel_app::search::rebuild(&store, &search, &c)
                    .await
                    .with_context(|| format!("cannot rebuild the search index of {}", c.name))?;
                println!("Rebuilt the search index of {}: {n} records.", c.name);
            }
            search.close().await;
            Ok(())
        }
    }
}
