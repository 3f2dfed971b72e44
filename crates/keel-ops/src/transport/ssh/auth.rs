//! Authentication with a private key and/or a password.

use std::sync::Arc;

use russh::client::Handle;
use russh::keys::{decode_secret_key, PrivateKeyWithHashAlg};

use super::host_key::Client;
use super::lost_or_protocol;
use crate::transport::{Credentials, TransportError};

/// Signs in with the key first (when there is one), then the password; refused when neither
/// is accepted, naming what was tried.
pub(super) async fn authenticate(
    handle: &mut Handle<Client>,
    credentials: &Credentials,
    address: &str,
) -> Result<(), TransportError> {
    if credentials.username.trim().is_empty() {
        return Err(TransportError::invalid(
            "username",
            "is empty; give the user to sign in as",
        ));
    }
    if credentials.password.is_none() && credentials.private_key.is_none() {
        return Err(TransportError::NoCredential);
    }
    let mut tried = Vec::new();
    if let Some(key) = &credentials.private_key {
        let decoded =
            decode_secret_key(&key.pem, key.passphrase.as_deref()).map_err(|e| TransportError::BadPrivateKey {
                reason: match (&e, key.passphrase.is_some()) {
                    (russh::keys::Error::KeyIsEncrypted, false) => {
                        "it is encrypted and no passphrase was given".to_string()
                    }
                    (_, true) => format!("{e} (is the passphrase right?)"),
                    _ => e.to_string(),
                },
            })?;
        let hash = if decoded.algorithm().is_rsa() {
            handle
                .best_supported_rsa_hash()
                .await
                .map_err(|e| lost_or_protocol(address, e))?
                .flatten()
        } else {
            None
        };
        let with_hash = PrivateKeyWithHashAlg::new(Arc::new(decoded), hash);
        let result = handle
            .authenticate_publickey(&credentials.username, with_hash)
            .await
            .map_err(|e| lost_or_protocol(address, e))?;
        if result.success() {
            return Ok(());
        }
        tried.push("public key");
    }
    if let Some(password) = &credentials.password {
        let result = handle
            .authenticate_password(&credentials.username, password)
            .await
            .map_err(|e| lost_or_protocol(address, e))?;
        if result.success() {
            return Ok(());
        }
        tried.push("password");
    }
    Err(TransportError::AuthRefused {
        address: address.to_string(),
        username: credentials.username.clone(),
        tried: tried.join(", "),
    })
}
