//! `keel migrate`: Keel's own schema migrations, then the collection migration files of
//! `[data] migrations_dir` (`keel_app::collections::code`): `up` (the default), `down [N]`,
//! `create NAME`, `collections` (a snapshot of the current collections).

use anyhow::Context;
use clap::Subcommand;
use keel_app::collections::code;
use keel_core::config::Config;
use serde_json::json;

use crate::wiring::open_store_alone;

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Apply Keel's own migrations, then every pending file of the migrations dir (the default)
    Up,
    /// Revert the last N applied migration files (their `down`) [default: 1]
    Down {
        #[arg(default_value_t = 1)]
        count: usize,
    },
    /// Write a new, empty migration file NAME to fill in
    Create {
        /// What it does, e.g. add_posts (letters, digits and underscores)
        name: String,
    },
    /// Write a snapshot of every collection as one migration file (`up` makes a database match it)
    Collections,
}

pub async fn run(cfg: &Config, cmd: Option<MigrateCommand>) -> anyhow::Result<()> {
    let dir = &cfg.data.migrations_dir;
    match cmd.unwrap_or(MigrateCommand::Up) {
        MigrateCommand::Up => {
            let store = open_store_alone(cfg).await?;
            let own = store.migrate().await.context("migration failed")?;
            let files = code::up(&store, dir).await?;
            if own.is_empty() && files.is_empty() {
                println!("Database is up to date.");
            }
            for name in own.iter().chain(&files) {
                println!("Applied {name}");
            }
        }
        MigrateCommand::Down { count } => {
            let store = open_store_alone(cfg).await?;
            let reverted = code::down(&store, dir, count).await?;
            if reverted.is_empty() {
                println!("No applied migration file to revert.");
            }
            for name in reverted {
                println!("Reverted {name}");
            }
        }
        MigrateCommand::Create { name } => {
            let path = code::write(dir, &name, &json!({"up": [], "down": []}))?;
            println!("Created {}", path.display());
        }
        MigrateCommand::Collections => {
            let store = open_store_alone(cfg).await?;
            // Not recorded as applied: `up` applies it like any file, a no-op where the
            // collections already are as it says.
            let path = code::write(dir, "collections_snapshot", &code::snapshot(&store))?;
            println!("Wrote {}", path.display());
        }
    }
    Ok(())
}
