//! Splits an expression into tokens, each with its character position.

use super::ast::Op;
use super::invalid;

/// One token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// An identifier: field path, `@request.…`, `@collection.…`, macro, `true`/`false`/`null`.
    Ident(String),
    /// A quoted string with its escaped quotes resolved.
    Str(String),
    /// A number as written (`-12`, `3.5`).
    Num(String),
    /// A comparison operator; `bool` is the `?` (any-of) prefix.
    Op(Op, bool),
    And,
    Or,
    LParen,
    RParen,
}

/// A token and where it starts (character index).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: usize,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '@'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '@')
}

/// Tokenizes `src`. Errors name the character position and what was wrong.
pub(crate) fn tokenize(src: &str, field: &str) -> keel_core::Result<Vec<Token>> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        let tok = match c {
            '(' => {
                i += 1;
                Tok::LParen
            }
            ')' => {
                i += 1;
                Tok::RParen
            }
            '&' if next == Some('&') => {
                i += 2;
                Tok::And
            }
            '|' if next == Some('|') => {
                i += 2;
                Tok::Or
            }
            '\'' | '"' => {
                let (s, end) = scan_string(&chars, i).ok_or_else(|| invalid(field, start, "unterminated string"))?;
                i = end;
                Tok::Str(s)
            }
            '-' if next.is_some_and(|n| n.is_ascii_digit()) => {
                i += 1;
                let (n, end) = scan_number(&chars, i);
                i = end;
                Tok::Num(format!("-{n}"))
            }
            c if c.is_ascii_digit() => {
                let (n, end) = scan_number(&chars, i);
                i = end;
                Tok::Num(n)
            }
            c if is_ident_start(c) => {
                while i < chars.len() && is_ident_char(chars[i]) {
                    i += 1;
                }
                Tok::Ident(chars[start..i].iter().collect())
            }
            '?' => {
                let (op, len) =
                    scan_op(&chars, i + 1).ok_or_else(|| invalid(field, start, "expected an operator after '?'"))?;
                i += 1 + len;
                Tok::Op(op, true)
            }
            _ => {
                let (op, len) =
                    scan_op(&chars, i).ok_or_else(|| invalid(field, start, &format!("unexpected character {c:?}")))?;
                i += len;
                Tok::Op(op, false)
            }
        };
        out.push(Token { tok, pos: start });
    }
    Ok(out)
}

/// Scans a quoted string starting at the quote `chars[start]`. Like PocketBase, a backslash
/// escapes only the enclosing quote; any other backslash is kept as written.
fn scan_string(chars: &[char], start: usize) -> Option<(String, usize)> {
    let quote = chars[start];
    let mut s = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && chars.get(i + 1) == Some(&quote) {
            s.push(quote);
            i += 2;
            continue;
        }
        if c == quote {
            return Some((s, i + 1));
        }
        s.push(c);
        i += 1;
    }
    None
}

/// Scans `digits[.digits]` from `start`.
fn scan_number(chars: &[char], start: usize) -> (String, usize) {
    let mut i = start;
    while i < chars.len() && chars[i].is_ascii_digit() {
        i += 1;
    }
    if chars.get(i) == Some(&'.') && chars.get(i + 1).is_some_and(|c| c.is_ascii_digit()) {
        i += 1;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
    }
    (chars[start..i].iter().collect(), i)
}

/// Scans a comparison operator at `i`; returns it and its length.
fn scan_op(chars: &[char], i: usize) -> Option<(Op, usize)> {
    let c = *chars.get(i)?;
    let next = chars.get(i + 1).copied();
    Some(match (c, next) {
        ('!', Some('=')) => (Op::Neq, 2),
        ('!', Some('~')) => (Op::NotLike, 2),
        ('>', Some('=')) => (Op::Gte, 2),
        ('<', Some('=')) => (Op::Lte, 2),
        ('=', _) => (Op::Eq, 1),
        ('>', _) => (Op::Gt, 1),
        ('<', _) => (Op::Lt, 1),
        ('~', _) => (Op::Like, 1),
        _ => return None,
    })
}
