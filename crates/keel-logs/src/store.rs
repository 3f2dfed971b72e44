//! The `_logs` table: created on open, written in batches, read by id, purged by age.
//! Every statement goes through keel-sql's `Dialect`, so the same code runs on SQLite,
//! PostgreSQL and MariaDB.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use keel_core::{Error, Result};
use keel_sql::{ColumnType, Engine, Row, SqlBuf};
use serde_json::{Map, Value};

use crate::entry::{LogEntry, PendingEntry};

/// Readers of the SQLite file (the logs API's lists and stats).
const SQLITE_READERS: u32 = 2;

/// PocketBase's table name, used in the auxiliary SQLite file.
const AUX_TABLE: &str = "_logs";
/// The table on a shared PostgreSQL or MariaDB database, where a name starting with `_`
/// could be a collection's.
const SHARED_TABLE: &str = "keel_request_logs";

/// The log rows on one engine.
#[derive(Clone)]
pub struct LogStore {
    pub(crate) engine: Arc<dyn Engine>,
    pub(crate) table: &'static str,
    /// The INSERTs of 1, 2, 4, … [`ROWS_PER_INSERT`] rows (`inserts[k]` has 2^k rows): a
    /// batch of any size is a few of them, so the engine's statement cache prepares each text
    /// once. A statement sized to each batch's remainder was prepared again almost every time
    /// (callgrind: ~1,500 instructions a row in SQLite's parser, ~1,400 writing the text).
    inserts: Arc<[String]>,
}

/// Most rows in one INSERT statement (a power of two): enough that each statement's own cost
/// is spread thin.
const ROWS_PER_INSERT: usize = 64;

/// `INSERT INTO table (id, level, message, data, created) VALUES (…), …` for `rows` rows.
fn insert_sql(d: &dyn keel_sql::Dialect, table: &str, rows: usize) -> String {
    let mut sql = format!(
        "INSERT INTO {} (\"id\", \"level\", \"message\", \"data\", \"created\") VALUES ",
        d.quote_ident(table)
    );
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        let p: Vec<String> = (1..=5).map(|c| d.ordered_placeholder(r * 5 + c)).collect();
        sql.push('(');
        sql.push_str(&p.join(", "));
        sql.push(')');
    }
    sql
}

impl LogStore {
    /// Opens (creating if missing) the auxiliary SQLite file at `path` (`auxiliary.db`),
    /// an engine of its own with its table `_logs`.
    pub async fn open_sqlite(path: &Path) -> Result<LogStore> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(Error::internal)?;
        }
        let engine = keel_sql::sqlite::SqliteEngine::open(path, SQLITE_READERS)
            .await
            .map_err(|e| Error::internal(format!("cannot open the logs database {}: {e}", path.display())))?;
        LogStore::open_with(Arc::new(engine), AUX_TABLE).await
    }

    /// The store on a shared engine (PostgreSQL or MariaDB), table `keel_request_logs`.
    pub async fn open(engine: Arc<dyn Engine>) -> Result<LogStore> {
        LogStore::open_with(engine, SHARED_TABLE).await
    }

    async fn open_with(engine: Arc<dyn Engine>, table: &'static str) -> Result<LogStore> {
        let inserts = (0..=ROWS_PER_INSERT.trailing_zeros())
            .map(|k| insert_sql(engine.dialect(), table, 1 << k))
            .collect();
        let store = LogStore { engine, table, inserts };
        store.migrate().await?;
        Ok(store)
    }

    /// The table's name on this engine (`_logs` or `keel_request_logs`).
    pub fn table(&self) -> &'static str {
        self.table
    }

    async fn migrate(&self) -> Result<()> {
        let mut tx = self.engine.begin().await.map_err(db)?;
        for s in create_statements(self.engine.dialect(), self.table) {
            tx.execute(&s, &[]).await.map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        // Older versions made one on `level`. Alone, as MySQL has no `IF EXISTS` here: its
        // error for a missing index is the expected answer.
        let d = self.engine.dialect();
        let drop = d.drop_index(&format!("{}_level", self.table), self.table);
        let mut tx = self.engine.begin().await.map_err(db)?;
        match tx.execute(&drop, &[]).await {
            Ok(_) => tx.commit().await.map_err(db),
            Err(e) => {
                tracing::debug!(error = %e, "request logs: no index on level to drop");
                Ok(())
            }
        }
    }

    /// Stores `entries` in one transaction, giving each without an id a new one that sorts by
    /// its `created` (appended to the primary-key index, not scattered through it).
    pub async fn insert(&self, entries: &mut [LogEntry]) -> Result<()> {
        let mut rows = Vec::with_capacity(entries.len());
        for e in entries.iter_mut() {
            if e.id.is_empty() {
                e.id = crate::id::time_ordered_id(e.created);
            }
            let data = serde_json::to_string(&e.data).map_err(Error::wrap)?;
            rows.push((e.id.clone(), e.created, e.level, e.message.clone(), data));
        }
        self.write_rows(rows).await
    }

    /// Stores the writer's `entries` in one transaction, each with a new id.
    pub(crate) async fn write(&self, entries: impl Iterator<Item = PendingEntry>) -> Result<()> {
        let rows = entries
            .map(|e| {
                (
                    crate::id::time_ordered_id(e.created),
                    e.created,
                    e.level,
                    e.message,
                    e.data,
                )
            })
            .collect();
        self.write_rows(rows).await
    }

    /// Inserts `(id, created, level, message, data JSON)` rows in one transaction, as
    /// multi-row `INSERT … VALUES` statements of 2^k rows up to [`ROWS_PER_INSERT`] (their
    /// placeholders in order: [`keel_sql::Dialect::ordered_placeholder`]). Bound
    /// parameters cost the engine least: rows sent as one JSON document and unpacked by the
    /// engine made SQLite parse each row's JSON again for every column (measured with
    /// callgrind: ~16,000 instructions a row in SQLite's JSON functions alone).
    async fn write_rows(&self, rows: Vec<(String, DateTime<Utc>, i64, String, String)>) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.engine.begin_concurrent().await.map_err(db)?;
        let mut left = rows.len();
        let mut rows = rows.into_iter();
        let mut params = Vec::with_capacity(ROWS_PER_INSERT * 5);
        while left > 0 {
            // The largest statement that fits what is left (64, then 32, 16, …, 1).
            let k = (usize::BITS - 1 - left.min(ROWS_PER_INSERT).leading_zeros()) as usize;
            params.clear();
            for (id, created, level, message, data) in rows.by_ref().take(1 << k) {
                params.extend([
                    Value::String(id),
                    Value::from(level),
                    Value::String(message),
                    Value::String(data),
                    Value::String(keel_core::time::format(created)),
                ]);
            }
            left -= 1 << k;
            tx.execute(&self.inserts[k], &params).await.map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    /// The row `id`, or a 404.
    pub async fn view(&self, id: &str) -> Result<LogEntry> {
        let mut buf = SqlBuf::new(self.engine.dialect());
        buf.push(&format!("SELECT {} FROM ", self.columns()))
            .ident(self.table)
            .push(" t WHERE t.\"id\" = ")
            .param(Value::String(id.to_string()))
            .push(" LIMIT 1");
        let rows = self.engine.fetch_point(&buf.text, &buf.params).await.map_err(db)?;
        let row = rows.into_iter().next().ok_or_else(Error::not_found)?;
        entry_of(row)
    }

    /// Deletes the rows created before `cutoff` and those below `min_level`; returns how
    /// many went.
    pub async fn purge(&self, cutoff: DateTime<Utc>, min_level: i64) -> Result<u64> {
        let mut buf = SqlBuf::new(self.engine.dialect());
        buf.push("DELETE FROM ")
            .ident(self.table)
            .push(" WHERE \"created\" < ")
            .param(Value::String(keel_core::time::format(cutoff)))
            .push(" OR \"level\" < ")
            .param(Value::from(min_level));
        let mut tx = self.engine.begin_concurrent().await.map_err(db)?;
        let n = tx.execute(&buf.text, &buf.params).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(n)
    }

    /// Deletes every row (logs turned off with `maxDays` 0).
    pub async fn clear(&self) -> Result<u64> {
        let sql = format!("DELETE FROM {}", self.engine.dialect().quote_ident(self.table));
        let mut tx = self.engine.begin_concurrent().await.map_err(db)?;
        let n = tx.execute(&sql, &[]).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(n)
    }

    /// The selected columns over alias `t`.
    pub(crate) fn columns(&self) -> &'static str {
        "t.\"id\" AS \"id\", t.\"level\" AS \"level\", t.\"message\" AS \"message\", t.\"data\" AS \"data\", t.\"created\" AS \"created\""
    }
}

