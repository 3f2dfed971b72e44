//! Table and index DDL for collections.

use crate::schema::{Collection, Field, FieldKind};
use keel_sql::{ColumnType, Dialect};

/// What the column of `f` stores.
pub(crate) fn field_column_type(f: &Field) -> ColumnType {
    if f.name == "id" {
        return ColumnType::Key;
    }
    if f.is_multiple() {
        return ColumnType::Json;
    }
    match &f.kind {
        FieldKind::Number(_) => ColumnType::Number,
        FieldKind::Bool(_) => ColumnType::Bool,
        FieldKind::Json(_) => ColumnType::Json,
        _ => ColumnType::Text,
    }
}

/// The column definition of `f` (without its name).
pub(crate) fn column_type(f: &Field, d: &dyn Dialect) -> String {
    let t = field_column_type(f);
    let ty = d.column_type(t);
    if f.name == "id" {
        return format!("{ty} PRIMARY KEY NOT NULL");
    }
    if f.is_multiple() {
        return format!("{ty} NOT NULL {}", d.column_default(t, "'[]'"));
    }
    match t {
        ColumnType::Number => format!("{ty} NOT NULL {}", d.column_default(t, "0")),
        ColumnType::Bool => format!("{ty} NOT NULL {}", d.column_default(t, "FALSE")),
        ColumnType::Json => format!("{ty} DEFAULT NULL"),
        _ => format!("{ty} NOT NULL {}", d.column_default(t, "''")),
    }
}

/// `"name" TYPE` for a column.
pub(crate) fn column_def(f: &Field, d: &dyn Dialect) -> String {
    format!("{} {}", d.quote_ident(&f.name), column_type(f, d))
}

/// Everything creating a collection's table runs: the table (with the dialect's hidden
/// insertion-order column, if it needs one), the auth indexes, the collection's own indexes.
pub(crate) fn create_table(c: &Collection, d: &dyn Dialect) -> Vec<String> {
    let mut cols: Vec<String> = c.fields.iter().map(|f| column_def(f, d)).collect();
    cols.extend(d.insertion_order_column());
    let mut out = vec![format!("CREATE TABLE {} ({})", d.quote_ident(&c.name), cols.join(", "))];
    out.extend(create_indexes(c, d));
    out
}

/// The system indexes of an auth collection: each name with the statements creating it.
fn system_indexes(c: &Collection, d: &dyn Dialect) -> Vec<(String, Vec<String>)> {
    if !c.is_auth() {
        return vec![];
    }
    let email = format!("idx_email_{}", c.id);
    let token = format!("idx_tokenKey_{}", c.id);
    vec![
        (email.clone(), d.ci_unique_index(&email, &c.name, "email", true)),
        (
            token.clone(),
            vec![format!(
                "CREATE UNIQUE INDEX {} ON {} ({})",
                d.quote_ident(&token),
                d.quote_ident(&c.name),
                d.quote_ident("tokenKey")
            )],
        ),
    ]
}

/// Whether `sql` is one of the auth collection's system indexes (a unique index on exactly
/// `tokenKey` or `email`), which Keel creates itself: such a statement sent back in
/// `indexes` is not created a second time.
pub(crate) fn is_system_index(sql: &str, c: &Collection) -> bool {
    if !c.is_auth() {
        return false;
    }
    let Some(def) = parse_index(sql) else {
        return false;
    };
    let Some(end) = list_end(def.rest.trim_start()) else {
        return false;
    };
    let rest = def.rest.trim_start();
    let cols: Vec<String> = split_top_level(&rest[1..end]).into_iter().map(unquote).collect();
    def.unique && matches!(cols.as_slice(), [one] if one == "tokenKey" || one == "email")
}

/// Statements creating every index of `c` (system ones, then the collection's, as
/// [`executable_index`] makes them).
pub(crate) fn create_indexes(c: &Collection, d: &dyn Dialect) -> Vec<String> {
    let mut out: Vec<String> = system_indexes(c, d).into_iter().flat_map(|(_, sql)| sql).collect();
    out.extend(c.indexes.iter().map(|i| executable_index(i, c, d)));
    out
}

