//! MySQL's and MariaDB's SQL flavour. Both run with `ANSI_QUOTES`, `PIPES_AS_CONCAT` and
//! `NO_BACKSLASH_ESCAPES` (see the engine), so identifiers, `||` and `ESCAPE '\'` read as
//! in standard SQL; what differs from SQLite is decided here.

use crate::engine::{ColumnType, Dialect, ValueType, INSERTION_ORDER_COLUMN};

/// The hidden `AUTO_INCREMENT` column that orders a table's rows by insertion (MySQL has no
/// `rowid`). The engine never returns it to callers.
const SEQ_COLUMN: &str = INSERTION_ORDER_COLUMN;

/// Characters of a long text column a non-unique index covers (InnoDB indexes TEXT only by
/// a prefix; 255 × 4 bytes of utf8mb4 stays under every row format's key limit).
const TEXT_KEY_PREFIX: u32 = 255;

/// A text that reads as a number (SQLite's numeric affinity would convert it).
const NUMERIC_TEXT: &str = "'^[[:space:]]*[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?[[:space:]]*$'";

/// Characters kept by the generated column behind a case-insensitive unique index.
const CI_KEY_LENGTH: u32 = 768;

/// Whether a result column is one the engine keeps for itself (the insertion order, the
/// generated columns behind case-insensitive unique indexes).
pub(crate) fn is_hidden_column(name: &str) -> bool {
    name.starts_with("_keel_")
}

/// MySQL 8 or MariaDB 10.11+ (they differ in a few JSON functions).
pub struct MySqlDialect {
    mariadb: bool,
}

/// The MariaDB dialect value.
pub static MARIADB: MySqlDialect = MySqlDialect { mariadb: true };
/// The MySQL 8 dialect value.
pub static MYSQL: MySqlDialect = MySqlDialect { mariadb: false };

impl MySqlDialect {
    /// Whether this is MariaDB's flavour.
    pub fn is_mariadb(&self) -> bool {
        self.mariadb
    }

    /// The JSON text in `expr` without insignificant spaces.
    fn compact(&self, expr: &str) -> String {
        if self.mariadb {
            format!("JSON_COMPACT({expr})")
        } else {
            format!("CAST(CAST({expr} AS JSON) AS CHAR)")
        }
    }

    /// `expr` when it holds valid JSON, else `fallback` (MySQL's JSON functions raise an
    /// error on invalid JSON where SQLite's `json_valid` guard yields a value).
    fn valid_json(&self, expr: &str, fallback: &str) -> String {
        format!("(CASE WHEN JSON_VALID({expr}) THEN {expr} ELSE {fallback} END)")
    }
}

