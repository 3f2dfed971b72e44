//! The MySQL / MariaDB engine (MariaDB 10.11+, MySQL 8): reads and writes on one sqlx pool.
//!
//! Contract: every connection of the pool runs with `ANSI_QUOTES` (identifiers are quoted
//! `"like this"`, by the dialect only), `PIPES_AS_CONCAT` (`||` concatenates) and
//! `NO_BACKSLASH_ESCAPES` (a backslash in a literal is itself, so `LIKE … ESCAPE '\'` means
//! what it means on SQLite and PostgreSQL), in UTC, with `utf8mb4_bin` as the connection
//! collation. [`MySqlEngine::pool_options`] and [`MySqlEngine::connect`] set these up; a
//! pool made elsewhere must be made with them. Placeholders stay numbered (`?N`) in Keel's
//! SQL and become positional `?` here (`params.rs`).
//!
//! Durability: a write is acknowledged after InnoDB's `COMMIT` returns. DDL is not
//! transactional on MySQL: a `CREATE`/`ALTER` commits what came before it, so the store
//! orders collection changes to leave the schema consistent when a later step fails.

mod decode;
mod dialect;
mod params;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use keel_core::{Error, Result};
use serde_json::Value;
use sqlx::mysql::{MySql, MySqlArguments, MySqlConnectOptions, MySqlPoolOptions};
use sqlx::pool::MaybePoolConnection;
use sqlx::{Arguments, AssertSqlSafe, Executor, Transaction};

pub use dialect::{MySqlDialect, MARIADB, MYSQL};
pub use sqlx::mysql::MySqlPool;

use crate::engine::{Dialect, Engine, PoolStats, Row, SchemaLock, Tx};

/// The session settings every connection needs (see the module comment).
const SESSION_SQL_MODE: &str = "SET SESSION sql_mode = CONCAT(@@sql_mode, \
     ',ANSI_QUOTES,PIPES_AS_CONCAT,NO_BACKSLASH_ESCAPES,NO_ENGINE_SUBSTITUTION')";

/// How long a collection change waits for another process's to finish.
const SCHEMA_LOCK_WAIT_SECS: i64 = 120;

/// A MySQL or MariaDB database reached through one pool.
pub struct MySqlEngine {
    pool: MySqlPool,
    dialect: &'static MySqlDialect,
    /// Write transactions run one at a time in this process (the store's check-then-write
    /// steps and the audit chain rely on it, as on SQLite's single writer); across processes
    /// they queue on a row lock of `_keel_writer`.
    writer: Arc<tokio::sync::Mutex<()>>,
}

