//! The small filter language of `GET /api/collections`: comparisons of `id`, `name`, `type`,
//! `system`, `created`, `updated` with `=`, `!=`, `~` (contains, case-insensitive) and `!~`,
//! against quoted strings or `true`/`false`, combined with `&&`, `||` and parentheses.

use keel_data::Collection;

use keel_core::Error;

type Result<T> = std::result::Result<T, Error>;

/// A parsed collection filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Cmp { field: String, op: Op, value: String },
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Like,
    NotLike,
}

const FIELDS: [&str; 6] = ["id", "name", "type", "system", "created", "updated"];

fn unsupported(detail: &str) -> Error {
    Error::field(
        "filter",
        "validation_invalid_filter",
        format!(
            "Invalid filter ({detail}). Collection filters support id, name, type, system, created and updated \
             compared with =, !=, ~ or !~ to a quoted string or true/false, joined with &&, || and parentheses."
        ),
    )
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Op(Op),
    And,
    Or,
    Open,
    Close,
}

fn tokenize(s: &str) -> Result<Vec<Tok>> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let simple = match (c, next) {
            ('(', _) => Some((Tok::Open, 1)),
            (')', _) => Some((Tok::Close, 1)),
            ('&', Some('&')) => Some((Tok::And, 2)),
            ('|', Some('|')) => Some((Tok::Or, 2)),
            ('=', _) => Some((Tok::Op(Op::Eq), 1)),
            ('~', _) => Some((Tok::Op(Op::Like), 1)),
            ('!', Some('=')) => Some((Tok::Op(Op::Ne), 2)),
            ('!', Some('~')) => Some((Tok::Op(Op::NotLike), 2)),
            _ => None,
        };
        if let Some((tok, len)) = simple {
            out.push(tok);
            i += len;
            continue;
        }
        match c {
            c if c.is_whitespace() => i += 1,
            '"' | '\'' => {
                let mut v = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(unsupported("unterminated string")),
                        Some('\\') if chars.get(i + 1).is_some() => {
                            v.push(chars[i + 1]);
                            i += 2;
                        }
                        Some(&q) if q == c => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            v.push(ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(v));
            }
            c if c.is_ascii_alphanumeric() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                out.push(Tok::Ident(chars[start..i].iter().collect()));
            }
            other => return Err(unsupported(&format!("unexpected {other:?}"))),
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn or(&mut self, depth: usize) -> Result<Expr> {
        if depth > 32 {
            return Err(unsupported("too deeply nested"));
        }
        let mut left = self.and(depth)?;
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and(depth)?));
        }
        Ok(left)
    }

    fn and(&mut self, depth: usize) -> Result<Expr> {
        let mut left = self.atom(depth)?;
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            left = Expr::And(Box::new(left), Box::new(self.atom(depth)?));
        }
        Ok(left)
    }

    fn atom(&mut self, depth: usize) -> Result<Expr> {
        match self.next() {
            Some(Tok::Open) => {
                let e = self.or(depth + 1)?;
                match self.next() {
                    Some(Tok::Close) => Ok(e),
                    _ => Err(unsupported("missing ')'")),
                }
            }
            Some(Tok::Ident(field)) => {
                if !FIELDS.contains(&field.as_str()) {
                    return Err(unsupported(&format!("unknown field {field:?}")));
                }
                let Some(Tok::Op(op)) = self.next() else {
                    return Err(unsupported(&format!("expected an operator after {field:?}")));
                };
                let value = match self.next() {
                    Some(Tok::Str(v)) => v,
                    Some(Tok::Ident(v)) if v == "true" || v == "false" => v,
                    _ => return Err(unsupported(&format!("expected a quoted value after {field:?}"))),
                };
                Ok(Expr::Cmp { field, op, value })
            }
            _ => Err(unsupported("expected a comparison")),
        }
    }
}

/// Parses a collection filter.
pub fn parse(filter: &str) -> Result<Expr> {
    let mut p = Parser {
        toks: tokenize(filter)?,
        pos: 0,
    };
    let e = p.or(0)?;
    if p.pos != p.toks.len() {
        return Err(unsupported("unexpected trailing input"));
    }
    Ok(e)
}

/// Whether `c` matches the filter.
pub fn matches(e: &Expr, c: &Collection) -> bool {
    match e {
        Expr::And(a, b) => matches(a, c) && matches(b, c),
        Expr::Or(a, b) => matches(a, c) || matches(b, c),
        Expr::Cmp { field, op, value } => {
            let actual = match field.as_str() {
                "id" => c.id.clone(),
                "name" => c.name.clone(),
                "type" => if c.is_auth() { "auth" } else { "base" }.to_string(),
                "system" => c.system.to_string(),
                "created" => c.created.clone(),
                _ => c.updated.clone(),
            };
            let contains = || actual.to_lowercase().contains(&value.to_lowercase());
            match op {
                Op::Eq => actual == *value,
                Op::Ne => actual != *value,
                Op::Like => contains(),
                Op::NotLike => !contains(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_matches() {
        let users = Collection::default_users();
        let su = Collection::default_superusers();
        let e = parse(r#"type = "auth" && (name ~ "USER" || system = true)"#).unwrap();
        assert!(matches(&e, &users));
        assert!(matches(&e, &su));
        let e = parse("name != 'users'").unwrap();
        assert!(!matches(&e, &users));
        assert!(matches(&e, &su));
        for bad in [
            "listRule = ''",
            "name = ",
            "name",
            "(name = 'a'",
            "name = 'x' &&",
            "name > 'a'",
            "name = \"x",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
