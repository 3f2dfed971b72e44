//! What only the push providers share: base64url as Web Push and JWTs write it, the clock of
//! their tokens, the timeout they default to, and the forms of a private key their errors
//! must never show. Sending, reading and classifying an answer is `http.rs`'s, reading a
//! config table `config.rs`'s.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// One attempt's bound when the provider's `timeout_secs` is not set.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Base64url without padding.
pub(crate) fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Base64url (or standard base64), with or without padding, as browsers and tools print it.
pub(crate) fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    let cleaned: String = text
        .trim()
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    URL_SAFE_NO_PAD.decode(cleaned).ok()
}

/// Seconds since 1970.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The texts an error must not show of a private key as configured: the value itself, and
/// for a PEM each line of its base64 body and the PEM with its breaks escaped (as a JSON
/// answer would echo it), so that no form of the key survives scrubbing.
pub(crate) fn key_secrets(key: &str) -> Vec<String> {
    let key = key.trim();
    let unescaped = key.replace("\\n", "\n");
    let mut out = vec![key.to_string(), unescaped.clone(), unescaped.replace('\n', "\\n")];
    out.extend(
        unescaped
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("-----"))
            .map(str::to_string),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_reads_what_browsers_and_tools_print() {
        assert_eq!(b64url_decode("_-8"), Some(vec![0xff, 0xef]));
        assert_eq!(b64url_decode("/+8="), Some(vec![0xff, 0xef]));
        assert_eq!(b64url(&[0xff, 0xef]), "_-8");
        assert_eq!(b64url_decode("not base64!"), None);
    }

    #[test]
    fn every_form_of_a_pem_key_is_a_secret() {
        let pem = "-----BEGIN PRIVATE KEY-----\nQUJDREVGR0hJSktMTU5PUFFSU1RVVldY\nWVo=\n-----END PRIVATE KEY-----\n";
        let secrets = key_secrets(pem);
        assert!(secrets.contains(&"QUJDREVGR0hJSktMTU5PUFFSU1RVVldY".to_string()));
        assert!(secrets.iter().any(|s| s.contains("\\nQUJD")), "{secrets:?}");
        assert!(!secrets.iter().any(|s| s.starts_with("-----END")));
        // A one-line PEM (breaks escaped in an environment variable) yields the same lines.
        let one_line = pem.trim().replace('\n', "\\n");
        assert!(key_secrets(&one_line).contains(&"WVo=".to_string()));
    }
}
