//! The vault's errors. None holds a key, a plaintext or a wrapped value.

/// What went wrong in the vault.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// A master key given in a variable is not base64 of 32 bytes (the variable is named,
    /// never its value).
    #[error("{0} must be the base64 encoding of 32 random bytes (e.g. the output of `keel vault generate-key`)")]
    MalformedKey(String),
    /// The key file is not base64 of 32 bytes.
    #[error("the master key file {0} does not hold the base64 encoding of 32 bytes")]
    MalformedKeyFile(String),
    /// The key file can be read by others than its owner.
    #[error("the master key file {path} can be read by other users (mode {mode:o}): run `chmod 600 {path}`")]
    LoosePermissions { path: String, mode: u32 },
    /// Reading or writing a key file failed.
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// No master key is configured (no variable, no key file yet).
    #[error("the vault has no master key: set KEEL_MASTER_KEY or start `keel serve` once to create the key file")]
    NoKey,
    /// The value was sealed with a master key the keyring does not hold.
    #[error("the secret was sealed with master key {0}, which is not in the keyring (set it in KEEL_MASTER_KEY_PREVIOUS, or restore its key file)")]
    UnknownKey(String),
    /// The sealed value is not in the vault's format.
    #[error("the sealed value is malformed")]
    Malformed,
    /// Authentication failed: the value was altered, or belongs to another secret.
    #[error("the sealed value failed authentication (altered, or moved from another secret)")]
    Tampered,
    /// The operating system's random source failed, or a cipher refused its input.
    #[error("encryption failed")]
    Crypto,
}
