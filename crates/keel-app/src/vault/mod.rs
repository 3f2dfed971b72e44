//! The vault: secrets stored envelope-encrypted (`keel-vault`) in `_vaultSecrets`, their data
//! write-only.
//!
//! - `vault:read` lists and views metadata (never data); `vault:manage` creates, changes and
//!   deletes; `vault:reveal` reads a secret's data ([`reveal`]), each reveal audited with who
//!   and which secret, never the value. Every change is audited (`vault.create|update|delete`).
//! - [`resolve`] is how runs read a secret by name or id: it marks the last use (`lastUsedBy`
//!   = the run) and audits `vault.use`; [`SecretData::redactor`] (or `keel_vault::Redactor`
//!   over several secrets) takes the values back out of what the run prints.
//! - [`rows`] holds the storage, used directly by `keel vault …` (list, rotate-master).
//!
//! The master keys are `App.vault` (`keel_vault::Keys`); without one every call answers 503.

pub mod fields;
pub mod rows;
pub mod secret;

use keel_core::Error;
use keel_vault::{Keyring, Sealed, VaultError};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::audit::{self, Origin};
use crate::authz::{authorize, Permission};
use crate::caller::Caller;
use crate::App;
pub use rows::SecretRow;
pub use secret::{SecretData, SecretType};

/// 403 unless `caller` may read secrets' metadata.
pub fn may_read(caller: &Caller) -> Result<(), Error> {
    authorize(caller, Permission::VaultRead)
}

/// 403 unless `caller` may create, change and delete secrets (entry points call it before
/// reading a body).
pub fn may_manage(caller: &Caller) -> Result<(), Error> {
    authorize(caller, Permission::VaultManage)
}

/// 403 unless `caller` may read secrets' data.
pub fn may_reveal(caller: &Caller) -> Result<(), Error> {
    authorize(caller, Permission::VaultReveal)
}

/// A vault error as the core's: no key → 503 saying how to configure one; anything else is
/// internal (logged by the entry point, never a value in it).
pub fn keys_error(e: VaultError) -> Error {
    match e {
        VaultError::NoKey => Error::Unavailable(
            "The vault has no master key: set KEEL_MASTER_KEY, or let `keel serve` create the key file in the data dir."
                .into(),
        ),
        other => Error::internal(format!("vault: {other}")),
    }
}

/// The keyring new data is sealed with (re-read from key files: see `Keys::for_sealing`).
fn keyring(app: &App) -> Result<std::sync::Arc<Keyring>, Error> {
    app.vault.for_sealing().map_err(keys_error)
}

async fn secret_or_404(app: &App, id_or_name: &str) -> Result<SecretRow, Error> {
    rows::find(&app.store, id_or_name)
        .await?
        .ok_or_else(|| Error::NotFound(format!("No secret with the id or name {id_or_name:?}.")))
}

/// A page of secrets' metadata, by name.
pub async fn list(app: &App, caller: &Caller, page: u64, per_page: u64) -> Result<Value, Error> {
    may_read(caller)?;
    let p = rows::page(&app.store, page, per_page).await?;
    Ok(json!({
        "page": p.page,
        "perPage": p.per_page,
        "totalItems": p.total_items,
        "totalPages": p.total_pages,
        "items": p.items.iter().map(SecretRow::json).collect::<Vec<_>>(),
    }))
}

/// One secret's metadata.
pub async fn view(app: &App, caller: &Caller, id_or_name: &str) -> Result<Value, Error> {
    may_read(caller)?;
    Ok(secret_or_404(app, id_or_name).await?.json())
}

/// What a caller submits (every field optional on a change).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretInput {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    description: Option<String>,
    data: Option<Value>,
}

impl SecretInput {
    fn parse(body: Value) -> Result<SecretInput, Error> {
        serde_json::from_value(body).map_err(|e| {
            // serde's message names the field, never a value of `data`.
            let msg = e.to_string();
            let msg = msg.split(" at line").next().unwrap_or("invalid body");
            Error::bad_request(format!(
                "Invalid secret: {msg}. A secret is {{\"name\", \"type\", \"description\", \"data\"}}."
            ))
        })
    }
}

fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::field("name", "validation_required", "Give the secret a name."));
    }
    if !rows::valid_name(name) {
        return Err(Error::field(
            "name",
            "validation_invalid_name",
            "A name is 1 to 100 letters, digits, '_', '-' or '.', starting with a letter or digit.",
        ));
    }
    Ok(())
}

fn check_type(kind: &str) -> Result<SecretType, Error> {
    SecretType::parse(kind).ok_or_else(|| {
        Error::field(
            "type",
            "validation_invalid_type",
            format!("Unknown secret type {kind:?}: use {}.", secret::TYPES),
        )
    })
}

fn check_description(d: &str) -> Result<(), Error> {
    if d.chars().count() > 500 {
        return Err(Error::field(
            "description",
            "validation_max_text_constraint",
            "Keep the description under 500 characters.",
        ));
    }
    Ok(())
}

async fn check_unique(app: &App, name: &str, except: &str) -> Result<(), Error> {
    if let Some(other) = rows::find(&app.store, name).await? {
        if other.id != except && other.name == name {
            return Err(Error::field(
                "name",
                "validation_not_unique",
                format!("A secret named {name:?} exists already."),
            ));
        }
    }
    Ok(())
}

