//! RFC 8291 message encryption for Web Push: the `aes128gcm` content coding of RFC 8188 with
//! a key agreed by ECDH between a fresh P-256 key of ours and the subscription's `p256dh`,
//! mixed with its `auth` secret. One record, padding delimiter `0x02`, no padding.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use hkdf::Hkdf;
use p256::{PublicKey, SecretKey};
use sha2::Sha256;

use crate::providers::es256::public_point;

/// The record size written in the header (RFC 8291 §4 recommends 4096).
const RECORD_SIZE: u32 = 4096;
/// Header: salt (16) + record size (4) + key id length (1) + our public key (65).
const HEADER_LEN: usize = 16 + 4 + 1 + 65;
/// A push service takes a body of at most 4096 bytes (RFC 8030 §7.2); the record adds the
/// delimiter and the 16-byte tag.
pub const MAX_PLAINTEXT: usize = 4096 - HEADER_LEN - 1 - 16;

/// Why a message could not be encrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EceError {
    /// `p256dh` is not an uncompressed P-256 point.
    #[error("the subscription's p256dh key is not a P-256 public key")]
    BadP256dh,
    /// `auth` is not 16 bytes.
    #[error("the subscription's auth secret is not 16 bytes")]
    BadAuth,
    /// The payload does not fit in one push message.
    #[error("the push payload is {0} bytes; a Web Push message holds at most {MAX_PLAINTEXT}")]
    TooLarge(usize),
    /// HKDF or AES-GCM refused (lengths are fixed, so never in practice).
    #[error("encryption failed")]
    Crypto,
}

/// Encrypts `plaintext` for the subscription (`p256dh` the 65-byte point, `auth` the 16-byte
/// secret) with a fresh key and salt.
pub fn encrypt(plaintext: &[u8], p256dh: &[u8], auth: &[u8]) -> Result<Vec<u8>, EceError> {
    let ours = loop {
        // A random 32-byte string is a valid scalar but for a 2^-32 chance.
        if let Ok(key) = SecretKey::from_slice(&rand::random::<[u8; 32]>()) {
            break key;
        }
    };
    encrypt_with(plaintext, p256dh, auth, &ours, &rand::random::<[u8; 16]>())
}

/// [`encrypt`] with our key pair and the salt given: deterministic, for checking against
/// RFC 8291's example.
pub fn encrypt_with(
    plaintext: &[u8],
    p256dh: &[u8],
    auth: &[u8],
    ours: &SecretKey,
    salt: &[u8; 16],
) -> Result<Vec<u8>, EceError> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(EceError::TooLarge(plaintext.len()));
    }
    if p256dh.len() != 65 {
        return Err(EceError::BadP256dh);
    }
    let theirs = PublicKey::from_sec1_bytes(p256dh).map_err(|_| EceError::BadP256dh)?;
    if auth.len() != 16 {
        return Err(EceError::BadAuth);
    }
    let our_point = public_point(ours);
    let shared = p256::ecdh::diffie_hellman(ours.to_nonzero_scalar(), theirs.as_affine());

    // IKM = HKDF(auth, ecdh_secret, "WebPush: info" || 0x00 || ua_public || as_public, 32)
    let mut key_info = Vec::with_capacity(14 + 65 + 65);
    key_info.extend_from_slice(b"WebPush: info\0");
    key_info.extend_from_slice(p256dh);
    key_info.extend_from_slice(&our_point);
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(auth), shared.raw_secret_bytes())
        .expand(&key_info, &mut ikm)
        .map_err(|_| EceError::Crypto)?;

    // CEK and nonce from the salt (RFC 8188 §2.2, §2.3).
    let hk = Hkdf::<Sha256>::new(Some(salt), &ikm);
    let mut cek = [0u8; 16];
    let mut nonce = [0u8; 12];
    hk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
        .map_err(|_| EceError::Crypto)?;
    hk.expand(b"Content-Encoding: nonce\0", &mut nonce)
        .map_err(|_| EceError::Crypto)?;

    // The one (and last) record: the plaintext, then the delimiter 0x02; sequence number 0,
    // so the nonce is used as is.
    let mut record = Vec::with_capacity(plaintext.len() + 1);
    record.extend_from_slice(plaintext);
    record.push(0x02);
    let cipher = Aes128Gcm::new_from_slice(&cek).map_err(|_| EceError::Crypto)?;
    let sealed = cipher
        .encrypt(&Nonce::from(nonce), record.as_slice())
        .map_err(|_| EceError::Crypto)?;

    let mut body = Vec::with_capacity(HEADER_LEN + sealed.len());
    body.extend_from_slice(salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(65);
    body.extend_from_slice(&our_point);
    body.extend_from_slice(&sealed);
    Ok(body)
}
