//! Recursive-descent parser: `||` of `&&` of comparisons or parenthesised groups.
//! Nesting depth and input length are bounded so hostile input cannot exhaust the stack.

use super::ast::{Cmp, Expr, Macro, Modifier, Operand, Path, Root};
use super::invalid;
use super::lexer::{tokenize, Tok, Token};

/// Longest accepted expression, in bytes.
pub const MAX_LEN: usize = 64 * 1024;
/// Deepest accepted parenthesis nesting.
pub const MAX_DEPTH: usize = 50;
/// Most comparisons in one expression.
pub const MAX_COMPARISONS: usize = 2000;
/// Most dotted parts in one identifier.
pub const MAX_SEGMENTS: usize = 12;

/// Parses `src`; errors are 400s on `field`. An empty expression (or one holding only
/// comments) parses to `Expr::And(vec![])`, which is true.
pub fn parse_expr(src: &str, field: &str) -> keel_core::Result<Expr> {
    if src.len() > MAX_LEN {
        return Err(invalid(
            field,
            0,
            &format!("the expression is longer than {MAX_LEN} bytes"),
        ));
    }
    let tokens = tokenize(src, field)?;
    let end = src.chars().count();
    let mut p = Parser {
        tokens,
        i: 0,
        field,
        end,
        comparisons: 0,
    };
    if p.tokens.is_empty() {
        return Ok(Expr::And(vec![]));
    }
    let expr = p.or(0)?;
    if let Some(t) = p.peek() {
        return Err(invalid(
            field,
            t.pos,
            "expected '&&', '||' or the end of the expression",
        ));
    }
    Ok(expr)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    i: usize,
    field: &'a str,
    end: usize,
    comparisons: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.i)
    }

    fn pos(&self) -> usize {
        self.peek().map_or(self.end, |t| t.pos)
    }

    fn err(&self, what: &str) -> keel_core::Error {
        invalid(self.field, self.pos(), what)
    }

    fn or(&mut self, depth: usize) -> keel_core::Result<Expr> {
        let mut parts = vec![self.and(depth)?];
        while self.peek().is_some_and(|t| t.tok == Tok::Or) {
            self.i += 1;
            parts.push(self.and(depth)?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::Or(parts)
        })
    }

    fn and(&mut self, depth: usize) -> keel_core::Result<Expr> {
        let mut parts = vec![self.primary(depth)?];
        while self.peek().is_some_and(|t| t.tok == Tok::And) {
            self.i += 1;
            parts.push(self.primary(depth)?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::And(parts)
        })
    }

    fn primary(&mut self, depth: usize) -> keel_core::Result<Expr> {
        if self.peek().is_some_and(|t| t.tok == Tok::LParen) {
            if depth >= MAX_DEPTH {
                return Err(self.err(&format!("parentheses nested deeper than {MAX_DEPTH}")));
            }
            self.i += 1;
            let inner = self.or(depth + 1)?;
            if !self.peek().is_some_and(|t| t.tok == Tok::RParen) {
                return Err(self.err("expected ')'"));
            }
            self.i += 1;
            return Ok(inner);
        }
        let left = self.operand()?;
        let (op, any, pos) = match self.peek() {
            Some(Token {
                tok: Tok::Op(op, any),
                pos,
            }) => (*op, *any, *pos),
            _ => return Err(self.err("expected an operator (=, !=, >, >=, <, <=, ~, !~ or their ? forms)")),
        };
        self.i += 1;
        let right = self.operand()?;
        self.comparisons += 1;
        if self.comparisons > MAX_COMPARISONS {
            return Err(invalid(
                self.field,
                pos,
                &format!("more than {MAX_COMPARISONS} comparisons"),
            ));
        }
        Ok(Expr::Cmp(Box::new(Cmp {
            left,
            op,
            any,
            right,
            pos,
        })))
    }

    fn operand(&mut self) -> keel_core::Result<Operand> {
        let Some(t) = self.peek().cloned() else {
            return Err(self.err("expected an operand, found the end of the expression"));
        };
        let operand = match t.tok {
            Tok::Str(s) => Operand::Str(s),
            Tok::Num(n) => parse_number(&n).ok_or_else(|| invalid(self.field, t.pos, "invalid number"))?,
            Tok::Ident(id) => match id.to_ascii_lowercase().as_str() {
                "true" => Operand::Bool(true),
                "false" => Operand::Bool(false),
                "null" => Operand::Null,
                _ => Operand::Path(parse_path(&id, t.pos, self.field)?),
            },
            _ => return Err(self.err("expected an operand (a field, a quoted string, a number, true, false or null)")),
        };
        self.i += 1;
        Ok(operand)
    }
}