/// Creates a secret from `{name, type, description?, data}`; answers its metadata.
pub async fn create(app: &App, caller: &Caller, origin: &Origin, body: Value) -> Result<Value, Error> {
    may_manage(caller)?;
    let input = SecretInput::parse(body)?;
    let name = input.name.unwrap_or_default().trim().to_string();
    check_name(&name)?;
    let Some(kind) = input.kind.as_deref() else {
        return Err(Error::field(
            "type",
            "validation_required",
            format!("Give the secret's type: {}.", secret::TYPES),
        ));
    };
    let kind = check_type(kind)?;
    let description = input.description.unwrap_or_default();
    check_description(&description)?;
    let Some(data) = input.data else {
        return Err(Error::field("data", "validation_required", "Give the secret's data."));
    };
    let data = secret::validate(kind, data)?;
    check_unique(app, &name, "").await?;
    let ring = keyring(app)?;
    let id = keel_core::id::new_id();
    let mut fields = rows::sealed_fields(&ring, &id, &data)?;
    fields.insert("id".into(), Value::from(id));
    fields.insert("name".into(), Value::from(name));
    fields.insert("type".into(), Value::from(kind.as_str()));
    fields.insert("description".into(), Value::from(description));
    fields.insert("createdBy".into(), Value::from(caller.actor()));
    fields.insert("updatedBy".into(), Value::from(caller.actor()));
    let row = rows::insert(&app.store, fields).await?;
    audited(app, caller, origin, "vault.create", &row).await;
    Ok(row.json())
}

/// Changes a secret: any of `name`, `type`, `description`, `data`. Without `data` the sealed
/// data stays (a change of `type` needs `data`); with it, the data is sealed anew.
pub async fn update(
    app: &App,
    caller: &Caller,
    origin: &Origin,
    id_or_name: &str,
    body: Value,
) -> Result<Value, Error> {
    may_manage(caller)?;
    let current = secret_or_404(app, id_or_name).await?;
    let input = SecretInput::parse(body)?;
    let mut fields = Map::new();
    if let Some(name) = input.name {
        let name = name.trim().to_string();
        check_name(&name)?;
        check_unique(app, &name, &current.id).await?;
        fields.insert("name".into(), Value::from(name));
    }
    if let Some(d) = input.description {
        check_description(&d)?;
        fields.insert("description".into(), Value::from(d));
    }
    let kind = match input.kind.as_deref() {
        Some(k) => check_type(k)?,
        None => SecretType::parse(&current.kind).unwrap_or(SecretType::Generic),
    };
    match input.data {
        Some(data) => {
            let data = secret::validate(kind, data)?;
            let ring = keyring(app)?;
            fields.extend(rows::sealed_fields(&ring, &current.id, &data)?);
        }
        None if kind.as_str() != current.kind => {
            return Err(Error::field(
                "data",
                "validation_required",
                format!("Changing the type to {} needs its data too.", kind.as_str()),
            ))
        }
        None => {}
    }
    fields.insert("type".into(), Value::from(kind.as_str()));
    fields.insert("updatedBy".into(), Value::from(caller.actor()));
    let row = rows::update(&app.store, &current.id, fields).await?;
    audited(app, caller, origin, "vault.update", &row).await;
    Ok(row.json())
}

/// Deletes a secret.
pub async fn delete(app: &App, caller: &Caller, origin: &Origin, id_or_name: &str) -> Result<(), Error> {
    may_manage(caller)?;
    let row = secret_or_404(app, id_or_name).await?;
    rows::delete(&app.store, &row.id).await?;
    audited(app, caller, origin, "vault.delete", &row).await;
    Ok(())
}

/// Opens a secret's data (the keyring re-read if a rotation beside this process brought a key
/// it lacks).
pub async fn open(app: &App, row: &SecretRow) -> Result<SecretData, Error> {
    let sealed = Sealed::decode(&row.sealed).map_err(|e| rows::row_error(row, e))?;
    let ring = app.vault.keyring_with(&sealed.key_id).map_err(|e| match e {
        VaultError::NoKey => keys_error(e),
        other => rows::row_error(row, other),
    })?;
    rows::open_row(&ring, row)
}

/// A secret's metadata with its `data` (`vault:reveal`); audited as `vault.reveal` (who, which
/// secret; never the value) and recorded as its last use (`reveal`).
pub async fn reveal(app: &App, caller: &Caller, origin: &Origin, id_or_name: &str) -> Result<Value, Error> {
    may_reveal(caller)?;
    let row = secret_or_404(app, id_or_name).await?;
    let data = open(app, &row).await?;
    rows::mark_used(&app.store, &row.id, "reveal").await?;
    audited(app, caller, origin, "vault.reveal", &row).await;
    let mut out = row.json();
    out["lastUsedBy"] = Value::from("reveal");
    out["data"] = data.to_json();
    Ok(out)
}

/// How a run reads a secret by name or id: its data, with the use recorded (`lastUsedAt`,
/// `lastUsedBy` = `used_by`, the run's id) and audited as `vault.use`. Permissions are the
/// run's business (who may launch it); 404 names the secret when there is none.
pub async fn resolve(app: &App, name_or_id: &str, used_by: &str) -> Result<SecretData, Error> {
    let row = secret_or_404(app, name_or_id).await?;
    let data = open(app, &row).await?;
    rows::mark_used(&app.store, &row.id, used_by).await?;
    let entry = keel_auth::AuditEntry::new("vault.use", true)
        .actor(format!("run/{used_by}"))
        .detail("secret", row.id.clone())
        .detail("name", row.name.clone());
    app.identity.audit(entry).await;
    Ok(data)
}

async fn audited(app: &App, caller: &Caller, origin: &Origin, event: &str, row: &SecretRow) {
    let entry = audit::entry(caller, origin, event)
        .detail("secret", row.id.clone())
        .detail("name", row.name.clone())
        .detail("type", row.kind.clone());
    app.identity.audit(entry).await;
}

/// Whether a secret of this id or name exists (metadata only: nothing is opened or marked).
pub async fn exists(app: &App, id_or_name: &str) -> Result<bool, Error> {
    Ok(rows::find(&app.store, id_or_name).await?.is_some())
}
