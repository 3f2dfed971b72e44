//! Webhook signing, as [Standard Webhooks v1](https://www.standardwebhooks.com/) has it (what
//! the `standardwebhooks` libraries verify):
//!
//! - a secret is `whsec_` + base64(32 random bytes); the HMAC key is the decoded bytes;
//! - `webhook-id` is `msg_<event id>`: the same for every attempt of one message, so a
//!   receiver can drop duplicates;
//! - `webhook-timestamp` is the attempt's time in unix seconds;
//! - `webhook-signature` is `v1,<base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))>`, one
//!   per secret, space-separated (after a rotation the previous secret signs too until its
//!   grace period ends, so receivers holding either verify).
//!
//! Pure functions; the delivery worker (`keel-app`'s webhooks) calls them.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// Every secret starts with this.
pub const SECRET_PREFIX: &str = "whsec_";
/// The header naming the message (stable across retries).
pub const HEADER_ID: &str = "webhook-id";
/// The header holding the attempt's time (unix seconds).
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// The header holding the signatures.
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// A new secret: `whsec_` + base64 of 32 random bytes.
pub fn new_secret() -> String {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
}

/// The HMAC key of a secret (its base64 part decoded), or `None` when it is not one.
pub fn secret_key(secret: &str) -> Option<Vec<u8>> {
    let b64 = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    STANDARD.decode(b64).ok().filter(|k| !k.is_empty())
}

/// The `webhook-id` of the message carrying the event `event_id`.
pub fn message_id(event_id: &str) -> String {
    format!("msg_{event_id}")
}

/// One signature, `v1,<base64>`, of `body` sent as message `id` at `timestamp` (unix
/// seconds); `None` when `secret` is not a valid secret.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = secret_key(secret)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
}

/// The `webhook-signature` header: one signature per valid secret in `secrets` (the current
/// one first), space-separated.
pub fn signature_header(secrets: &[&str], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .filter_map(|s| sign(s, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `header` (a `webhook-signature` value) holds a valid `v1` signature of `body` by
/// `secret` (constant-time comparison). No timestamp tolerance is checked here.
pub fn verify(secret: &str, id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    let Some(key) = secret_key(secret) else {
        return false;
    };
    header.split(' ').any(|sig| {
        let Some(b64) = sig.strip_prefix("v1,") else {
            return false;
        };
        let Ok(given) = STANDARD.decode(b64) else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else {
            return false;
        };
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        mac.verify_slice(&given).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_32_random_bytes() {
        let a = new_secret();
        assert!(a.starts_with("whsec_"), "{a}");
        assert_eq!(secret_key(&a).unwrap().len(), 32);
        assert_ne!(a, new_secret());
        assert!(secret_key("whsec_").is_none());
        assert!(secret_key("whsec_***").is_none());
    }

    /// The example of the Standard Webhooks specification's reference libraries.
    #[test]
    fn matches_the_reference_vector() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        let sig = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn several_secrets_sign_side_by_side_and_each_verifies() {
        let (old, new) = (new_secret(), new_secret());
        let body = b"{\"type\":\"record.created\"}";
        let header = signature_header(&[&new, &old], "msg_1", 1700000000, body);
        assert_eq!(header.split(' ').count(), 2);
        assert!(verify(&new, "msg_1", 1700000000, body, &header));
        assert!(verify(&old, "msg_1", 1700000000, body, &header));
        assert!(!verify(&new_secret(), "msg_1", 1700000000, body, &header));
        assert!(!verify(&new, "msg_2", 1700000000, body, &header), "the id is signed");
        assert!(
            !verify(&new, "msg_1", 1700000001, body, &header),
            "the timestamp is signed"
        );
        assert!(!verify(&new, "msg_1", 1700000000, b"{}", &header), "the body is signed");
    }

    #[test]
    fn message_ids_are_stable_per_event() {
        assert_eq!(message_id("abc"), "msg_abc");
    }
}
