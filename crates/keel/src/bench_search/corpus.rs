//! The documents and queries of `keel bench search`, generated deterministically so every
//! engine (and every run) sees the same ones.
//!
//! - **Vocabulary**: 5,000 words ranked by frequency: the 32 commonest English function
//!   words (`the`, `of`, `and`, …) first, then made-up words of one to three syllables
//!   (`brai`, `stoundel`, …), shorter ones ranked commoner. Every word is lowercase ASCII
//!   letters.
//! - **Frequencies**: Zipf-like, the word of rank r drawn with weight 1/r, so a handful of
//!   words are in most documents and most words are rare — queries have a realistic spread of
//!   selectivity.
//! - **Document i**: a title of 3–8 words and a body (one paragraph) of 20–60 words, both
//!   drawn from a generator seeded by i alone, so document i is the same on every engine and
//!   can be made again to pick a phrase from it.
//! - **Queries**, each also in SQLite FTS5's `MATCH` syntax, drawing their words by the same
//!   frequencies but without the 50 commonest (a searcher seldom types `the`):
//!   `words` (1–3 words), `prefix` (0–2 words then the first 3–5 letters of a word),
//!   `phrase` (two adjacent words of a random document's body, neither among those 50, in
//!   quotes), `typo` (a word of
//!   6+ letters with one letter changed, after 0–1 words).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Words in the vocabulary.
const VOCABULARY: usize = 5_000;
/// The commonest ranks, real English.
const FUNCTION_WORDS: [&str; 32] = [
    "the", "of", "and", "to", "a", "in", "is", "it", "that", "for", "on", "was", "with", "as", "by", "at", "from",
    "this", "be", "or", "an", "are", "not", "but", "which", "have", "one", "all", "were", "their", "has", "they",
];
/// Queries draw no word among this many commonest.
const QUERY_SKIP: usize = 50;
const ONSETS: [&str; 30] = [
    "b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "br", "cl", "cr", "dr", "fl", "gr",
    "pl", "pr", "sh", "sl", "st", "th", "tr", "ch",
];
const VOWELS: [&str; 10] = ["a", "e", "i", "o", "u", "ai", "ea", "ee", "oa", "ou"];
const CODAS: [&str; 14] = ["", "", "", "n", "r", "s", "l", "t", "m", "nd", "st", "ng", "ck", "rt"];
/// Fixed seeds: the vocabulary and the documents never change between runs.
const VOCABULARY_SEED: u64 = 0x6b65_656c_766f_6361;
const DOCUMENT_SEED: u64 = 0x6b65_656c_646f_6373;

/// One generated document.
pub struct Doc {
    pub title: String,
    pub body: String,
}

/// What a query exercises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Words,
    Prefix,
    Phrase,
    Typo,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Words, Kind::Prefix, Kind::Phrase, Kind::Typo];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Words => "words",
            Kind::Prefix => "prefix",
            Kind::Phrase => "phrase",
            Kind::Typo => "typo",
        }
    }
}

/// One query: in Keel's search syntax and in FTS5's `MATCH` syntax.
#[derive(Debug, Clone)]
pub struct BenchQuery {
    pub keel: String,
    pub fts5: String,
}

/// The vocabulary with its cumulative frequencies.
pub struct Corpus {
    words: Vec<String>,
    /// `cdf[r]`: the share of draws of rank r or commoner (the last is 1).
    cdf: Vec<f64>,
    /// The [`QUERY_SKIP`] commonest words.
    common: std::collections::HashSet<String>,
}

impl Default for Corpus {
    fn default() -> Self {
        Corpus::new()
    }
}

fn made_up_word(rng: &mut StdRng) -> String {
    let syllables = match rng.random_range(0..4) {
        0 => 1,
        3 => 3,
        _ => 2,
    };
    let mut w = String::new();
    for _ in 0..syllables {
        w.push_str(ONSETS[rng.random_range(0..ONSETS.len())]);
        w.push_str(VOWELS[rng.random_range(0..VOWELS.len())]);
        w.push_str(CODAS[rng.random_range(0..CODAS.len())]);
    }
    w
}

