//! The engine contract: what the store needs from an SQL database. The SQLite engine is
//! in `sqlite.rs`; a PostgreSQL engine implements the same two traits and its `Dialect`.

use async_trait::async_trait;
use keel_core::Result;
use serde_json::{Map, Value};

/// A result row: column name → value. Engines map SQL types to JSON as
/// INTEGER/REAL → number, TEXT → string, NULL → null (BLOBs are not used by Keel).
pub type Row = Map<String, Value>;

/// The name of the hidden insertion-order column on engines that need one
/// ([`Dialect::insertion_order_column`]); no field may take it.
pub const INSERTION_ORDER_COLUMN: &str = "_keel_rowid";

/// What a column stores; each dialect names its engine's type for it ([`Dialect::column_type`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// A text primary key (ids, names, `_params` keys).
    Key,
    /// Text, compared and ordered byte-wise (SQLite's BINARY collation).
    Text,
    /// A number, integer or real.
    Number,
    Bool,
    /// JSON text (objects, arrays or scalars). Bound and read back as text.
    Json,
}

/// The type of an SQL expression the filter compiler compares. On engines with strict
/// types ([`Dialect::strict_types`]) both sides of a comparison must have the same one,
/// and the compiler converts with [`Dialect::cast`] and [`Dialect::typed_param`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    Text,
    Number,
    Bool,
    /// A JSON value (a `json` field, a path into one).
    Json,
}

