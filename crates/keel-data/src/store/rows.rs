//! Converting between engine rows and record JSON, by field type.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::Record;
use crate::schema::{Collection, Field, FieldKind, RecordData};
use keel_sql::Row;

/// A stored value as the record's JSON shows it (moved out of the row, not copied).
pub(crate) fn from_db(f: &Field, v: Value) -> Value {
    if f.is_multiple() {
        return match v {
            Value::String(s) => match serde_json::from_str::<Value>(&s) {
                Ok(Value::Array(a)) => Value::Array(a),
                _ if s.is_empty() => Value::Array(vec![]),
                _ => Value::Array(vec![Value::String(s)]),
            },
            Value::Array(a) => Value::Array(a),
            _ => Value::Array(vec![]),
        };
    }
    match &f.kind {
        FieldKind::Bool(_) => Value::Bool(match v {
            Value::Bool(b) => b,
            Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
            Value::String(s) => s == "1" || s.eq_ignore_ascii_case("true"),
            _ => false,
        }),
        FieldKind::Number(_) => match v {
            Value::Number(_) => v,
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .unwrap_or(Value::from(0)),
            _ => Value::from(0),
        },
        FieldKind::Json(_) => match v {
            Value::String(s) => serde_json::from_str(&s).unwrap_or(Value::String(s)),
            other => other,
        },
        _ => match v {
            Value::String(_) => v,
            Value::Null => Value::String(String::new()),
            other => Value::String(other.to_string()),
        },
    }
}

/// A record's JSON value as it is bound for storage.
pub(crate) fn to_db(f: &Field, v: &Value) -> Value {
    if f.is_multiple() {
        return Value::String(match v {
            Value::Array(_) => v.to_string(),
            _ => "[]".into(),
        });
    }
    match &f.kind {
        FieldKind::Json(_) => match v {
            Value::Null => Value::Null,
            other => Value::String(other.to_string()),
        },
        FieldKind::Bool(_) => Value::Bool(v.as_bool().unwrap_or(false)),
        FieldKind::Number(_) => match v {
            Value::Number(_) => v.clone(),
            _ => Value::from(0),
        },
        _ => match v {
            Value::String(_) => v.clone(),
            Value::Null => Value::String(String::new()),
            other => Value::String(other.to_string()),
        },
    }
}

/// A row of the collection's table as record data (fields in schema order). The row's
/// keys and values are moved, not copied. A row read with [`select_cols`] already has the
/// fields' columns in schema order: its values are converted in place, nothing is hashed or
/// moved; any other row is rebuilt field by field.
pub(crate) fn row_to_data(c: &Collection, mut row: Row) -> RecordData {
    if row.len() == c.fields.len() && row.keys().zip(&c.fields).all(|(k, f)| *k == f.name) {
        for ((_, v), f) in row.iter_mut().zip(&c.fields) {
            *v = from_db(f, std::mem::take(v));
        }
        return row;
    }
    let mut out = RecordData::with_capacity(c.fields.len());
    for f in &c.fields {
        match row.swap_remove_entry(&f.name) {
            Some((name, v)) => out.insert(name, from_db(f, v)),
            None => out.insert(f.name.clone(), from_db(f, Value::Null)),
        };
    }
    out
}

/// A row as a `Record` of `c` (nothing expanded), its encrypted fields opened.
pub(crate) fn row_to_record(store: &super::Store, c: &Arc<Collection>, row: Row) -> keel_core::Result<Record> {
    let mut data = row_to_data(c, row);
    store.open_fields(c, &mut data)?;
    Ok(Record {
        collection: c.clone(),
        data,
        expand: BTreeMap::new(),
        expand_shown: false,
    })
}

/// The bound values of every field of `data`, in schema order.
pub(crate) fn data_params(c: &Collection, data: &RecordData) -> Vec<Value> {
    c.fields
        .iter()
        .map(|f| to_db(f, data.get(&f.name).unwrap_or(&Value::Null)))
        .collect()
}

/// `t."a", t."b", …`: every column of `c` by name. Reads never use `SELECT *`: prepared
/// statements are cached per connection with their column names, so after a schema change a
/// cached `SELECT *` would label columns wrongly; an explicit list changes the SQL text instead.
pub(crate) fn select_cols(c: &Collection, alias: &str, d: &dyn keel_sql::Dialect) -> String {
    let mut out = String::with_capacity(c.fields.len() * 12);
    for (i, f) in c.fields.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(alias);
        out.push('.');
        out.push_str(&d.quote_ident(&f.name));
    }
    out
}
