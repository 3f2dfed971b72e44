//! PKCE (RFC 7636) with the `S256` method, and the nonce derived from a verifier.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};

/// A PKCE pair: the verifier the client keeps, the challenge it sends with the authorization
/// request, and the challenge method (always `S256`).
#[derive(Clone, PartialEq, Eq)]
pub struct Pkce {
    /// 64 random characters of `[A-Za-z0-9]` (RFC 7636 allows 43–128 unreserved characters).
    pub code_verifier: String,
    /// `base64url(sha256(code_verifier))`, without padding.
    pub code_challenge: String,
    /// `"S256"`.
    pub method: &'static str,
}

impl std::fmt::Debug for Pkce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkce")
            .field("code_verifier", &"<hidden>")
            .field("code_challenge", &self.code_challenge)
            .field("method", &self.method)
            .finish()
    }
}

/// A fresh random PKCE pair.
pub fn new() -> Pkce {
    let code_verifier = Alphanumeric.sample_string(&mut rand::rng(), 64);
    let code_challenge = challenge(&code_verifier);
    Pkce {
        code_verifier,
        code_challenge,
        method: "S256",
    }
}

/// The `S256` challenge of `verifier`: `base64url(sha256(verifier))` without padding.
pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The OpenID Connect `nonce` bound to `verifier`: `base64url(sha256("keel-nonce:" + verifier))`.
///
/// Send it with [`Provider::auth_url`](super::Provider::auth_url) and pass the same value to
/// [`Provider::exchange`](super::Provider::exchange): the verifier comes back with the code,
/// so the nonce is checked without storing it. It reveals nothing about the verifier.
pub fn nonce_for(verifier: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"keel-nonce:");
    h.update(verifier.as_bytes());
    URL_SAFE_NO_PAD.encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_example() {
        let v = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(challenge(v), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn verifiers_are_long_unreserved_and_fresh() {
        let a = new();
        let b = new();
        assert!((43..=128).contains(&a.code_verifier.len()));
        assert!(a
            .code_verifier
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c)));
        assert_ne!(a.code_verifier, b.code_verifier);
        assert_eq!(a.code_challenge, challenge(&a.code_verifier));
        assert_eq!(a.method, "S256");
        assert_ne!(nonce_for(&a.code_verifier), a.code_challenge);
        assert!(!format!("{a:?}").contains(&a.code_verifier));
    }
}
