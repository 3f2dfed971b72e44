//! Binding JSON values as PostgreSQL parameters and decoding rows to JSON by column type.

use keel_core::{Error, Result};
use serde_json::{Map, Number, Value};
use sqlx::postgres::{PgArguments, PgRow, PgValueFormat, PgValueRef};
use sqlx::{Arguments, Column, Decode, Postgres, Row as _, TypeInfo, ValueRef};

use crate::engine::Row;

/// Binds null (as text), bool, integer (`BIGINT`), real (`DOUBLE PRECISION`) and text;
/// arrays and objects as their JSON text. Statements cast where a comparison needs another
/// type (see the dialect's `typed_param`).
pub(super) fn bind(params: &[Value]) -> Result<PgArguments> {
    let mut args = PgArguments::default();
    for p in params {
        let r = match p {
            Value::Null => args.add(Option::<String>::None),
            Value::Bool(b) => args.add(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => args.add(i),
                None => args.add(n.as_f64().unwrap_or(0.0)),
            },
            Value::String(s) => args.add(s.as_str()),
            other => args.add(other.to_string()),
        };
        r.map_err(Error::internal)?;
    }
    Ok(args)
}

/// `sql` made unique per parameter-type list and schema generation. sqlx prepares a
/// statement once per SQL text and connection, with the parameter types of its first use,
/// then sends later values in those types' binary format: the same text bound with another
/// type (`5` then `2.5`, or NULL then a number) would be misread. And a statement prepared
/// before a schema change may return rows of another shape, which PostgreSQL refuses. A
/// trailing comment naming the types and the engine's schema generation (bumped by every
/// committed DDL) gives each its own prepared statement.
pub(super) fn typed_sql(sql: &str, params: &[Value], generation: u64) -> String {
    let mut out = String::with_capacity(sql.len() + params.len() + 16);
    out.push_str(sql);
    out.push_str(&format!(" /*{generation}:"));
    for p in params {
        out.push(match p {
            Value::Null => 'n',
            Value::Bool(_) => 'b',
            Value::Number(n) if n.as_i64().is_some() => 'i',
            Value::Number(_) => 'f',
            _ => 't',
        });
    }
    out.push_str("*/");
    out
}

/// Largest integer a double holds exactly.
const EXACT: f64 = 9_007_199_254_740_992.0;

/// A double as JSON: integral values as integers (SQLite's NUMERIC stores them so).
fn float(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < EXACT {
        Value::from(f as i64)
    } else {
        Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)
    }
}

fn decode<'r, T: Decode<'r, Postgres>>(raw: PgValueRef<'r>) -> Result<T> {
    T::decode(raw).map_err(Error::internal)
}

/// Decodes a row by each column's type: integers and reals → number, bool → bool, text →
/// string, json/jsonb → the parsed value, numeric → number, null → null.
pub(super) fn decode_row(row: &PgRow) -> Result<Row> {
    let mut out = Map::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let raw = row.try_get_raw(i).map_err(Error::internal)?;
        let value = if raw.is_null() {
            Value::Null
        } else {
            let ty = raw.type_info().name().to_string();
            match ty.as_str() {
                "INT2" => Value::from(decode::<i16>(raw)?),
                "INT4" => Value::from(decode::<i32>(raw)?),
                "INT8" => Value::from(decode::<i64>(raw)?),
                "FLOAT4" => float(f64::from(decode::<f32>(raw)?)),
                "FLOAT8" => float(decode::<f64>(raw)?),
                "BOOL" => Value::Bool(decode::<bool>(raw)?),
                "JSON" | "JSONB" => decode::<Value>(raw)?,
                "NUMERIC" => numeric(raw)?,
                _ => match decode::<String>(raw) {
                    Ok(s) => Value::String(s),
                    Err(_) => return Err(Error::internal(format!("unsupported PostgreSQL column type {ty}"))),
                },
            }
        };
        out.insert(col.name().to_string(), value);
    }
    Ok(out)
}

/// A `NUMERIC` (aggregates such as `SUM`) as a JSON number: base-10000 digits in binary
/// format, the decimal text in text format.
fn numeric(raw: PgValueRef<'_>) -> Result<Value> {
    let bad = || Error::internal("malformed NUMERIC value");
    if raw.format() == PgValueFormat::Text {
        let s = raw.as_str().map_err(Error::internal)?;
        return s.parse::<f64>().map(float).map_err(|_| bad());
    }
    let b = raw.as_bytes().map_err(Error::internal)?;
    let word = |i: usize| -> Result<i16> {
        b.get(i * 2..i * 2 + 2)
            .map(|w| i16::from_be_bytes([w[0], w[1]]))
            .ok_or_else(bad)
    };
    let (ndigits, weight, sign) = (word(0)?, word(1)?, word(2)? as u16);
    if sign == 0xC000 {
        return Ok(Value::Null); // NaN
    }
    let mut v = 0f64;
    for d in 0..ndigits.max(0) as usize {
        let digit = f64::from(word(4 + d)?);
        v += digit * 10_000f64.powi(i32::from(weight) - d as i32);
    }
    Ok(float(if sign == 0x4000 { -v } else { v }))
}
