//! Host key policy: which server keys a connection accepts, checked during the key exchange,
//! before any credential is sent.

use std::sync::{Arc, Mutex};

use russh::keys::{HashAlg, PublicKeyOrCertificate};

use crate::transport::TransportError;

/// Which host key a connection accepts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum HostKeyPolicy {
    /// Only a key with this fingerprint, in OpenSSH's `SHA256:<base64>` form (`ssh-keygen -lf`).
    Pinned(String),
    /// Any key, the first time: the caller stores [`SshTransport::host_key`] and pins it for
    /// the next connections.
    ///
    /// [`SshTransport::host_key`]: super::SshTransport::host_key
    TrustOnFirstUse,
    /// No key is trusted yet: the connection is refused with the key the server presented,
    /// so the operator can check and pin it.
    #[default]
    RequirePinned,
}

impl HostKeyPolicy {
    /// The policy for a target's `hostKey` and `trustOnFirstUse`: a pinned key wins.
    pub fn for_target(host_key: Option<&str>, trust_on_first_use: bool) -> HostKeyPolicy {
        match host_key.map(str::trim).filter(|k| !k.is_empty()) {
            Some(k) => HostKeyPolicy::Pinned(k.to_string()),
            None if trust_on_first_use => HostKeyPolicy::TrustOnFirstUse,
            None => HostKeyPolicy::RequirePinned,
        }
    }

    /// Refuses a pinned fingerprint that is not `SHA256:<base64>` before connecting.
    pub(crate) fn validate(&self) -> Result<(), TransportError> {
        if let HostKeyPolicy::Pinned(given) = self {
            let digest = given.strip_prefix("SHA256:").unwrap_or_default();
            let base64ish = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=');
            // A SHA-256 digest is 43 base64 characters without padding.
            if digest.trim_end_matches('=').len() != 43 || !digest.chars().all(base64ish) {
                return Err(TransportError::BadFingerprint { given: given.clone() });
            }
        }
        Ok(())
    }
}

/// The SHA-256 fingerprint of a key, as OpenSSH prints it (`SHA256:` + unpadded base64).
pub fn fingerprint(key: &russh::keys::PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Two fingerprints name the same key (padding aside).
fn same(expected: &str, seen: &str) -> bool {
    expected.trim().trim_end_matches('=') == seen.trim_end_matches('=')
}

/// The russh client handler: checks the host key and remembers what it saw.
pub(crate) struct Client {
    pub(crate) policy: HostKeyPolicy,
    pub(crate) seen: Arc<Mutex<Option<String>>>,
}

impl russh::client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(&mut self, key: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let seen = fingerprint(&key.public_key());
        let accept = match &self.policy {
            HostKeyPolicy::Pinned(expected) => same(expected, &seen),
            HostKeyPolicy::TrustOnFirstUse => true,
            HostKeyPolicy::RequirePinned => false,
        };
        if let Ok(mut slot) = self.seen.lock() {
            *slot = Some(seen);
        }
        Ok(accept)
    }
}

/// The error for a key the policy refused.
pub(crate) fn refused(policy: &HostKeyPolicy, address: &str, seen: String) -> TransportError {
    match policy {
        HostKeyPolicy::Pinned(expected) => TransportError::HostKeyMismatch {
            address: address.to_string(),
            expected: expected.clone(),
            seen,
        },
        _ => TransportError::HostKeyNotPinned {
            address: address.to_string(),
            seen,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_wins_over_tofu() {
        let p = HostKeyPolicy::for_target(Some("SHA256:x"), true);
        assert_eq!(p, HostKeyPolicy::Pinned("SHA256:x".into()));
        assert_eq!(HostKeyPolicy::for_target(None, true), HostKeyPolicy::TrustOnFirstUse);
        assert_eq!(
            HostKeyPolicy::for_target(Some(" "), false),
            HostKeyPolicy::RequirePinned
        );
    }

    #[test]
    fn fingerprints_are_checked_for_form() {
        let good = format!("SHA256:{}", "A".repeat(43));
        assert!(HostKeyPolicy::Pinned(good.clone()).validate().is_ok());
        assert!(HostKeyPolicy::Pinned(format!("{good}=")).validate().is_ok());
        for bad in ["MD5:aa:bb", "SHA256:short", &"A".repeat(43)] {
            let err = HostKeyPolicy::Pinned(bad.into()).validate().unwrap_err().to_string();
            assert!(err.contains("SHA256:"), "{err}");
        }
        assert!(same(&format!("{good}="), &good));
    }
}
