//! `keel vault …`: the vault's secrets in the data dir's database, opened directly.
//!
//! - `list`: every secret's metadata (never data);
//! - `generate-key`: a new master key on stdout, for `KEEL_MASTER_KEY`;
//! - `rotate-master`: re-wraps every secret's data key under a new master key, the data
//!   itself untouched. Safe to interrupt: with the key file, the new key is written to
//!   `vault.key.next` first and both keys open every secret until the end, when the old key
//!   is kept as `vault.key.retired-<id>` and `vault.key.next` replaces `vault.key`; a rerun
//!   resumes with the same new key and skips what is already under it. With
//!   `KEEL_MASTER_KEY`, the new key is that variable and the old one is passed in
//!   `KEEL_MASTER_KEY_PREVIOUS`. After the swap one more pass re-wraps what a running server
//!   sealed in between. Audited as `vault.rotate` with the actor `cli`.

use anyhow::Context;
use clap::Subcommand;
use keel_app::vault::{fields, rows};
use keel_core::config::Config;
use serde_json::json;

use crate::jobs_cli::{print_json, table};
use crate::roles_cli::{audit, identity};

#[derive(Debug, Subcommand)]
pub enum VaultCommand {
    /// Every secret's metadata, by name (never its data)
    List {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Print a new random master key (base64 of 32 bytes) for KEEL_MASTER_KEY
    GenerateKey,
    /// Re-wrap every secret's data key under a new master key (safe to interrupt: run it again)
    RotateMaster {
        /// Stop after re-wrapping this many secrets, leaving the rotation unfinished as an
        /// interruption would (for tests)
        #[arg(long, hide = true, value_name = "N")]
        stop_after: Option<u64>,
    },
}

pub async fn run(cfg: &Config, cmd: VaultCommand) -> anyhow::Result<()> {
    match cmd {
        VaultCommand::GenerateKey => {
            println!("{}", *keel_vault::MasterKey::generate().to_base64());
            Ok(())
        }
        VaultCommand::List { json } => {
            let id = identity(cfg).await?;
            let mut items = Vec::new();
            let mut page = 1;
            loop {
                let p = rows::page(id.store(), page, 1000).await?;
                let n = p.items.len();
                items.extend(p.items);
                if n < 1000 {
                    break;
                }
                page += 1;
            }
            if json {
                let items: Vec<_> = items.iter().map(rows::SecretRow::json).collect();
                return print_json(&json!({ "items": items }));
            }
            let or = |s: &str| {
                if s.is_empty() {
                    "never".to_string()
                } else {
                    s.to_string()
                }
            };
            let rows = items
                .iter()
                .map(|s| {
                    vec![
                        s.id.clone(),
                        s.name.clone(),
                        s.kind.clone(),
                        s.key_id.clone(),
                        or(&s.last_used_at),
                        s.last_used_by.clone(),
                    ]
                })
                .collect();
            print!("{}", table(&["ID", "NAME", "TYPE", "KEY", "LAST USED", "BY"], rows));
            Ok(())
        }
        VaultCommand::RotateMaster { stop_after } => rotate(cfg, stop_after).await,
    }
}

async fn rotate(cfg: &Config, stop_after: Option<u64>) -> anyhow::Result<()> {
    let id = identity(cfg).await?;
    let source = keel_vault::KeySource::from_process_env(&cfg.data_dir).context("the vault's master key")?;
    let rotation = source.begin_rotation().context("the vault's master key")?;
    let new_id = rotation.keyring.current_id().clone();
    if rotation.uses_files() {
        eprintln!(
            "Rotating to master key {new_id} ({}; the old key stays readable until the end).",
            cfg.data_dir.join(keel_vault::NEXT_FILE).display()
        );
    } else {
        eprintln!("Re-wrapping every secret under KEEL_MASTER_KEY (key {new_id}).");
    }
    let done = rows::rewrap_all(id.store(), &rotation.keyring, stop_after).await?;
    let left = rows::not_under(id.store(), &new_id, 1).await?;
    let field_stop = stop_after.map(|n| n.saturating_sub(done.rewrapped));
    let fields = if left.is_empty() {
        fields::rewrap_all(id.store(), &rotation.keyring, field_stop).await?
    } else {
        Default::default()
    };
    if left.is_empty() && fields.rewrapped > 0 && field_stop == Some(fields.rewrapped) {
        eprintln!(
            "Stopped after re-wrapping {} secrets and {} encrypted field values, as asked; run `keel vault rotate-master` again to finish.",
            done.rewrapped, fields.rewrapped
        );
        return Ok(());
    }
    if fields.changed > 0 {
        anyhow::bail!(
            "{} encrypted field values changed while being re-wrapped: run `keel vault rotate-master` again",
            fields.changed
        );
    }
    if !left.is_empty() {
        if stop_after.is_some() {
            eprintln!(
                "Stopped after re-wrapping {} secrets, as asked; run `keel vault rotate-master` again to finish.",
                done.rewrapped
            );
            return Ok(());
        }
        anyhow::bail!(
            "{} secrets changed while being re-wrapped and are still under an older key: run `keel vault rotate-master` again",
            done.changed.max(1)
        );
    }
    rotation.finish().context("finishing the rotation")?;
    // A server sealing between the last pass and the swap used the old key: one more pass.
    let swapped = after_swap(&source, &new_id)?;
    let late = rows::rewrap_all(id.store(), &swapped, None).await?;
    let late_fields = fields::rewrap_all(id.store(), &swapped, None).await?;
    let field_values = fields.rewrapped + late_fields.rewrapped;
    let done = rows::Rewrapped {
        rewrapped: done.rewrapped + late.rewrapped,
        changed: late.changed,
    };
    audit(&id, "vault.rotate", |e| {
        e.detail("keyId", new_id.0.clone())
            .detail("rewrapped", done.rewrapped)
            .detail("fieldValues", field_values)
    })
    .await;
    println!(
        "Re-wrapped {} secrets and {field_values} encrypted field values; every one is under master key {new_id}.",
        done.rewrapped
    );
    Ok(())
}

/// The keyring after the swap: the new key current, the old ones (retired files, or
/// `KEEL_MASTER_KEY_PREVIOUS`) still opening.
fn after_swap(source: &keel_vault::KeySource, new_id: &keel_vault::KeyId) -> anyhow::Result<keel_vault::Keyring> {
    let ring = source.load(false).context("the vault's master key")?;
    anyhow::ensure!(
        ring.current_id() == new_id,
        "the master key changed during the rotation: run `keel vault rotate-master` again"
    );
    Ok(ring)
}