fn capitalised(words: &[&str]) -> String {
    let mut s = words.join(" ");
    if let Some(first) = s.get(..1) {
        let upper = first.to_ascii_uppercase();
        s.replace_range(..1, &upper);
    }
    s
}

/// A generator for document `i`'s words.
fn document_rng(i: u64) -> StdRng {
    StdRng::seed_from_u64(DOCUMENT_SEED ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

impl Corpus {
    pub fn new() -> Corpus {
        let mut rng = StdRng::seed_from_u64(VOCABULARY_SEED);
        let mut seen: std::collections::HashSet<String> = FUNCTION_WORDS.iter().map(|w| w.to_string()).collect();
        let mut made = Vec::with_capacity(VOCABULARY);
        while FUNCTION_WORDS.len() + made.len() < VOCABULARY {
            let w = made_up_word(&mut rng);
            if seen.insert(w.clone()) {
                made.push(w);
            }
        }
        // Shorter words are commoner (a stable sort keeps the draw order within a length).
        made.sort_by_key(String::len);
        let words: Vec<String> = FUNCTION_WORDS.iter().map(|w| w.to_string()).chain(made).collect();
        let mut cdf = Vec::with_capacity(words.len());
        let mut sum = 0.0;
        for r in 0..words.len() {
            sum += 1.0 / (r + 1) as f64;
            cdf.push(sum);
        }
        for c in &mut cdf {
            *c /= sum;
        }
        let common = words[..QUERY_SKIP].iter().cloned().collect();
        Corpus { words, cdf, common }
    }

    /// A word drawn by frequency among the ranks whose cumulative share is at least `from`.
    fn draw(&self, rng: &mut StdRng, from: f64) -> &str {
        let u = rng.random_range(from..1.0);
        let r = self.cdf.partition_point(|c| *c <= u).min(self.words.len() - 1);
        &self.words[r]
    }

    fn word(&self, rng: &mut StdRng) -> &str {
        self.draw(rng, 0.0)
    }

    fn query_word(&self, rng: &mut StdRng) -> &str {
        self.draw(rng, self.cdf[QUERY_SKIP - 1])
    }

    /// A query word of at least `min` letters (the likeliest one of up to 100 draws).
    fn query_word_of(&self, rng: &mut StdRng, min: usize) -> &str {
        let mut w = self.query_word(rng);
        for _ in 0..100 {
            if w.len() >= min {
                break;
            }
            w = self.query_word(rng);
        }
        w
    }

    fn body_words(&self, rng: &mut StdRng) -> Vec<&str> {
        let n = rng.random_range(20..=60);
        (0..n).map(|_| self.word(rng)).collect()
    }

    /// Document `i`.
    pub fn document(&self, i: u64) -> Doc {
        let mut rng = document_rng(i);
        let n = rng.random_range(3..=8);
        let title: Vec<&str> = (0..n).map(|_| self.word(&mut rng)).collect();
        let body = self.body_words(&mut rng);
        Doc {
            title: capitalised(&title),
            body: format!("{}.", capitalised(&body)),
        }
    }

    /// Two adjacent words of document `i`'s body, neither among the commonest (or, in a
    /// document without such a pair, of the next one of the `docs` that has one).
    fn phrase_of(&self, i: u64, docs: u64, rng: &mut StdRng) -> (String, String) {
        let mut any = None;
        for k in 0..100 {
            let mut doc = document_rng((i + k) % docs.max(1));
            let n = doc.random_range(3..=8);
            for _ in 0..n {
                self.word(&mut doc);
            }
            let body = self.body_words(&mut doc);
            let pairs: Vec<(&str, &str)> = body
                .windows(2)
                .map(|w| (w[0], w[1]))
                .filter(|(a, b)| !self.common.contains(*a) && !self.common.contains(*b))
                .collect();
            if !pairs.is_empty() {
                let (a, b) = pairs[rng.random_range(0..pairs.len())];
                return (a.to_string(), b.to_string());
            }
            any.get_or_insert((body[0].to_string(), body[1].to_string()));
        }
        any.unwrap_or_default()
    }

    /// A query of `kind` over a corpus of `docs` documents.
    pub fn query(&self, rng: &mut StdRng, kind: Kind, docs: u64) -> BenchQuery {
        let quoted = |ws: &[String]| ws.iter().map(|w| format!("\"{w}\"")).collect::<Vec<_>>();
        // Keel's last plain word is also a prefix: FTS5 gets `*` on it.
        let plain = |ws: Vec<String>| {
            let mut fts = quoted(&ws);
            if let Some(last) = fts.last_mut() {
                last.push('*');
            }
            BenchQuery {
                keel: ws.join(" "),
                fts5: fts.join(" "),
            }
        };
        match kind {
            Kind::Words => {
                let n = rng.random_range(1..=3);
                let ws = (0..n).map(|_| self.query_word(rng).to_string()).collect();
                plain(ws)
            }
            Kind::Prefix => {
                let n = rng.random_range(0..=2);
                let mut ws: Vec<String> = (0..n).map(|_| self.query_word(rng).to_string()).collect();
                let w = self.query_word_of(rng, 4);
                let len = rng.random_range(3..=5).min(w.len().saturating_sub(1)).max(1);
                ws.push(w[..len].to_string());
                plain(ws)
            }
            Kind::Phrase => {
                let (a, b) = self.phrase_of(rng.random_range(0..docs.max(1)), docs, rng);
                BenchQuery {
                    keel: format!("\"{a} {b}\""),
                    fts5: format!("\"{a} {b}\""),
                }
            }
            Kind::Typo => {
                let mut ws: Vec<String> = Vec::new();
                if rng.random_bool(0.5) {
                    ws.push(self.query_word(rng).to_string());
                }
                let mut w = self.query_word_of(rng, 6).as_bytes().to_vec();
                let at = if w.len() > 1 { rng.random_range(1..w.len()) } else { 0 };
                let mut c = b'a' + rng.random_range(0..26u8);
                if c == w[at] {
                    c = if c == b'z' { b'a' } else { c + 1 };
                }
                w[at] = c;
                ws.push(String::from_utf8_lossy(&w).into_owned());
                plain(ws)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_the_same_each_time_and_within_their_sizes() {
        let (a, b) = (Corpus::new(), Corpus::new());
        for i in [0, 1, 999_999] {
            let (x, y) = (a.document(i), b.document(i));
            assert_eq!((x.title.as_str(), x.body.as_str()), (y.title.as_str(), y.body.as_str()));
            assert!((3..=8).contains(&x.title.split(' ').count()), "{}", x.title);
            assert!((20..=60).contains(&x.body.split(' ').count()), "{}", x.body);
        }
        assert_ne!(a.document(0).body, a.document(1).body);
    }

    #[test]
    fn common_words_are_common_and_queries_skip_them() {
        let c = Corpus::new();
        assert_eq!(c.words.len(), VOCABULARY);
        let mut rng = StdRng::seed_from_u64(1);
        let the = (0..10_000).filter(|_| c.word(&mut rng) == "the").count();
        // 1 / H(5000) ≈ 11 %.
        assert!((800..1400).contains(&the), "{the}");
        let skipped: std::collections::HashSet<&str> = c.words[..QUERY_SKIP].iter().map(String::as_str).collect();
        for kind in Kind::ALL {
            for _ in 0..200 {
                let q = c.query(&mut rng, kind, 1000);
                let mut words: Vec<&str> = q.keel.trim_matches('"').split(' ').collect();
                if matches!(kind, Kind::Prefix | Kind::Typo) {
                    // A prefix, or a word with a typo, may happen to be a common word.
                    words.pop();
                }
                assert!(words.iter().all(|w| !skipped.contains(w)), "{q:?}");
                assert!(keel_core::search::SearchQuery::parse(&q.keel).is_ok_and(|p| !p.include.is_empty()));
            }
        }
    }

    #[test]
    fn a_phrase_is_two_adjacent_words_of_a_document() {
        let c = Corpus::new();
        let mut rng = StdRng::seed_from_u64(2);
        for _ in 0..50 {
            let q = c.query(&mut rng, Kind::Phrase, 100);
            let inner = q.keel.trim_matches('"');
            let found = (0..100).any(|i| c.document(i).body.to_lowercase().contains(inner));
            assert!(found, "{q:?}");
        }
    }
}
