//! The process's allocator: mimalloc, with freed memory given back to the system soon.
//!
//! Request handling allocates many small, short-lived objects, which glibc's malloc serves
//! slowly under contention. mimalloc 3 keeps a page it has freed resident for a second before
//! giving it back (`purge_delay`, 1,000 ms), so a server read right after a burst of requests
//! showed 5–8 MB more than it uses; 10 ms (mimalloc 2's default) gives it back while the burst
//! goes on, at no cost measured in requests a second (docs/BENCHMARKS.md, "mimalloc's purge
//! delay").
//!
//! This module is the crate's one use of `unsafe`: mimalloc's options are set through its C
//! API, which Rust cannot check.
#![allow(unsafe_code)]

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long (ms) mimalloc keeps a freed page before giving it back to the system.
const PURGE_DELAY_MS: std::ffi::c_long = 10;

/// `mi_option_purge_delay` of mimalloc 3's `mimalloc.h` (its 16th option, after
/// `mi_option_eager_commit_delay`, 14); libmimalloc-sys names no constant for it.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Sets mimalloc's options; call first thing in `main`. `MIMALLOC_PURGE_DELAY` in the
/// environment still wins, for measuring.
pub fn tune() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: `mi_option_set` stores a number in mimalloc's option table (an atomic store);
    // option 15 is `mi_option_purge_delay` (the test below checks it) and any value is
    // accepted. It touches no memory of ours and may be called at any time, from any thread.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn purge_delay() -> std::ffi::c_long {
        // SAFETY: reads an option; any option number is accepted.
        unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) }
    }

    /// Option 15 is the purge delay: it holds mimalloc 3's default until `tune` sets Keel's.
    /// Fails when a mimalloc update renumbers the options (or with `MIMALLOC_PURGE_DELAY` set).
    #[test]
    fn tune_sets_the_purge_delay() {
        assert_eq!(purge_delay(), 1000, "option 15 is not mimalloc 3's purge_delay");
        tune();
        assert_eq!(purge_delay(), PURGE_DELAY_MS);
    }
}
