//! Hands each service its provider, built on the engines opened once (`engines.rs`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use keel_core::bus::EventBus;
use keel_core::cache::Cache;
use keel_core::config::{CacheProvider, Config, DataEngine, EventBusProvider, JobsStore};
use keel_data::Store;
use keel_sql::mysql::MySqlEngine;
use keel_sql::postgres::PgEngine;
use keel_sql::sqlite::SqliteEngine;
use keel_sql::Engine;

pub use crate::engines::{Engines, Needs};

/// Opens the records store on the engine `[data] engine` names: `sqlite` (the data dir's
/// `data.db`), `postgres` or `mysql` (the shared pool of `[engines] postgres_url` or
/// `mysql_url`). Migrations run
/// here: an empty database gets Keel's tables; a newer one is refused.
pub async fn open_store(cfg: &Config, engines: &Engines) -> anyhow::Result<Arc<Store>> {
    crate::datadir::prepare(&cfg.data_dir)?;
    let engine: Arc<dyn Engine> = match cfg.data.engine {
        DataEngine::Sqlite => {
            let db = cfg.data_dir.join("data.db");
            let engine = SqliteEngine::open(&db, cfg.sqlite_readers)
                .await
                .with_context(|| format!("cannot open database {}", db.display()))?;
            Arc::new(engine)
        }
        DataEngine::Postgres => Arc::new(PgEngine::new(engines.postgres()?)),
        DataEngine::Mysql => Arc::new(MySqlEngine::new(engines.mysql()?).await.map_err(|e| {
            anyhow::Error::new(e).context("[data] engine = \"mysql\": the database at engines.mysql_url")
        })?),
    };
    let store = Arc::new(Store::open(engine).await.context("cannot open the store")?);
    store.enable_group_commit();
    // Encrypted fields, for the CLI's commands on records (`serve` sets the app's keys again):
    // the vault's keys when there are some (never creating the key file here); without, a
    // collection with an encrypted field answers that no master key is configured.
    let keys = keel_vault::KeySource::from_process_env(&cfg.data_dir)
        .and_then(|source| keel_vault::Keys::open(source, false))
        .unwrap_or_default();
    keel_app::vault::fields::install(&store, Arc::new(keys));
    Ok(store)
}

/// The records store alone, on the engines it needs (the CLI's commands on records).
pub async fn open_store_alone(cfg: &Config) -> anyhow::Result<Arc<Store>> {
    let engines = Engines::open(&cfg.engines, Needs::store(cfg)).await?;
    open_store(cfg, &engines).await
}

/// Opens the cache provider `[cache] provider` names, its hits and misses counted for
/// `/metrics`; Redis and tiered run on the shared Redis engine.
pub async fn open_cache(cfg: &Config, engines: &Engines) -> anyhow::Result<Arc<dyn Cache>> {
    let failed = |e: keel_core::Error| anyhow::anyhow!("cannot open the {} cache: {e}", cfg.cache.provider);
    let cache: Arc<dyn Cache> = match cfg.cache.provider {
        CacheProvider::Memory => Arc::new(keel_cache::MemoryCache::new(keel_cache::MemoryConfig {
            max_bytes: cfg.cache.memory_max_bytes,
        })),
        CacheProvider::Redis => Arc::new(
            keel_cache::RedisCache::new(engines.redis()?.manager)
                .await
                .map_err(failed)?,
        ),
        CacheProvider::Tiered => {
            let redis = engines.redis()?;
            let tiered = keel_cache::TieredConfig {
                memory_max_bytes: cfg.cache.memory_max_bytes,
                local_ttl: Duration::from_secs(cfg.cache.tiered_local_ttl_secs.max(1)),
            };
            Arc::new(
                keel_cache::TieredCache::new(&redis.client, redis.manager, tiered)
                    .await
                    .map_err(failed)?,
            )
        }
        CacheProvider::Memcached => {
            let url = cfg.engines.memcached_url.clone();
            Arc::new(
                keel_cache::MemcachedCache::connect(keel_cache::MemcachedConfig { url })
                    .await
                    .map_err(|e| anyhow::anyhow!("engines.memcached_url: cannot connect ({e})"))?,
            )
        }
    };
    tracing::info!(provider = cache.name(), "cache ready");
    Ok(keel_cache::metered(cache))
}

