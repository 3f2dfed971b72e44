//! The filter of a free-standing index's search: comparisons of filterable attributes joined
//! by `&&`, `||` and parentheses, e.g. `category = 'books' && (year >= 2020 || featured = true)`.
//!
//! - a comparison is `attribute OP literal` with `=`, `!=`, `<`, `<=`, `>`, `>=`;
//! - a literal is a string in `'…'` or `"…"` (a backslash escapes the next character), a
//!   number, `true` or `false`;
//! - an attribute holding several values (an array) matches when **any** of them does
//!   (`!=`: when none equals the literal); an absent attribute matches only `!=`;
//! - `<`, `<=`, `>`, `>=` compare numbers with numbers and strings with strings (bytewise);
//!   across kinds they are false.
//!
//! Only attributes named in the index's `filterable` setting may appear: anything else is a
//! 400 naming `filter`.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde_json::Value;

use crate::{Error, Result};

/// The longest filter, in characters.
pub const MAX_FILTER_CHARS: usize = 2048;
/// The most comparisons in one filter.
const MAX_COMPARISONS: usize = 64;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Cmp { attribute: String, op: CmpOp, value: Value },
}

fn invalid(message: impl Into<String>) -> Error {
    Error::field("filter", "validation_invalid_filter", message)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Lit(Value),
    Op(CmpOp),
    And,
    Or,
    Open,
    Close,
}

fn tokens(text: &str) -> Result<Vec<Tok>> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let two = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>, next: char| {
            chars.next();
            chars.next_if_eq(&next).is_some()
        };
        let tok = match c {
            '(' => {
                chars.next();
                Tok::Open
            }
            ')' => {
                chars.next();
                Tok::Close
            }
            '&' if two(&mut chars, '&') => Tok::And,
            '|' if two(&mut chars, '|') => Tok::Or,
            '=' => {
                chars.next();
                Tok::Op(CmpOp::Eq)
            }
            '!' if two(&mut chars, '=') => Tok::Op(CmpOp::Ne),
            '<' => Tok::Op(if two(&mut chars, '=') { CmpOp::Le } else { CmpOp::Lt }),
            '>' => Tok::Op(if two(&mut chars, '=') { CmpOp::Ge } else { CmpOp::Gt }),
            '\'' | '"' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => return Err(invalid("A string is not closed: end it with its quote.")),
                        Some('\\') => match chars.next() {
                            Some(e) => s.push(e),
                            None => return Err(invalid("A string is not closed: end it with its quote.")),
                        },
                        Some(q) if q == c => break,
                        Some(other) => s.push(other),
                    }
                }
                Tok::Lit(Value::String(s))
            }
            c if c.is_ascii_digit() || c == '-' || c == '.' => {
                let mut s = String::new();
                while let Some(d) = chars.next_if(|d| d.is_ascii_digit() || matches!(d, '-' | '+' | '.' | 'e' | 'E')) {
                    s.push(d);
                }
                let n: f64 = s.parse().map_err(|_| invalid(format!("{s:?} is not a number.")))?;
                Tok::Lit(
                    serde_json::Number::from_f64(n)
                        .map(Value::Number)
                        .ok_or_else(|| invalid("A number must be finite."))?,
                )
            }
            c if c.is_alphanumeric() || c == '_' => {
                let mut s = String::new();
                while let Some(d) = chars.next_if(|d| d.is_alphanumeric() || matches!(d, '_' | '-' | '.')) {
                    s.push(d);
                }
                match s.as_str() {
                    "true" => Tok::Lit(Value::Bool(true)),
                    "false" => Tok::Lit(Value::Bool(false)),
                    _ => Tok::Ident(s),
                }
            }
            other => {
                return Err(invalid(format!(
                    "Unexpected {other:?}: use attribute = 'value' joined by && and ||."
                )))
            }
        };
        out.push(tok);
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<Tok>,
    at: usize,
    filterable: &'a [String],
    comparisons: usize,
    depth: usize,
}

