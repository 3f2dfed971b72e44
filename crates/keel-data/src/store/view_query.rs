//! Reading a view collection's `viewQuery` as text, before the engine sees it: the check that
//! it is one `SELECT` (no `;`-chained statements, balanced parentheses), and the columns and
//! tables it names, from which the view's field types are inferred (`store/view.rs`).
//!
//! The reading is loose, as PocketBase's: it only looks at the top level of the query (the
//! `SELECT` list, the `FROM` table and the `JOIN`ed ones; subqueries are opaque) and is not a
//! security measure. The engine decides what the query means; the view is created inside a
//! transaction and its columns are read back from the engine.

use keel_core::{Error, Result};

/// A column or table of the query: what it names (`p.title`, `posts`) and what it is called
/// (`title`, `p`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ident {
    pub original: String,
    pub alias: String,
}

/// The columns of the `SELECT` list and the tables of `FROM` and `JOIN`s (the first is the
/// main table).
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub columns: Vec<Ident>,
    pub tables: Vec<Ident>,
}

/// The `viewQuery` error of every problem with the query (PocketBase's code and wording).
pub(crate) fn invalid(reason: impl std::fmt::Display) -> Error {
    let mut reason = reason.to_string();
    if reason.len() > 500 {
        let mut cut = 500;
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        reason.truncate(cut);
    }
    Error::field(
        "viewQuery",
        "validation_invalid_view_query",
        format!("Invalid query - {reason}"),
    )
}

/// One lexical piece of the query at the top level.
#[derive(Debug, PartialEq)]
enum Piece<'a> {
    /// A word, quoted identifier, literal or parenthesized group, as written.
    Word(&'a str),
    Comma,
    Semicolon,
}

/// Splits `q` into top-level pieces: whitespace separates, quotes (`'…'`, `"…"`, `` `…` ``,
/// `[…]`) and parentheses group, comments (`--`, `/* */`) are dropped. A `;` is its own
/// piece. Errors on an unclosed quote, comment or parenthesis.
fn pieces(q: &str) -> Result<Vec<Piece<'_>>> {
    let b = q.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut start: Option<usize> = None;
    let mut depth = 0usize;
    fn flush<'a>(out: &mut Vec<Piece<'a>>, start: &mut Option<usize>, end: usize, q: &'a str) {
        if let Some(s) = start.take() {
            out.push(Piece::Word(&q[s..end]));
        }
    }
    while i < b.len() {
        let c = b[i];
        // Comments (outside quotes) end a word and vanish.
        if c == b'-' && b.get(i + 1) == Some(&b'-') {
            if depth == 0 {
                flush(&mut out, &mut start, i, q);
            }
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            if depth == 0 {
                flush(&mut out, &mut start, i, q);
            }
            match q[i + 2..].find("*/") {
                Some(n) => i += n + 4,
                None => return Err(invalid("unterminated /* comment")),
            }
            continue;
        }
        let close = match c {
            b'\'' => Some(b'\''),
            b'"' => Some(b'"'),
            b'`' => Some(b'`'),
            b'[' => Some(b']'),
            _ => None,
        };
        if let Some(close) = close {
            if start.is_none() {
                start = Some(i);
            }
            let mut j = i + 1;
            loop {
                match b.get(j) {
                    None => return Err(invalid("unterminated quote")),
                    Some(&x) if x == close => {
                        // A doubled quote is an escaped one (not for brackets).
                        if close != b']' && b.get(j + 1) == Some(&close) {
                            j += 2;
                            continue;
                        }
                        break;
                    }
                    Some(_) => j += 1,
                }
            }
            i = j + 1;
            continue;
        }
        match c {
            b'(' => {
                if start.is_none() {
                    start = Some(i);
                }
                depth += 1;
            }
            b')' => {
                depth = depth.checked_sub(1).ok_or_else(|| invalid("unbalanced parentheses"))?;
            }
            _ if depth > 0 => {}
            b',' => {
                flush(&mut out, &mut start, i, q);
                out.push(Piece::Comma);
            }
            b';' => {
                flush(&mut out, &mut start, i, q);
                out.push(Piece::Semicolon);
            }
            _ if c.is_ascii_whitespace() => flush(&mut out, &mut start, i, q),
            _ => {
                if start.is_none() {
                    start = Some(i);
                }
            }
        }
        i += 1;
    }
    if depth > 0 {
        return Err(invalid("unbalanced parentheses"));
    }
    flush(&mut out, &mut start, b.len(), q);
    Ok(out)
}

