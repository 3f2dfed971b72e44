//! PostgreSQL errors as Keel errors. A unique violation becomes the same 400 SQLite's gives
//! (the violated columns, or `index <name>` for an expression index); other messages keep
//! only the text before their first `:` (PostgreSQL quotes input values after it), so no
//! bound value reaches a log line.

use keel_core::{Error, FieldErrors};
use sqlx::postgres::PgDatabaseError;

/// `PgEngine::connect` failed: the URL does not parse, or the server cannot be reached or
/// refused the login. The binary names the config key (`engines.postgres_url`).
#[derive(Debug)]
pub enum ConnectError {
    /// The URL is not a PostgreSQL connection URL.
    BadUrl(sqlx::Error),
    /// The server did not answer, or refused the connection or the login.
    Unreachable(sqlx::Error),
}

impl ConnectError {
    pub(super) fn from_sqlx(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Configuration(_) => ConnectError::BadUrl(e),
            other => ConnectError::Unreachable(other),
        }
    }
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::BadUrl(_) => write!(f, "not a valid PostgreSQL URL"),
            ConnectError::Unreachable(_) => write!(f, "cannot connect to PostgreSQL"),
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConnectError::BadUrl(e) | ConnectError::Unreachable(e) => Some(e),
        }
    }
}

/// Whether `e` is PostgreSQL refusing a prepared statement whose result columns changed
/// since it was prepared (`cached plan must not change result type`).
pub(super) fn is_stale_plan(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.try_downcast_ref::<PgDatabaseError>())
        .is_some_and(|pg| pg.code() == "0A000" && pg.message().contains("cached plan"))
}

/// Maps an sqlx error to a Keel error.
pub(super) fn map(e: sqlx::Error) -> Error {
    let Some(db) = e.as_database_error() else {
        return Error::internal(format!("PostgreSQL: {e}"));
    };
    let Some(pg) = db.try_downcast_ref::<PgDatabaseError>() else {
        return Error::internal("PostgreSQL: database error");
    };
    if pg.code() == "23505" {
        return unique_violation(pg.detail(), pg.constraint());
    }
    let message = pg.message().split(':').next().unwrap_or("");
    Error::internal(format!("PostgreSQL error {}: {message}", pg.code()))
}

/// The fields of `Key (a, "b")=(…) already exists.` (values are never read), or the index.
fn unique_violation(detail: Option<&str>, constraint: Option<&str>) -> Error {
    let mut fields = FieldErrors::new();
    let cols = detail
        .and_then(|d| d.strip_prefix("Key ("))
        .and_then(|d| d.split_once(")=(").map(|(c, _)| c))
        .map(|c| c.split(", ").map(column).collect::<Option<Vec<String>>>());
    match cols {
        Some(Some(cols)) if !cols.is_empty() => {
            for c in cols {
                fields.insert(c, crate::sqlite::unique_error());
            }
        }
        _ => {
            let name = constraint.unwrap_or("unknown");
            fields.insert(format!("index {name}"), crate::sqlite::unique_error());
        }
    }
    Error::fields(fields)
}

/// A plain or quoted column name, or `lower(col)` (the case-insensitive email index, which
/// SQLite reports by column); `None` for any other expression.
fn column(part: &str) -> Option<String> {
    let p = part.trim();
    let p = p.strip_prefix("lower(").and_then(|r| r.strip_suffix(')')).unwrap_or(p);
    if let Some(q) = p.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        return Some(q.replace("\"\"", "\""));
    }
    (!p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || c == '_')).then(|| p.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_details_name_columns_never_values() {
        let Error::BadRequest { fields, .. } =
            unique_violation(Some("Key (slug, \"tokenKey\")=(a, b) already exists."), Some("idx"))
        else {
            panic!()
        };
        assert!(fields.contains_key("slug") && fields.contains_key("tokenKey"));
        let Error::BadRequest { fields, .. } =
            unique_violation(Some("Key (lower(email))=(A@x) already exists."), Some("idx_email_x"))
        else {
            panic!()
        };
        assert!(fields.contains_key("email"));
        let Error::BadRequest { fields, .. } =
            unique_violation(Some("Key ((title || 'x'))=(a) already exists."), Some("idx_t"))
        else {
            panic!()
        };
        assert!(fields.contains_key("index idx_t"));
    }
}
