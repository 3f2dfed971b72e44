//! Envelope-encrypted secrets and credentials, with no engine in it.
//!
//! - [`MasterKey`]: 32 bytes known by a [`KeyId`] (a short hash of the key, never the key);
//! - [`Keyring`]: the current master key and the previous ones. [`Keyring::seal`] encrypts a
//!   value with AES-256-GCM under a fresh random data key, which it wraps (AES-256-GCM again)
//!   with the current master key; the [`Sealed`] value records which key wrapped it, so
//!   [`Keyring::open`] picks the right one and [`Keyring::rewrap`] re-wraps the data key under
//!   the current key without touching the ciphertext;
//! - [`KeySource`] / [`Keys`]: where the master keys come from (`KEEL_MASTER_KEY` and
//!   `KEEL_MASTER_KEY_PREVIOUS`, or the data dir's `vault.key` file created on first start
//!   with mode 0600), the files of a rotation, and a reloadable keyring for a running server;
//! - [`Redactor`] / [`StreamRedactor`]: every occurrence of the secret values a run read
//!   replaced by `***`, also across the chunks of a stream.
//!
//! Key material is zeroized when dropped; no error or `Debug` output holds a key or a value.
#![forbid(unsafe_code)]

mod envelope;
mod error;
mod key;
mod keyring;
mod redact;
mod source;

pub use envelope::Sealed;
pub use error::VaultError;
pub use key::{KeyId, MasterKey};
pub use keyring::Keyring;
pub use redact::{Redactor, StreamRedactor, MIN_REDACTED_LEN};
pub use source::{KeySource, Keys, Rotation, ENV_KEY, ENV_PREVIOUS, KEY_FILE, NEXT_FILE, RETIRED_PREFIX};