/// The query without surrounding whitespace and trailing `;`: one statement, starting with
/// `SELECT` or `WITH`. A 400 naming `viewQuery` otherwise.
pub(crate) fn normalize(q: &str) -> Result<String> {
    let q = q
        .trim()
        .trim_end_matches(|c: char| c == ';' || c.is_whitespace())
        .trim();
    if q.is_empty() {
        return Err(Error::field("viewQuery", "validation_required", "Cannot be blank."));
    }
    let pieces = pieces(q)?;
    if pieces.contains(&Piece::Semicolon) {
        return Err(invalid("multiple statements are not supported"));
    }
    let first = match pieces.first() {
        Some(Piece::Word(w)) => w.to_ascii_lowercase(),
        _ => String::new(),
    };
    if first != "select" && first != "with" {
        return Err(invalid("the view query must be a single SELECT statement"));
    }
    Ok(q.to_string())
}

/// Where the next words go.
#[derive(Clone, Copy, PartialEq)]
enum Part {
    None,
    Select,
    From,
    Join,
}

const JOIN_WORDS: &[&str] = &["left", "right", "full", "inner", "outer", "cross", "natural"];
const DISCARD_WORDS: &[&str] = &["where", "group", "having", "order", "limit", "with", "window", "union"];

/// The columns and tables of `q` (already [`normalize`]d).
pub(crate) fn parse(q: &str) -> Result<Parsed> {
    let pieces = pieces(q)?;
    // Each list holds the words of each comma-separated item.
    let mut select: Vec<Vec<&str>> = vec![vec![]];
    let mut from: Vec<Vec<&str>> = vec![vec![]];
    let mut joins: Vec<Vec<&str>> = vec![];
    let mut part = Part::None;
    let mut skip = false;
    let mut i = 0;
    while i < pieces.len() {
        let piece = &pieces[i];
        i += 1;
        let word = match piece {
            Piece::Word(w) => *w,
            Piece::Comma => {
                if !skip {
                    match part {
                        Part::Select => select.push(vec![]),
                        Part::From => from.push(vec![]),
                        Part::Join => joins.push(vec![]),
                        Part::None => {}
                    }
                }
                continue;
            }
            Piece::Semicolon => continue,
        };
        let lower = word.to_ascii_lowercase();
        match lower.as_str() {
            "select" => {
                part = Part::Select;
                skip = false;
            }
            "distinct" | "all" if part == Part::Select => {}
            "from" if part != Part::None => {
                part = Part::From;
                skip = false;
            }
            "join" => {
                part = Part::Join;
                skip = false;
                joins.push(vec![]);
            }
            w if JOIN_WORDS.contains(&w) && part != Part::None => {
                // `LEFT [OUTER] JOIN`: the words up to `join` say which kind of join.
                let mut j = i;
                while let Some(Piece::Word(n)) = pieces.get(j) {
                    let n = n.to_ascii_lowercase();
                    if JOIN_WORDS.contains(&n.as_str()) {
                        j += 1;
                    } else {
                        break;
                    }
                }
                if matches!(pieces.get(j), Some(Piece::Word(n)) if n.eq_ignore_ascii_case("join")) {
                    i = j;
                } else if !skip {
                    push_word(part, &mut select, &mut from, &mut joins, word);
                }
            }
            w if DISCARD_WORDS.contains(&w) && part != Part::None => skip = true,
            "on" | "using" if part == Part::Join => skip = true,
            _ if !skip => push_word(part, &mut select, &mut from, &mut joins, word),
            _ => {}
        }
    }
    Ok(Parsed {
        columns: idents(select)?,
        tables: idents(from.into_iter().chain(joins).collect())?,
    })
}