impl MySqlEngine {
    /// An engine over `pool`, whose connections were made with [`MySqlEngine::pool_options`]
    /// and [`MySqlEngine::connect_options`]. Asks the server which flavour it is.
    pub async fn new(pool: MySqlPool) -> Result<MySqlEngine> {
        let (version, mode): (String, String) = sqlx::query_as("SELECT VERSION(), @@SESSION.sql_mode")
            .fetch_one(&pool)
            .await
            .map_err(|e| Error::internal(format!("cannot reach the MySQL database: {}", redact(&e))))?;
        let missing: Vec<&str> = ["ANSI_QUOTES", "PIPES_AS_CONCAT", "NO_BACKSLASH_ESCAPES"]
            .into_iter()
            .filter(|m| !mode.split(',').any(|have| have.eq_ignore_ascii_case(m)))
            .collect();
        if !missing.is_empty() {
            return Err(Error::internal(format!(
                "the MySQL pool's connections run without {}: make the pool with MySqlEngine::pool_options",
                missing.join(", ")
            )));
        }
        // The row every write transaction locks first (see `begin`).
        for sql in [
            "CREATE TABLE IF NOT EXISTS \"_keel_writer\" (id INT NOT NULL PRIMARY KEY)",
            "INSERT IGNORE INTO \"_keel_writer\" (id) VALUES (1)",
        ] {
            sqlx::query(sql)
                .execute(&pool)
                .await
                .map_err(|e| Error::internal(format!("cannot prepare the MySQL database: {}", redact(&e))))?;
        }
        let dialect = if version.to_ascii_lowercase().contains("mariadb") {
            &MARIADB
        } else {
            &MYSQL
        };
        Ok(MySqlEngine {
            pool,
            dialect,
            writer: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// Opens a pool of up to `max_connections` to `url` (`mysql://user:pass@host:3306/db`)
    /// and an engine over it.
    pub async fn connect(url: &str, max_connections: u32) -> Result<MySqlEngine> {
        let opts = Self::connect_options(url)?;
        let pool = Self::pool_options()
            .max_connections(max_connections.max(1))
            .connect_with(opts)
            .await
            .map_err(|e| Error::internal(format!("cannot connect to the MySQL database: {}", redact(&e))))?;
        Self::new(pool).await
    }

    /// The connect options for `url` with the charset and collation the engine needs.
    pub fn connect_options(url: &str) -> Result<MySqlConnectOptions> {
        let opts = MySqlConnectOptions::from_str(url)
            .map_err(|_| Error::bad_request("the MySQL URL is not a valid mysql:// URL"))?;
        Ok(opts
            .charset("utf8mb4")
            .collation("utf8mb4_bin")
            .pipes_as_concat(true)
            .timezone(Some("+00:00".to_string())))
    }

    /// Pool options whose connections get the session settings the engine needs.
    pub fn pool_options() -> MySqlPoolOptions {
        MySqlPoolOptions::new()
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute(SESSION_SQL_MODE).await?;
                    Ok(())
                })
            })
    }

    /// The pool, to share with other services on the same database.
    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// Whether the server is MariaDB (else MySQL).
    pub fn is_mariadb(&self) -> bool {
        std::ptr::eq(self.dialect, &MARIADB)
    }
}

/// A connection error without the URL (which may hold a password).
fn redact(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Configuration(_) => "invalid configuration".into(),
        sqlx::Error::Database(db) => db.message().to_string(),
        sqlx::Error::Io(io) => io.to_string(),
        sqlx::Error::Tls(_) => "TLS error".into(),
        sqlx::Error::PoolTimedOut => "timed out".into(),
        _ => "connection failed".into(),
    }
}

#[async_trait]
impl Engine for MySqlEngine {
    fn dialect(&self) -> &'static dyn Dialect {
        self.dialect
    }

    fn pool_stats(&self) -> PoolStats {
        let size = u64::from(self.pool.size());
        let idle = self.pool.num_idle() as u64;
        PoolStats {
            readers_max: u64::from(self.pool.options().get_max_connections()),
            readers_busy: size.saturating_sub(idle),
            readers_idle: idle,
            writers: 0,
            writers_busy: 0,
        }
    }

    async fn fetch_all(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let (sql, params) = params::positional(sql, params)?;
        let rows = sqlx::query_with(AssertSqlSafe(sql.into_owned()), bind(&params)?)
            .fetch_all(&self.pool)
            .await
            .map_err(decode::internal)?;
        rows.iter().map(decode::row).collect()
    }

    async fn begin(&self) -> Result<Box<dyn Tx>> {
        let turn = self.writer.clone().lock_owned().await;
        let mut tx = self.pool.begin().await.map_err(decode::internal)?;
        // Serializes write transactions across processes too: the row lock is held until
        // commit or rollback. (A DDL statement commits, and so releases it early: collection
        // changes are serialized per process only.)
        sqlx::query("SELECT id FROM \"_keel_writer\" WHERE id = 1 FOR UPDATE")
            .execute(&mut *tx)
            .await
            .map_err(decode::internal)?;
        Ok(Box::new(MySqlTx { tx, _turn: Some(turn) }))
    }

    /// A transaction beside other writers, in `READ COMMITTED` (each statement sees what
    /// committed before it, as on PostgreSQL): for the jobs store, whose statements take
    /// their own row locks (`FOR UPDATE [SKIP LOCKED]`).
    async fn begin_concurrent(&self) -> Result<Box<dyn Tx>> {
        let mut conn = self.pool.acquire().await.map_err(decode::internal)?;
        // Applies to the next transaction on this connection only.
        sqlx::query("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            .execute(&mut *conn)
            .await
            .map_err(decode::internal)?;
        let tx = Transaction::begin(MaybePoolConnection::PoolConnection(conn), None)
            .await
            .map_err(decode::internal)?;
        Ok(Box::new(MySqlTx { tx, _turn: None }))
    }

    /// `GET_LOCK` named after the database, on a pooled connection of its own that is
    /// closed (releasing the lock) when the guard drops; a process that dies loses its
    /// connection and so the lock.
    async fn lock_schema(&self) -> Result<SchemaLock> {
        let mut conn = self.pool.acquire().await.map_err(decode::internal)?;
        conn.close_on_drop();
        let got: Option<i64> = sqlx::query_scalar(
            "SELECT GET_LOCK(CONCAT('keel_schema ', IF(LENGTH(DATABASE()) > 50, MD5(DATABASE()), DATABASE())), ?)",
        )
        .bind(SCHEMA_LOCK_WAIT_SECS)
        .fetch_one(&mut *conn)
        .await
        .map_err(decode::internal)?;
        if got != Some(1) {
            return Err(Error::Unavailable(
                "Another Keel process has been changing collections for too long; try again.".into(),
            ));
        }
        Ok(SchemaLock::holding(Box::new(conn)))
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(decode::internal)
    }
}