/// The SQL differences between engines. Everything the store and the filter compiler
/// emit goes through here, so no SQLite-only SQL appears outside the SQLite engine.
pub trait Dialect: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    /// The `n`th (1-based) bind placeholder: `?n` on SQLite, `$n` on PostgreSQL.
    fn placeholder(&self, n: usize) -> String;
    /// The `n`th placeholder of a statement whose placeholders all appear in the text in
    /// the order of their numbers, each once (a multi-row `INSERT … VALUES`): SQLite's is a
    /// bare `?`, which it binds by position; a numbered one is bound after a walk through
    /// the statement's list of names, quadratic in the number of parameters.
    fn ordered_placeholder(&self, n: usize) -> String {
        self.placeholder(n)
    }
    /// Quotes an identifier (`"name"`, doubling embedded quotes).
    fn quote_ident(&self, ident: &str) -> String {
        let mut out = String::with_capacity(ident.len() + 2);
        out.push('"');
        // Names hold no quote but in rare cases: one allocation, no search-and-replace.
        match ident.contains('"') {
            true => out.push_str(&ident.replace('"', "\"\"")),
            false => out.push_str(ident),
        }
        out.push('"');
        out
    }
    /// A table-valued expression that yields one row per element of the JSON array in
    /// `expr`, with the element (as text or number) in a column named `value`.
    /// Used as `FROM {json_each} AS alias` or in a `JOIN`.
    fn json_each(&self, expr: &str) -> String;
    /// A relation named `alias` with one row per object of the JSON array in `param` (a
    /// bound text) and one text column per name in `columns` (an object's member of that
    /// name; NULL where it is missing or null). Used as `FROM {json_rows}`: one statement
    /// text for any number of rows, so it is prepared once (SQLite's form by default).
    fn json_rows(&self, param: &str, alias: &str, columns: &[&str]) -> String {
        let picks: Vec<String> = columns
            .iter()
            .map(|c| format!("json_extract(value, '$.{c}') AS {c}"))
            .collect();
        format!("(SELECT {} FROM json_each({param})) AS {alias}", picks.join(", "))
    }
    /// With a join on `json_rows(param, …)` by its member `key` to `column`, an extra
    /// condition that keeps the planner on `column`'s index, or `None` where the join alone
    /// does (SQLite drives it from the array). PostgreSQL guesses that any function yields
    /// 100 rows, so for a table of a few thousand rows a plan reading the whole table looks
    /// cheaper, and a prepared statement keeps that plan as the table grows.
    fn json_rows_key(&self, _column: &str, _param: &str, _key: &str) -> Option<String> {
        None
    }
    /// `column IN (subquery)`, written so the planner looks `column` up by its index
    /// whatever it guesses of the subquery's size (PostgreSQL: an array computed once).
    fn in_subquery(&self, column: &str, subquery: &str) -> String {
        format!("{column} IN ({subquery})")
    }
    /// The number of elements of the JSON array in `expr` (0 for null or empty).
    fn json_array_length(&self, expr: &str) -> String;
    /// Extracts `path` (a `$.a.b` JSON path) from the JSON in `expr`, as an SQL scalar.
    fn json_extract(&self, expr: &str, path: &str) -> String;
    /// The case-insensitive LIKE operator (`LIKE` on SQLite, `ILIKE` on PostgreSQL).
    fn like_op(&self) -> &'static str {
        "LIKE"
    }
    /// `lhs [NOT] LIKE pattern ESCAPE '\'`, ignoring ASCII case like SQLite's LIKE.
    fn like(&self, lhs: &str, pattern: &str, negated: bool) -> String {
        let not = if negated { "NOT " } else { "" };
        format!("{lhs} {not}{} {pattern} ESCAPE '\\'", self.like_op())
    }
    /// An expression ordering rows randomly.
    fn random(&self) -> &'static str;
    /// The column that orders a table's rows by insertion, qualified by `alias` when given
    /// (`rowid` on SQLite; an identity column on engines without one).
    fn insertion_order(&self, alias: Option<&str>) -> String;
    /// `column = value`, compared case-insensitively (auth emails). `value` is SQL text,
    /// usually a bind placeholder.
    fn ci_eq(&self, column: &str, value: &str) -> String;
    /// The index expression that makes `column` unique case-insensitively.
    fn ci_index(&self, column: &str) -> String;
    /// `expr` wrapped so it compares as JSON text when it is a JSON array or object
    /// and as itself otherwise (used for `json` field equality).
    fn json_text(&self, expr: &str) -> String {
        expr.to_string()
    }
    /// The engine's type for a column storing `t` (without constraints or default).
    fn column_type(&self, t: ColumnType) -> &'static str {
        match t {
            ColumnType::Key | ColumnType::Text => "TEXT",
            ColumnType::Number => "NUMERIC",
            ColumnType::Bool => "BOOLEAN",
            ColumnType::Json => "JSON",
        }
    }
    /// The definition of the hidden column that orders a collection's rows by insertion,
    /// added to every collection table, on engines without an implicit one (SQLite has
    /// `rowid`). Reads list their columns, so clients never see it.
    fn insertion_order_column(&self) -> Option<String> {
        None
    }
    /// Whether comparing values of different types is an error (PostgreSQL), rather than
    /// decided by the engine's own conversion rules (SQLite's type affinity).
    fn strict_types(&self) -> bool {
        false
    }
    /// `expr`, an expression of type `from`, converted to `to` (only called when
    /// [`Dialect::strict_types`]).
    fn cast(&self, expr: &str, _from: ValueType, _to: ValueType) -> String {
        expr.to_string()
    }
    /// A bound placeholder whose value was converted to `t`, typed for the engine.
    fn typed_param(&self, placeholder: &str, _t: ValueType) -> String {
        placeholder.to_string()
    }
    /// The primary key column type of a table's 64-bit sequence (`seq`), numbered by the
    /// engine in insertion order (the jobs store's tables).
    fn serial_primary_key(&self) -> &'static str {
        "INTEGER PRIMARY KEY AUTOINCREMENT"
    }
    /// What ends a `SELECT` so other transactions skip the rows it locks instead of waiting
    /// for them (`FOR UPDATE SKIP LOCKED`); empty where one writer runs at a time.
    fn skip_locked(&self) -> &'static str {
        ""
    }
    /// A condition, always true, that a statement run on its own (`Engine::write_one`) adds
    /// to its `WHERE` so its commit need not wait for the log flush, as `begin_relaxed` does
    /// for a transaction (PostgreSQL: `set_config('synchronous_commit', 'off', true)`, local
    /// to the statement's implicit transaction); empty where commits have no such setting.
    /// For writes that losing in an OS crash only repeats (a job claim).
    fn relaxed_commit_condition(&self) -> &'static str {
        ""
    }
    /// What ends a `SELECT` so it locks the rows it reads until the transaction ends
    /// (`FOR UPDATE`); empty where one writer runs at a time.
    fn for_update(&self) -> &'static str {
        ""
    }
    /// `sql` with every `$N` placeholder written as this dialect's (statements written once
    /// for every engine; `$` must not occur in them otherwise).
    fn numbered(&self, sql: &str) -> String {
        let mut out = String::with_capacity(sql.len() + 8);
        let mut chars = sql.char_indices().peekable();
        while let Some((_, c)) = chars.next() {
            if c == '$' && chars.peek().is_some_and(|(_, d)| d.is_ascii_digit()) {
                let mut n = 0usize;
                while let Some((_, d)) = chars.peek().copied().filter(|(_, d)| d.is_ascii_digit()) {
                    n = n * 10 + d.to_digit(10).unwrap_or(0) as usize;
                    chars.next();
                }
                out.push_str(&self.placeholder(n));
            } else {
                out.push(c);
            }
        }
        out
    }
    /// The `DEFAULT` clause giving a column of type `t` the SQL literal `literal`.
    fn column_default(&self, _t: ColumnType, literal: &str) -> String {
        format!("DEFAULT {literal}")
    }
    /// `a sym b` (`>`, `>=`, `<`, `<=`) for two operands of type `t` (only called when
    /// [`Dialect::strict_types`]); engines whose JSON values are text order JSON numbers here.
    fn order_cmp(&self, a: &str, sym: &str, b: &str, _t: ValueType) -> String {
        format!("{a} {sym} {b}")
    }
    /// Statements making `column` of `table` unique case-insensitively under the index
    /// `name` (all three unquoted); with `skip_empty`, empty values never collide. Safe to
    /// run again after an index of that name was dropped.
    fn ci_unique_index(&self, name: &str, table: &str, column: &str, skip_empty: bool) -> Vec<String> {
        let col = self.quote_ident(column);
        let filter = if skip_empty {
            format!(" WHERE {col} != ''")
        } else {
            String::new()
        };
        vec![format!(
            "CREATE UNIQUE INDEX IF NOT EXISTS {} ON {} ({}){filter}",
            self.quote_ident(name),
            self.quote_ident(table),
            self.ci_index(&col)
        )]
    }
    /// The tail of an `INSERT` that, when a row with the same `key` exists, updates its
    /// `columns` to the inserted values instead (names unquoted).
    fn upsert(&self, key: &str, columns: &[&str]) -> String {
        let set: Vec<String> = columns
            .iter()
            .map(|c| {
                let c = self.quote_ident(c);
                format!("{c} = excluded.{c}")
            })
            .collect();
        format!(
            "ON CONFLICT ({}) DO UPDATE SET {}",
            self.quote_ident(key),
            set.join(", ")
        )
    }
    /// Drops the index `name` of `table` if it exists (names unquoted).
    fn drop_index(&self, name: &str, _table: &str) -> String {
        format!("DROP INDEX IF EXISTS {}", self.quote_ident(name))
    }
    /// Whether `CREATE INDEX … WHERE …` (a partial index) is supported.
    fn partial_indexes(&self) -> bool {
        true
    }
    /// A column of a user's index as the engine must name it (`column` is quoted; engines
    /// that index long text only by a prefix add its length).
    fn index_key(&self, column: &str, _t: ColumnType, _unique: bool) -> String {
        column.to_string()
    }
    /// Whether DDL takes part in transactions (false on MySQL: each statement commits), so
    /// a schema change that fails halfway must be undone by hand.
    fn transactional_ddl(&self) -> bool {
        true
    }
    /// Whether `UPDATE … RETURNING` exists (MariaDB has `RETURNING` on `INSERT` and `DELETE`
    /// only): where it does not, the jobs store locks the rows with a `SELECT` first, updates
    /// them by key and reads them back in the same transaction.
    fn update_returning(&self) -> bool {
        true
    }
    /// `INSERT INTO {into}` (a table, its columns and `VALUES …`) that inserts nothing when
    /// the row would break a unique key, instead of failing (`ON CONFLICT DO NOTHING`). A
    /// `RETURNING` clause may follow; it yields no row when nothing was inserted.
    fn insert_ignoring_duplicates(&self, into: &str) -> String {
        format!("INSERT INTO {into} ON CONFLICT DO NOTHING")
    }
    /// `expr` converted to a 64-bit integer (`CAST(… AS BIGINT)`).
    fn integer_cast(&self, expr: &str) -> String {
        format!("CAST({expr} AS BIGINT)")
    }
    /// A query listing the columns of the table or view named by the bound parameter
    /// `$1`, in order, one row each with `name` and `type` (the engine's type name, empty
    /// where it has none: an SQLite expression). Used to read a view's columns.
    fn columns_query(&self) -> String {
        format!(
            "SELECT name AS name, type AS type FROM pragma_table_info({}) ORDER BY cid",
            self.placeholder(1)
        )
    }
    /// The length of the text `expr` in characters (`LENGTH` on SQLite and PostgreSQL,
    /// `CHAR_LENGTH` where `LENGTH` counts bytes).
    fn char_length(&self, expr: &str) -> String {
        format!("LENGTH({expr})")
    }
    /// `expr` converted to text (`CAST(… AS TEXT)`), e.g. a view's numeric `id`.
    fn text_cast(&self, expr: &str) -> String {
        format!("CAST({expr} AS TEXT)")
    }
    /// Statements making `(scope…, column)` of `table` unique among the rows where `column`
    /// is not NULL and `condition` holds, under the index `name` (names unquoted, the
    /// condition SQL over the table's columns). Safe to run again.
    fn conditional_unique_index(
        &self,
        name: &str,
        table: &str,
        scope: &[&str],
        column: &str,
        condition: &str,
    ) -> Vec<String> {
        let mut cols: Vec<String> = scope.iter().map(|c| self.quote_ident(c)).collect();
        let col = self.quote_ident(column);
        cols.push(col.clone());
        vec![format!(
            "CREATE UNIQUE INDEX IF NOT EXISTS {} ON {} ({}) WHERE {col} IS NOT NULL AND {condition}",
            self.quote_ident(name),
            self.quote_ident(table),
            cols.join(", ")
        )]
    }
}

