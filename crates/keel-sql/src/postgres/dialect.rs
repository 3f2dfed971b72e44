//! PostgreSQL's SQL flavour. PostgreSQL is strictly typed where SQLite is not: the filter
//! compiler asks this dialect to cast one side of a comparison (`cast`, `typed_param`) so
//! both have one type, and JSON is stored as text and read through `jsonb`.
//!
//! - Text columns use `COLLATE "C"`: equality is case-sensitive and ordering byte-wise
//!   ("B" < "a"), as SQLite's BINARY collation.
//! - JSON (json fields, multi-valued fields, `_params`) is stored as `TEXT`, bound and read
//!   back as text like on SQLite; paths and elements go through `jsonb` at query time.
//! - Insertion order is a hidden identity column ([`INSERTION_ORDER_COLUMN`]).

use crate::engine::{ColumnType, Dialect, ValueType, INSERTION_ORDER_COLUMN};

/// PostgreSQL's SQL flavour.
pub struct PgDialect;

/// The one PostgreSQL dialect value (dialects are `'static`).
pub static POSTGRES: PgDialect = PgDialect;

/// The JSON text (or `jsonb`) in `expr` as `jsonb`, `''` and NULL as `empty`.
fn jsonb(expr: &str, empty: &str) -> String {
    format!("CAST(COALESCE(NULLIF(CAST({expr} AS TEXT), ''), {empty}) AS JSONB)")
}

/// `$.a.b[0]` as PostgreSQL's path array literal `'{a,b,0}'` (the compiler checks every
/// segment is `\w+`).
fn path_literal(path: &str) -> String {
    let segments: Vec<&str> = path
        .trim_start_matches('$')
        .split(['.', '[', ']'])
        .filter(|s| !s.is_empty())
        .collect();
    format!("'{{{}}}'", segments.join(",").replace('\'', "''"))
}

/// A text that reads as a number (SQLite's numeric affinity would convert it).
const NUMERIC_TEXT: &str = r"'^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$'";

impl Dialect for PgDialect {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn placeholder(&self, n: usize) -> String {
        format!("${n}")
    }

    fn numbered(&self, sql: &str) -> String {
        sql.to_string()
    }

