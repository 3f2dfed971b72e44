//! Contracts shared by every Keel service: ids, time, the error vocabulary, config, record events, the `FileStore`, `Cache`, `EventBus` and `SearchIndex` traits, and the outbound request guard.
#![forbid(unsafe_code)]

pub mod bus;
pub mod cache;
pub mod config;
pub mod error;
pub mod events;
pub mod files;
pub mod id;
pub mod mail;
pub mod notify;
pub mod outbound;
pub mod queue;
pub mod search;
pub mod time;

pub use error::{Error, FieldError, FieldErrors, Result};
