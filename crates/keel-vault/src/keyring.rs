//! The keyring: the current master key and the previous ones.

use zeroize::Zeroizing;

use crate::envelope::{self, Sealed};
use crate::key::{KeyId, MasterKey};
use crate::VaultError;

/// The master key that seals new values, and older ones that still open what they sealed.
#[derive(Debug, Clone)]
pub struct Keyring {
    current: MasterKey,
    previous: Vec<MasterKey>,
}

impl Keyring {
    /// A keyring sealing with `current`, opening with it and with `previous`.
    pub fn new(current: MasterKey, previous: Vec<MasterKey>) -> Keyring {
        let previous = previous.into_iter().filter(|k| k.id() != current.id()).collect();
        Keyring { current, previous }
    }

    /// The id of the key that seals.
    pub fn current_id(&self) -> &KeyId {
        self.current.id()
    }

    /// Every key id, the current one first.
    pub fn ids(&self) -> Vec<&KeyId> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .map(MasterKey::id)
            .collect()
    }

    /// Every key, the current one first.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &MasterKey> {
        std::iter::once(&self.current).chain(&self.previous)
    }

    fn key(&self, id: &KeyId) -> Result<&MasterKey, VaultError> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id() == id)
            .ok_or_else(|| VaultError::UnknownKey(id.0.clone()))
    }

    /// Whether the keyring holds the key `id`.
    pub fn has(&self, id: &KeyId) -> bool {
        self.key(id).is_ok()
    }

    /// Seals `plaintext` under a fresh data key wrapped by the current key. `aad` (the secret's
    /// id) must be given again to open it.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Sealed, VaultError> {
        envelope::seal(&self.current, plaintext, aad)
    }

    /// Opens `sealed` with the key that wrapped its data key.
    pub fn open(&self, sealed: &Sealed, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        envelope::open(self.key(&sealed.key_id)?, sealed, aad)
    }

    /// `sealed` with its data key re-wrapped by the current key (the ciphertext untouched), or
    /// `None` when the current key already wraps it.
    pub fn rewrap(&self, sealed: &Sealed) -> Result<Option<Sealed>, VaultError> {
        if &sealed.key_id == self.current.id() {
            return Ok(None);
        }
        envelope::rewrap(self.key(&sealed.key_id)?, &self.current, sealed).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Keyring {
        Keyring::new(MasterKey::generate(), Vec::new())
    }

    #[test]
    fn a_sealed_value_round_trips() {
        let k = ring();
        let s = k.seal(b"hunter2", b"sec1").unwrap();
        let text = s.encode();
        assert!(!text.contains("hunter2"));
        let back = Sealed::decode(&text).unwrap();
        assert_eq!(&*k.open(&back, b"sec1").unwrap(), b"hunter2");
        // Two seals of the same value differ (fresh data key and nonces).
        assert_ne!(k.seal(b"hunter2", b"sec1").unwrap().encode(), text);
    }

    #[test]
    fn tampering_is_detected() {
        let k = ring();
        let text = k.seal(b"hunter2", b"sec1").unwrap().encode();
        // Flip one character of the ciphertext, then of the wrapped key.
        for part in [3, 2] {
            use base64::engine::general_purpose::URL_SAFE_NO_PAD;
            use base64::Engine as _;
            let mut parts: Vec<String> = text.split(':').map(str::to_string).collect();
            let mut bytes = URL_SAFE_NO_PAD.decode(&parts[part]).unwrap();
            let at = bytes.len() / 2;
            bytes[at] ^= 1;
            parts[part] = URL_SAFE_NO_PAD.encode(bytes);
            let altered = Sealed::decode(&parts.join(":")).unwrap();
            assert!(
                matches!(k.open(&altered, b"sec1"), Err(VaultError::Tampered)),
                "part {part}"
            );
        }
        // Moved to another secret: the associated data differs.
        let s = Sealed::decode(&text).unwrap();
        assert!(matches!(k.open(&s, b"sec2"), Err(VaultError::Tampered)));
        assert!(Sealed::decode("kv1:abc").is_err());
        assert!(Sealed::decode("kv2:a:b:c").is_err());
    }

    #[test]
    fn a_wrong_key_is_refused() {
        let s = ring().seal(b"hunter2", b"sec1").unwrap();
        let other = ring();
        assert!(matches!(other.open(&s, b"sec1"), Err(VaultError::UnknownKey(_))));
        // Even a key claiming the same id fails authentication.
        let mut forged = s.clone();
        forged.key_id = other.current_id().clone();
        assert!(matches!(other.open(&forged, b"sec1"), Err(VaultError::Tampered)));
    }

    #[test]
    fn rewrap_changes_the_wrapping_not_the_ciphertext() {
        let old = MasterKey::generate();
        let before = Keyring::new(old.clone(), Vec::new());
        let s = before.seal(b"hunter2", b"sec1").unwrap();
        let after = Keyring::new(MasterKey::generate(), vec![old]);
        let r = after.rewrap(&s).unwrap().unwrap();
        assert_eq!(&r.key_id, after.current_id());
        assert_eq!(r.ciphertext(), s.ciphertext());
        assert_ne!(r.encode(), s.encode());
        assert_eq!(&*after.open(&r, b"sec1").unwrap(), b"hunter2");
        // Already under the current key: nothing to do.
        assert!(after.rewrap(&r).unwrap().is_none());
        // The new key alone opens it; the old one alone no longer does.
        let new_only = Keyring::new(after.current.clone(), Vec::new());
        assert_eq!(&*new_only.open(&r, b"sec1").unwrap(), b"hunter2");
        assert!(before.open(&r, b"sec1").is_err());
    }
}
