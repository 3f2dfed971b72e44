//! Parses arbitrary UTF-8 as a filter and compiles it over a fixed schema for a guest, a
//! user, a `records:manage` holder and a superuser, as a rule and as a caller's filter, then
//! runs the SQL on an in-memory SQLite database. Any panic is a finding: a compiler panic, an
//! error that is not a 400/403, or SQL that does not run (each would be a 500).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(src) = std::str::from_utf8(data) {
        keel_data::filter::fuzzing::check(src);
    }
});
