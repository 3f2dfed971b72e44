//! Fresh MariaDB/MySQL databases for tests: one database `k_<random>` per records-suite case
//! or per `keel serve`, dropped at the end.

use sqlx::mysql::MySqlConnection;
use sqlx::{AssertSqlSafe, Connection};

use crate::postgres::database_url;
use crate::random_name;

/// A database made by [`fresh_database`]: its URL and name.
pub struct MySqlDatabase {
    /// The URL of the new database (the server's URL with the database replaced).
    pub url: String,
    pub name: String,
    admin_url: String,
}

/// Creates a fresh database (`utf8mb4`) on the server at `url`.
pub async fn fresh_database(url: &str) -> MySqlDatabase {
    let name = format!("k_{}", random_name());
    let mut admin = MySqlConnection::connect(url)
        .await
        .expect("connect to KEEL_TEST_MYSQL_URL");
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4")))
        .execute(&mut admin)
        .await
        .expect("create a test database");
    let _ = admin.close().await;
    MySqlDatabase {
        url: database_url(url, &name),
        name,
        admin_url: url.to_string(),
    }
}

/// Drops a database made by [`fresh_database`] when dropped (from a test's sync code too).
pub struct DatabaseGuard {
    admin_url: String,
    name: String,
}

impl Drop for DatabaseGuard {
    fn drop(&mut self) {
        let db = MySqlDatabase {
            url: String::new(),
            name: self.name.clone(),
            admin_url: self.admin_url.clone(),
        };
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                rt.block_on(db.drop_database());
            }
        })
        .join();
    }
}

/// The MariaDB/MySQL URL when `KEEL_TEST_DATA_ENGINE=mysql` asks tests that build a records
/// store to use MariaDB (`KEEL_TEST_MYSQL_URL`) instead of SQLite.
pub fn data_engine_url() -> Option<String> {
    match std::env::var("KEEL_TEST_DATA_ENGINE").as_deref() {
        Ok("mysql") => crate::engine_url("KEEL_TEST_MYSQL_URL"),
        _ => None,
    }
}

impl MySqlDatabase {
    /// A guard dropping the database when it goes out of scope.
    pub fn guard(&self) -> DatabaseGuard {
        DatabaseGuard {
            admin_url: self.admin_url.clone(),
            name: self.name.clone(),
        }
    }

    /// Drops the database with everything in it.
    pub async fn drop_database(self) {
        if let Ok(mut admin) = MySqlConnection::connect(&self.admin_url).await {
            let _ = sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{}`", self.name)))
                .execute(&mut admin)
                .await;
            let _ = admin.close().await;
        }
    }
}
