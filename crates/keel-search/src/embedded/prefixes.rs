//! The short prefixes of every word, and the word itself, as terms: what a search-as-you-type
//! prefix is looked up in (`p_<field>`, documents only, no positions).
//!
//! A prefix of up to [`MAX_PREFIX_CHARS`] characters is thus one term whose postings are
//! exactly the documents with a word starting with it; a longer one is the union of the
//! whole words starting with it, few by then (Meilisearch keeps postings of prefixes up to 4
//! characters the same way). Expanding a short prefix to its words instead unions many
//! posting lists per query (1M documents: 1,154 queries/s where the prefix terms give
//! 1,597), and capping that expansion to the commonest few makes what a caller's records
//! match depend on the words of records the caller cannot read (an oracle into them: see
//! docs/search.md, "Access rules"). Prefixes of every length nearly halved indexing
//! throughput.

use tantivy::tokenizer::{
    LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer, Token, TokenFilter, TokenStream, Tokenizer,
};

/// Longest prefix (in characters) indexed as a term of its own.
pub(crate) const MAX_PREFIX_CHARS: usize = 4;

/// The analyzer of the prefix fields: words (as [`super::index::analyzer`], not stemmed),
/// lowercased, each given as its prefixes of up to [`MAX_PREFIX_CHARS`] characters and
/// itself (`foxes` → `f`, `fo`, `fox`, `foxe`, `foxes`).
pub(crate) fn prefix_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(EdgePrefixes)
        .build()
}

/// The word of a query's search-as-you-type prefix as the prefix fields hold it (lowercased,
/// the first word when it splits); `None` when it has none.
pub(crate) fn prefix_term(raw: &str) -> Option<String> {
    let mut a = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .build();
    let mut ts = a.token_stream(raw);
    ts.advance().then(|| ts.token().text.clone())
}

/// A token filter giving each token as its prefixes of up to [`MAX_PREFIX_CHARS`] characters
/// and then itself, shortest first.
#[derive(Clone)]
pub(crate) struct EdgePrefixes;

impl TokenFilter for EdgePrefixes {
    type Tokenizer<T: Tokenizer> = EdgePrefixesFilter<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> EdgePrefixesFilter<T> {
        EdgePrefixesFilter { inner: tokenizer }
    }
}

#[derive(Clone)]
pub(crate) struct EdgePrefixesFilter<T> {
    inner: T,
}

impl<T: Tokenizer> Tokenizer for EdgePrefixesFilter<T> {
    type TokenStream<'a> = EdgePrefixesStream<T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        EdgePrefixesStream {
            tail: self.inner.token_stream(text),
            word: String::new(),
            next: 0,
            given: 0,
            token: Token::default(),
        }
    }
}

pub(crate) struct EdgePrefixesStream<S> {
    tail: S,
    /// The word whose prefixes are being given.
    word: String,
    /// Where the next prefix ends (a byte offset into `word`); past its end when done.
    next: usize,
    /// Prefixes of `word` given so far.
    given: usize,
    token: Token,
}

impl<S: TokenStream> EdgePrefixesStream<S> {
    /// The end of the character starting at byte `at` of the word.
    fn char_end(&self, at: usize) -> usize {
        at + self.word[at..].chars().next().map_or(1, char::len_utf8)
    }
}

impl<S: TokenStream> TokenStream for EdgePrefixesStream<S> {
    fn advance(&mut self) -> bool {
        while self.next > self.word.len() || self.word.is_empty() {
            if !self.tail.advance() {
                return false;
            }
            let t = self.tail.token();
            self.word.clear();
            self.word.push_str(&t.text);
            self.token.clone_from(t);
            self.next = if self.word.is_empty() { 1 } else { self.char_end(0) };
            self.given = 0;
        }
        self.token.text.clear();
        self.token.text.push_str(&self.word[..self.next]);
        self.given += 1;
        self.next = if self.next == self.word.len() {
            self.next + 1
        } else if self.given == MAX_PREFIX_CHARS {
            // Then the whole word.
            self.word.len()
        } else {
            self.char_end(self.next)
        };
        true
    }

    fn token(&self) -> &Token {
        &self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<String> {
        let mut a = prefix_analyzer();
        let mut ts = a.token_stream(text);
        let mut out = Vec::new();
        while ts.advance() {
            out.push(ts.token().text.clone());
        }
        out
    }

    #[test]
    fn every_word_gives_each_of_its_prefixes_lowercased() {
        assert_eq!(terms("Fox, é-Ça"), ["f", "fo", "fox", "é", "ç", "ça"]);
        assert_eq!(terms("Foxes"), ["f", "fo", "fox", "foxe", "foxes"]);
        assert_eq!(terms("Stoundel"), ["s", "st", "sto", "stou", "stoundel"]);
        assert_eq!(terms(""), Vec::<String>::new());
        assert_eq!(prefix_term("Quic"), Some("quic".to_string()));
        assert_eq!(prefix_term("  "), None);
    }
}