/// A collection's index statement as it runs on `d`: kept as PocketBase writes it (the
/// collection's JSON shows it unchanged), but its identifiers, often in backticks or
/// brackets, quoted by the dialect, and each column of `c` named as the dialect indexes it
/// (a prefix of long text on MySQL). A statement that does not parse runs as written.
pub(crate) fn executable_index(sql: &str, c: &Collection, d: &dyn Dialect) -> String {
    match parse_index(sql) {
        Some(def) => {
            let rest = keyed_columns(&requote(&def.rest, d), c, def.unique, d);
            let def = IndexDef { rest, ..def };
            index_sql(&def, &def.table, d)
        }
        None => sql.to_string(),
    }
}

/// `rest` (`(a, b DESC) WHERE …`, identifiers quoted) with each plain column of `c` in the
/// column list replaced by [`Dialect::index_key`]; expressions are kept as written.
fn keyed_columns(rest: &str, c: &Collection, unique: bool, d: &dyn Dialect) -> String {
    let Some(end) = list_end(rest) else {
        return rest.to_string();
    };
    let parts: Vec<String> = split_top_level(&rest[1..end])
        .into_iter()
        .map(|part| {
            let Some((name, tail)) = next_ident(part) else {
                return part.to_string();
            };
            let tail_kw = tail.trim();
            let plain =
                tail_kw.is_empty() || tail_kw.eq_ignore_ascii_case("ASC") || tail_kw.eq_ignore_ascii_case("DESC");
            match c.field(&name) {
                Some(f) if plain => {
                    let lead = &part[..part.len() - part.trim_start().len()];
                    let key = d.index_key(&d.quote_ident(&name), field_column_type(f), unique);
                    format!("{lead}{key}{tail}")
                }
                _ => part.to_string(),
            }
        })
        .collect();
    format!("({}){}", parts.join(","), &rest[end + 1..])
}

/// The index of the `)` closing the list that opens `s` (quotes and nesting respected).
fn list_end(s: &str) -> Option<usize> {
    if !s.starts_with('(') {
        return None;
    }
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for (i, ch) in s.char_indices() {
        match quote {
            Some(q) if ch == q => quote = None,
            Some(_) => {}
            None => match ch {
                '\'' | '"' | '`' => quote = Some(ch),
                '(' => depth += 1,
                ')' => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        return Some(i);
                    }
                }
                _ => {}
            },
        }
    }
    None
}

/// `s` split at the commas outside parentheses and quotes.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    let mut quote: Option<char> = None;
    for (i, ch) in s.char_indices() {
        match quote {
            Some(q) if ch == q => quote = None,
            Some(_) => {}
            None => match ch {
                '\'' | '"' | '`' => quote = Some(ch),
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                ',' if depth == 0 => {
                    out.push(&s[start..i]);
                    start = i + 1;
                }
                _ => {}
            },
        }
    }
    out.push(&s[start..]);
    out
}

/// The columns of an index's key list (`rest` as [`parse_index`] leaves it) when each key is
/// a plain column name, optionally `ASC`/`DESC` or `COLLATE …`; `None` if one is an expression.
pub(crate) fn plain_columns(rest: &str) -> Option<Vec<String>> {
    let end = list_end(rest)?;
    split_top_level(&rest[1..end])
        .into_iter()
        .map(|part| {
            let (name, tail) = next_ident(part)?;
            let tail = tail.trim();
            let words: Vec<&str> = tail.split_whitespace().collect();
            let plain = match words.as_slice() {
                [] => true,
                [w] => w.eq_ignore_ascii_case("ASC") || w.eq_ignore_ascii_case("DESC"),
                [c, _] | [c, _, _] => c.eq_ignore_ascii_case("COLLATE"),
                _ => false,
            };
            plain.then_some(name)
        })
        .collect()
}

