//! EventBus providers behind `keel_core::bus::EventBus`: `local` (in process), and the
//! providers that fan out across processes over an engine the deployment already runs:
//! `postgres` (LISTEN/NOTIFY), `redis` (pub/sub) and `nats` (core NATS). Each process holds
//! one engine subscription per bus (every message of its `[events] channel`) and matches
//! prefixes locally in `keel_core::bus::Fanout`.
#![forbid(unsafe_code)]

#[cfg(any(feature = "postgres", feature = "redis", feature = "nats"))]
mod frame;
pub mod local;
#[cfg(feature = "nats")]
pub mod nats;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;

pub use local::LocalBus;
#[cfg(feature = "nats")]
pub use nats::{NatsBus, NatsEvents};
#[cfg(feature = "postgres")]
pub use postgres::PostgresBus;
#[cfg(feature = "redis")]
pub use redis::RedisBus;
