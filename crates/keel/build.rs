//! Lays out the code a server runs together at the start of the release binary's text.
//!
//! `hot-symbols.txt` lists the functions `keel serve` runs from its start through the records
//! workloads (written by `bench/hot-symbols.sh`). The kernel maps an executable's pages around
//! every page a process touches, so that code, spread over the whole text, kept most of the
//! binary resident; lld's `--symbol-ordering-file` places it contiguously instead. Only a
//! release build for x86_64 Linux with Rust's own linker (rust-lld, the default there since
//! Rust 1.90) gets the flags: another linker would reject them, and a debug build gains nothing.
//!
//! The names carry a hash of each crate's version and features, so the file fits the build
//! `cargo run --release` (this package alone) makes. `cargo build --release` of the whole
//! workspace makes the same crates only while no other member turns on a feature of a shared
//! crate that this package's tree does not; `.ci/run` checks that it does not.
#![forbid(unsafe_code)]

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo::rerun-if-changed=hot-symbols.txt");
    println!("cargo::rerun-if-env-changed=RUSTC_LINKER");
    if env::var("PROFILE").as_deref() != Ok("release")
        || env::var("TARGET").as_deref() != Ok("x86_64-unknown-linux-gnu")
        || env::var_os("RUSTC_LINKER").is_some()
        || rustflags_choose_linker()
    {
        return;
    }
    let Some(dir) = env::var_os("CARGO_MANIFEST_DIR") else {
        return;
    };
    let order = PathBuf::from(dir).join("hot-symbols.txt");
    // `-Wl,` splits its argument at commas: a checkout whose path has one (or is not UTF-8)
    // builds without the ordering rather than failing to link.
    let Some(path) = order.to_str().filter(|p| !p.contains(',')) else {
        return;
    };
    if !order.is_file() {
        return;
    }
    println!("cargo::rustc-link-arg-bin=keel=-Wl,--symbol-ordering-file={path}");
    // Names the linker does not find (inlined, or renamed by a dependency update) are skipped.
    println!("cargo::rustc-link-arg-bin=keel=-Wl,--no-warn-symbol-ordering");
}

/// Whether RUSTFLAGS pick the linker or its flavour (`-C linker=…`, `-C linker-flavor=…`,
/// `-C linker-features=-lld`, `-C link-self-contained=…`): then lld is not a given.
fn rustflags_choose_linker() -> bool {
    env::var("CARGO_ENCODED_RUSTFLAGS")
        .map(|flags| {
            flags
                .split('\x1f')
                .any(|flag| flag.contains("linker") || flag.contains("link-self-contained"))
        })
        .unwrap_or(false)
}
