//! Queue providers behind `keel_core::queue::Queue`: embedded (SQLite), PostgreSQL, Redis and NATS JetStream.
//! A server-backed provider is built on its engine's shared handle (a `PgPool`, the Redis client
//! and connection manager, the NATS client), opened once per process by the binary.
#![forbid(unsafe_code)]

#[cfg(feature = "embedded")]
pub mod embedded;
#[cfg(feature = "nats")]
pub mod nats;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(any(feature = "embedded", feature = "postgres"))]
mod sql;

#[cfg(feature = "embedded")]
pub use embedded::EmbeddedQueue;
#[cfg(feature = "nats")]
pub use nats::{NatsQueue, NatsQueueConfig};
#[cfg(feature = "postgres")]
pub use postgres::PostgresQueue;
#[cfg(feature = "redis")]
pub use redis::RedisQueue;
