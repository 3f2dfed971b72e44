//! Fresh PostgreSQL namespaces for tests: a schema per test (records-engine suite) or a
//! database per test (a whole `keel serve`), dropped at the end.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::random_name;

/// A schema `k_<random>` and a pool whose connections use it (`search_path`).
pub struct PgSchema {
    pub pool: PgPool,
    pub name: String,
    url: String,
}

/// Creates a fresh schema on the server at `url` and a pool of `max` connections into it.
pub async fn fresh_schema(url: &str, max: u32) -> PgSchema {
    let name = format!("k_{}", random_name());
    let mut admin = PgConnection::connect(url)
        .await
        .expect("connect to KEEL_TEST_POSTGRES_URL");
    sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA \"{name}\"")))
        .execute(&mut admin)
        .await
        .expect("create a test schema");
    let _ = admin.close().await;
    existing_schema(url, &name, max).await
}

/// A pool of `max` connections into the existing schema `name`.
pub async fn existing_schema(url: &str, name: &str, max: u32) -> PgSchema {
    let opts = PgConnectOptions::from_str(url)
        .expect("a PostgreSQL URL")
        .options([("search_path", name)])
        // Names the test's sessions, so `drop_schema` can end those still open.
        .application_name(name);
    let pool = PgPoolOptions::new()
        .max_connections(max)
        .connect_with(opts)
        .await
        .expect("connect the test pool");
    PgSchema {
        pool,
        name: name.to_string(),
        url: url.to_string(),
    }
}

impl PgSchema {
    /// Closes the pool, ends any other session still in the schema (a store's pool kept by
    /// a test, a transaction whose rollback is still queued), and drops the schema.
    pub async fn drop_schema(self) {
        self.pool.close().await;
        if let Ok(mut admin) = PgConnection::connect(&self.url).await {
            let _ = sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE application_name = $1 AND pid <> pg_backend_pid()",
            )
            .bind(&self.name)
            .execute(&mut admin)
            .await;
            let _ = sqlx::query(AssertSqlSafe(format!("DROP SCHEMA \"{}\" CASCADE", self.name)))
                .execute(&mut admin)
                .await;
            let _ = admin.close().await;
        }
    }
}

/// Drops the schema `name` when dropped (for tests that cannot await their cleanup): from
/// a thread with its own runtime, ending the schema's sessions first.
pub struct SchemaGuard {
    pub url: String,
    pub name: String,
}

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                rt.block_on(async move { existing_schema(&url, &name, 1).await.drop_schema().await });
            }
        })
        .join();
    }
}

/// The PostgreSQL URL when `KEEL_TEST_DATA_ENGINE=postgres` asks tests that build a records
/// store to use PostgreSQL (`KEEL_TEST_POSTGRES_URL`) instead of SQLite.
pub fn data_engine_url() -> Option<String> {
    match std::env::var("KEEL_TEST_DATA_ENGINE").as_deref() {
        Ok("postgres") => crate::engine_url("KEEL_TEST_POSTGRES_URL"),
        _ => None,
    }
}

/// A fresh database `k_<random>` on the server at `url`; returns its URL. Drop it with
/// [`drop_database`].
pub async fn fresh_database(url: &str) -> (String, String) {
    let name = format!("k_{}", random_name());
    let mut admin = PgConnection::connect(url)
        .await
        .expect("connect to KEEL_TEST_POSTGRES_URL");
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut admin)
        .await
        .expect("create a test database");
    let _ = admin.close().await;
    (database_url(url, &name), name)
}

/// `url` with its database replaced by `name` (query parameters kept).
pub(crate) fn database_url(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_end = base[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(base.len());
    format!("{}/{name}{query}", &base[..host_end])
}

/// Drops the database `name` when dropped (made by [`fresh_database`]), also when the test
/// panicked: from a thread with its own runtime.
pub struct DatabaseGuard {
    pub url: String,
    pub name: String,
}

impl Drop for DatabaseGuard {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                rt.block_on(drop_database(&url, &name));
            }
        })
        .join();
    }
}

/// Drops the database `name` (made by [`fresh_database`]), ending its sessions first.
pub async fn drop_database(url: &str, name: &str) {
    if let Ok(mut admin) = PgConnection::connect(url).await {
        let _ = sqlx::query(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await;
        let _ = admin.close().await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_urls_keep_credentials_and_options() {
        assert_eq!(
            super::database_url("postgres://u:p@h:5432/test?sslmode=disable", "k_x"),
            "postgres://u:p@h:5432/k_x?sslmode=disable"
        );
        assert_eq!(super::database_url("postgres://h", "k_x"), "postgres://h/k_x");
    }
}