impl Parser<'_> {
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    fn or(&mut self) -> Result<Filter> {
        let mut parts = vec![self.and()?];
        while self.peek() == Some(&Tok::Or) {
            self.at += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Filter::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Filter> {
        let mut parts = vec![self.term()?];
        while self.peek() == Some(&Tok::And) {
            self.at += 1;
            parts.push(self.term()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Filter::And(parts)
        })
    }

    fn term(&mut self) -> Result<Filter> {
        match self.next() {
            Some(Tok::Open) => {
                self.depth += 1;
                if self.depth > 16 {
                    return Err(invalid("The filter nests too deep: at most 16 parentheses."));
                }
                let f = self.or()?;
                if self.next() != Some(Tok::Close) {
                    return Err(invalid("A parenthesis is not closed."));
                }
                self.depth -= 1;
                Ok(f)
            }
            Some(Tok::Ident(attribute)) => {
                if !self.filterable.contains(&attribute) {
                    return Err(invalid(format!(
                        "{attribute:?} is not filterable: name it in the index's \"filterable\" setting."
                    )));
                }
                let Some(Tok::Op(op)) = self.next() else {
                    return Err(invalid(format!(
                        "{attribute} must be followed by =, !=, <, <=, > or >=."
                    )));
                };
                let Some(Tok::Lit(value)) = self.next() else {
                    return Err(invalid(format!(
                        "Compare {attribute} with a 'string', a number, true or false."
                    )));
                };
                self.comparisons += 1;
                if self.comparisons > MAX_COMPARISONS {
                    return Err(invalid(format!("At most {MAX_COMPARISONS} comparisons in a filter.")));
                }
                Ok(Filter::Cmp { attribute, op, value })
            }
            _ => Err(invalid("Expected a comparison (attribute = 'value') or a parenthesis.")),
        }
    }
}

fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.as_str().cmp(y.as_str())),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

impl Filter {
    /// Parses `text`, whose attributes must be among `filterable`. A blank filter is `None`.
    pub fn parse(text: &str, filterable: &[String]) -> Result<Option<Filter>> {
        if text.chars().count() > MAX_FILTER_CHARS {
            return Err(invalid(format!(
                "The filter is too long: at most {MAX_FILTER_CHARS} characters."
            )));
        }
        let toks = tokens(text)?;
        if toks.is_empty() {
            return Ok(None);
        }
        let mut p = Parser {
            toks,
            at: 0,
            filterable,
            comparisons: 0,
            depth: 0,
        };
        let f = p.or()?;
        if p.at != p.toks.len() {
            return Err(invalid(
                "Unexpected text after the filter: join comparisons with && or ||.",
            ));
        }
        Ok(Some(f))
    }

    /// Whether a document with these attributes matches.
    pub fn matches(&self, attributes: &BTreeMap<String, Vec<Value>>) -> bool {
        match self {
            Filter::And(parts) => parts.iter().all(|p| p.matches(attributes)),
            Filter::Or(parts) => parts.iter().any(|p| p.matches(attributes)),
            Filter::Cmp { attribute, op, value } => {
                let values = attributes.get(attribute).map(Vec::as_slice).unwrap_or_default();
                let same = |v: &Value| order(v, value) == Some(Ordering::Equal);
                match op {
                    CmpOp::Ne => !values.iter().any(same),
                    CmpOp::Eq => values.iter().any(same),
                    CmpOp::Lt => values.iter().any(|v| order(v, value) == Some(Ordering::Less)),
                    CmpOp::Le => values
                        .iter()
                        .any(|v| matches!(order(v, value), Some(Ordering::Less | Ordering::Equal))),
                    CmpOp::Gt => values.iter().any(|v| order(v, value) == Some(Ordering::Greater)),
                    CmpOp::Ge => values
                        .iter()
                        .any(|v| matches!(order(v, value), Some(Ordering::Greater | Ordering::Equal))),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs(v: Value) -> BTreeMap<String, Vec<Value>> {
        v.as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_array().cloned().unwrap_or_else(|| vec![v.clone()])))
            .collect()
    }

    #[test]
    fn parses_and_matches() {
        let filterable = vec![
            "category".to_string(),
            "year".to_string(),
            "tags".to_string(),
            "new".to_string(),
        ];
        let f = |t: &str| Filter::parse(t, &filterable).unwrap().unwrap();
        let doc = attrs(json!({"category": "books", "year": 2021, "tags": ["a", "b"], "new": true}));
        assert!(f("category = 'books' && year >= 2020").matches(&doc));
        assert!(!f("category = \"films\" || year < 2021").matches(&doc));
        assert!(f("(category = 'films' || year = 2021) && new = true").matches(&doc));
        assert!(f("tags = 'b'").matches(&doc) && !f("tags != 'b'").matches(&doc));
        assert!(f("year > 2020.5 && year <= 2021").matches(&doc));
        assert!(!f("year > '2020'").matches(&doc), "no comparison across kinds");
        assert!(f("category != 'x'").matches(&attrs(json!({}))));
        assert!(Filter::parse("  ", &filterable).unwrap().is_none());
        for bad in [
            "price = 1",
            "category =",
            "category 'x'",
            "(year = 1",
            "year = 1 year = 2",
            "a $ b",
            "category = 'x",
        ] {
            let e = Filter::parse(bad, &filterable).unwrap_err().to_string();
            assert!(!e.is_empty(), "{bad}");
        }
    }
}
