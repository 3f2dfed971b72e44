//! A sealed value: `kv1:<key id>:<wrapped data key>:<ciphertext>`, both parts base64url of a
//! 12-byte nonce followed by AES-256-GCM output.
//!
//! - the data key (32 random bytes, one per value) encrypts the value with the caller's
//!   associated data (the secret's id), so a sealed value moved to another secret fails;
//! - the master key encrypts the data key with the associated data `keel-vault dek <key id>`.
//!
//! Re-wrapping replaces the key id and the wrapped data key; the ciphertext stays byte for byte.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use zeroize::Zeroizing;

use crate::key::{KeyId, MasterKey};
use crate::VaultError;

const VERSION: &str = "kv1";
const NONCE_LEN: usize = 12;

/// A value sealed by a [`crate::Keyring`]; stored as its [`Sealed::encode`]d text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The master key that wrapped the data key.
    pub key_id: KeyId,
    /// Nonce + the data key encrypted by the master key.
    wrapped_key: Vec<u8>,
    /// Nonce + the value encrypted by the data key (never changed by a re-wrap).
    ciphertext: Vec<u8>,
}

impl Sealed {
    /// The text stored in the database.
    pub fn encode(&self) -> String {
        format!(
            "{VERSION}:{}:{}:{}",
            self.key_id,
            URL_SAFE_NO_PAD.encode(&self.wrapped_key),
            URL_SAFE_NO_PAD.encode(&self.ciphertext)
        )
    }

    /// Parses stored text.
    pub fn decode(text: &str) -> Result<Sealed, VaultError> {
        let mut parts = text.split(':');
        let (Some(VERSION), Some(id), Some(wrapped), Some(ct), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(VaultError::Malformed);
        };
        let wrapped_key = URL_SAFE_NO_PAD.decode(wrapped).map_err(|_| VaultError::Malformed)?;
        let ciphertext = URL_SAFE_NO_PAD.decode(ct).map_err(|_| VaultError::Malformed)?;
        if id.is_empty() || wrapped_key.len() <= NONCE_LEN || ciphertext.len() < NONCE_LEN + 16 {
            return Err(VaultError::Malformed);
        }
        Ok(Sealed {
            key_id: KeyId(id.to_string()),
            wrapped_key,
            ciphertext,
        })
    }

    /// The encrypted value (nonce + ciphertext + tag), for checking that a re-wrap left it alone.
    pub fn ciphertext(&self) -> &[u8] {
        &self.ciphertext
    }
}

fn dek_aad(id: &KeyId) -> Vec<u8> {
    format!("keel-vault dek {id}").into_bytes()
}

fn encrypt(key: &[u8; 32], plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, VaultError> {
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key));
    let nonce = rand::random::<[u8; NONCE_LEN]>();
    let ct = cipher
        .encrypt(&Nonce::from(nonce), Payload { msg: plaintext, aad })
        .map_err(|_| VaultError::Crypto)?;
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

fn decrypt(key: &[u8; 32], sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    if sealed.len() < NONCE_LEN {
        return Err(VaultError::Malformed);
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| VaultError::Malformed)?;
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key));
    cipher
        .decrypt(&Nonce::from(nonce), Payload { msg: ct, aad })
        .map(Zeroizing::new)
        .map_err(|_| VaultError::Tampered)
}

/// Seals `plaintext` under a fresh data key wrapped by `master`.
pub(crate) fn seal(master: &MasterKey, plaintext: &[u8], aad: &[u8]) -> Result<Sealed, VaultError> {
    let dek = Zeroizing::new(rand::random::<[u8; 32]>());
    let ciphertext = encrypt(&dek, plaintext, aad)?;
    let wrapped_key = encrypt(master.bytes(), dek.as_slice(), &dek_aad(master.id()))?;
    Ok(Sealed {
        key_id: master.id().clone(),
        wrapped_key,
        ciphertext,
    })
}

/// The data key of `sealed`, unwrapped by `master` (whose id must be `sealed.key_id`).
fn unwrap_key(master: &MasterKey, sealed: &Sealed) -> Result<Zeroizing<[u8; 32]>, VaultError> {
    let dek = decrypt(master.bytes(), &sealed.wrapped_key, &dek_aad(master.id()))?;
    let bytes: [u8; 32] = dek.as_slice().try_into().map_err(|_| VaultError::Malformed)?;
    Ok(Zeroizing::new(bytes))
}

/// Opens `sealed` with `master`.
pub(crate) fn open(master: &MasterKey, sealed: &Sealed, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    let dek = unwrap_key(master, sealed)?;
    decrypt(&dek, &sealed.ciphertext, aad)
}

/// `sealed` with its data key unwrapped by `old` and wrapped again by `new`.
pub(crate) fn rewrap(old: &MasterKey, new: &MasterKey, sealed: &Sealed) -> Result<Sealed, VaultError> {
    let dek = unwrap_key(old, sealed)?;
    let wrapped_key = encrypt(new.bytes(), dek.as_slice(), &dek_aad(new.id()))?;
    Ok(Sealed {
        key_id: new.id().clone(),
        wrapped_key,
        ciphertext: sealed.ciphertext.clone(),
    })
}
