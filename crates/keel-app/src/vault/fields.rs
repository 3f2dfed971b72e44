//! Encrypted text fields (`"encrypted": true`) sealed with the vault's keys: the
//! [`keel_data::store::FieldCipher`] the store uses for every write and read of such a field.

use std::sync::Arc;

use keel_core::Error;
use keel_data::store::{FieldCipher, FieldsRewrapped};
use keel_data::Store;
use keel_vault::{Keyring, Keys, Sealed, VaultError};

use super::keys_error;

/// Seals with the current master key, opens with whichever key wrapped the value.
pub struct VaultFieldCipher(pub Arc<Keys>);

fn field_error(e: VaultError) -> Error {
    match e {
        VaultError::NoKey => keys_error(e),
        // A value moved from another record or field, or altered: never its text.
        VaultError::Tampered => Error::internal(
            "an encrypted field value does not open here (moved from another record or field, or altered)",
        ),
        other => Error::internal(format!("encrypted field: {other}")),
    }
}

impl FieldCipher for VaultFieldCipher {
    fn seal(&self, plaintext: &str, aad: &[u8]) -> Result<String, Error> {
        let ring = self.0.for_sealing().map_err(field_error)?;
        ring.seal(plaintext.as_bytes(), aad)
            .map(|s| s.encode())
            .map_err(field_error)
    }

    fn open(&self, stored: &str, aad: &[u8]) -> Result<String, Error> {
        let sealed = Sealed::decode(stored).map_err(field_error)?;
        let ring = self.0.keyring_with(&sealed.key_id).map_err(field_error)?;
        let bytes = ring.open(&sealed, aad).map_err(field_error)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| Error::internal("an encrypted field value is not UTF-8"))
    }
}

/// Makes `store` seal and open encrypted fields with `keys`.
pub fn install(store: &Store, keys: Arc<Keys>) {
    store.set_field_cipher(Arc::new(VaultFieldCipher(keys)));
}

/// Re-wraps the data key of every encrypted field value not under `ring`'s current key (the
/// ciphertext untouched; see [`Store::rewrap_encrypted`]).
pub async fn rewrap_all(store: &Store, ring: &Keyring, stop_after: Option<u64>) -> Result<FieldsRewrapped, Error> {
    let rewrap = |stored: &str| -> Result<Option<String>, Error> {
        let sealed = Sealed::decode(stored).map_err(field_error)?;
        Ok(ring.rewrap(&sealed).map_err(field_error)?.map(|s| s.encode()))
    };
    store.rewrap_encrypted(&rewrap, stop_after).await
}