/// SQL text with its bind parameters, numbered for one dialect.
pub struct SqlBuf {
    pub text: String,
    pub params: Vec<Value>,
    dialect: &'static dyn Dialect,
}

impl SqlBuf {
    pub fn new(dialect: &'static dyn Dialect) -> Self {
        SqlBuf {
            text: String::new(),
            params: Vec::new(),
            dialect,
        }
    }

    pub fn dialect(&self) -> &'static dyn Dialect {
        self.dialect
    }

    /// Appends raw SQL. Never pass user input here: use `param`.
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.text.push_str(sql);
        self
    }

    /// Appends a quoted identifier.
    pub fn ident(&mut self, ident: &str) -> &mut Self {
        let q = self.dialect.quote_ident(ident);
        self.text.push_str(&q);
        self
    }

    /// Binds `value` and appends its placeholder.
    pub fn param(&mut self, value: Value) -> &mut Self {
        self.params.push(value);
        let p = self.dialect.placeholder(self.params.len());
        self.text.push_str(&p);
        self
    }

    /// Binds `value` and returns its placeholder without appending it.
    pub fn bind(&mut self, value: Value) -> String {
        self.params.push(value);
        self.dialect.placeholder(self.params.len())
    }
}

/// How an engine's connections are used at one moment (see [`Engine::pool_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Pooled reads allowed at once.
    pub readers_max: u64,
    /// Pooled reads running now.
    pub readers_busy: u64,
    /// Open read connections waiting for a read.
    pub readers_idle: u64,
    /// Open write connections.
    pub writers: u64,
    /// Write connections in a transaction or statement now.
    pub writers_busy: u64,
}

