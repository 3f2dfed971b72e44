//! The `_vaultSecrets` rows: reading and writing them over the store, with no caller in
//! sight (the service checks permissions; the CLI calls these directly).

use std::sync::Arc;

use keel_core::Error;
use keel_data::schema::Collection;
use keel_data::system::VAULT_SECRETS;
use keel_data::{Access, AuthRecord, ListParams, Page, Record, RequestInfo, Store};
use keel_vault::{KeyId, Keyring, Sealed};
use serde_json::{json, Map, Value};

use super::secret::{SecretData, SecretType};

/// One secret's row: metadata and the sealed data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub description: String,
    /// `keel_vault::Sealed` text; never shown.
    pub sealed: String,
    pub key_id: String,
    pub created_by: String,
    pub updated_by: String,
    pub last_used_at: String,
    pub last_used_by: String,
    pub created: String,
    pub updated: String,
}

fn text(r: &Record, name: &str) -> String {
    r.data.get(name).and_then(Value::as_str).unwrap_or_default().to_string()
}

impl SecretRow {
    pub fn from_record(r: &Record) -> SecretRow {
        SecretRow {
            id: text(r, "id"),
            name: text(r, "name"),
            kind: text(r, "type"),
            description: text(r, "description"),
            sealed: text(r, "sealed"),
            key_id: text(r, "keyId"),
            created_by: text(r, "createdBy"),
            updated_by: text(r, "updatedBy"),
            last_used_at: text(r, "lastUsedAt"),
            last_used_by: text(r, "lastUsedBy"),
            created: text(r, "created"),
            updated: text(r, "updated"),
        }
    }

    /// The metadata the API shows: never the data, sealed or not.
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "type": self.kind,
            "description": self.description,
            "keyId": self.key_id,
            "createdBy": self.created_by,
            "updatedBy": self.updated_by,
            "lastUsedAt": self.last_used_at,
            "lastUsedBy": self.last_used_by,
            "created": self.created,
            "updated": self.updated,
        })
    }
}

/// An internal error about the secret `row` (its name; never a value).
pub fn row_error(row: &SecretRow, e: keel_vault::VaultError) -> Error {
    Error::internal(format!("vault secret {:?}: {e}", row.name))
}

/// The fields holding `data` sealed for the secret `id` (`sealed`, `keyId`), with the id as
/// associated data: a sealed value copied to another row does not open.
pub fn sealed_fields(ring: &Keyring, id: &str, data: &SecretData) -> Result<Map<String, Value>, Error> {
    let sealed = ring.seal(&data.to_bytes(), id.as_bytes()).map_err(super::keys_error)?;
    let mut out = Map::new();
    out.insert("sealed".into(), Value::from(sealed.encode()));
    out.insert("keyId".into(), Value::from(sealed.key_id.0.clone()));
    Ok(out)
}

/// Opens the data of `row` with `ring`.
pub fn open_row(ring: &Keyring, row: &SecretRow) -> Result<SecretData, Error> {
    let sealed = Sealed::decode(&row.sealed).map_err(|e| row_error(row, e))?;
    let bytes = ring.open(&sealed, row.id.as_bytes()).map_err(|e| row_error(row, e))?;
    let kind = SecretType::parse(&row.kind).unwrap_or(SecretType::Generic);
    SecretData::from_bytes(kind, &bytes).ok_or_else(|| row_error(row, keel_vault::VaultError::Malformed))
}

/// A secret's name: a letter or digit, then up to 99 letters, digits, `_`, `-` or `.`.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() <= 100
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn collection(store: &Store) -> Result<Arc<Collection>, Error> {
    store.collection(VAULT_SECRETS)
}

