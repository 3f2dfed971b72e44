//! Encrypted text fields (`"encrypted": true`): the store seals their values on every write
//! and opens them on every read that returns a record, through the [`FieldCipher`] the
//! application sets ([`Store::set_field_cipher`]; Keel's is the vault's keyring).
//!
//! - the associated data binds a value to `collection id / record id / field id`, so a stored
//!   value copied to another row or field does not open;
//! - an empty value is stored empty (a field added to a collection with rows reads as "");
//! - with no cipher set, or a cipher without a key, a write or read of a collection with an
//!   encrypted field fails (503 from the cipher) and nothing is stored in plaintext;
//! - validation (`min`, `max`, `pattern`, `required`) runs on the plaintext before sealing,
//!   and filters, sorts and unique indexes over an encrypted field are refused.

use std::sync::Arc;

use keel_core::{Error, Result};
use serde_json::Value;

use super::Store;
use crate::schema::{Collection, Field, RecordData};

/// Seals and opens the values of encrypted fields. Errors are already what a caller should
/// see (e.g. a 503 naming how to configure a key); they never hold a value or a key.
pub trait FieldCipher: Send + Sync + 'static {
    /// The stored text of `plaintext`, bound to `aad`.
    fn seal(&self, plaintext: &str, aad: &[u8]) -> Result<String>;
    /// The plaintext of `stored`, which must have been sealed with the same `aad`.
    fn open(&self, stored: &str, aad: &[u8]) -> Result<String>;
}

/// The associated data of a field value: its collection, record and field (ids, which
/// survive renames).
pub fn field_aad(collection: &Collection, record_id: &str, field: &Field) -> Vec<u8> {
    format!("keel field {}/{}/{}", collection.id, record_id, field.id).into_bytes()
}

/// Whether `c` has an encrypted field.
pub(crate) fn has_encrypted(c: &Collection) -> bool {
    c.fields.iter().any(Field::is_encrypted)
}

impl Store {
    /// Sets what seals and opens encrypted fields (once per process; a later call replaces it).
    pub fn set_field_cipher(&self, cipher: Arc<dyn FieldCipher>) {
        *self.cipher.write().unwrap_or_else(|p| p.into_inner()) = Some(cipher);
    }

    fn field_cipher(&self) -> Result<Arc<dyn FieldCipher>> {
        self.cipher
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| {
                Error::Unavailable(
                    "This collection has encrypted fields and no master key is configured: set KEEL_MASTER_KEY or let Keel create the data dir's vault.key (see docs/vault.md).".into(),
                )
            })
    }

    /// `params` (the bound values of `data`, in schema order) with every non-empty encrypted
    /// value replaced by its sealed text.
    pub(crate) fn seal_params(&self, c: &Collection, data: &RecordData, params: &mut [Value]) -> Result<()> {
        if !has_encrypted(c) {
            return Ok(());
        }
        let cipher = self.field_cipher()?;
        let id = data.get("id").and_then(Value::as_str).unwrap_or("");
        for (f, v) in c.fields.iter().zip(params.iter_mut()) {
            if !f.is_encrypted() {
                continue;
            }
            if let Value::String(s) = v {
                if !s.is_empty() {
                    *v = Value::String(cipher.seal(s, &field_aad(c, id, f))?);
                }
            }
        }
        Ok(())
    }

    /// Opens every encrypted value of `data` (a record of `c` as read from its table).
    pub(crate) fn open_fields(&self, c: &Collection, data: &mut RecordData) -> Result<()> {
        if !has_encrypted(c) {
            return Ok(());
        }
        let cipher = self.field_cipher()?;
        let id = data.get("id").and_then(Value::as_str).unwrap_or("").to_string();
        for f in c.fields.iter().filter(|f| f.is_encrypted()) {
            if let Some(Value::String(s)) = data.get_mut(&f.name) {
                if !s.is_empty() {
                    *s = cipher.open(s, &field_aad(c, &id, f))?;
                }
            }
        }
        Ok(())
    }
}

/// What [`Store::rewrap_encrypted`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FieldsRewrapped {
    /// Values whose data key is now wrapped by the new key.
    pub rewrapped: u64,
    /// Values left as they were because they changed meanwhile (a rerun takes them).
    pub changed: u64,
}

impl Store {
    /// Passes every stored value of every encrypted field to `rewrap` (its sealed text; `None`
    /// = nothing to do, else the new text) and writes the answer back only where the value is
    /// still the one read, so a value changed meanwhile is never overwritten. Each value is
    /// its own statement: an interrupted pass leaves every value readable, and a rerun
    /// resumes. Stops after `stop_after` re-wrapped values when given (tests).
    pub async fn rewrap_encrypted(
        &self,
        rewrap: &(dyn Fn(&str) -> Result<Option<String>> + Sync),
        stop_after: Option<u64>,
    ) -> Result<FieldsRewrapped> {
        let mut done = FieldsRewrapped::default();
        let d = self.engine.dialect();
        for c in self.collections().iter().filter(|c| has_encrypted(c)) {
            for f in c.fields.iter().filter(|f| f.is_encrypted()) {
                let col = d.quote_ident(&f.name);
                let table = d.quote_ident(&c.name);
                let select = format!("SELECT \"id\", {col} AS v FROM {table} WHERE {col} != ''");
                let update = format!(
                    "UPDATE {table} SET {col} = {} WHERE \"id\" = {} AND {col} = {}",
                    d.placeholder(1),
                    d.placeholder(2),
                    d.placeholder(3)
                );
                for row in self.engine.fetch_all(&select, &[]).await? {
                    let (Some(id), Some(old)) = (
                        row.get("id").and_then(Value::as_str),
                        row.get("v").and_then(Value::as_str),
                    ) else {
                        continue;
                    };
                    if stop_after.is_some_and(|n| done.rewrapped >= n) {
                        return Ok(done);
                    }
                    let Some(new) = rewrap(old)
                        .map_err(|e| Error::internal(format!("the field {}.{} of record {id}: {e}", c.name, f.name)))?
                    else {
                        continue;
                    };
                    let params = [Value::from(new), Value::from(id), Value::from(old)];
                    let mut tx = self.engine.begin().await?;
                    let n = tx.execute(&update, &params).await?;
                    tx.commit().await?;
                    match n {
                        0 => done.changed += 1,
                        _ => done.rewrapped += 1,
                    }
                }
            }
        }
        Ok(done)
    }
}
