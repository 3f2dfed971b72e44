//! Placeholders on MySQL/MariaDB: the server only knows positional `?`, while Keel's SQL
//! numbers them (`?1`, `?2`, …) and may mention one twice or out of order (a comparison
//! with `COALESCE(x, ?2) = ?2`, an `UPDATE … WHERE id = ?1` whose `?1` was bound first).
//! [`positional`] rewrites the text to bare `?`s and lists the parameters in the order
//! the text mentions them, so the dialect machinery can keep numbering them.

use std::borrow::Cow;

use keel_core::{Error, Result};
use serde_json::Value;

/// The SQL with every `?N` outside literals, quoted identifiers and comments replaced by
/// `?`, and `params` in textual order (repeated as often as mentioned). SQL without a
/// numbered placeholder is returned unchanged with `params` as given.
pub(crate) fn positional<'a>(sql: &'a str, params: &'a [Value]) -> Result<(Cow<'a, str>, Cow<'a, [Value]>)> {
    if !sql.contains('?') {
        return Ok((Cow::Borrowed(sql), Cow::Borrowed(params)));
    }
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut order: Vec<Value> = Vec::with_capacity(params.len());
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        match bytes[i] {
            q @ (b'\'' | b'"' | b'`') => i = skip_quoted(bytes, i, q),
            b'-' if bytes.get(i + 1) == Some(&b'-') => i = skip_until(bytes, i, b"\n"),
            b'/' if bytes.get(i + 1) == Some(&b'*') => i = skip_until(bytes, i + 2, b"*/"),
            b'?' => {
                let start = i + 1;
                let mut end = start;
                while end < bytes.len() && bytes[end].is_ascii_digit() {
                    end += 1;
                }
                if end == start {
                    return Err(Error::internal(
                        "an SQL statement for MySQL has an unnumbered placeholder",
                    ));
                }
                let n: usize = sql[start..end]
                    .parse()
                    .map_err(|_| Error::internal("an SQL placeholder number is out of range"))?;
                let value = n
                    .checked_sub(1)
                    .and_then(|k| params.get(k))
                    .ok_or_else(|| Error::internal(format!("SQL placeholder ?{n} has no bound value")))?;
                out.push_str(&sql[copied..i]);
                out.push('?');
                order.push(value.clone());
                copied = end;
                i = end;
            }
            _ => i += 1,
        }
    }
    out.push_str(&sql[copied..]);
    Ok((Cow::Owned(out), Cow::Owned(order)))
}

/// The index just past the literal or quoted identifier opening at `start` (a doubled
/// quote stays inside; backslashes are plain characters under `NO_BACKSLASH_ESCAPES`).
fn skip_quoted(bytes: &[u8], start: usize, quote: u8) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

/// The index just past the next `end` at or after `from` (or the end of the text).
fn skip_until(bytes: &[u8], from: usize, end: &[u8]) -> usize {
    bytes[from.min(bytes.len())..]
        .windows(end.len())
        .position(|w| w == end)
        .map(|p| from + p + end.len())
        .unwrap_or(bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbered_placeholders_become_positional_in_text_order() {
        let params = [json!("a"), json!(2), json!("id")];
        let (sql, p) = positional(
            "UPDATE t SET a = ?2, \"b?1\" = '?3 it''s' WHERE id = ?3 AND c = COALESCE(x, ?2) -- ?1\n OR ?1",
            &params,
        )
        .unwrap();
        assert_eq!(
            sql,
            "UPDATE t SET a = ?, \"b?1\" = '?3 it''s' WHERE id = ? AND c = COALESCE(x, ?) -- ?1\n OR ?"
        );
        assert_eq!(&*p, &[json!(2), json!("id"), json!(2), json!("a")]);
    }

    #[test]
    fn a_missing_value_is_an_error_not_a_panic() {
        assert!(positional("SELECT ?2", &[json!(1)]).is_err());
        assert!(positional("SELECT ?", &[json!(1)]).is_err());
        let (sql, p) = positional("SELECT 1", &[]).unwrap();
        assert_eq!((&*sql, p.len()), ("SELECT 1", 0));
    }
}
