//! `keel superuser …`.

use anyhow::bail;
use keel_core::config::Config;
use keel_data::{Access, RequestInfo};
use serde_json::{json, Value};

use crate::cli::SuperuserCommand;
use crate::wiring::open_store_alone;

pub async fn run(cfg: &Config, cmd: SuperuserCommand) -> anyhow::Result<()> {
    let store = open_store_alone(cfg).await?;
    let col = store.collection(keel_data::schema::SUPERUSERS)?;
    let req = RequestInfo::default();
    match cmd {
        SuperuserCommand::Upsert { email, password } => {
            if password.len() < 8 {
                bail!("the password must be at least 8 characters");
            }
            let hash = keel_auth::hash_password(&password)?;
            let existing = store
                .find_by_field(&col, "email", &Value::String(email.clone()))
                .await?;
            match existing {
                Some(rec) => {
                    let data = json!({"password": hash});
                    let data = data.as_object().cloned().unwrap_or_default();
                    store
                        .update_record(&col, rec.id(), data, &req, Access::Superuser)
                        .await?;
                    println!("Updated superuser {email}.");
                }
                None => {
                    let data = json!({"email": email, "password": hash, "verified": true});
                    let data = data.as_object().cloned().unwrap_or_default();
                    store.create_record(&col, data, &req, Access::Superuser).await?;
                    println!("Created superuser {email}.");
                }
            }
        }
        SuperuserCommand::Delete { email } => {
            match store
                .find_by_field(&col, "email", &Value::String(email.clone()))
                .await?
            {
                Some(rec) => {
                    store.delete_record(&col, rec.id(), &req, Access::Superuser).await?;
                    println!("Deleted superuser {email}.");
                }
                None => bail!("no superuser with email {email}"),
            }
        }
    }
    Ok(())
}