/// Whether the index statement filters rows (`… (cols) WHERE …`: a partial index).
pub(crate) fn is_partial(def: &IndexDef) -> bool {
    match list_end(&def.rest) {
        Some(end) => strip_kw(&def.rest[end + 1..], "WHERE").is_some(),
        None => false,
    }
}

/// `rest` with each `` `ident` ``, `[ident]` or `"ident"` quoted by `d` (string literals
/// are copied as they are).
fn requote(rest: &str, d: &dyn Dialect) -> String {
    let mut out = String::with_capacity(rest.len());
    let mut chars = rest.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let close = match c {
            '`' => '`',
            '[' => ']',
            '"' => '"',
            '\'' => {
                // A string literal, with '' as an escaped quote.
                out.push(c);
                while let Some((_, n)) = chars.next() {
                    out.push(n);
                    if n == '\'' {
                        if chars.peek().map(|(_, p)| *p) == Some('\'') {
                            out.push('\'');
                            chars.next();
                        } else {
                            break;
                        }
                    }
                }
                continue;
            }
            _ => {
                out.push(c);
                continue;
            }
        };
        match rest[i + 1..].find(close) {
            Some(len) => {
                out.push_str(&d.quote_ident(&rest[i + 1..i + 1 + len]));
                while chars.peek().is_some_and(|(j, _)| *j <= i + 1 + len) {
                    chars.next();
                }
            }
            None => out.push(c),
        }
    }
    out
}

/// Statements dropping every index of `c`.
pub(crate) fn drop_indexes(c: &Collection, d: &dyn Dialect) -> Vec<String> {
    let mut names: Vec<String> = system_indexes(c, d).into_iter().map(|(n, _)| n).collect();
    names.extend(c.indexes.iter().filter_map(|i| parse_index(i).map(|p| p.name)));
    names.into_iter().map(|n| d.drop_index(&n, &c.name)).collect()
}

/// The parts of a `CREATE [UNIQUE] INDEX [IF NOT EXISTS] name ON table (...)` statement.
#[derive(Debug, PartialEq)]
pub(crate) struct IndexDef {
    pub unique: bool,
    pub name: String,
    pub table: String,
    /// Everything after the table name (`(col1, col2) WHERE ...`).
    pub rest: String,
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    for (a, b) in [('"', '"'), ('`', '`'), ('[', ']'), ('\'', '\'')] {
        if s.len() >= 2 && s.starts_with(a) && s.ends_with(b) {
            return s[1..s.len() - 1].to_string();
        }
    }
    s.to_string()
}

/// Splits off the next identifier (quoted or bare) from `s`.
fn next_ident(s: &str) -> Option<(String, &str)> {
    let s = s.trim_start();
    let first = s.chars().next()?;
    let close = match first {
        '"' => Some('"'),
        '`' => Some('`'),
        '[' => Some(']'),
        _ => None,
    };
    let end = match close {
        Some(c) => s[1..].find(c)? + 2,
        None => s
            .find(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
            .unwrap_or(s.len()),
    };
    if end == 0 {
        return None;
    }
    Some((unquote(&s[..end]), &s[end..]))
}

fn strip_kw<'a>(s: &'a str, kw: &str) -> Option<&'a str> {
    let s = s.trim_start();
    if s.len() >= kw.len() && s[..kw.len()].eq_ignore_ascii_case(kw) {
        let rest = &s[kw.len()..];
        if rest.is_empty() || rest.starts_with(|c: char| c.is_whitespace() || c == '(' || c == '"' || c == '`') {
            return Some(rest);
        }
    }
    None
}

