//! Random identifiers in PocketBase's shape.

use rand::Rng;

/// Lowercase alphanumerics, the alphabet of record ids.
pub const ID_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// Letters and digits in both cases, used for secrets and token keys.
pub const SECRET_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// A random string of `len` characters drawn from `alphabet` with a CSPRNG.
pub fn random_string(len: usize, alphabet: &[u8]) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

/// A new record id: 15 lowercase alphanumeric characters, like PocketBase's.
pub fn new_id() -> String {
    random_string(15, ID_ALPHABET)
}

/// A new secret (token keys, collection signing secrets): 50 mixed-case alphanumerics.
pub fn new_secret() -> String {
    random_string(50, SECRET_ALPHABET)
}

/// Whether `s` is a valid record id: 1 to 100 characters of `[a-z0-9_-]`... PocketBase
/// accepts custom ids matching `^[a-z0-9]+$` of length 15 by default; we accept the same.
pub fn is_valid_id(s: &str) -> bool {
    s.len() == 15 && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_pocketbase_shape() {
        let a = new_id();
        let b = new_id();
        assert_eq!(a.len(), 15);
        assert!(is_valid_id(&a));
        assert_ne!(a, b);
        assert!(!is_valid_id("ABCDEFGHIJKLMNO"));
        assert!(!is_valid_id("short"));
    }
}
