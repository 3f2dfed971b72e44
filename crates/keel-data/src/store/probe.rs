//! Data probes: counts of the rows a proposed schema change would affect, asked of the
//! collection's table as it is now (schema-change governance, `keel_app::changes`).
//!
//! Each [`Probe`] names columns of the *current* collection; the SQL is built with
//! [`SqlBuf`] (identifiers quoted by the dialect, values bound), read-only, on the read pool.
//! A probe naming a field the collection does not have is a 400.

use keel_core::{Error, Result};
use keel_sql::{SqlBuf, ValueType};
use serde_json::Value;

use super::ddl::{self, field_column_type};
use super::Store;
use crate::schema::{Collection, Field};
use keel_sql::ColumnType;

/// A question about the rows of one collection, answered with a count.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    /// Every row (e.g. a required field added: each existing row lacks it).
    Rows,
    /// Rows whose `field` holds its zero value (`""`, `0`, `false`, `[]`, `null`): what
    /// `required` refuses.
    Empty { field: String },
    /// Rows whose `field` holds something (e.g. relation ids into a collection being replaced).
    NotEmpty { field: String },
    /// Rows whose non-empty text `field` is shorter than `min` or longer than `max` characters.
    Length {
        field: String,
        min: Option<i64>,
        max: Option<i64>,
    },
    /// Rows whose number `field` is below `min` or above `max`.
    Range {
        field: String,
        min: Option<f64>,
        max: Option<f64>,
    },
    /// Rows whose non-empty date `field` is before `min` or after `max` (PocketBase's
    /// `YYYY-MM-DD HH:MM:SS.sssZ` text compares in time order).
    DateRange {
        field: String,
        min: Option<String>,
        max: Option<String>,
    },
    /// Rows whose select `field` holds any of `values`.
    Using { field: String, values: Vec<String> },
    /// Rows whose multi-valued `field` holds more than `max` values.
    MoreThan { field: String, max: i64 },
    /// Groups of two or more rows sharing the same values in `columns`.
    Duplicates { columns: Vec<String> },
}

/// What a governance check needs of an index statement as PocketBase stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexShape {
    pub unique: bool,
    pub name: String,
    /// The indexed columns, when every key is a plain column name (`None` for expressions
    /// such as `lower(email)`).
    pub columns: Option<Vec<String>>,
    /// Whether a `WHERE` clause limits the index to some rows.
    pub partial: bool,
}

/// The shape of an index statement; `None` when it does not parse as one.
pub fn index_shape(sql: &str) -> Option<IndexShape> {
    let def = ddl::parse_index(sql)?;
    Some(IndexShape {
        unique: def.unique,
        columns: ddl::plain_columns(&def.rest),
        partial: ddl::is_partial(&def),
        name: def.name,
    })
}

fn field<'a>(c: &'a Collection, name: &str) -> Result<&'a Field> {
    c.field(name)
        .ok_or_else(|| Error::bad_request(format!("The collection {} has no field {name} to check.", c.name)))
}