/// Parses an index statement as PocketBase stores them; `None` when it is not one.
pub(crate) fn parse_index(sql: &str) -> Option<IndexDef> {
    let s = strip_kw(sql, "CREATE")?;
    let (unique, s) = match strip_kw(s, "UNIQUE") {
        Some(r) => (true, r),
        None => (false, s),
    };
    let s = strip_kw(s, "INDEX")?;
    let s = match strip_kw(s, "IF")
        .and_then(|r| strip_kw(r, "NOT"))
        .and_then(|r| strip_kw(r, "EXISTS"))
    {
        Some(r) => r,
        None => s,
    };
    let (name, s) = next_ident(s)?;
    let s = strip_kw(s, "ON")?;
    let (table, rest) = next_ident(s)?;
    let rest = rest.trim().to_string();
    if !rest.starts_with('(') || rest.contains(';') {
        return None;
    }
    Some(IndexDef {
        unique,
        name,
        table,
        rest,
    })
}

/// Rebuilds an index statement for `table` (used when a collection is renamed).
pub(crate) fn index_sql(def: &IndexDef, table: &str, d: &dyn Dialect) -> String {
    format!(
        "CREATE {}INDEX {} ON {} {}",
        if def.unique { "UNIQUE " } else { "" },
        d.quote_ident(&def.name),
        d.quote_ident(table),
        def.rest
    )
}

/// The columns an index names (plain identifiers inside its parentheses).
pub(crate) fn index_columns(def: &IndexDef) -> Vec<String> {
    let inner = def.rest.trim_start_matches('(');
    let inner = inner.split(')').next().unwrap_or("");
    inner
        .split(',')
        .filter_map(|part| next_ident(part).map(|(c, _)| c))
        .filter(|c| !c.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pocketbase_indexes() {
        let d = parse_index("CREATE UNIQUE INDEX `idx_abc` ON `posts` (`slug`, lang) WHERE slug != ''").unwrap();
        assert!(d.unique);
        assert_eq!(d.name, "idx_abc");
        assert_eq!(d.table, "posts");
        assert_eq!(index_columns(&d), vec!["slug", "lang"]);
        let d = parse_index("create index if not exists idx2 on \"my posts\" (title)").unwrap();
        assert_eq!(d.table, "my posts");
        assert!(parse_index("DROP TABLE x").is_none());
        assert!(parse_index("CREATE INDEX a ON b (c); DROP TABLE b").is_none());
    }

    fn posts() -> Collection {
        let mut c = Collection::default_users();
        c.name = "posts".into();
        for (name, kind) in [("slug", "text"), ("lang", "text"), ("views", "number")] {
            c.fields
                .push(serde_json::from_value(serde_json::json!({"name": name, "type": kind})).unwrap());
        }
        c
    }

    #[test]
    fn index_identifiers_are_quoted_by_the_dialect() {
        let d = &keel_sql::sqlite::SQLITE;
        assert_eq!(
            executable_index(
                "CREATE UNIQUE INDEX `idx_a` ON `posts` (`slug`, [lang]) WHERE `slug` != 'it''s `x`'",
                &posts(),
                d
            ),
            "CREATE UNIQUE INDEX \"idx_a\" ON \"posts\" (\"slug\", \"lang\") WHERE \"slug\" != 'it''s `x`'"
        );
    }

    #[test]
    fn long_text_columns_are_indexed_by_prefix_on_mysql() {
        let d = &keel_sql::mysql::MARIADB;
        assert_eq!(
            executable_index(
                "CREATE INDEX idx_b ON posts (slug DESC, views, lower(lang))",
                &posts(),
                d
            ),
            "CREATE INDEX \"idx_b\" ON \"posts\" (\"slug\"(255) DESC, \"views\", lower(lang))"
        );
        // MariaDB enforces a unique index over whole long values itself.
        assert_eq!(
            executable_index("CREATE UNIQUE INDEX idx_c ON posts (`slug`,lang)", &posts(), d),
            "CREATE UNIQUE INDEX \"idx_c\" ON \"posts\" (\"slug\",\"lang\")"
        );
        let partial = parse_index("CREATE INDEX i ON posts (slug) WHERE slug != ''").unwrap();
        assert!(is_partial(&partial));
        assert!(!is_partial(
            &parse_index("CREATE INDEX i ON posts (lower(slug))").unwrap()
        ));
    }
}