/// A database engine: a pool for reads and serialized write transactions (one at a time,
/// so the store's check-then-write steps and the audit chain need no further locking).
#[async_trait]
pub trait Engine: Send + Sync + 'static {
    fn dialect(&self) -> &'static dyn Dialect;
    /// Runs a read-only query on the read pool.
    async fn fetch_all(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>>;
    /// Runs a read that touches at most a few rows by primary key (a record by id). Engines
    /// may run it inline on the calling thread; the default is `fetch_all`.
    async fn fetch_point(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        self.fetch_all(sql, params).await
    }
    /// Starts a write transaction on the writer. Dropping it without `commit` rolls back.
    async fn begin(&self) -> Result<Box<dyn Tx>>;
    /// Checks that the engine answers (for `/api/ready`).
    async fn ping(&self) -> Result<()>;
    /// The connection pools' use right now (for `/metrics`); engines without pools report
    /// zeros.
    fn pool_stats(&self) -> PoolStats {
        PoolStats::default()
    }
    /// Starts a write transaction that runs beside other writers of this engine, for stores
    /// whose statements take their own row locks (the jobs store: `FOR UPDATE SKIP LOCKED`,
    /// conditional updates). Engines whose `begin` serializes every writer only for the
    /// records store's sake override it; the default is `begin`.
    async fn begin_concurrent(&self) -> Result<Box<dyn Tx>> {
        self.begin().await
    }
    /// Runs one statement that writes, as a transaction of its own beside other writers
    /// (like [`Engine::begin_concurrent`]); returns the rows it returns (`RETURNING`).
    /// Engines that commit a lone statement themselves do it in one round trip; the default
    /// wraps it in `begin_concurrent` and `commit`.
    async fn write_one(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let mut tx = self.begin_concurrent().await?;
        let rows = tx.fetch_all(sql, params).await?;
        tx.commit().await?;
        Ok(rows)
    }
    /// A [`Engine::begin_concurrent`] transaction for writes a crash may lose without harm
    /// (a job claim: lost, the job is delivered again): its commit may return before the
    /// engine's log is flushed. Engines without such a setting give `begin_concurrent`'s.
    async fn begin_relaxed(&self) -> Result<Box<dyn Tx>> {
        self.begin_concurrent().await
    }
    /// Housekeeping the writer should do between transactions (SQLite: rewind a large WAL).
    /// Called by busy writers such as the group-commit task; the default does nothing.
    async fn after_writes(&self) -> Result<()> {
        Ok(())
    }
    /// Serializes collection changes across every process on this database, for engines
    /// whose write transactions do not (MySQL: each DDL statement commits, releasing the
    /// writer's row lock). Held until the returned guard is dropped, or the process dies.
    /// The default holds nothing: SQLite has one writer, PostgreSQL's DDL runs inside the
    /// write transaction and its advisory lock.
    async fn lock_schema(&self) -> Result<SchemaLock> {
        Ok(SchemaLock::none())
    }
}

