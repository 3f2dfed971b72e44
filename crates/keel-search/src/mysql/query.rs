//! Keel's parsed query ([`SearchQuery`]) as MariaDB boolean-mode FULLTEXT text, never the
//! user's raw text: each included word is `+word` (the last one `+word*`, a prefix), each
//! phrase `+"w1 w2"`, each exclusion `-word` or `-"w1 w2"`. Words the index does not hold
//! (shorter than `innodb_ft_min_token_size`, or stopwords) are left out: required, they would
//! match nothing. The ranking text is the same words without `+`/`-`, so every word adds to
//! the score of each class column it is found in.

use keel_core::search::{QueryPart, SearchQuery};

use super::tables::Tokens;

/// The match text and the ranking text of `query`; `None` when nothing in it can match.
pub(super) fn boolean(query: &SearchQuery, tokens: &Tokens) -> Option<(String, String)> {
    let mut must = Vec::new();
    let mut rank = Vec::new();
    for part in &query.include {
        let term = match part {
            QueryPart::Word { word, prefix: true, .. } if !tokens.stopwords.contains(word) => format!("{word}*"),
            QueryPart::Word { word, .. } if tokens.indexed(word) => word.clone(),
            QueryPart::Word { .. } => continue,
            QueryPart::Phrase(words) => format!("\"{}\"", words.join(" ")),
        };
        must.push(format!("+{term}"));
        rank.push(term);
    }
    if must.is_empty() {
        return None;
    }
    for part in &query.exclude {
        match part {
            QueryPart::Word { word, .. } if tokens.indexed(word) => must.push(format!("-{word}")),
            QueryPart::Word { .. } => {}
            QueryPart::Phrase(words) => must.push(format!("-\"{}\"", words.join(" "))),
        }
    }
    Some((must.join(" "), rank.join(" ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_the_index_lacks_are_left_out() {
        let tokens = Tokens {
            min_chars: 3,
            stopwords: ["the".to_string(), "a".to_string()].into(),
        };
        let q = SearchQuery::parse(r#"the quick "brown fox" -a -lazy -"old dog" ju"#).unwrap();
        let (must, rank) = boolean(&q, &tokens).unwrap();
        assert_eq!(must, r#"+quick +"brown fox" +ju* -lazy -"old dog""#);
        assert_eq!(rank, r#"quick "brown fox" ju*"#);
        assert!(boolean(&SearchQuery::parse("the a").unwrap(), &tokens).is_none());
        // A last, prefix word is kept whatever its length (not a stopword).
        let (must, _) = boolean(&SearchQuery::parse("the x").unwrap(), &tokens).unwrap();
        assert_eq!(must, "+x*");
    }
}