/// The secret whose id or name is `id_or_name`, if any.
pub async fn find(store: &Store, id_or_name: &str) -> Result<Option<SecretRow>, Error> {
    let c = collection(store)?;
    if keel_core::id::is_valid_id(id_or_name) {
        match store
            .get_record(&c, id_or_name, &RequestInfo::default(), Access::Superuser)
            .await
        {
            Ok(r) => return Ok(Some(SecretRow::from_record(&r))),
            Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    if !valid_name(id_or_name) {
        return Ok(None);
    }
    let params = ListParams {
        per_page: 1,
        filter: Some(format!("name = {}", Value::from(id_or_name))),
        skip_total: true,
        ..Default::default()
    };
    let page = store
        .list_records(&c, &params, &RequestInfo::default(), Access::Superuser)
        .await?;
    Ok(page.items.first().map(SecretRow::from_record))
}

/// A page of secrets, by name.
pub async fn page(store: &Store, page: u64, per_page: u64) -> Result<Page<SecretRow>, Error> {
    let params = ListParams {
        page: page.max(1),
        per_page: per_page.clamp(1, 1000),
        sort: Some("name".into()),
        ..Default::default()
    };
    let p = store
        .list_records(&collection(store)?, &params, &RequestInfo::default(), Access::Superuser)
        .await?;
    Ok(Page {
        page: p.page,
        per_page: p.per_page,
        total_items: p.total_items,
        total_pages: p.total_pages,
        items: p.items.iter().map(SecretRow::from_record).collect(),
    })
}

/// Inserts a secret from `fields` (with its `id`, chosen before sealing).
pub async fn insert(store: &Store, fields: Map<String, Value>) -> Result<SecretRow, Error> {
    let r = store
        .create_record(&collection(store)?, fields, &RequestInfo::default(), Access::Superuser)
        .await?;
    Ok(SecretRow::from_record(&r))
}

/// Changes `fields` of the secret `id`.
pub async fn update(store: &Store, id: &str, fields: Map<String, Value>) -> Result<SecretRow, Error> {
    let (_, after) = store
        .update_record(
            &collection(store)?,
            id,
            fields,
            &RequestInfo::default(),
            Access::Superuser,
        )
        .await?;
    Ok(SecretRow::from_record(&after))
}

/// Deletes the secret `id`.
pub async fn delete(store: &Store, id: &str) -> Result<(), Error> {
    store
        .delete_record(&collection(store)?, id, &RequestInfo::default(), Access::Superuser)
        .await?;
    Ok(())
}

/// Records a use of the secret `id` by `used_by` (a run id, or `reveal`).
pub async fn mark_used(store: &Store, id: &str, used_by: &str) -> Result<(), Error> {
    let mut fields = Map::new();
    fields.insert("lastUsedAt".into(), Value::from(keel_core::time::now()));
    fields.insert("lastUsedBy".into(), Value::from(used_by));
    update(store, id, fields).await.map(|_| ())
}

/// Up to `limit` secrets whose data key is not wrapped by the key `current`.
pub async fn not_under(store: &Store, current: &KeyId, limit: u64) -> Result<Vec<SecretRow>, Error> {
    let params = ListParams {
        per_page: limit.clamp(1, 1000),
        sort: Some("created,id".into()),
        filter: Some(format!("keyId != {}", Value::from(current.0.as_str()))),
        skip_total: true,
        ..Default::default()
    };
    let p = store
        .list_records(&collection(store)?, &params, &RequestInfo::default(), Access::Superuser)
        .await?;
    Ok(p.items.iter().map(SecretRow::from_record).collect())
}

/// What a re-wrapping pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Rewrapped {
    /// Rows whose data key is now wrapped by the current key.
    pub rewrapped: u64,
    /// Rows left as they were because they kept changing meanwhile (a rerun takes them).
    pub changed: u64,
}

/// Re-wraps the data key of every secret not under `ring`'s current key, without touching its
/// ciphertext, stopping after `stop_after` rows when given (how tests interrupt a rotation).
/// Each row is written only if its sealed value is still the one re-wrapped, so a secret
/// changed meanwhile is never overwritten; a row that fails to open stops the pass with an
/// error naming the secret (never its value).
pub async fn rewrap_all(store: &Store, ring: &Keyring, stop_after: Option<u64>) -> Result<Rewrapped, Error> {
    let c = collection(store)?;
    let mut done = Rewrapped::default();
    // Rows changed under us, and how often: read again up to 3 times, then left to a rerun.
    let mut changed: std::collections::HashMap<String, u32> = Default::default();
    loop {
        let rows = not_under(store, ring.current_id(), 200).await?;
        let rows: Vec<SecretRow> = rows
            .into_iter()
            .filter(|r| changed.get(&r.id).is_none_or(|n| *n < 3))
            .collect();
        if rows.is_empty() {
            return Ok(done);
        }
        for row in rows {
            if stop_after.is_some_and(|n| done.rewrapped >= n) {
                return Ok(done);
            }
            let sealed = Sealed::decode(&row.sealed).map_err(|e| row_error(&row, e))?;
            let Some(new) = ring.rewrap(&sealed).map_err(|e| row_error(&row, e))? else {
                continue;
            };
            let mut fields = Map::new();
            fields.insert("sealed".into(), Value::from(new.encode()));
            fields.insert("keyId".into(), Value::from(new.key_id.0.clone()));
            match write_if_sealed_unchanged(store, &c, &row, fields).await {
                Ok(()) => done.rewrapped += 1,
                Err(Error::NotFound(_)) => {
                    let n = changed.entry(row.id.clone()).or_default();
                    *n += 1;
                    if *n == 3 {
                        done.changed += 1;
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Writes `fields` to the row only if its `sealed` is still `row.sealed` (checked in the write
/// transaction); `NotFound` otherwise.
async fn write_if_sealed_unchanged(
    store: &Store,
    c: &Arc<Collection>,
    row: &SecretRow,
    fields: Map<String, Value>,
) -> Result<(), Error> {
    // `sealed` is hidden: only a superuser context may compare it.
    let superusers = store.collection(keel_data::schema::SUPERUSERS_ID)?;
    let req = RequestInfo {
        auth: Some(AuthRecord::new(superusers, Map::new())),
        body: Map::from_iter([("sealed".to_string(), Value::from(row.sealed.clone()))]),
        ..RequestInfo::default()
    };
    store
        .update_record(c, &row.id, fields, &req, Access::Rule("sealed = @request.body.sealed"))
        .await
        .map(|_| ())
}
