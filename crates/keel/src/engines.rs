//! The external engines of `[engines]`, each opened at most once per process and shared by
//! every service that uses it: one PostgreSQL pool, one MariaDB/MySQL pool, one Redis client
//! and connection manager, one NATS client. Only the engines the configured services need are dialled ([`Needs`]).
//!
//! Opening checks the engine answers with one plain connection first, so an unreachable
//! engine stops the start at once with an error naming the key to fix
//! (`engines.postgres_url: cannot connect (…)`), never its value (a URL may hold a password).

use std::str::FromStr;
use std::time::Duration;

use anyhow::anyhow;
use keel_core::config::{CacheProvider, Config, DataEngine, EnginesConfig, EventBusProvider, JobsStore};
use keel_sql::mysql::{MySqlEngine, MySqlPool};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::Connection;

/// How long opening an engine may take before the start fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The shared PostgreSQL pool's size (records, jobs store and queue together).
const POSTGRES_CONNECTIONS: u32 = 32;
/// The shared MariaDB/MySQL pool's size.
const MYSQL_CONNECTIONS: u32 = 16;

/// Which engines to open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    pub postgres: bool,
    pub mysql: bool,
    pub redis: bool,
    pub nats: bool,
}

impl Needs {
    /// What the records store needs (`[data] engine`).
    pub fn store(cfg: &Config) -> Needs {
        Needs {
            postgres: cfg.data.engine == DataEngine::Postgres,
            mysql: cfg.data.engine == DataEngine::Mysql,
            ..Needs::default()
        }
    }

    /// What the jobs store needs (`[jobs] store`).
    pub fn jobs(cfg: &Config) -> Needs {
        Needs {
            postgres: cfg.jobs.store == JobsStore::Postgres,
            ..Needs::default()
        }
    }

    /// What the cache provider needs (`[cache] provider`; Memcached has one user, the cache,
    /// which opens it itself).
    pub fn cache(cfg: &Config) -> Needs {
        Needs {
            redis: matches!(cfg.cache.provider, CacheProvider::Redis | CacheProvider::Tiered),
            ..Needs::default()
        }
    }

    /// What the event bus needs (`[events] bus`).
    pub fn bus(cfg: &Config) -> Needs {
        Needs {
            postgres: cfg.events.bus == EventBusProvider::Postgres,
            redis: cfg.events.bus == EventBusProvider::Redis,
            nats: cfg.events.bus == EventBusProvider::Nats,
            ..Needs::default()
        }
    }

    /// Both sets.
    pub fn and(self, other: Needs) -> Needs {
        Needs {
            postgres: self.postgres || other.postgres,
            mysql: self.mysql || other.mysql,
            redis: self.redis || other.redis,
            nats: self.nats || other.nats,
        }
    }
}

/// The process's Redis engine: the client (for connections that must be dedicated, such as
/// pub/sub subscribers) and the one connection manager every command goes through.
#[derive(Clone)]
pub struct RedisEngine {
    pub client: redis::Client,
    pub manager: ConnectionManager,
}

/// The opened engines. Handles are cheap clones of the one pool or connection.
#[derive(Default)]
pub struct Engines {
    postgres: Option<PgPool>,
    mysql: Option<MySqlPool>,
    redis: Option<RedisEngine>,
    nats: Option<(async_nats::Client, keel_events::NatsEvents)>,
}

impl Engines {
    /// Opens each engine `needs` names, once.
    pub async fn open(cfg: &EnginesConfig, needs: Needs) -> anyhow::Result<Engines> {
        let mut engines = Engines::default();
        if needs.postgres {
            engines.postgres = Some(open_postgres(&cfg.postgres_url).await?);
        }
        if needs.mysql {
            engines.mysql = Some(open_mysql(&cfg.mysql_url).await?);
        }
        if needs.redis {
            engines.redis = Some(open_redis(&cfg.redis_url).await?);
        }
        if needs.nats {
            engines.nats = Some(open_nats(&cfg.nats_url).await?);
        }
        Ok(engines)
    }

    /// The PostgreSQL pool (opened when a service needs it).
    pub fn postgres(&self) -> anyhow::Result<PgPool> {
        self.postgres.clone().ok_or_else(|| not_opened("postgres_url"))
    }

    /// The MariaDB/MySQL pool (opened when a service needs it).
    pub fn mysql(&self) -> anyhow::Result<MySqlPool> {
        self.mysql.clone().ok_or_else(|| not_opened("mysql_url"))
    }

    /// The Redis client and connection manager (opened when a service needs them).
    pub fn redis(&self) -> anyhow::Result<RedisEngine> {
        self.redis.clone().ok_or_else(|| not_opened("redis_url"))
    }

    /// The NATS client (opened when a service needs it).
    pub fn nats(&self) -> anyhow::Result<async_nats::Client> {
        self.nats
            .as_ref()
            .map(|(c, _)| c.clone())
            .ok_or_else(|| not_opened("nats_url"))
    }

    /// What the NATS client tells about its connection (reconnections), for the event bus.
    pub fn nats_events(&self) -> anyhow::Result<keel_events::NatsEvents> {
        self.nats
            .as_ref()
            .map(|(_, e)| e.clone())
            .ok_or_else(|| not_opened("nats_url"))
    }
}

