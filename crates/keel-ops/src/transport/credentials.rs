//! Credentials for a target, as plain values (the vault resolves references before a
//! transport sees them). `Debug` never prints a password, a key or a passphrase.

use std::fmt;

/// Who to sign in as, and how: a password, a private key, or both (the key is tried first).
#[derive(Clone, Default)]
pub struct Credentials {
    pub username: String,
    pub password: Option<String>,
    pub private_key: Option<PrivateKey>,
}

/// A private key in OpenSSH (`-----BEGIN OPENSSH PRIVATE KEY-----`) or PEM (PKCS#1, PKCS#8)
/// form, with its passphrase when it is encrypted.
#[derive(Clone)]
pub struct PrivateKey {
    pub pem: String,
    pub passphrase: Option<String>,
}

impl Credentials {
    /// A user signing in with a password.
    pub fn password(username: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials {
            username: username.into(),
            password: Some(password.into()),
            private_key: None,
        }
    }

    /// A user signing in with a private key.
    pub fn key(username: impl Into<String>, pem: impl Into<String>, passphrase: Option<String>) -> Credentials {
        Credentials {
            username: username.into(),
            password: None,
            private_key: Some(PrivateKey {
                pem: pem.into(),
                passphrase,
            }),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("private_key", &self.private_key)
            .finish()
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("pem", &"<hidden>")
            .field("passphrase", &self.passphrase.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secrets() {
        let mut c = Credentials::password("ann", "hunter2");
        c.private_key = Some(PrivateKey {
            pem: "-----BEGIN OPENSSH PRIVATE KEY-----secretbits".into(),
            passphrase: Some("pass-phrase".into()),
        });
        let shown = format!("{c:?}");
        assert!(shown.contains("ann"));
        for secret in ["hunter2", "secretbits", "pass-phrase"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
