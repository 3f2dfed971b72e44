//! `keel backup list|create|restore`: backups of the data dir, opened directly (no server
//! needed). `create` may run beside a `keel serve` (the databases are copied with
//! `VACUUM INTO`, consistent while the server writes); `restore` needs the server stopped: it
//! takes `keel.lock`, unpacks and checks the backup, and swaps it in (docs/backups.md). To
//! restore into a running server, use `POST /api/backups/{key}/restore`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use keel_app::backups::{self, restore, storage, BackupsSettings, Contents};
use keel_core::config::Config;

use crate::wiring::open_store_alone;

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// List the backups in the data dir's backups/ (name, size, time)
    List,
    /// Make a backup now (beside a running server too)
    Create {
        /// `[a-z0-9_-]+.zip`; default pb_backup_<app name>_<UTC time>.zip
        name: Option<String>,
    },
    /// Replace the data with a backup's (the server must be stopped)
    Restore {
        /// A backup in the data dir's backups/
        #[arg(required_unless_present = "file", conflicts_with = "file")]
        name: Option<String>,
        /// A backup zip anywhere else (e.g. downloaded from another Keel)
        #[arg(long, value_name = "ZIP")]
        file: Option<PathBuf>,
    },
}

pub async fn run(cfg: &Config, cmd: BackupCommand) -> anyhow::Result<()> {
    crate::datadir::prepare(&cfg.data_dir)?;
    let contents = Contents::of(cfg);
    match cmd {
        BackupCommand::List => {
            let settings = settings_of(cfg).await?;
            let store = storage::open(&cfg.data_dir, &settings)?;
            let files = storage::list(store.as_ref(), "").await?;
            if files.is_empty() {
                println!("No backups in {}.", cfg.data_dir.join(storage::LOCAL_DIR).display());
            }
            for f in files {
                println!("{}\t{}\t{}", f.key, f.size, keel_core::time::format(f.last_modified));
            }
            Ok(())
        }
        BackupCommand::Create { name } => {
            backups::refuse_unless_sqlite(&contents, &cfg.data.engine.to_string())?;
            let store = open_store_alone(cfg).await?;
            let settings = keel_app::Settings::load(&store).await.context("cannot load settings")?;
            let section: BackupsSettings = serde_json::from_value(settings.get().backups.clone()).unwrap_or_default();
            let files = storage::open(&cfg.data_dir, &section)?;
            let name = match name {
                Some(n) => {
                    backups::name::validate_new(&n).map_err(|_| {
                        anyhow::anyhow!("name: {n:?} must be lowercase letters, digits, _ and - followed by .zip")
                    })?;
                    if storage::exists(files.as_ref(), &n).await? {
                        anyhow::bail!("name: a backup named {n} already exists");
                    }
                    n
                }
                None => backups::name::generate(
                    backups::name::MANUAL_PREFIX,
                    &settings.get().meta.app_name,
                    chrono::Utc::now(),
                ),
            };
            backups::make(&contents, files.as_ref(), &name).await?;
            println!("Created backup {name}.");
            Ok(())
        }
        BackupCommand::Restore { name, file } => {
            backups::refuse_unless_sqlite(&contents, &cfg.data.engine.to_string())?;
            let embedded = crate::datadir::embedded_in(cfg);
            let _lock = crate::datadir::DataDirLock::acquire(&cfg.data_dir, &embedded).context(
                "restore needs the server stopped (to restore into a running one: POST /api/backups/{key}/restore)",
            )?;
            let root = cfg.data_dir.clone();
            let label = match (name, file) {
                (_, Some(zip)) => {
                    let shown = zip.display().to_string();
                    let (r, z, k) = (root.clone(), zip.clone(), shown.clone());
                    tokio::task::spawn_blocking(move || restore::stage(&r, &z, &k)).await??;
                    shown
                }
                (Some(name), None) => {
                    let store = storage::open(&root, &BackupsSettings::default())?;
                    if !backups::name::is_valid_key(&name) || !storage::exists(store.as_ref(), &name).await? {
                        anyhow::bail!(
                            "no backup named {name} in {} (see keel backup list)",
                            root.join(storage::LOCAL_DIR).display()
                        );
                    }
                    backups::stage_from(&root, store.as_ref(), &name).await?;
                    name
                }
                (None, None) => anyhow::bail!("name the backup to restore, or give --file ZIP"),
            };
            let r = root.clone();
            tokio::task::spawn_blocking(move || restore::apply_pending(&r)).await??;
            println!("Restored {label} into {}.", root.display());
            Ok(())
        }
    }
}

/// The settings' backups section (read from the records store).
async fn settings_of(cfg: &Config) -> anyhow::Result<BackupsSettings> {
    let store = open_store_alone(cfg).await?;
    let settings = keel_app::Settings::load(&store).await.context("cannot load settings")?;
    Ok(serde_json::from_value(settings.get().backups.clone()).unwrap_or_default())
}
