//! Keel's search syntax, the same on every provider: words in any order (all must match),
//! `"a phrase"`, `-word` or `-"a phrase"` to exclude, the last word also as a prefix
//! (search-as-you-type), one typo allowed in words of [`FUZZY_MIN_CHARS`]+ characters.
//!
//! Words are runs of letters and digits, lowercased; other characters separate them. A bare
//! token holding several words (`e-mail`, `v1.2`) is a phrase of them.

use crate::{Error, Result};

/// Words this long (in characters) or longer also match with one edit.
pub const FUZZY_MIN_CHARS: usize = 5;
/// The longest query, in characters.
pub const MAX_QUERY_CHARS: usize = 512;
/// The most words and phrases in one query.
pub const MAX_QUERY_PARTS: usize = 32;

/// A word or a phrase of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryPart {
    /// One word (lowercase); `prefix` for the query's last word, `fuzzy` for one allowed edit.
    Word { word: String, prefix: bool, fuzzy: bool },
    /// Two or more words, adjacent and in this order.
    Phrase(Vec<String>),
}

/// A parsed query: what must match, what must not.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SearchQuery {
    pub include: Vec<QueryPart>,
    pub exclude: Vec<QueryPart>,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::field("search", "validation_invalid_search", message)
}

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn part(mut ws: Vec<String>, quoted: bool) -> Option<QueryPart> {
    match ws.len() {
        0 => None,
        1 => {
            let word = ws.remove(0);
            let fuzzy = !quoted && word.chars().count() >= FUZZY_MIN_CHARS;
            Some(QueryPart::Word {
                word,
                prefix: false,
                fuzzy,
            })
        }
        _ => Some(QueryPart::Phrase(ws)),
    }
}

impl SearchQuery {
    /// Parses `text`. Nothing to search (blank) gives an empty query; a query of exclusions
    /// only, or one too long, is a 400 naming `search`.
    pub fn parse(text: &str) -> Result<SearchQuery> {
        if text.chars().count() > MAX_QUERY_CHARS {
            return Err(invalid(format!(
                "The search is too long: at most {MAX_QUERY_CHARS} characters."
            )));
        }
        let mut q = SearchQuery::default();
        // (part, excluded, a bare word that may become the prefix)
        let mut parts: Vec<(QueryPart, bool, bool)> = Vec::new();
        let mut chars = text.chars().peekable();
        loop {
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            let Some(&first) = chars.peek() else { break };
            let mut excluded = false;
            if first == '-' {
                chars.next();
                match chars.peek() {
                    Some(c) if !c.is_whitespace() => excluded = true,
                    _ => continue,
                }
            }
            if chars.next_if_eq(&'"').is_some() {
                let inner: String = chars.by_ref().take_while(|c| *c != '"').collect();
                if let Some(p) = part(words(&inner), true) {
                    parts.push((p, excluded, false));
                }
            } else {
                let mut token = String::new();
                while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != '"') {
                    token.push(c);
                }
                if let Some(p) = part(words(&token), false) {
                    parts.push((p, excluded, true));
                }
            }
        }
        if parts.len() > MAX_QUERY_PARTS {
            return Err(invalid(format!(
                "The search has too many words: at most {MAX_QUERY_PARTS} words and phrases."
            )));
        }
        let ends_with_word = parts.last().is_some_and(|(_, ex, bare)| !ex && *bare);
        let n = parts.len();
        for (i, (mut p, excluded, _)) in parts.into_iter().enumerate() {
            if excluded {
                q.exclude.push(p);
                continue;
            }
            if i + 1 == n && ends_with_word {
                if let QueryPart::Word { prefix, .. } = &mut p {
                    *prefix = true;
                }
            }
            q.include.push(p);
        }
        if q.include.is_empty() && !q.exclude.is_empty() {
            return Err(invalid(
                "The search only excludes words: add at least one word to find.",
            ));
        }
        Ok(q)
    }

    /// Whether there is nothing to search for.
    pub fn is_empty(&self) -> bool {
        self.include.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(w: &str, prefix: bool, fuzzy: bool) -> QueryPart {
        QueryPart::Word {
            word: w.into(),
            prefix,
            fuzzy,
        }
    }

    #[test]
    fn parses_words_phrases_exclusions_and_prefix() {
        let q = SearchQuery::parse(r#"Quick "Brown fox" -lazy -"old dog" jum"#).unwrap();
        assert_eq!(
            q.include,
            vec![
                word("quick", false, true),
                QueryPart::Phrase(vec!["brown".into(), "fox".into()]),
                word("jum", true, false),
            ]
        );
        assert_eq!(
            q.exclude,
            vec![
                word("lazy", false, false),
                QueryPart::Phrase(vec!["old".into(), "dog".into()])
            ]
        );
        // A quoted last word is exact; a dashed token is a phrase; a lone dash is nothing.
        let q = SearchQuery::parse(r#"e-mail - "fox""#).unwrap();
        assert_eq!(
            q.include,
            vec![
                QueryPart::Phrase(vec!["e".into(), "mail".into()]),
                word("fox", false, false)
            ]
        );
        assert!(SearchQuery::parse("  ").unwrap().is_empty());
        assert!(SearchQuery::parse("-fox").is_err());
        assert!(SearchQuery::parse(&"a ".repeat(40)).is_err());
        assert!(SearchQuery::parse(&"a".repeat(600)).is_err());
        // An unterminated quote runs to the end.
        let q = SearchQuery::parse(r#""quick brown"#).unwrap();
        assert_eq!(q.include, vec![QueryPart::Phrase(vec!["quick".into(), "brown".into()])]);
    }
}