fn not_opened(key: &str) -> anyhow::Error {
    anyhow!("engines.{key}: the engine was not opened for this service (a wiring bug)")
}

/// `engines.KEY: cannot connect (why)`, with any password of `url` masked in `why`.
fn cannot_connect(key: &str, url: &str, why: impl std::fmt::Display) -> anyhow::Error {
    let mut why = why.to_string();
    if let Some(password) = url::Url::parse(url).ok().and_then(|u| u.password().map(str::to_string)) {
        if !password.is_empty() {
            why = why.replace(&password, "***");
        }
    }
    anyhow!("engines.{key}: cannot connect ({why})")
}

/// The PostgreSQL pool. One connection is opened first (sqlx's pool retries a refused
/// connection until its timeout, hiding the cause).
async fn open_postgres(url: &str) -> anyhow::Result<PgPool> {
    let key = "postgres_url";
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| cannot_connect(key, url, e))?
        // `CREATE … IF NOT EXISTS` notices at every start are not worth a log line.
        .options([("client_min_messages", "warning")]);
    let probe = tokio::time::timeout(CONNECT_TIMEOUT, sqlx::PgConnection::connect_with(&options))
        .await
        .map_err(|_| cannot_connect(key, url, "no answer within 10 s"))?
        .map_err(|e| cannot_connect(key, url, e))?;
    let _ = probe.close().await;
    PgPoolOptions::new()
        .max_connections(POSTGRES_CONNECTIONS)
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(|e| cannot_connect(key, url, e))
}

/// The MariaDB/MySQL pool, its connections set up as the records engine needs them
/// (charset, collation, SQL mode). One connection is opened first, as for PostgreSQL.
async fn open_mysql(url: &str) -> anyhow::Result<MySqlPool> {
    let key = "mysql_url";
    let options = MySqlEngine::connect_options(url).map_err(|e| cannot_connect(key, url, e))?;
    let probe = tokio::time::timeout(CONNECT_TIMEOUT, sqlx::MySqlConnection::connect_with(&options))
        .await
        .map_err(|_| cannot_connect(key, url, "no answer within 10 s"))?
        .map_err(|e| cannot_connect(key, url, e))?;
    let _ = probe.close().await;
    MySqlEngine::pool_options()
        .max_connections(MYSQL_CONNECTIONS)
        .connect_with(options)
        .await
        .map_err(|e| cannot_connect(key, url, e))
}

/// The Redis client and connection manager. The manager's response timeout allows the queue's
/// scripts on big batches; a plain connection answers `PING` first (the manager retries a
/// refused connection several times before giving up).
async fn open_redis(url: &str) -> anyhow::Result<RedisEngine> {
    let key = "redis_url";
    let client = redis::Client::open(url).map_err(|e| cannot_connect(key, url, e))?;
    let probe = async {
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    tokio::time::timeout(CONNECT_TIMEOUT, probe)
        .await
        .map_err(|_| cannot_connect(key, url, "no answer within 10 s"))?
        .map_err(|e| cannot_connect(key, url, e))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(keel_queue::redis::RESPONSE_TIMEOUT));
    let manager = client
        .get_connection_manager_with_config(config)
        .await
        .map_err(|e| cannot_connect(key, url, e))?;
    Ok(RedisEngine { client, manager })
}

/// The NATS client (reconnects on its own once connected) and its connection events: logged,
/// and handed to the event bus, which reports a gap after a reconnection.
async fn open_nats(url: &str) -> anyhow::Result<(async_nats::Client, keel_events::NatsEvents)> {
    let events = keel_events::NatsEvents::new();
    let observer = events.clone();
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(CONNECT_TIMEOUT)
        .event_callback(move |event| {
            let observer = observer.clone();
            async move {
                match &event {
                    async_nats::Event::Connected => tracing::info!("nats: connected"),
                    async_nats::Event::Disconnected => tracing::warn!("nats: disconnected; reconnecting"),
                    other => tracing::warn!(event = %other, "nats"),
                }
                observer.observe(&event);
            }
        })
        .connect(url)
        .await
        .map_err(|e| cannot_connect("nats_url", url, e))?;
    Ok((client, events))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connect_error_names_the_key_and_masks_the_password() {
        let e = cannot_connect(
            "postgres_url",
            "postgres://keel:hunter2@db:5432/app",
            "password authentication failed near hunter2",
        );
        assert_eq!(
            e.to_string(),
            "engines.postgres_url: cannot connect (password authentication failed near ***)"
        );
    }

    #[test]
    fn only_the_engines_of_configured_services_are_needed() {
        let mut cfg = Config::default();
        let all = |cfg: &Config| {
            Needs::store(cfg)
                .and(Needs::jobs(cfg))
                .and(Needs::cache(cfg))
                .and(Needs::bus(cfg))
        };
        assert_eq!(all(&cfg), Needs::default());
        cfg.jobs.store = JobsStore::Postgres;
        cfg.cache.provider = CacheProvider::Tiered;
        assert_eq!(
            all(&cfg),
            Needs {
                postgres: true,
                mysql: false,
                redis: true,
                nats: false
            }
        );
        cfg.events.bus = EventBusProvider::Nats;
        assert!(all(&cfg).nats);
        cfg.events.bus = EventBusProvider::Local;
        assert!(!all(&cfg).nats);
    }
}
