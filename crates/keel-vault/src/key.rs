//! A master key and its id.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::VaultError;

/// A master key's public name: the first 8 bytes of SHA-256 over a label and the key, in hex.
/// Says which key wrapped a data key without revealing anything usable about it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub String);

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// 32 bytes of key material, zeroized on drop; `Debug` shows only the id.
#[derive(Clone)]
pub struct MasterKey {
    bytes: Zeroizing<[u8; 32]>,
    id: KeyId,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

impl MasterKey {
    /// A key from its bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> MasterKey {
        let mut h = Sha256::new();
        h.update(b"keel-vault key id\0");
        h.update(bytes);
        let digest = h.finalize();
        let id = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        MasterKey {
            bytes: Zeroizing::new(bytes),
            id: KeyId(id),
        }
    }

    /// A fresh random key.
    pub fn generate() -> MasterKey {
        let mut bytes = rand::random::<[u8; 32]>();
        let key = MasterKey::from_bytes(bytes);
        bytes.zeroize();
        key
    }

    /// Parses base64 (standard alphabet, padding optional, surrounding whitespace ignored) of
    /// exactly 32 bytes. The error says only that it is malformed; `what` names the source.
    pub fn from_base64(text: &str, what: impl FnOnce() -> VaultError) -> Result<MasterKey, VaultError> {
        let trimmed = text.trim().trim_end_matches('=');
        let decoded = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(trimmed)
            .ok()
            .map(Zeroizing::new);
        match decoded.as_ref().and_then(|d| <[u8; 32]>::try_from(d.as_slice()).ok()) {
            Some(bytes) => Ok(MasterKey::from_bytes(bytes)),
            None => Err(what()),
        }
    }

    /// The key in base64 (for its key file, or printed once by `keel vault generate-key`).
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(*self.bytes))
    }

    /// The key's id.
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_short_and_differ_per_key() {
        let a = MasterKey::from_bytes([1; 32]);
        assert_eq!(a.id(), MasterKey::from_bytes([1; 32]).id());
        assert_ne!(a.id(), MasterKey::from_bytes([2; 32]).id());
        assert_eq!(a.id().0.len(), 16);
        assert!(!format!("{a:?}").contains(&*a.to_base64()));
    }

    #[test]
    fn base64_round_trips_and_wrong_lengths_are_refused() {
        let k = MasterKey::generate();
        let back = MasterKey::from_base64(&format!(" {}\n", *k.to_base64()), || VaultError::Malformed).unwrap();
        assert_eq!(back.id(), k.id());
        let short = STANDARD.encode([0u8; 31]);
        assert!(MasterKey::from_base64(&short, || VaultError::MalformedKey("X".into())).is_err());
        assert!(MasterKey::from_base64("not base64!", || VaultError::Malformed).is_err());
    }
}
