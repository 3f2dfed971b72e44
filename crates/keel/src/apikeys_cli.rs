//! `keel apikeys …`: API keys for service accounts in the data dir's database, opened
//! directly. A secret is printed on stdout, once (create, rotate), so
//! `KEY=$(keel apikeys create ci --role operator)` captures it; everything else goes to
//! stderr. Changes are audited with the actor `cli`.

use clap::Subcommand;
use keel_core::config::Config;
use serde_json::json;

use crate::jobs_cli::{print_json, table};
use crate::roles_cli::{audit, identity, ACTOR};

#[derive(Debug, Subcommand)]
pub enum ApiKeysCommand {
    /// Create a key and print its secret (on stdout, this once)
    Create {
        /// What the key is for, e.g. ci-deploy
        name: String,
        /// A role the key holds (repeatable)
        #[arg(long = "role", value_name = "R")]
        roles: Vec<String>,
        /// When the key stops working, e.g. 2027-01-31 or 2027-01-31T12:00:00Z [default: never]
        #[arg(long, value_name = "DATE")]
        expires: Option<String>,
    },
    /// Every key, newest first (never a secret)
    List {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key: it is refused from now on
    Revoke {
        /// The key's id
        id: String,
    },
    /// Give a key a new secret (printed on stdout); the old one stops working at once
    Rotate {
        /// The key's id
        id: String,
    },
}

pub async fn run(cfg: &Config, cmd: ApiKeysCommand) -> anyhow::Result<()> {
    let id = identity(cfg).await?;
    match cmd {
        ApiKeysCommand::Create { name, roles, expires } => {
            let (key, secret) = id.create_api_key(&name, roles, expires.as_deref(), ACTOR).await?;
            audit(&id, "apikey.create", |e| {
                e.detail("key", key.id.clone())
                    .detail("name", key.name.clone())
                    .detail("roles", key.roles.clone())
            })
            .await;
            eprintln!(
                "Created API key {} ({}). Its secret is shown this once:",
                key.id, key.name
            );
            println!("{secret}");
        }
        ApiKeysCommand::List { json } => {
            let keys = id.list_api_keys().await?;
            if json {
                return print_json(&json!({ "items": keys }));
            }
            let or = |s: &str, d: &str| if s.is_empty() { d.to_string() } else { s.to_string() };
            let rows = keys
                .iter()
                .map(|k| {
                    vec![
                        k.id.clone(),
                        k.name.clone(),
                        k.roles.join(" "),
                        or(&k.expires, "never"),
                        or(&k.last_used, "never"),
                        if k.revoked { "revoked" } else { "active" }.into(),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(&["ID", "NAME", "ROLES", "EXPIRES", "LAST USED", "STATE"], rows)
            );
        }
        ApiKeysCommand::Revoke { id: key_id } => {
            let key = id.revoke_api_key(&key_id).await?;
            audit(&id, "apikey.revoke", |e| {
                e.detail("key", key.id.clone()).detail("name", key.name.clone())
            })
            .await;
            println!("Revoked API key {} ({}).", key.id, key.name);
        }
        ApiKeysCommand::Rotate { id: key_id } => {
            let (key, secret) = id.rotate_api_key(&key_id).await?;
            audit(&id, "apikey.rotate", |e| {
                e.detail("key", key.id.clone()).detail("name", key.name.clone())
            })
            .await;
            eprintln!(
                "Rotated API key {} ({}): the old secret no longer works. The new one:",
                key.id, key.name
            );
            println!("{secret}");
        }
    }
    Ok(())
}
