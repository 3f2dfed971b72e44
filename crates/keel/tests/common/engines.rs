//! Records engines for HTTP tests that run once per engine: [`Db`] (SQLite, or a fresh
//! PostgreSQL or MariaDB database from the test environment) and `on_every_engine!`.

use crate::common::KeelProcess;

/// Where a test's records (and so its search index) live.
pub enum Db {
    Sqlite,
    Postgres {
        url: String,
        _guard: keel_testkit::postgres::DatabaseGuard,
    },
    Mariadb {
        url: String,
        _guard: keel_testkit::mysql::DatabaseGuard,
    },
}

impl Db {
    pub async fn sqlite() -> Option<Db> {
        Some(Db::Sqlite)
    }

    /// A fresh PostgreSQL database (`None`, the test skipped, without the engine).
    pub async fn postgres() -> Option<Db> {
        let pg = keel_testkit::engine_url("KEEL_TEST_POSTGRES_URL")?;
        let (url, name) = keel_testkit::postgres::fresh_database(&pg).await;
        let _guard = keel_testkit::postgres::DatabaseGuard { url: pg, name };
        Some(Db::Postgres { url, _guard })
    }

    /// A fresh MariaDB database (`None`, the test skipped, without the engine).
    pub async fn mariadb() -> Option<Db> {
        let my = keel_testkit::engine_url("KEEL_TEST_MYSQL_URL")?;
        let db = keel_testkit::mysql::fresh_database(&my).await;
        Some(Db::Mariadb {
            _guard: db.guard(),
            url: db.url,
        })
    }

    /// The server's environment for this engine.
    pub fn env(&self) -> Vec<(&'static str, &str)> {
        match self {
            Db::Sqlite => Vec::new(),
            Db::Postgres { url, .. } => vec![("KEEL_DATA__ENGINE", "postgres"), ("KEEL_ENGINES__POSTGRES_URL", url)],
            Db::Mariadb { url, .. } => vec![("KEEL_DATA__ENGINE", "mysql"), ("KEEL_ENGINES__MYSQL_URL", url)],
        }
    }

    /// Whether the engine's provider tolerates typos and stems (MariaDB's FULLTEXT does neither).
    pub fn stems_and_typos(&self) -> bool {
        !matches!(self, Db::Mariadb { .. })
    }

    pub fn start(&self) -> KeelProcess {
        KeelProcess::start_with_env(&self.env())
    }
}

/// Runs the async test function `$name(db: Db)` once per records engine, as
/// `$name::sqlite`, `$name::postgres` and `$name::mariadb`.
#[macro_export]
macro_rules! on_every_engine {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                super::$name(super::Db::sqlite().await.unwrap()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                if let Some(db) = super::Db::postgres().await {
                    super::$name(db).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn mariadb() {
                if let Some(db) = super::Db::mariadb().await {
                    super::$name(db).await;
                }
            }
        }
    };
}
