//! Contracts shared by every Keel service: ids, time, the error vocabulary, config, record events and the `FileStore` and `Cache` traits.
#![forbid(unsafe_code)]

pub mod cache;
pub mod config;
pub mod error;
pub mod events;
pub mod files;
pub mod id;
pub mod mail;
pub mod queue;
pub mod time;

pub use error::{Error, FieldError, FieldErrors, Result};
