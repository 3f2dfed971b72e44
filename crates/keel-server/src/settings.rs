//! Application settings (`/api/settings`): PocketBase's shape, persisted as one param,
//! cached in memory.
//!
//! OWNED BY THE OPS WORK (settings, health, metrics, logging).

/// The live settings.
#[derive(Default)]
pub struct Settings {}