fn push_word<'a>(
    part: Part,
    select: &mut [Vec<&'a str>],
    from: &mut [Vec<&'a str>],
    joins: &mut [Vec<&'a str>],
    word: &'a str,
) {
    let list = match part {
        Part::Select => select,
        Part::From => from,
        Part::Join => joins,
        Part::None => return,
    };
    if let Some(last) = list.last_mut() {
        last.push(word);
    }
}

/// Each list of words (`p.title AS t`, `posts p`, `count(*) total`) as an identifier.
fn idents(items: Vec<Vec<&str>>) -> Result<Vec<Ident>> {
    let mut out = Vec::new();
    for words in items.into_iter().filter(|w| !w.is_empty()) {
        let (original, alias) = match words.as_slice() {
            [one] => {
                let alias = one.rsplit('.').next().unwrap_or(one);
                (one.to_string(), alias.to_string())
            }
            [o, a] => (o.to_string(), a.to_string()),
            [rest @ .., as_kw, a] if as_kw.eq_ignore_ascii_case("as") => (rest.join(" "), a.to_string()),
            // An expression without an alias: the engine names it; nothing to infer from.
            _ => continue,
        };
        let ident = Ident {
            original: trim_ident(&original, ""),
            alias: trim_ident(&alias, "'"),
        };
        if ident.alias == "*" {
            return Err(invalid(
                "wildcard columns (*) are not supported - manually type the collection field names you want the view query to have",
            ));
        }
        out.push(ident);
    }
    Ok(out)
}

/// `"p"."title"` → `p.title`: quotes trimmed from each dotted part.
fn trim_ident(raw: &str, extra: &str) -> String {
    raw.split('.')
        .map(|p| p.trim_matches(|c: char| "`\"[];".contains(c) || extra.contains(c)))
        .collect::<Vec<_>>()
        .join(".")
}

/// Whether `q` names `name` as a word outside string literals (case-insensitively): a view
/// whose query mentions a collection may depend on it.
pub(crate) fn mentions(q: &str, name: &str) -> bool {
    let mut word = String::new();
    let mut in_str = false;
    for c in q.chars().chain(std::iter::once(' ')) {
        if in_str {
            in_str = c != '\'';
            continue;
        }
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        if word.eq_ignore_ascii_case(name) {
            return true;
        }
        word.clear();
        in_str = c == '\'';
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(o: &str, a: &str) -> Ident {
        Ident {
            original: o.into(),
            alias: a.into(),
        }
    }

    #[test]
    fn one_select_only() {
        assert_eq!(normalize("  select 1 as id ;; ").unwrap(), "select 1 as id");
        assert!(normalize("SELECT 1; DROP TABLE users").is_err());
        assert!(normalize("SELECT 1) x; DELETE FROM users; SELECT (1").is_err());
        assert!(normalize("DELETE FROM users").is_err());
        assert!(normalize("SELECT ';' AS id, \"a;b\" FROM t -- ;\n").is_ok());
        assert!(normalize("SELECT (1 AS id").is_err());
        assert!(normalize("SELECT 'x AS id").is_err());
        assert!(normalize("WITH a AS (SELECT 1 AS id) SELECT id FROM a").is_ok());
    }

    #[test]
    fn columns_and_tables() {
        let p = parse(
            "SELECT DISTINCT p.id, p.title AS t, count(c.id) total, CAST(p.views AS REAL) AS \"v\", [p].[author]
             FROM posts p LEFT OUTER JOIN comments AS c ON c.post = p.id JOIN users u USING (id)
             WHERE p.title != 'x, y' GROUP BY p.id ORDER BY t LIMIT 5",
        )
        .unwrap();
        assert_eq!(
            p.columns,
            vec![
                id("p.id", "id"),
                id("p.title", "t"),
                id("count(c.id)", "total"),
                id("CAST(p.views AS REAL)", "v"),
                id("p.author", "author"),
            ]
        );
        assert_eq!(p.tables, vec![id("posts", "p"), id("comments", "c"), id("users", "u")]);
        assert!(parse("SELECT * FROM posts").is_err());
        assert!(parse("SELECT p.* FROM posts p").is_err());
        let p = parse("SELECT a + b AS s, CASE WHEN a THEN 1 END AS k, a + b FROM t").unwrap();
        assert_eq!(p.columns, vec![id("a + b", "s"), id("CASE WHEN a THEN 1 END", "k")]);
    }

    #[test]
    fn mentions_words_outside_strings() {
        assert!(mentions("SELECT id FROM Posts p", "posts"));
        assert!(!mentions("SELECT id FROM posts_archive", "posts"));
        assert!(!mentions("SELECT 'posts' AS id FROM t", "posts"));
    }
}
