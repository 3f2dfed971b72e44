//! Opens the engines once and hands each service its provider.

use std::sync::Arc;

use anyhow::Context;
use keel_core::config::{Config, DataEngine, JobsStore};
use keel_data::Store;
use keel_sql::mysql::{MySqlEngine, MySqlPool};
use keel_sql::postgres::{ConnectError, PgEngine, PgPool};
use keel_sql::sqlite::SqliteEngine;
use keel_sql::Engine;

/// Connections a PostgreSQL pool opens at most (shared by every service on that engine).
const POSTGRES_POOL_SIZE: u32 = 32;

/// Connections a MariaDB/MySQL pool opens at most.
const MYSQL_POOL_SIZE: u32 = 16;

/// The SQL engines the records store opened, for the services that share them (one pool
/// per engine per process).
#[derive(Clone, Default)]
pub struct Engines {
    /// The pool of `[engines] postgres_url`, when `[data] engine = "postgres"`.
    #[expect(
        dead_code,
        reason = "the jobs store and the queue take this pool once they share it (issue 11, brief E)"
    )]
    pub postgres: Option<PgPool>,
    /// The pool of `[engines] mysql_url`, when `[data] engine = "mysql"`.
    #[expect(dead_code, reason = "no other service runs on MariaDB/MySQL yet")]
    pub mysql: Option<MySqlPool>,
}

/// The records store and the engines it opened.
pub struct Data {
    pub store: Arc<Store>,
    pub engines: Engines,
}

/// Opens the records store on the engine `[data] engine` names: `sqlite` (the data dir's
/// `data.db`) or `postgres` (a pool of `[engines] postgres_url`). Migrations run here: an
/// empty database gets Keel's tables; a newer one is refused.
pub async fn open_data(cfg: &Config) -> anyhow::Result<Data> {
    crate::datadir::prepare(&cfg.data_dir)?;
    let (engine, engines): (Arc<dyn Engine>, Engines) = match cfg.data.engine {
        DataEngine::Sqlite => {
            let db = cfg.data_dir.join("data.db");
            let engine = SqliteEngine::open(&db, cfg.sqlite_readers)
                .await
                .with_context(|| format!("cannot open database {}", db.display()))?;
            (Arc::new(engine), Engines::default())
        }
        DataEngine::Postgres => {
            let url = &cfg.engines.postgres_url;
            let engine = PgEngine::connect(url, POSTGRES_POOL_SIZE).await.map_err(|e| {
                let what = match e {
                    ConnectError::BadUrl(_) => "is not a valid PostgreSQL URL",
                    ConnectError::Unreachable(_) => "cannot be reached (or refused the login)",
                };
                anyhow::Error::new(e).context(format!(
                    "[data] engine = \"postgres\": the database at engines.postgres_url ({}) {what}; \
                     fix engines.postgres_url (KEEL_ENGINES__POSTGRES_URL)",
                    keel_core::config::redact_url(url)
                ))
            })?;
            let engines = Engines {
                postgres: Some(engine.pool().clone()),
                ..Engines::default()
            };
            (Arc::new(engine), engines)
        }
        DataEngine::Mysql => {
            let engine = MySqlEngine::connect(&cfg.engines.mysql_url, MYSQL_POOL_SIZE)
                .await
                .map_err(|e| {
                    let why = match e {
                        keel_core::Error::Internal(why) => why,
                        other => other.to_string(),
                    };
                    anyhow::anyhow!("[data] engine = \"mysql\": {why}; fix engines.mysql_url (KEEL_ENGINES__MYSQL_URL)")
                })?;
            let engines = Engines {
                mysql: Some(engine.pool().clone()),
                ..Engines::default()
            };
            (Arc::new(engine), engines)
        }
    };
    let store = Arc::new(Store::open(engine).await.context("cannot open the store")?);
    store.enable_group_commit();
    Ok(Data { store, engines })
}

/// Opens the records store (see [`open_data`]) for a command that needs nothing else.
pub async fn open_store(cfg: &Config) -> anyhow::Result<Arc<Store>> {
    Ok(open_data(cfg).await?.store)
}

/// Opens the cache provider `[cache] provider` names (`memory` or `redis`), once.
pub async fn open_cache(cfg: &Config) -> anyhow::Result<Arc<dyn keel_core::cache::Cache>> {
    let cache = keel_cache::open(&cfg.cache, &cfg.engines)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the {} cache: {e}", cfg.cache.provider))?;
    tracing::info!(provider = cache.name(), "cache ready");
    Ok(cache)
}

/// The outbound request guard of `[outbound]` (built once: push delivery and OAuth2 avatar
/// downloads share it, and its HTTP client).
pub fn open_outbound(cfg: &Config) -> anyhow::Result<keel_core::outbound::OutboundGuard> {
    keel_core::outbound::OutboundGuard::new(&cfg.outbound).map_err(|e| match e {
        keel_core::Error::BadRequest { fields, .. } => {
            let why = fields
                .values()
                .map(|f| f.message.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            anyhow::anyhow!("[outbound] allow: {why}")
        }
        other => anyhow::anyhow!("[outbound]: {other}"),
    })
}

/// Opens the jobs store `[jobs] store` names (`embedded`: `jobs.db` in the data dir, or
/// `postgres`), once; its push queues go through the `[outbound]` guard.
pub async fn open_jobs(cfg: &Config) -> anyhow::Result<Arc<keel_jobs::Jobs>> {
    let outbound = open_outbound(cfg)?;
    let store = match cfg.jobs.store {
        JobsStore::Embedded => keel_jobs::JobStore::open_sqlite(&cfg.data_dir.join("jobs.db"))
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the jobs database: {e}"))?,
        JobsStore::Postgres => keel_jobs::JobStore::connect_postgres(&cfg.engines.postgres_url)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the jobs store on PostgreSQL: {e}"))?,
    };
    tracing::info!(store = %cfg.jobs.store, "jobs ready");
    Ok(keel_jobs::Jobs::with_outbound(store, outbound))
}

/// Opens the queue provider `[queue] provider` names (`embedded`: `queues.db` in the data
/// dir), once.
pub async fn open_queue(cfg: &Config) -> anyhow::Result<Arc<dyn keel_core::queue::Queue>> {
    let queue = keel_queue::open(&cfg.queue, &cfg.engines, &cfg.data_dir)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the {} queue provider: {e}", cfg.queue.provider))?;
    tracing::info!(provider = queue.name(), "queue ready");
    Ok(queue)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_outbound_allow_entry_stops_the_start_naming_it() {
        let mut cfg = Config::default();
        cfg.outbound.allow = vec!["127.0.0.1/32".into(), "10.0.0.0/40".into()];
        let err = open_outbound(&cfg).unwrap_err().to_string();
        assert!(
            err.starts_with("[outbound] allow: \"10.0.0.0/40\" is not a CIDR"),
            "{err}"
        );
        cfg.outbound.allow = vec!["127.0.0.1/32".into(), "::1/128".into()];
        assert_eq!(open_outbound(&cfg).unwrap().allowed().len(), 2);
    }
}
