//! Random secrets and their hashes for things a server checks but never shows again
//! (API keys, recovery codes): SHA-256 is enough because the secrets are long and random.

use rand::Rng;
use sha2::{Digest, Sha256};

const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// `len` random characters from `[A-Za-z0-9]`.
pub fn random_token(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALNUM[rng.random_range(0..ALNUM.len())] as char)
        .collect()
}

/// `len` random decimal digits (one-time codes).
pub fn random_digits(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len).map(|_| char::from(b'0' + rng.random_range(0..10u8))).collect()
}

/// Hex SHA-256 of `secret`.
pub fn sha256_hex(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashes_compare() {
        let a = random_token(32);
        assert_eq!(a.len(), 32);
        assert_ne!(a, random_token(32));
        assert!(random_digits(8).chars().all(|c| c.is_ascii_digit()));
        assert!(constant_time_eq(&sha256_hex("x"), &sha256_hex("x")));
        assert!(!constant_time_eq(&sha256_hex("x"), &sha256_hex("y")));
        assert!(!constant_time_eq("a", "ab"));
    }
}