    fn serial_primary_key(&self) -> &'static str {
        "BIGSERIAL PRIMARY KEY"
    }

    fn skip_locked(&self) -> &'static str {
        " FOR UPDATE SKIP LOCKED"
    }

    fn relaxed_commit_condition(&self) -> &'static str {
        " AND set_config('synchronous_commit', 'off', true) = 'off'"
    }

    fn for_update(&self) -> &'static str {
        " FOR UPDATE"
    }

    /// Elements as text (`value`), in a `LATERAL` subquery so it may name columns of the
    /// rows before it in the same `FROM`.
    fn json_each(&self, expr: &str) -> String {
        let j = jsonb(expr, "'[]'");
        format!(
            "LATERAL (SELECT value FROM jsonb_array_elements_text(CASE WHEN jsonb_typeof({j}) = 'array' \
             THEN {j} ELSE CAST('[]' AS JSONB) END))"
        )
    }

    fn json_rows(&self, param: &str, alias: &str, columns: &[&str]) -> String {
        let defs: Vec<String> = columns.iter().map(|c| format!("{c} TEXT")).collect();
        format!(
            "json_to_recordset(CAST({param} AS JSON)) AS {alias}({})",
            defs.join(", ")
        )
    }

    /// `column = ANY(ARRAY(…))`: the planner reckons such an array small, so the rows are
    /// looked up by `column`'s index in generic and custom plans alike.
    fn json_rows_key(&self, column: &str, param: &str, key: &str) -> Option<String> {
        let keys = format!("SELECT k.{key} FROM {}", self.json_rows(param, "k", &[key]));
        Some(self.in_subquery(column, &keys))
    }

    fn in_subquery(&self, column: &str, subquery: &str) -> String {
        format!("{column} = ANY(ARRAY({subquery}))")
    }

    fn json_array_length(&self, expr: &str) -> String {
        let j = jsonb(expr, "'[]'");
        format!("(CASE WHEN jsonb_typeof({j}) = 'array' THEN jsonb_array_length({j}) ELSE 0 END)")
    }

    /// A `jsonb` value ([`ValueType::Json`]); JSON `null` and a missing path are SQL NULL.
    fn json_extract(&self, expr: &str, path: &str) -> String {
        let j = jsonb(expr, "NULL");
        format!("NULLIF({j} #> {}, CAST('null' AS JSONB))", path_literal(path))
    }

    fn like_op(&self) -> &'static str {
        "ILIKE"
    }

    fn random(&self) -> &'static str {
        "random()"
    }

    fn insertion_order(&self, alias: Option<&str>) -> String {
        let col = self.quote_ident(INSERTION_ORDER_COLUMN);
        match alias {
            Some(a) => format!("{a}.{col}"),
            None => col,
        }
    }

    fn ci_eq(&self, column: &str, value: &str) -> String {
        format!("LOWER({column}) = LOWER({value})")
    }

    fn ci_index(&self, column: &str) -> String {
        format!("LOWER({column})")
    }

    fn json_text(&self, expr: &str) -> String {
        format!("CAST({} AS TEXT)", jsonb(expr, "NULL"))
    }

    fn column_type(&self, t: ColumnType) -> &'static str {
        match t {
            ColumnType::Key | ColumnType::Text => "TEXT COLLATE \"C\"",
            ColumnType::Number => "DOUBLE PRECISION",
            ColumnType::Bool => "BOOLEAN",
            // The same type as text: a field turned from single to multiple keeps its type,
            // so statements prepared before the change stay valid.
            ColumnType::Json => "TEXT COLLATE \"C\"",
        }
    }

    fn columns_query(&self) -> String {
        "SELECT CAST(column_name AS TEXT) AS name, CAST(data_type AS TEXT) AS type \
         FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 \
         ORDER BY ordinal_position"
            .into()
    }

    fn insertion_order_column(&self) -> Option<String> {
        Some(format!(
            "{} BIGINT GENERATED BY DEFAULT AS IDENTITY",
            self.quote_ident(INSERTION_ORDER_COLUMN)
        ))
    }

    fn strict_types(&self) -> bool {
        true
    }

    fn cast(&self, e: &str, from: ValueType, to: ValueType) -> String {
        use ValueType::*;
        match (from, to) {
            _ if from == to => e.to_string(),
            (Number, Text) => format!("CAST({e} AS TEXT)"),
            (Bool, Text) => format!("(CASE WHEN {e} THEN '1' WHEN NOT {e} THEN '0' END)"),
            (Json, Text) => format!("({e} #>> '{{}}')"),
            (Bool, Number) => format!("CAST(CAST({e} AS INTEGER) AS DOUBLE PRECISION)"),
            (Text, Number) => format!("(CASE WHEN {e} ~ {NUMERIC_TEXT} THEN CAST({e} AS DOUBLE PRECISION) END)"),
            (Json, Number) => {
                format!("(CASE WHEN jsonb_typeof({e}) = 'number' THEN CAST({e} #>> '{{}}' AS DOUBLE PRECISION) END)")
            }
            (Json, Bool) => {
                format!("(CASE WHEN jsonb_typeof({e}) = 'boolean' THEN CAST({e} #>> '{{}}' AS BOOLEAN) END)")
            }
            (Text | Number, Bool) => format!("({} <> 0)", self.cast(e, from, Number)),
            (_, Json) => format!("to_jsonb({e})"),
            _ => e.to_string(),
        }
    }

    fn typed_param(&self, placeholder: &str, t: ValueType) -> String {
        let ty = match t {
            ValueType::Text => "TEXT",
            ValueType::Number => "DOUBLE PRECISION",
            ValueType::Bool => "BOOLEAN",
            ValueType::Json => "JSONB",
        };
        format!("CAST({placeholder} AS {ty})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths_become_path_arrays() {
        assert_eq!(path_literal("$.a.b[0].c"), "'{a,b,0,c}'");
        assert_eq!(path_literal("$[2]"), "'{2}'");
    }
}
