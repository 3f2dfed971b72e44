//! MySQL rows to JSON, and MySQL errors to keel errors.

use keel_core::{Error, FieldError, FieldErrors, Result};
use serde_json::{Map, Number, Value};
use sqlx::mysql::{MySql, MySqlRow};
use sqlx::{Column, Decode, Row as _, TypeInfo, ValueRef};

use super::dialect::is_hidden_column;
use crate::engine::Row;

pub(super) fn internal(e: impl std::fmt::Display) -> Error {
    Error::internal(e)
}

/// Decodes a row by each column's type: integers and doubles → numbers, DECIMAL → number,
/// NULL → null, everything else (text, JSON, binary-collated text) → string. Engine-kept
/// columns (the insertion order) are left out.
pub(super) fn row(row: &MySqlRow) -> Result<Row> {
    let mut out = Map::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        if is_hidden_column(col.name()) {
            continue;
        }
        let raw = row.try_get_raw(i).map_err(internal)?;
        let value = if raw.is_null() {
            Value::Null
        } else {
            let ty = raw.type_info().name().to_string();
            match ty.as_str() {
                "BOOLEAN" | "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" | "YEAR" => {
                    Value::from(<i64 as Decode<MySql>>::decode(raw).map_err(internal)?)
                }
                "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED" | "INT UNSIGNED"
                | "BIGINT UNSIGNED" => Value::from(<u64 as Decode<MySql>>::decode(raw).map_err(internal)?),
                "FLOAT" => float(f64::from(<f32 as Decode<MySql>>::decode(raw).map_err(internal)?)),
                "DOUBLE" => float(<f64 as Decode<MySql>>::decode(raw).map_err(internal)?),
                "DECIMAL" => {
                    let bytes = <Vec<u8> as Decode<MySql>>::decode(raw).map_err(internal)?;
                    let text = String::from_utf8_lossy(&bytes);
                    match text.parse::<i64>() {
                        Ok(i) => Value::from(i),
                        Err(_) => text.parse::<f64>().map(float).unwrap_or(Value::Null),
                    }
                }
                _ => {
                    let bytes = <Vec<u8> as Decode<MySql>>::decode(raw).map_err(internal)?;
                    Value::String(match String::from_utf8(bytes) {
                        Ok(s) => s,
                        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
                    })
                }
            }
        };
        out.insert(col.name().to_string(), value);
    }
    Ok(out)
}

/// A double as JSON: integral values as integers (`10`, not `10.0`), as SQLite's NUMERIC
/// affinity stores them.
fn float(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        return Value::from(f as i64);
    }
    Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)
}

/// The index a duplicate-key error (1062) names, if `e` is one. MariaDB says
/// `… for key 'idx'`, MySQL 8 `… for key 'table.idx'`.
pub(super) fn duplicate_key(e: &sqlx::Error) -> Option<String> {
    let sqlx::Error::Database(db) = e else { return None };
    if !db.is_unique_violation() {
        return None;
    }
    let msg = db.message();
    let key = msg.rsplit_once("for key ").map(|(_, k)| k).unwrap_or("");
    let key = key.trim().trim_matches(|c| c == '\'' || c == '`' || c == '"');
    let key = key.rsplit_once('.').map(|(_, k)| k).unwrap_or(key);
    Some(key.to_string())
}

/// The error SQLite's engine gives for the same violation: the violated columns as fields,
/// or `index <name>` when the index is over an expression (here: a generated column).
pub(super) fn unique_violation(index: &str, columns: &[(String, Option<String>)]) -> Error {
    let mut fields = FieldErrors::new();
    let generated = columns.iter().any(|(_, extra)| {
        extra
            .as_deref()
            .is_some_and(|x| x.to_ascii_uppercase().contains("GENERATED"))
    });
    if generated || columns.is_empty() {
        fields.insert(format!("index {index}"), not_unique());
    } else {
        for (c, _) in columns {
            fields.insert(c.clone(), not_unique());
        }
    }
    Error::fields(fields)
}

fn not_unique() -> FieldError {
    FieldError::new("validation_not_unique", "Value must be unique.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_name_columns_or_the_index() {
        let cols = vec![("slug".to_string(), Some(String::new())), ("lang".to_string(), None)];
        let Error::BadRequest { fields, .. } = unique_violation("idx_x", &cols) else {
            panic!()
        };
        assert!(fields.contains_key("slug") && fields.contains_key("lang"));
        let cols = vec![("__ci_email".to_string(), Some("STORED GENERATED".to_string()))];
        let Error::BadRequest { fields, .. } = unique_violation("idx_email_1", &cols) else {
            panic!()
        };
        assert!(fields.contains_key("index idx_email_1"));
    }
}
