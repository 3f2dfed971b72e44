//! MySQL's and MariaDB's SQL flavour. Both run with `ANSI_QUOTES`, `PIPES_AS_CONCAT` and
//! `NO_BACKSLASH_ESCAPES` (see the engine), so identifiers, `||` and `ESCAPE '\'` read as
//! in standard SQL; what differs from SQLite is decided here.

use crate::engine::Dialect;

/// The hidden `AUTO_INCREMENT` column that orders a table's rows by insertion (MySQL has no
/// `rowid`). The engine never returns it to callers.
pub const SEQ_COLUMN: &str = "_keel_rowid";

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

    fn json_array_length(&self, expr: &str) -> String {
        format!(
            "(CASE WHEN JSON_VALID({expr}) THEN (CASE WHEN JSON_TYPE({expr}) = 'ARRAY' \
             THEN JSON_LENGTH({expr}) ELSE 0 END) ELSE 0 END)"
        )
    }

    /// Like SQLite's `json_extract`: strings unquoted, `true`/`false` as 1/0, JSON null as
    /// NULL, objects and arrays as JSON text.
    fn json_extract(&self, expr: &str, path: &str) -> String {
        let path = path.replace('\'', "''");
        let doc = self.valid_json(expr, "NULL");
        let x = format!("JSON_EXTRACT({doc}, '{path}')");
        format!(
            "(CASE JSON_TYPE({x}) WHEN 'NULL' THEN NULL WHEN 'BOOLEAN' THEN (CASE WHEN {x} = 'true' THEN 1 ELSE 0 END) \
             ELSE JSON_UNQUOTE({x}) END)"
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
        if self.mariadb {
            format!("(CASE WHEN JSON_VALID({expr}) THEN JSON_COMPACT({expr}) ELSE {expr} END)")
        } else {
            format!("(CASE WHEN JSON_VALID({expr}) THEN CAST(CAST({expr} AS JSON) AS CHAR) ELSE {expr} END)")
        }
    }
}
