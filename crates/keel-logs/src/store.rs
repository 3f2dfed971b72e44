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
/// Columns a row binds, in the order of [`insert_sql`].
const BOUND: usize = 4;

/// `INSERT INTO table (level, message, data, created) VALUES (…), …` for `rows` rows: the
/// engine numbers `seq`, and `id` follows from it.
fn insert_sql(d: &dyn keel_sql::Dialect, table: &str, rows: usize) -> String {
    let mut sql = format!(
        "INSERT INTO {} (\"level\", \"message\", \"data\", \"created\") VALUES ",
        d.quote_ident(table)
    );
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        let p: Vec<String> = (1..=BOUND).map(|c| d.ordered_placeholder(r * BOUND + c)).collect();
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

    /// Creates the table, or moves an older one (a text `id` as its key, an index on
    /// `created`) to this shape, its rows copied in time order with new ids.
    async fn migrate(&self) -> Result<()> {
        let d = self.engine.dialect();
        let t = d.quote_ident(self.table);
        // Qualified: SQLite reads an unknown bare "name" as a string, not as an error.
        let has = |column: &str| format!("SELECT t.{} FROM {t} t WHERE 1 = 0", d.quote_ident(column));
        let current = self.engine.fetch_all(&has("seq"), &[]).await.is_ok();
        let older = !current && self.engine.fetch_all(&has("id"), &[]).await.is_ok();
        let next_name = format!("{}_next", self.table);
        let next = d.quote_ident(&next_name);
        // A move cut off between dropping the old table and renaming the new one (MariaDB's
        // DDL is not transactional): the new table holds the rows.
        let stranded = !current
            && !older
            && self
                .engine
                .fetch_all(&format!("SELECT n.\"seq\" FROM {next} n WHERE 1 = 0"), &[])
                .await
                .is_ok();
        let mut tx = self.engine.begin().await.map_err(db)?;
        if stranded {
            tx.execute(&format!("ALTER TABLE {next} RENAME TO {t}"), &[])
                .await
                .map_err(db)?;
            tracing::info!(table = self.table, "request logs: an interrupted move finished");
        } else if older {
            // The new table is made beside the old one and renamed last: renaming the old one
            // first would keep its key's index name (`…_pkey` on PostgreSQL), which the new
            // table's key needs.
            let columns = "\"level\", \"message\", \"data\", \"created\"";
            for sql in [
                format!("DROP TABLE IF EXISTS {next}"),
                create_table(d, &next_name),
                format!("INSERT INTO {next} ({columns}) SELECT {columns} FROM {t} ORDER BY \"created\""),
                format!("DROP TABLE {t}"),
                format!("ALTER TABLE {next} RENAME TO {t}"),
            ] {
                tx.execute(&sql, &[]).await.map_err(db)?;
            }
            tracing::info!(table = self.table, "request logs: table moved to the numbered shape");
        } else {
            tx.execute(&create_table(d, self.table), &[]).await.map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    /// Stores `entries` in one transaction, one statement each, giving each the id the
    /// engine numbered it with (the writer's batches use [`LogStore::write`]).
    pub async fn insert(&self, entries: &mut [LogEntry]) -> Result<()> {
        let d = self.engine.dialect();
        // `seq`, not `id`: MariaDB's RETURNING computes a virtual column before numbering.
        let sql = format!("{} RETURNING {}", insert_sql(d, self.table, 1), d.quote_ident("seq"));
        let mut tx = self.engine.begin_concurrent().await.map_err(db)?;
        for e in entries.iter_mut() {
            let data = serde_json::to_string(&e.data).map_err(Error::wrap)?;
            let params = [
                Value::from(e.level),
                Value::String(e.message.clone()),
                Value::String(data),
                Value::String(keel_core::time::format(e.created)),
            ];
            let rows = tx.fetch_all(&sql, &params).await.map_err(db)?;
            let seq = rows
                .first()
                .and_then(|r| r.get("seq"))
                .and_then(|n| n.as_i64().or_else(|| n.as_str()?.parse().ok()))
                .ok_or_else(|| Error::internal("logs store: the insert returned no seq"))?;
            e.id = id_of(seq);
        }
        tx.commit().await.map_err(db)
    }

    /// Stores the writer's `entries` in one transaction, as multi-row `INSERT … VALUES`
    /// statements of 2^k rows up to [`ROWS_PER_INSERT`] (their placeholders in order:
    /// [`keel_sql::Dialect::ordered_placeholder`]). Bound parameters cost the engine least:
    /// rows sent as one JSON document and unpacked by the engine made SQLite parse each row's
    /// JSON again for every column (measured with callgrind: ~16,000 instructions a row in
    /// SQLite's JSON functions alone).
    pub(crate) async fn write(&self, entries: impl ExactSizeIterator<Item = PendingEntry>) -> Result<()> {
        let mut left = entries.len();
        if left == 0 {
            return Ok(());
        }
        let mut rows = entries;
        let mut tx = self.engine.begin_concurrent().await.map_err(db)?;
        let mut params = Vec::with_capacity(ROWS_PER_INSERT * BOUND);
        while left > 0 {
            // The largest statement that fits what is left (64, then 32, 16, …, 1).
            let k = (usize::BITS - 1 - left.min(ROWS_PER_INSERT).leading_zeros()) as usize;
            params.clear();
            for e in rows.by_ref().take(1 << k) {
                params.extend([
                    Value::from(e.level),
                    Value::String(e.message),
                    Value::String(e.data),
                    Value::String(keel_core::time::format(e.created)),
                ]);
            }
            left -= 1 << k;
            tx.execute(&self.inserts[k], &params).await.map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    /// The row `id`, or a 404.
    pub async fn view(&self, id: &str) -> Result<LogEntry> {
        let seq = seq_of(id).ok_or_else(Error::not_found)?;
        let mut buf = SqlBuf::new(self.engine.dialect());
        buf.push(&format!("SELECT {} FROM ", self.columns()))
            .ident(self.table)
            .push(" t WHERE t.\"seq\" = ")
            .param(Value::from(seq))
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

/// Digits of a row's id: its `seq` in lowercase hexadecimal, zero-padded (PocketBase's id
/// shape: 15 lowercase alphanumerics).
const ID_DIGITS: usize = 15;

/// The id of the row numbered `seq`.
fn id_of(seq: i64) -> String {
    format!("{seq:0width$x}", width = ID_DIGITS)
}

/// The `seq` an id names, if it is one.
fn seq_of(id: &str) -> Option<i64> {
    let valid = id.len() == ID_DIGITS && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    valid.then(|| i64::from_str_radix(id, 16).ok()).flatten()
}

/// `CREATE TABLE IF NOT EXISTS` for the table `table`: one b-tree per row.
///
/// - `seq`, the key, numbered by the engine in insertion order: each row is appended to the
///   table's own b-tree, and the newest-first list reads it backwards. A text key (the
///   earlier shape) made a second b-tree, and an index on `created` a third; SQLite spent
///   most of a row's insert in them (callgrind: ~7,000 instructions a row with both).
/// - `id`, PocketBase's 15-character id, is `seq` in hexadecimal, computed by the engine
///   (stored only by PostgreSQL, which has no virtual columns), so a view by id is a lookup
///   of `seq`.
/// - No index on `created` or `level`: insertion order is time order, filters on them scan
///   (a log list stops at its page; stats and purges read every row anyway).
fn create_table(d: &dyn keel_sql::Dialect, table: &str) -> String {
    let q = |c: &str| d.quote_ident(c);
    let seq = q("seq");
    let id = match d.name() {
        "postgres" => format!("TEXT GENERATED ALWAYS AS (lpad(to_hex({seq}), {ID_DIGITS}, '0')) STORED"),
        "mysql" | "mariadb" => {
            format!("VARCHAR({ID_DIGITS}) GENERATED ALWAYS AS (LPAD(LOWER(HEX({seq})), {ID_DIGITS}, '0')) VIRTUAL")
        }
        _ => format!("TEXT GENERATED ALWAYS AS (printf('%0{ID_DIGITS}x', {seq})) VIRTUAL"),
    };
    format!(
        "CREATE TABLE IF NOT EXISTS {t} (
            {seq} {serial},
            {level} BIGINT NOT NULL,
            {message} {txt} NOT NULL,
            {data} {json} NOT NULL,
            {created} {key} NOT NULL,
            {idc} {id}
        )",
        t = q(table),
        serial = d.serial_primary_key(),
        level = q("level"),
        message = q("message"),
        txt = d.column_type(ColumnType::Text),
        data = q("data"),
        json = d.column_type(ColumnType::Json),
        created = q("created"),
        key = d.column_type(ColumnType::Key),
        idc = q("id"),
    )
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
