//! Behaviour suites every provider of a Keel service must pass, and the helpers they share.
#![forbid(unsafe_code)]

pub mod cache;
pub mod env;

pub use cache::cache_suite;
pub use env::engine_url;

/// A fresh random name (`t` + 16 hex digits) for a test's namespace, prefix or schema.
pub fn random_name() -> String {
    format!("t{:016x}", rand::random::<u64>())
}
