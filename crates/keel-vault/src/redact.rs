//! Secret values taken out of text: every occurrence replaced by `***`.
//!
//! A run hands the values of the secrets it read to a [`Redactor`] and passes its output, step
//! logs and errors through it; [`StreamRedactor`] does the same for output arriving in chunks,
//! holding back only as many trailing bytes as could begin a value split across two chunks.

use std::borrow::Cow;

use aho_corasick::{AhoCorasick, MatchKind};

/// Values shorter than this are not redacted (a 2-character password would turn every
/// occurrence of those letters in a log into `***`). Documented in docs/vault.md.
pub const MIN_REDACTED_LEN: usize = 4;

/// Lines of a multi-line value (a private key) at least this long are redacted on their own
/// too, since output often reflows such a value.
const MIN_LINE_LEN: usize = 16;

const MASK: &[u8] = b"***";

/// Replaces the secret values it was given by `***`. Cheap to clone.
#[derive(Clone, Default)]
pub struct Redactor {
    matcher: Option<AhoCorasick>,
    /// The longest pattern, in bytes.
    longest: usize,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redactor(..)")
    }
}

impl Redactor {
    /// A redactor of `values` (each at least [`MIN_REDACTED_LEN`] bytes long; each long line of
    /// a multi-line value counts too).
    pub fn new<I, S>(values: I) -> Redactor
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut patterns: Vec<String> = Vec::new();
        for v in values {
            let v = v.as_ref();
            if v.len() >= MIN_REDACTED_LEN {
                patterns.push(v.to_string());
            }
            if v.contains('\n') {
                for line in v.lines().map(str::trim) {
                    if line.len() >= MIN_LINE_LEN {
                        patterns.push(line.to_string());
                    }
                }
            }
        }
        patterns.sort();
        patterns.dedup();
        if patterns.is_empty() {
            return Redactor::default();
        }
        let longest = patterns.iter().map(String::len).max().unwrap_or(0);
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)
            .ok();
        Redactor { matcher, longest }
    }

    /// Whether it redacts nothing.
    pub fn is_empty(&self) -> bool {
        self.matcher.is_none()
    }

    /// `text` with every value replaced by `***`.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let Some(m) = &self.matcher else {
            return Cow::Borrowed(text);
        };
        if !m.is_match(text) {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for found in m.find_iter(text) {
            out.push_str(&text[last..found.start()]);
            out.push_str("***");
            last = found.end();
        }
        out.push_str(&text[last..]);
        Cow::Owned(out)
    }

    /// `bytes` with every value replaced by `***`.
    pub fn redact_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        let Some(m) = &self.matcher else {
            return bytes.to_vec();
        };
        let mut out = Vec::with_capacity(bytes.len());
        let mut last = 0;
        for found in m.find_iter(bytes) {
            out.extend_from_slice(&bytes[last..found.start()]);
            out.extend_from_slice(MASK);
            last = found.end();
        }
        out.extend_from_slice(&bytes[last..]);
        out
    }

    /// A redactor of a stream of chunks.
    pub fn stream(&self) -> StreamRedactor {
        StreamRedactor {
            redactor: self.clone(),
            carry: Vec::new(),
        }
    }
}

/// Redacts a stream: [`StreamRedactor::push`] each chunk as it arrives and write what it
/// returns; [`StreamRedactor::finish`] at the end. A value split across chunks is redacted.
#[derive(Debug)]
pub struct StreamRedactor {
    redactor: Redactor,
    /// Trailing bytes that may begin a value (fewer than the longest one).
    carry: Vec<u8>,
}

impl StreamRedactor {
    /// The redacted text that can be released after `chunk`.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        let Some(m) = &self.redactor.matcher else {
            return chunk.to_vec();
        };
        let mut buf = std::mem::take(&mut self.carry);
        buf.extend_from_slice(chunk);
        // A value starting before `safe` lies whole inside `buf`; one starting later may go on
        // in the next chunk.
        let mut cut = buf.len().saturating_sub(self.redactor.longest.saturating_sub(1));
        let mut out = Vec::with_capacity(buf.len());
        let mut last = 0;
        for found in m.find_iter(&buf) {
            if found.start() >= cut {
                break;
            }
            out.extend_from_slice(&buf[last..found.start()]);
            out.extend_from_slice(MASK);
            last = found.end();
            cut = cut.max(found.end());
        }
        out.extend_from_slice(&buf[last..cut]);
        self.carry = buf.split_off(cut);
        out
    }

    /// What was held back, redacted.
    pub fn finish(&mut self) -> Vec<u8> {
        let rest = std::mem::take(&mut self.carry);
        self.redactor.redact_bytes(&rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_occurrence_is_replaced_and_short_values_are_left() {
        let r = Redactor::new(["hunter2", "s3cr3t-token", "ab"]);
        assert_eq!(
            r.redact("login hunter2 then hunter2; token=s3cr3t-token ab"),
            "login *** then ***; token=*** ab"
        );
        assert!(matches!(r.redact("nothing here"), Cow::Borrowed(_)));
        assert!(Redactor::new(["ab", ""]).is_empty());
        assert_eq!(Redactor::new(Vec::<String>::new()).redact("x"), "x");
    }

    #[test]
    fn the_longest_value_wins_and_lines_of_a_key_are_redacted() {
        let r = Redactor::new(["pass", "password123"]);
        assert_eq!(r.redact("password123 pass"), "*** ***");
        let key = "-----BEGIN KEY-----\nAAAAB3NzaC1yc2EAAAADAQABAAABAQ\n-----END KEY-----";
        let r = Redactor::new([key]);
        assert_eq!(r.redact(&format!("got {key}!")), "got ***!");
        assert!(!r.redact("echo AAAAB3NzaC1yc2EAAAADAQABAAABAQ").contains("AAAAB3"));
    }

    #[test]
    fn values_split_across_chunks_are_redacted() {
        let secrets = ["hunter2", "correct-horse-battery", "ключ-секрет"];
        let r = Redactor::new(secrets);
        let text = "a hunter2 b correct-horse-battery c ключ-секрет d hunter2hunter2 e hunt".repeat(3);
        let whole = r.redact(&text).into_owned();
        for size in 1..=text.len().min(40) {
            let mut s = r.stream();
            let mut out = Vec::new();
            for chunk in text.as_bytes().chunks(size) {
                out.extend(s.push(chunk));
            }
            out.extend(s.finish());
            let out = String::from_utf8(out).unwrap();
            assert_eq!(out, whole, "chunks of {size}");
            for v in secrets {
                assert!(!out.contains(v), "chunks of {size}: {out}");
            }
        }
    }
}