/// `WHERE` text: the condition a row of `c` meets for `probe` (values bound into `buf`).
fn condition(c: &Collection, probe: &Probe, buf: &mut SqlBuf) -> Result<Option<String>> {
    let d = buf.dialect();
    let col = |name: &str| format!("t.{}", d.quote_ident(name));
    Ok(Some(match probe {
        Probe::Rows | Probe::Duplicates { .. } => return Ok(None),
        Probe::Empty { field: name } | Probe::NotEmpty { field: name } => {
            let f = field(c, name)?;
            let x = col(name);
            let empty = if f.is_multiple() {
                format!("{} = 0", d.json_array_length(&x))
            } else {
                match field_column_type(f) {
                    ColumnType::Number => format!("{x} = 0"),
                    ColumnType::Bool => format!("{x} = FALSE"),
                    ColumnType::Json => format!("{x} IS NULL"),
                    ColumnType::Key | ColumnType::Text => format!("({x} IS NULL OR {x} = '')"),
                }
            };
            if matches!(probe, Probe::NotEmpty { .. }) {
                format!("NOT ({empty})")
            } else {
                empty
            }
        }
        Probe::Length { field: name, min, max } => {
            field(c, name)?;
            let x = col(name);
            let len = d.char_length(&x);
            let mut parts = Vec::new();
            if let Some(min) = min {
                parts.push(format!("{len} < {}", buf.bind(Value::from(*min))));
            }
            if let Some(max) = max {
                parts.push(format!("{len} > {}", buf.bind(Value::from(*max))));
            }
            if parts.is_empty() {
                return Ok(Some("1 = 0".into()));
            }
            format!("({x} IS NOT NULL AND {x} != '' AND ({}))", parts.join(" OR "))
        }
        Probe::Range { field: name, min, max } => {
            field(c, name)?;
            let x = col(name);
            let mut parts = Vec::new();
            for (bound, sym) in [(min, "<"), (max, ">")] {
                if let Some(b) = bound {
                    let p = buf.bind(Value::from(*b));
                    parts.push(format!("{x} {sym} {}", d.typed_param(&p, ValueType::Number)));
                }
            }
            if parts.is_empty() {
                return Ok(Some("1 = 0".into()));
            }
            format!("({})", parts.join(" OR "))
        }
        Probe::DateRange { field: name, min, max } => {
            field(c, name)?;
            let x = col(name);
            let mut parts = Vec::new();
            for (bound, sym) in [(min, "<"), (max, ">")] {
                if let Some(b) = bound {
                    let p = buf.bind(Value::from(b.as_str()));
                    parts.push(format!("{x} {sym} {}", d.typed_param(&p, ValueType::Text)));
                }
            }
            if parts.is_empty() {
                return Ok(Some("1 = 0".into()));
            }
            format!("({x} != '' AND ({}))", parts.join(" OR "))
        }
        Probe::Using { field: name, values } => {
            let f = field(c, name)?;
            if values.is_empty() {
                return Ok(Some("1 = 0".into()));
            }
            let x = col(name);
            let list: Vec<String> = values.iter().map(|v| buf.bind(Value::from(v.as_str()))).collect();
            if f.is_multiple() {
                format!(
                    "EXISTS (SELECT 1 FROM {} j WHERE j.value IN ({}))",
                    d.json_each(&x),
                    list.join(", ")
                )
            } else {
                format!("{x} IN ({})", list.join(", "))
            }
        }
        Probe::MoreThan { field: name, max } => {
            let f = field(c, name)?;
            if !f.is_multiple() {
                return Ok(Some("1 = 0".into()));
            }
            let p = buf.bind(Value::from(*max));
            format!(
                "{} > {}",
                d.json_array_length(&col(name)),
                d.typed_param(&p, ValueType::Number)
            )
        }
    }))
}

impl Store {
    /// The number of rows of `collection` (name or id) that `probe` matches; for
    /// [`Probe::Duplicates`], the number of groups of rows sharing the same values.
    pub async fn probe(&self, collection: &str, probe: &Probe) -> Result<u64> {
        let c = self.collection(collection)?;
        let d = self.engine.dialect();
        let mut buf = SqlBuf::new(d);
        if let Probe::Duplicates { columns } = probe {
            if columns.is_empty() {
                return Ok(0);
            }
            for name in columns {
                field(&c, name)?;
            }
            buf.push("SELECT COUNT(*) AS n FROM (SELECT 1 AS one FROM ")
                .ident(&c.name)
                .push(" t GROUP BY ");
            for (i, name) in columns.iter().enumerate() {
                if i > 0 {
                    buf.push(", ");
                }
                buf.push("t.").ident(name);
            }
            buf.push(" HAVING COUNT(*) > 1) g");
        } else {
            let cond = condition(&c, probe, &mut buf)?;
            let mut sql = SqlBuf::new(d);
            sql.push("SELECT COUNT(*) AS n FROM ").ident(&c.name).push(" t");
            if let Some(cond) = cond {
                sql.push(" WHERE ").push(&cond);
            }
            buf.text = sql.text;
        }
        let rows = self.engine.fetch_all(&buf.text, &buf.params).await?;
        Ok(rows.first().and_then(|r| r.get("n")).map_or(0, count))
    }
}

/// A `COUNT(*)` as the engines return it (a number, or numeric text).
fn count(v: &Value) -> u64 {
    match v {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().map(|f| f.max(0.0) as u64))
            .unwrap_or(0),
        Value::String(s) => s.parse().unwrap_or(0),
        _ => 0,
    }
}