/// A held [`Engine::lock_schema`]; dropping it releases the lock.
pub struct SchemaLock {
    _held: Option<Box<dyn Send>>,
}

impl SchemaLock {
    /// A guard holding nothing (engines that need no lock).
    pub fn none() -> SchemaLock {
        SchemaLock { _held: None }
    }

    /// A guard that releases the lock when `held` is dropped.
    pub fn holding(held: Box<dyn Send>) -> SchemaLock {
        SchemaLock { _held: Some(held) }
    }

    /// Whether a lock is held (false on engines that need none).
    pub fn is_held(&self) -> bool {
        self._held.is_some()
    }
}

/// A write transaction. Reads inside it see its own writes.
#[async_trait]
pub trait Tx: Send {
    async fn fetch_all(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>>;
    /// Runs a statement; returns the rows affected.
    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64>;
    /// Commits; the write is durable when this returns `Ok`.
    async fn commit(self: Box<Self>) -> Result<()>;
}

/// Shorthand for an empty object.
pub fn empty_row() -> Row {
    Map::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Question;
    impl Dialect for Question {
        fn name(&self) -> &'static str {
            "question"
        }
        fn placeholder(&self, n: usize) -> String {
            format!("?{n}")
        }
        fn json_each(&self, expr: &str) -> String {
            expr.into()
        }
        fn json_array_length(&self, expr: &str) -> String {
            expr.into()
        }
        fn json_extract(&self, expr: &str, _path: &str) -> String {
            expr.into()
        }
        fn random(&self) -> &'static str {
            "random()"
        }
        fn insertion_order(&self, _alias: Option<&str>) -> String {
            "rowid".into()
        }
        fn ci_eq(&self, column: &str, value: &str) -> String {
            format!("{column} = {value}")
        }
        fn ci_index(&self, column: &str) -> String {
            column.into()
        }
    }

    #[test]
    fn numbered_rewrites_every_placeholder_and_nothing_else() {
        assert_eq!(
            Question.numbered("UPDATE t SET a = $12 || id, b = $2 + x WHERE c = $1 AND d = '$'"),
            "UPDATE t SET a = ?12 || id, b = ?2 + x WHERE c = ?1 AND d = '$'"
        );
    }

    #[test]
    fn quote_ident_doubles_every_quote_inside_a_name() {
        assert_eq!(Question.quote_ident("posts"), "\"posts\"");
        assert_eq!(Question.quote_ident("a\"b\"\""), "\"a\"\"b\"\"\"\"\"");
        assert_eq!(Question.quote_ident(""), "\"\"");
    }
}