/// The table `table` and its index on `created`, each created if missing. There is no index on
/// `level` (PocketBase has one): it cost each insert about a fifth of its time, for filters on
/// a column of four values that the `created` order serves.
fn create_statements(d: &dyn keel_sql::Dialect, table: &str) -> [String; 2] {
    let t = d.quote_ident(table);
    let key = d.column_type(ColumnType::Key);
    let txt = d.column_type(ColumnType::Text);
    let json = d.column_type(ColumnType::Json);
    let idx = |name: &str, col: &str, kind: ColumnType| {
        let index = d.quote_ident(&format!("{table}_{name}"));
        let column = d.index_key(&d.quote_ident(col), kind, false);
        format!("CREATE INDEX IF NOT EXISTS {index} ON {t} ({column})")
    };
    [
        format!(
            "CREATE TABLE IF NOT EXISTS {t} (
                {id} {key} PRIMARY KEY NOT NULL,
                {level} BIGINT NOT NULL,
                {message} {txt} NOT NULL,
                {data} {json} NOT NULL,
                {created} {key} NOT NULL
            )",
            id = d.quote_ident("id"),
            level = d.quote_ident("level"),
            message = d.quote_ident("message"),
            data = d.quote_ident("data"),
            created = d.quote_ident("created"),
        ),
        idx("created", "created", ColumnType::Key),
    ]
}

/// A row as a [`LogEntry`].
pub(crate) fn entry_of(mut row: Row) -> Result<LogEntry> {
    let text = |row: &mut Row, c: &str| match row.remove(c) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(Error::internal(format!("logs store: {c} is not text"))),
    };
    let id = text(&mut row, "id")?;
    let message = text(&mut row, "message")?;
    let created = text(&mut row, "created")?;
    let created =
        keel_core::time::parse(&created).ok_or_else(|| Error::internal("logs store: created is not a datetime"))?;
    let level = match row.remove("level") {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    };
    let data = match row.remove("data") {
        Some(Value::String(s)) => serde_json::from_str::<Map<String, Value>>(&s).unwrap_or_default(),
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    Ok(LogEntry {
        id,
        created,
        level,
        message,
        data,
    })
}

/// An engine error, as the logs store's.
pub(crate) fn db(e: Error) -> Error {
    e.context("logs store")
}
