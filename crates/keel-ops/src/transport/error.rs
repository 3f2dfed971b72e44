//! What can go wrong reaching a target or running on it. Messages say what failed and what to
//! do, and never hold a password, a key or a passphrase.

/// A transport's error.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot reach {address}: {reason}; check the address and port, and that the server runs and accepts connections from the Keel host")]
    Unreachable { address: String, reason: String },

    #[error("{address} did not complete {stage} within {seconds} s; check that the host is up and the port is the SSH server's")]
    ConnectTimeout {
        address: String,
        stage: &'static str,
        seconds: u64,
    },

    #[error("the host key of {address} does not match: expected {expected}, the server presented {seen}; if the host was re-keyed, pin the new fingerprint after checking it out of band, otherwise someone may be intercepting the connection")]
    HostKeyMismatch {
        address: String,
        expected: String,
        seen: String,
    },

    #[error("the host key of {address} is not trusted yet: the server presented {seen}; check this fingerprint on the host (`ssh-keygen -lf` on its host key) and pin it, or turn on trust on first use")]
    HostKeyNotPinned { address: String, seen: String },

    #[error("the expected host key fingerprint {given:?} is not in OpenSSH's form; give it as `SHA256:` followed by the base64 digest, as `ssh-keygen -lf` prints it")]
    BadFingerprint { given: String },

    #[error("{address} refused authentication for user {username:?} (tried: {tried}); check the username and the credential, and that the server allows this method")]
    AuthRefused {
        address: String,
        username: String,
        tried: String,
    },

    #[error("the HTTPS certificate of {address} is not trusted ({reason}); WinRM over HTTPS trusts the public web roots only: give the listener a certificate from a public CA, or, in a test lab only, turn certificate verification off")]
    UntrustedCertificate { address: String, reason: String },

    #[error("the credential has neither a password nor a private key; add one")]
    NoCredential,

    #[error("the private key cannot be used: {reason}; give an OpenSSH or PEM private key, and its passphrase if it is encrypted")]
    BadPrivateKey { reason: String },

    #[error("invalid {field}: {reason}")]
    InvalidRequest { field: &'static str, reason: String },

    #[error(
        "the connection to {address} was lost ({reason}); the command's end is unknown: reconnect and check the target"
    )]
    ConnectionLost { address: String, reason: String },

    #[error("the server {address} answered unexpectedly ({reason})")]
    Protocol { address: String, reason: String },

    #[error("{operation} {path} failed: {reason}")]
    Transfer {
        operation: &'static str,
        path: String,
        reason: String,
    },

    #[error("cannot start the command: {reason}")]
    Spawn { reason: String },
}

impl TransportError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> TransportError {
        TransportError::InvalidRequest {
            field,
            reason: reason.into(),
        }
    }
}
