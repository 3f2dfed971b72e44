//! `keel roles …`: roles and their assignment to auth records in the data dir's database,
//! opened directly the way `keel superuser` opens it. Changes are audited with the actor
//! `cli`; a running server sees them on its next request.

use clap::Subcommand;
use keel_auth::{AuditEntry, Identity};
use keel_core::config::Config;
use keel_core::Error;
use keel_data::{Access, RequestInfo};
use serde_json::json;

use crate::jobs_cli::{print_json, table};
use crate::wiring::open_store_alone;

#[derive(Debug, Subcommand)]
pub enum RolesCommand {
    /// Every role (built-in first) with its permissions
    List {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Create a custom role
    Create {
        /// The role's name (lowercase letters, digits, '_' and '-', starting with a letter)
        name: String,
        /// A permission it grants: service:action, service:*, *:action or * (repeatable)
        #[arg(long = "permission", value_name = "P")]
        permissions: Vec<String>,
        /// What the role is for
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Delete a custom role and every assignment of it
    Delete {
        /// The role's name
        name: String,
    },
    /// Who holds a role
    Members {
        /// The role's name
        name: String,
    },
    /// Give an auth record a role
    Assign {
        /// The role's name
        name: String,
        /// The auth collection (name or id), e.g. users
        collection: String,
        /// The record's id
        record_id: String,
    },
    /// Take a role away from an auth record
    Unassign {
        /// The role's name
        name: String,
        /// The auth collection (name or id)
        collection: String,
        /// The record's id
        record_id: String,
    },
}

pub(crate) const ACTOR: &str = "cli";

pub(crate) async fn identity(cfg: &Config) -> anyhow::Result<Identity> {
    Ok(Identity::new(open_store_alone(cfg).await?))
}

pub(crate) async fn audit(id: &Identity, event: &str, entry: impl FnOnce(AuditEntry) -> AuditEntry) {
    id.audit(entry(AuditEntry::new(event, true).actor(ACTOR))).await;
}

pub async fn run_roles(cfg: &Config, cmd: RolesCommand) -> anyhow::Result<()> {
    let id = identity(cfg).await?;
    match cmd {
        RolesCommand::List { json } => {
            let roles = id.list_roles().await?;
            if json {
                return print_json(&json!({ "items": roles }));
            }
            let rows = roles
                .iter()
                .map(|r| {
                    let kind = if r.builtin { "built-in" } else { "custom" };
                    vec![
                        r.name.clone(),
                        kind.into(),
                        r.permissions.join(" "),
                        r.description.clone(),
                    ]
                })
                .collect();
            print!("{}", table(&["NAME", "KIND", "PERMISSIONS", "DESCRIPTION"], rows));
        }
        RolesCommand::Create {
            name,
            permissions,
            description,
        } => {
            let role = id.create_role(&name, &description, permissions).await?;
            audit(&id, "role.create", |e| {
                e.detail("role", role.name.clone())
                    .detail("permissions", role.permissions.clone())
            })
            .await;
            println!("Created role {} ({}).", role.name, role.permissions.join(" "));
        }
        RolesCommand::Delete { name } => {
            if id.role(&name).await?.is_none() {
                return Err(no_role(&name).into());
            }
            id.delete_role(&name).await?;
            audit(&id, "role.delete", |e| e.detail("role", name.clone())).await;
            println!("Deleted role {name} and its assignments.");
        }
        RolesCommand::Members { name } => {
            if id.role(&name).await?.is_none() {
                return Err(no_role(&name).into());
            }
            let rows = id
                .role_members(&name)
                .await?
                .into_iter()
                .map(|(c, r)| {
                    let collection = id.store().collection(&c).map(|c| c.name.clone()).unwrap_or(c);
                    vec![collection, r]
                })
                .collect();
            print!("{}", table(&["COLLECTION", "RECORD"], rows));
        }
        RolesCommand::Assign {
            name,
            collection,
            record_id,
        } => {
            if id.role(&name).await?.is_none() {
                return Err(no_role(&name).into());
            }
            let cid = auth_record(&id, &collection, &record_id).await?;
            id.assign_role(&cid, &record_id, &name).await?;
            audit(&id, "role.assign", |e| {
                e.record(&cid, &record_id).detail("role", name.clone())
            })
            .await;
            println!("Assigned role {name} to {collection}/{record_id}.");
        }
        RolesCommand::Unassign {
            name,
            collection,
            record_id,
        } => {
            if id.role(&name).await?.is_none() {
                return Err(no_role(&name).into());
            }
            let cid = id
                .store()
                .collection(&collection)
                .map_err(|_| no_collection(&collection))?
                .id
                .clone();
            id.unassign_role(&cid, &record_id, &name).await?;
            audit(&id, "role.unassign", |e| {
                e.record(&cid, &record_id).detail("role", name.clone())
            })
            .await;
            println!("Unassigned role {name} from {collection}/{record_id}.");
        }
    }
    Ok(())
}

fn no_role(name: &str) -> Error {
    Error::NotFound(format!("no role named {name:?} (see `keel roles list`)"))
}

fn no_collection(name: &str) -> Error {
    Error::NotFound(format!("no collection named {name:?}"))
}

/// The id of the auth collection `collection` after checking the record exists in it.
async fn auth_record(id: &Identity, collection: &str, record_id: &str) -> Result<String, Error> {
    let store = id.store();
    let col = store.collection(collection).map_err(|_| no_collection(collection))?;
    if col.auth.is_none() || col.id == keel_data::schema::SUPERUSERS_ID {
        return Err(Error::field(
            "collection",
            "validation_not_auth_collection",
            format!(
                "{:?} is not an auth collection whose records hold roles (superusers hold every permission).",
                col.name
            ),
        ));
    }
    match store
        .get_record(&col, record_id, &RequestInfo::default(), Access::Superuser)
        .await
    {
        Ok(_) => Ok(col.id.clone()),
        Err(Error::NotFound(_)) => Err(Error::NotFound(format!("no record {record_id:?} in {:?}", col.name))),
        Err(e) => Err(e),
    }
}