impl Dialect for MySqlDialect {
    fn name(&self) -> &'static str {
        if self.mariadb {
            "mariadb"
        } else {
            "mysql"
        }
    }

    /// Numbered like SQLite's; the engine turns them into positional `?` (`params.rs`).
    fn placeholder(&self, n: usize) -> String {
        format!("?{n}")
    }

    fn json_each(&self, expr: &str) -> String {
        format!(
            "JSON_TABLE({}, '$[*]' COLUMNS (value LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$'))",
            self.valid_json(expr, "'[]'")
        )
    }

    fn json_rows(&self, param: &str, alias: &str, columns: &[&str]) -> String {
        let defs: Vec<String> = columns
            .iter()
            .map(|c| format!("{c} LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$.{c}'"))
            .collect();
        format!("JSON_TABLE({param}, '$[*]' COLUMNS ({})) AS {alias}", defs.join(", "))
    }

    fn json_array_length(&self, expr: &str) -> String {
        format!(
            "(CASE WHEN JSON_VALID({expr}) THEN (CASE WHEN JSON_TYPE({expr}) = 'ARRAY' \
             THEN JSON_LENGTH({expr}) ELSE 0 END) ELSE 0 END)"
        )
    }

    /// A JSON value ([`ValueType::Json`]) as compact JSON text; JSON `null` and a missing
    /// path are SQL NULL.
    fn json_extract(&self, expr: &str, path: &str) -> String {
        let path = path.replace('\'', "''");
        let doc = self.valid_json(expr, "NULL");
        format!(
            "NULLIF({}, 'null')",
            self.compact(&format!("JSON_EXTRACT({doc}, '{path}')"))
        )
    }

    fn like(&self, lhs: &str, pattern: &str, negated: bool) -> String {
        // Tables use a binary collation; SQLite's LIKE ignores ASCII case.
        let not = if negated { "NOT " } else { "" };
        format!("LOWER({lhs}) {not}LIKE LOWER({pattern}) ESCAPE '\\'")
    }

    fn random(&self) -> &'static str {
        "RAND()"
    }

    fn insertion_order(&self, alias: Option<&str>) -> String {
        match alias {
            Some(a) => format!("{a}.\"{SEQ_COLUMN}\""),
            None => format!("\"{SEQ_COLUMN}\""),
        }
    }

    fn ci_eq(&self, column: &str, value: &str) -> String {
        format!("LOWER({column}) = LOWER({value})")
    }

    fn ci_index(&self, column: &str) -> String {
        format!("LOWER({column})")
    }

    fn json_text(&self, expr: &str) -> String {
        format!(
            "(CASE WHEN JSON_VALID({expr}) THEN {} ELSE {expr} END)",
            self.compact(expr)
        )
    }

    fn column_type(&self, t: ColumnType) -> &'static str {
        match t {
            // Ids, names and keys are indexed whole: a bounded VARCHAR.
            ColumnType::Key => "VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
            ColumnType::Text => "LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
            ColumnType::Number => "DOUBLE",
            ColumnType::Bool => "BOOLEAN",
            // MariaDB's JSON is LONGTEXT (utf8mb4_bin) with a JSON_VALID check: text in, the
            // same text out. MySQL's JSON is a binary type that re-serializes what it keeps.
            ColumnType::Json => "JSON",
        }
    }

    fn insertion_order_column(&self) -> Option<String> {
        Some(format!(
            "{} BIGINT NOT NULL AUTO_INCREMENT UNIQUE",
            self.quote_ident(SEQ_COLUMN)
        ))
    }

    /// MariaDB and MySQL have no partial index, and MariaDB no expression index: the
    /// lower-cased value lives in a hidden stored generated column with a plain unique
    /// index; an empty value becomes NULL there, and NULLs never collide.
    fn ci_unique_index(&self, name: &str, table: &str, column: &str, skip_empty: bool) -> Vec<String> {
        let col = self.quote_ident(column);
        let ci = self.quote_ident(&format!("_keel_ci_{column}"));
        let lower = if skip_empty {
            format!("NULLIF(LOWER({col}), '')")
        } else {
            format!("LOWER({col})")
        };
        let if_not_exists = if self.mariadb { "IF NOT EXISTS " } else { "" };
        vec![
            format!(
                "ALTER TABLE {} ADD COLUMN {if_not_exists}{ci} VARCHAR({CI_KEY_LENGTH}) CHARACTER SET utf8mb4 \
                 COLLATE utf8mb4_bin AS ({lower}) STORED",
                self.quote_ident(table)
            ),
            format!(
                "CREATE UNIQUE INDEX {if_not_exists}{} ON {} ({ci})",
                self.quote_ident(name),
                self.quote_ident(table)
            ),
        ]
    }

    fn upsert(&self, _key: &str, columns: &[&str]) -> String {
        let set: Vec<String> = columns
            .iter()
            .map(|c| {
                let c = self.quote_ident(c);
                format!("{c} = VALUES({c})")
            })
            .collect();
        format!("ON DUPLICATE KEY UPDATE {}", set.join(", "))
    }

    fn drop_index(&self, name: &str, table: &str) -> String {
        let if_exists = if self.mariadb { "IF EXISTS " } else { "" };
        format!(
            "DROP INDEX {if_exists}{} ON {}",
            self.quote_ident(name),
            self.quote_ident(table)
        )
    }

    fn partial_indexes(&self) -> bool {
        false
    }

    /// Long text is indexed by a prefix, except in a unique index on MariaDB, which
    /// enforces uniqueness of the whole value through a hidden hash.
    fn index_key(&self, column: &str, t: ColumnType, unique: bool) -> String {
        match t {
            ColumnType::Text | ColumnType::Json if !(unique && self.mariadb) => {
                format!("{column}({TEXT_KEY_PREFIX})")
            }
            _ => column.to_string(),
        }
    }

    /// MySQL converts a text to a number when it meets one (`'abc' = 0` holds), where SQLite
    /// compares by storage class: the filter compiler gives both sides one type, as on
    /// PostgreSQL. JSON values ([`ValueType::Json`]) are compact JSON text.
    fn strict_types(&self) -> bool {
        true
    }

    fn cast(&self, e: &str, from: ValueType, to: ValueType) -> String {
        use ValueType::*;
        match (from, to) {
            (Text, Text) | (Number, Number) | (Bool, Bool) | (Json, Json) => e.to_string(),
            (Number, Text) => format!("CAST({e} AS CHAR)"),
            (Bool, Text) => format!("(CASE WHEN {e} THEN '1' WHEN NOT {e} THEN '0' END)"),
            (Json, Text) => format!("(CASE WHEN JSON_TYPE({e}) = 'STRING' THEN JSON_UNQUOTE({e}) ELSE {e} END)"),
            (Bool, Number) => format!("({e} + 0)"),
            (Text, Number) => format!("(CASE WHEN {e} REGEXP {NUMERIC_TEXT} THEN CAST({e} AS DOUBLE) END)"),
            (Json, Number) => format!(
                "(CASE WHEN JSON_TYPE({e}) IN ('INTEGER', 'UNSIGNED INTEGER', 'DOUBLE', 'DECIMAL') \
                 THEN CAST({e} AS DOUBLE) END)"
            ),
            (Json, Bool) => format!("(CASE WHEN JSON_TYPE({e}) = 'BOOLEAN' THEN ({e} = 'true') END)"),
            (Text | Number, Bool) => format!("({} <> 0)", self.cast(e, from, Number)),
            (Text, Json) => format!("JSON_QUOTE({e})"),
            (Number, Json) => format!("CAST({e} AS CHAR)"),
            (Bool, Json) => format!("(CASE WHEN {e} THEN 'true' WHEN NOT {e} THEN 'false' END)"),
        }
    }

    /// JSON values are text here: two JSON numbers compare as numbers.
    fn order_cmp(&self, a: &str, sym: &str, b: &str, t: ValueType) -> String {
        if t != ValueType::Json {
            return format!("{a} {sym} {b}");
        }
        let num = |e: &str| format!("JSON_TYPE({e}) IN ('INTEGER', 'UNSIGNED INTEGER', 'DOUBLE', 'DECIMAL')");
        format!(
            "(CASE WHEN {} AND {} THEN CAST({a} AS DOUBLE) {sym} CAST({b} AS DOUBLE) ELSE {a} {sym} {b} END)",
            num(a),
            num(b)
        )
    }

    /// MySQL 8 accepts a default on TEXT and JSON columns only as an expression.
    fn column_default(&self, t: ColumnType, literal: &str) -> String {
        match t {
            ColumnType::Text | ColumnType::Json if !self.mariadb => format!("DEFAULT ({literal})"),
            _ => format!("DEFAULT {literal}"),
        }
    }

    fn transactional_ddl(&self) -> bool {
        false
    }

    fn serial_primary_key(&self) -> &'static str {
        "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY"
    }

    /// MariaDB 10.6+ and MySQL 8.
    fn skip_locked(&self) -> &'static str {
        " FOR UPDATE SKIP LOCKED"
    }

    fn for_update(&self) -> &'static str {
        " FOR UPDATE"
    }

    fn update_returning(&self) -> bool {
        false
    }

    /// `INSERT IGNORE` (which also turns other errors into warnings: callers validate
    /// their values first). MariaDB returns no row from its `RETURNING` when nothing was
    /// inserted.
    fn insert_ignoring_duplicates(&self, into: &str) -> String {
        format!("INSERT IGNORE INTO {into}")
    }

    fn columns_query(&self) -> String {
        format!(
            "SELECT COLUMN_NAME AS name, DATA_TYPE AS type FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = {} ORDER BY ORDINAL_POSITION",
            self.placeholder(1)
        )
    }

    fn text_cast(&self, expr: &str) -> String {
        format!("CAST({expr} AS CHAR)")
    }

    fn char_length(&self, expr: &str) -> String {
        format!("CHAR_LENGTH({expr})")
    }

    fn integer_cast(&self, expr: &str) -> String {
        format!("CAST({expr} AS SIGNED)")
    }

    /// No partial index: a hidden stored generated column holds `column` where `condition`
    /// holds and NULL elsewhere, under a plain unique index (NULLs never collide; long
    /// values are checked through MariaDB's hidden hash).
    fn conditional_unique_index(
        &self,
        name: &str,
        table: &str,
        scope: &[&str],
        column: &str,
        condition: &str,
    ) -> Vec<String> {
        let col = self.quote_ident(column);
        let live = self.quote_ident(&format!("_keel_live_{column}"));
        let mut cols: Vec<String> = scope.iter().map(|c| self.quote_ident(c)).collect();
        cols.push(live.clone());
        let if_not_exists = if self.mariadb { "IF NOT EXISTS " } else { "" };
        vec![
            format!(
                "ALTER TABLE {} ADD COLUMN {if_not_exists}{live} {} AS (CASE WHEN {col} IS NOT NULL AND {condition} \
                 THEN {col} END) STORED",
                self.quote_ident(table),
                self.column_type(ColumnType::Text)
            ),
            format!(
                "CREATE UNIQUE INDEX {if_not_exists}{} ON {} ({})",
                self.quote_ident(name),
                self.quote_ident(table),
                cols.join(", ")
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_8_gets_statements_it_accepts() {
        // TEXT and JSON defaults are expressions on MySQL 8; MariaDB takes literals.
        assert_eq!(MYSQL.column_default(ColumnType::Text, "''"), "DEFAULT ('')");
        assert_eq!(MYSQL.column_default(ColumnType::Number, "0"), "DEFAULT 0");
        assert_eq!(MARIADB.column_default(ColumnType::Json, "'[]'"), "DEFAULT '[]'");
        // No IF [NOT] EXISTS on MySQL 8's ADD COLUMN, CREATE INDEX and DROP INDEX.
        let stmts = MYSQL.ci_unique_index("idx_e", "users", "email", true);
        assert!(stmts.iter().all(|s| !s.contains("IF NOT EXISTS")), "{stmts:?}");
        assert!(stmts[0].contains("AS (NULLIF(LOWER(\"email\"), '')) STORED"));
        assert_eq!(MYSQL.drop_index("idx_e", "users"), "DROP INDEX \"idx_e\" ON \"users\"");
        assert_eq!(
            MARIADB.drop_index("idx_e", "users"),
            "DROP INDEX IF EXISTS \"idx_e\" ON \"users\""
        );
        // A unique index over long text: whole values on MariaDB, a prefix on MySQL 8.
        assert_eq!(MARIADB.index_key("\"a\"", ColumnType::Text, true), "\"a\"");
        assert_eq!(MYSQL.index_key("\"a\"", ColumnType::Text, true), "\"a\"(255)");
        assert_eq!(
            MYSQL.upsert("key", &["value"]),
            "ON DUPLICATE KEY UPDATE \"value\" = VALUES(\"value\")"
        );
    }
}
