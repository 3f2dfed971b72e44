//! TOTP second factor (RFC 6238: SHA-1, 6 digits, 30 s steps), on the `totp-rs` crate.
//! A code is accepted for the current step and one step either side, and only for a step
//! later than the last one accepted, so a code cannot be replayed.

use totp_rs::{Algorithm, Builder, Secret, Totp};

/// Seconds per step.
pub const STEP: u64 = 30;

/// A fresh random secret, base32 (what authenticator apps take).
pub fn new_secret() -> String {
    Secret::generate().to_base32()
}

fn totp(secret_b32: &str, issuer: &str, account: &str) -> Option<Totp> {
    let secret = Secret::try_from_base32(secret_b32).ok()?;
    let clean = |s: &str| s.replace(':', " ");
    let issuer = (!issuer.is_empty()).then(|| clean(issuer));
    Some(
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(6)
            .with_skew(1)
            .with_step_duration(STEP)
            .with_secret(secret)
            .with_account_name(clean(account))
            .with_issuer(issuer)
            .build_noncompliant(),
    )
}

/// The `otpauth://totp/…` URI an authenticator app enrols from (render it as a QR code).
pub fn otpauth_uri(secret_b32: &str, issuer: &str, account: &str) -> Option<String> {
    totp(secret_b32, issuer, account).and_then(|t| t.to_url().ok())
}

/// The code for unix time `now` (tests and enrolment checks).
pub fn code_at(secret_b32: &str, now: u64) -> Option<String> {
    totp(secret_b32, "", "").map(|t| t.generate(now).to_string())
}

/// The step `code` is valid for at unix time `now` (±1 step), if that step is after
/// `last_step`; `None` when the code is wrong or already used.
pub fn verify(secret_b32: &str, code: &str, now: u64, last_step: i64) -> Option<i64> {
    let t = totp(secret_b32, "", "")?;
    let code = code.trim();
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let current = (now / STEP) as i64;
    (current - 1..=current + 1).find(|&step| {
        step > last_step && crate::secret::constant_time_eq(&t.generate(step as u64 * STEP).to_string(), code)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_vector_and_replay() {
        // RFC 6238 test secret "12345678901234567890" (SHA-1), T = 59 → 94287082 (8 digits);
        // the 6-digit code is its last six digits.
        let secret = Secret::from(b"12345678901234567890".to_vec()).to_base32();
        assert_eq!(code_at(&secret, 59).unwrap(), "287082");
        let step = verify(&secret, "287082", 59, -1).unwrap();
        assert_eq!(step, 1);
        assert_eq!(verify(&secret, "287082", 59, step), None, "replayed");
        assert_eq!(verify(&secret, "000000", 59, -1), None);
        assert_eq!(verify(&secret, "28708", 59, -1), None);
        // one step of drift either way is accepted
        assert!(verify(&secret, "287082", 59 + 30, -1).is_some());
        assert!(verify(&secret, "287082", 59 + 90, -1).is_none());
    }

    #[test]
    fn uri_names_issuer_and_account() {
        let s = new_secret();
        let uri = otpauth_uri(&s, "Keel", "ada@example.com").unwrap();
        assert!(uri.starts_with("otpauth://totp/"), "{uri}");
        assert!(uri.contains(&format!("secret={s}")), "{uri}");
        assert!(uri.contains("issuer=Keel"), "{uri}");
    }
}
