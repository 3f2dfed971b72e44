//! ES256 (ECDSA P-256 with SHA-256) JSON Web Tokens, as VAPID and APNs provider tokens use
//! them, and reading the P-256 private keys operators paste into the config.

use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::DecodePrivateKey;
use p256::SecretKey;
use serde_json::Value;

use super::push_common::{b64url, b64url_decode};

/// A P-256 private key from a PEM (PKCS#8 `PRIVATE KEY`, as Apple's `.p8` files hold, or SEC1
/// `EC PRIVATE KEY`) or from a raw 32-byte scalar in base64url (as `web-push
/// generate-vapid-keys` prints it). `None` when it is neither.
pub(crate) fn parse_key(text: &str) -> Option<SecretKey> {
    let text = text.trim();
    if text.contains("-----BEGIN") {
        // A PEM pasted into one line of an environment variable keeps its breaks as `\n`.
        let text = text.replace("\\n", "\n");
        return SecretKey::from_pkcs8_pem(&text)
            .ok()
            .or_else(|| SecretKey::from_sec1_pem(&text).ok());
    }
    let raw = b64url_decode(text)?;
    if raw.len() != 32 {
        return None;
    }
    SecretKey::from_slice(&raw).ok()
}

/// The uncompressed public point (65 bytes) of `key`.
pub(crate) fn public_point(key: &SecretKey) -> Vec<u8> {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    key.public_key().to_encoded_point(false).as_bytes().to_vec()
}

/// `header.claims.signature`, signed with `key` (the signature as JWS wants it: r || s).
pub(crate) fn sign(key: &SecretKey, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let signature: Signature = SigningKey::from(key).sign(input.as_bytes());
    format!("{input}.{}", b64url(&signature.to_bytes()))
}