/// Opens the event bus `[events] bus` names in the namespace `[events] channel`: `local` (this
/// process only) or, on the shared engine, `postgres`, `redis` or `nats`.
pub async fn open_bus(cfg: &Config, engines: &Engines) -> anyhow::Result<Arc<dyn EventBus>> {
    let channel = &cfg.events.channel;
    let failed = |e: keel_core::Error| anyhow::anyhow!("cannot open the {} event bus: {e}", cfg.events.bus);
    let bus: Arc<dyn EventBus> = match cfg.events.bus {
        EventBusProvider::Local => Arc::new(keel_events::LocalBus::new()),
        EventBusProvider::Postgres => Arc::new(
            keel_events::PostgresBus::new(engines.postgres()?, channel)
                .await
                .map_err(failed)?,
        ),
        EventBusProvider::Redis => {
            let redis = engines.redis()?;
            Arc::new(
                keel_events::RedisBus::new(&redis.client, redis.manager, channel)
                    .await
                    .map_err(failed)?,
            )
        }
        EventBusProvider::Nats => Arc::new(
            keel_events::NatsBus::new(engines.nats()?, &engines.nats_events()?, channel)
                .await
                .map_err(failed)?,
        ),
    };
    tracing::info!(bus = bus.name(), channel = %channel, "event bus ready");
    Ok(bus)
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

/// The notification channel providers of `[[notify.providers]]` (email, SMS, chat), built
/// once for the notifications service; every HTTP provider's requests go through `outbound`.
/// A mistake (checked first when the config loads, see [`notify_problems`]) names
/// `notify.providers[i].<key>`, never a value.
pub fn open_notifiers(
    cfg: &Config,
    outbound: &keel_core::outbound::OutboundGuard,
) -> anyhow::Result<Vec<Arc<dyn keel_core::notify::Notifier>>> {
    keel_notify::providers::build(&cfg.notify, outbound).map_err(|e| match e {
        keel_core::Error::BadRequest { fields, .. } => {
            let why = fields
                .iter()
                .map(|(key, f)| format!("{key}: {}", f.message))
                .collect::<Vec<_>>()
                .join("; ");
            anyhow::anyhow!("{why}")
        }
        other => anyhow::anyhow!("[notify]: {other}"),
    })
}

/// The problems of `[[notify.providers]]`, as `(key, problem)`: what [`open_notifiers`]
/// would refuse, checked against the `[outbound]` allow-list (none when that list is itself
/// wrong: it is reported on its own).
pub fn notify_problems(cfg: &Config) -> Vec<(String, String)> {
    let Ok(outbound) = keel_core::outbound::OutboundGuard::new(&cfg.outbound) else {
        return Vec::new();
    };
    match keel_notify::providers::build(&cfg.notify, &outbound) {
        Ok(_) => Vec::new(),
        Err(keel_core::Error::BadRequest { fields, .. }) => {
            fields.into_iter().map(|(key, f)| (key, f.message)).collect()
        }
        Err(other) => vec![("notify.providers".to_string(), other.to_string())],
    }
}

/// Opens the jobs store `[jobs] store` names (`embedded`: `jobs.db` in the data dir, an engine
/// of its own; or `postgres` / `mysql`: the shared pool), once; its push queues go through the
/// `[outbound]` guard.
pub async fn open_jobs(cfg: &Config, engines: &Engines) -> anyhow::Result<Arc<keel_jobs::Jobs>> {
    let outbound = open_outbound(cfg)?;
    let store = match cfg.jobs.store {
        JobsStore::Embedded => keel_jobs::JobStore::open_sqlite(&cfg.data_dir.join("jobs.db"))
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the jobs database: {e}"))?,
        JobsStore::Postgres => {
            let engine = PgEngine::new(engines.postgres()?);
            keel_jobs::JobStore::open(Arc::new(engine))
                .await
                .map_err(|e| anyhow::anyhow!("cannot open the jobs store on PostgreSQL: {e}"))?
        }
        JobsStore::Mysql => {
            let engine = MySqlEngine::new(engines.mysql()?).await.map_err(|e| {
                anyhow::Error::new(e).context("[jobs] store = \"mysql\": the database at engines.mysql_url")
            })?;
            keel_jobs::JobStore::open(Arc::new(engine))
                .await
                .map_err(|e| anyhow::anyhow!("cannot open the jobs store on MariaDB: {e}"))?
        }
    };
    tracing::info!(store = %cfg.jobs.store, "jobs ready");
    Ok(keel_jobs::Jobs::with_outbound(store, outbound))
}

/// The jobs service alone, on the engines it needs (the CLI's jobs and schedules commands).
pub async fn open_jobs_alone(cfg: &Config) -> anyhow::Result<Arc<keel_jobs::Jobs>> {
    let engines = Engines::open(&cfg.engines, Needs::jobs(cfg)).await?;
    open_jobs(cfg, &engines).await
}

/// Opens the request logs (`/api/logs`) beside the records: on SQLite the data dir's
/// `auxiliary.db` (a database of its own, as PocketBase's), on PostgreSQL or MariaDB the
/// `keel_request_logs` table of the shared database; starts their batched writer.
pub async fn open_logs(cfg: &Config, engines: &Engines) -> anyhow::Result<Arc<keel_logs::RequestLogs>> {
    let store = match cfg.data.engine {
        DataEngine::Sqlite => keel_logs::LogStore::open_sqlite(&cfg.data_dir.join("auxiliary.db"))
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the request logs database: {e}"))?,
        DataEngine::Postgres => keel_logs::LogStore::open(Arc::new(PgEngine::new(engines.postgres()?)))
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the request logs on PostgreSQL: {e}"))?,
        DataEngine::Mysql => {
            let engine = MySqlEngine::new(engines.mysql()?).await.map_err(|e| {
                anyhow::Error::new(e).context("[data] engine = \"mysql\": the database at engines.mysql_url")
            })?;
            keel_logs::LogStore::open(Arc::new(engine))
                .await
                .map_err(|e| anyhow::anyhow!("cannot open the request logs on MariaDB: {e}"))?
        }
    };
    Ok(Arc::new(keel_logs::RequestLogs::start(store)))
}

/// The vault's master keys: `KEEL_MASTER_KEY` (and `KEEL_MASTER_KEY_PREVIOUS`) when set, else
/// the data dir's `vault.key`, created on first start (mode 0600). A malformed variable or a
/// key file others may read stops the start, naming it (never a key).
pub fn open_vault(cfg: &Config) -> anyhow::Result<keel_vault::Keys> {
    let source = keel_vault::KeySource::from_process_env(&cfg.data_dir).context("the vault's master key")?;
    if let keel_vault::KeySource::File(dir) = &source {
        let path = dir.join(keel_vault::KEY_FILE);
        if !path.exists() {
            if cfg.data.engine != DataEngine::Sqlite {
                tracing::warn!(
                    "creating the vault's master key file {}: other Keel processes sharing this database need the same key; set KEEL_MASTER_KEY on every one of them instead",
                    path.display()
                );
            } else {
                tracing::info!(
                    "creating the vault's master key file {} (back it up: see docs/vault.md)",
                    path.display()
                );
            }
        }
    }
    keel_vault::Keys::open(source, true).context("the vault's master key")
}

/// The search service, on the records' engine: the embedded provider (indexes in
/// `<data dir>/search/`) when records are on SQLite, the one setup where a single process
/// serves the data dir; the PostgreSQL or MariaDB provider on the records' own database (and
/// engine) when records are there, its index rows written inside each record write's
/// transaction, shared by every process.
pub async fn open_search(cfg: &Config, store: &Store) -> anyhow::Result<keel_app::search::Search> {
    let shared: Arc<dyn keel_search::sql::SqlIndex> = match cfg.data.engine {
        DataEngine::Sqlite => {
            let root = cfg.data_dir.join("search");
            let provider = keel_search::embedded::EmbeddedSearch::new(&root)
                .map_err(|e| anyhow::anyhow!("cannot open the search indexes in {}: {e}", root.display()))?;
            return Ok(keel_app::search::Search::new(provider));
        }
        DataEngine::Postgres => keel_search::postgres::PostgresSearch::open(store.engine().clone())
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the search index tables on PostgreSQL: {e}"))?,
        DataEngine::Mysql => keel_search::mysql::MysqlSearch::open(store.engine().clone())
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the search index tables on MariaDB: {e}"))?,
    };
    Ok(keel_app::search::Search::in_records_transactions(store, shared))
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

    fn provider(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn notify_providers_are_built_and_a_bad_one_is_named_without_its_value() {
        let mut cfg = Config::default();
        cfg.notify.providers = vec![
            provider(
                serde_json::json!({"name": "ops", "kind": "slack", "webhook_url": "https://hooks.slack.test/T/B/x"}),
            ),
            provider(
                serde_json::json!({"name": "sms", "kind": "twilio", "account_sid": "AC1", "auth_token": "tw-s3cret", "from": "+15005550006", "rate_per_second": 1}),
            ),
        ];
        let outbound = open_outbound(&cfg).unwrap();
        let built = open_notifiers(&cfg, &outbound).unwrap();
        let names: Vec<&str> = built.iter().map(|n| n.name()).collect();
        assert_eq!(names, ["ops", "sms"]);
        assert_eq!(built[1].rate_per_second(), Some(1));
        assert!(notify_problems(&cfg).is_empty());

        cfg.notify.providers[1].remove("from");
        cfg.notify.providers[1].insert("frm".into(), "+1".into());
        let err = open_notifiers(&cfg, &outbound).err().unwrap().to_string();
        assert!(err.starts_with("notify.providers[1].frm: unknown key"), "{err}");
        assert!(!err.contains("tw-s3cret"), "{err}");
        let problems = notify_problems(&cfg);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, "notify.providers[1].frm");
    }
}