/// A transaction on one pooled connection.
struct MySqlTx {
    tx: Transaction<'static, MySql>,
    /// This process's writer turn (none for [`Engine::begin_concurrent`]).
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl MySqlTx {
    /// `e` as a keel error; a duplicate key names the index's columns (looked up in the
    /// same transaction, which MySQL keeps open after a failed statement).
    async fn map_err(&mut self, e: sqlx::Error) -> Error {
        let Some(index) = decode::duplicate_key(&e) else {
            return decode::internal(e);
        };
        // Keel's table ids are `id`; other index names are unique in the database.
        let columns = if index.eq_ignore_ascii_case("PRIMARY") {
            vec![("id".to_string(), None)]
        } else {
            sqlx::query_as::<_, (String, Option<String>)>(
                "SELECT s.COLUMN_NAME, c.EXTRA FROM information_schema.STATISTICS s \
                 JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = s.TABLE_SCHEMA \
                 AND c.TABLE_NAME = s.TABLE_NAME AND c.COLUMN_NAME = s.COLUMN_NAME \
                 WHERE s.TABLE_SCHEMA = DATABASE() AND s.INDEX_NAME = ? ORDER BY s.SEQ_IN_INDEX",
            )
            .bind(index.clone())
            .fetch_all(&mut *self.tx)
            .await
            .unwrap_or_default()
        };
        decode::unique_violation(&index, &columns)
    }
}

#[async_trait]
impl Tx for MySqlTx {
    async fn fetch_all(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let (sql, params) = params::positional(sql, params)?;
        let res = sqlx::query_with(AssertSqlSafe(sql.into_owned()), bind(&params)?)
            .fetch_all(&mut *self.tx)
            .await;
        match res {
            Ok(rows) => rows.iter().map(decode::row).collect(),
            Err(e) => Err(self.map_err(e).await),
        }
    }

    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        let (sql, params) = params::positional(sql, params)?;
        let res = sqlx::query_with(AssertSqlSafe(sql.into_owned()), bind(&params)?)
            .execute(&mut *self.tx)
            .await;
        match res {
            Ok(done) => Ok(done.rows_affected()),
            Err(e) => Err(self.map_err(e).await),
        }
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        self.tx.commit().await.map_err(decode::internal)
    }
}

/// Binds JSON values: null, bool, integer, double, text; arrays and objects as JSON text.
fn bind(params: &[Value]) -> Result<MySqlArguments> {
    let mut args = MySqlArguments::default();
    for p in params {
        let r = match p {
            Value::Null => args.add(Option::<String>::None),
            Value::Bool(b) => args.add(*b),
            Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => args.add(i),
                (None, Some(u)) => args.add(u),
                _ => args.add(n.as_f64().unwrap_or(0.0)),
            },
            Value::String(s) => args.add(s.as_str()),
            other => args.add(other.to_string()),
        };
        r.map_err(Error::internal)?;
    }
    Ok(args)
}