fn parse_number(n: &str) -> Option<Operand> {
    if let Ok(i) = n.parse::<i64>() {
        return Some(Operand::Int(i));
    }
    n.parse::<f64>().ok().filter(|f| f.is_finite()).map(Operand::Float)
}

fn is_word(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Splits an identifier into root, segments and modifier.
fn parse_path(raw: &str, pos: usize, field: &str) -> keel_core::Result<Path> {
    let bad = |what: &str| invalid(field, pos, &format!("{what} in {raw:?}"));
    let mut parts: Vec<&str> = raw.split('.').collect();
    if parts.len() > MAX_SEGMENTS {
        return Err(bad("too many parts"));
    }
    // The modifier is on the last part: `tags:length`.
    let mut modifier = None;
    if let Some(last) = parts.last_mut() {
        if let Some((name, m)) = last.split_once(':') {
            modifier = Some(match m {
                "isset" => Modifier::Isset,
                "length" => Modifier::Length,
                "each" => Modifier::Each,
                "lower" => Modifier::Lower,
                _ => return Err(bad(&format!("unknown modifier ':{m}'"))),
            });
            *last = name;
        }
    }
    let first = parts[0];
    let (root, rest): (Root, &[&str]) = if let Some(name) = first.strip_prefix('@') {
        match name {
            "request" => {
                let kind = parts.get(1).copied().unwrap_or("");
                let root = match kind {
                    "auth" => Root::Auth,
                    "body" | "data" => Root::Body,
                    "query" => Root::Query,
                    "headers" => Root::Headers,
                    "method" => Root::Method,
                    "context" => Root::Context,
                    _ => {
                        return Err(bad(
                            "expected auth, body, query, headers, method or context after @request",
                        ))
                    }
                };
                let rest = &parts[2..];
                let scalar = matches!(root, Root::Method | Root::Context);
                if scalar != rest.is_empty() {
                    return Err(bad(if scalar {
                        "unexpected field"
                    } else {
                        "expected a field name"
                    }));
                }
                (root, rest)
            }
            "collection" => {
                if parts.len() < 3 {
                    return Err(bad("expected @collection.<name>.<field>"));
                }
                let (name, alias) = match parts[1].split_once(':') {
                    Some((n, a)) => (n, Some(a)),
                    None => (parts[1], None),
                };
                if !is_word(name) || alias.is_some_and(|a| !is_word(a)) {
                    return Err(bad("invalid collection name or alias"));
                }
                (
                    Root::Collection {
                        name: name.into(),
                        alias: alias.map(Into::into),
                    },
                    &parts[2..],
                )
            }
            _ => match Macro::from_name(name) {
                Some(m) if parts.len() == 1 => (Root::Macro(m), &[][..]),
                Some(_) => return Err(bad("unexpected field after a macro")),
                None => return Err(bad(&format!("unknown macro '@{name}'"))),
            },
        }
    } else {
        (Root::Field, &parts[..])
    };
    if let Some(s) = rest.iter().find(|s| !is_word(s)) {
        return Err(bad(&format!("invalid name {s:?}")));
    }
    let segments = rest.iter().map(|s| (*s).to_string()).collect();
    Ok(Path {
        root,
        segments,
        modifier,
        pos,
        raw: raw.to_string(),
    })
}
