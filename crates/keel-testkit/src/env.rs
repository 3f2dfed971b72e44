//! Which engines a test may use, read from the environment (see `.env.example`).

/// The URL of an engine for a server-backed suite, from the variable `var`
/// (e.g. `KEEL_TEST_REDIS_URL`).
///
/// - Set and non-empty: `Some(url)`.
/// - Unset or empty, and `KEEL_TEST_REQUIRE_ENGINES=1`: panics, failing the test — CI must
///   run every suite, so a missing engine is an error there.
/// - Unset or empty otherwise: prints one line saying the suite was skipped and returns
///   `None`; the caller returns early.
pub fn engine_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if engines_required() => {
            panic!("{var} is not set but KEEL_TEST_REQUIRE_ENGINES=1: this suite needs its engine")
        }
        _ => {
            println!("skipped: {var} is not set (set it to run this engine's suite)");
            None
        }
    }
}

/// Whether `KEEL_TEST_REQUIRE_ENGINES=1` (CI): a missing engine fails instead of skipping.
pub fn engines_required() -> bool {
    std::env::var("KEEL_TEST_REQUIRE_ENGINES").is_ok_and(|v| v.trim() == "1")
}
