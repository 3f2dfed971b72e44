//! Configuration: defaults, then `keel.toml`, then `KEEL_*` variables, then flags.

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use keel_core::config::Config;

use crate::cli::{Cli, Command};

/// Reads the configuration for this invocation.
pub fn load(cli: &Cli) -> Result<Config, Box<figment::Error>> {
    let mut fig = Figment::from(Serialized::defaults(Config::default()));
    match &cli.config {
        Some(path) => fig = fig.merge(Toml::file_exact(path)),
        None => fig = fig.merge(Toml::file("keel.toml")),
    }
    // `KEEL_CACHE__PROVIDER` sets `cache.provider`: a double underscore nests.
    fig = fig.merge(Env::prefixed("KEEL_").ignore(&["test_require_engines"]).split("__"));
    if let Some(dir) = &cli.data_dir {
        fig = fig.merge(Serialized::default("data_dir", dir));
    }
    if let Command::Serve(args) = &cli.command {
        if let Some(http) = &args.http {
            fig = fig.merge(Serialized::default("http", http));
        }
    }
    fig.extract().map_err(Box::new)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure signature is fixed
    fn flags_override_env_and_data_dir_is_global() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("KEEL_HTTP", "127.0.0.1:9000");
            jail.set_env("KEEL_DATA_DIR", "/from/env");
            let cli = Cli::parse_from(["keel", "serve", "--data-dir", "/from/flag"]);
            let cfg = load(&cli).map_err(|e| *e)?;
            assert_eq!(cfg.http, "127.0.0.1:9000");
            assert_eq!(cfg.data_dir, std::path::PathBuf::from("/from/flag"));
            jail.create_file("keel.toml", "http = \"0.0.0.0:1\"\nlog_level = \"debug\"")?;
            let cli = Cli::parse_from(["keel", "--data-dir", "/x", "serve", "--http", "127.0.0.1:7"]);
            let cfg = load(&cli).map_err(|e| *e)?;
            assert_eq!(cfg.http, "127.0.0.1:7");
            assert_eq!(cfg.log_level, "debug");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure signature is fixed
    fn cache_section_from_toml_and_env() {
        figment::Jail::expect_with(|jail| {
            let cli = Cli::parse_from(["keel", "serve"]);
            let cfg = load(&cli).map_err(|e| *e)?;
            assert_eq!(cfg.cache.provider, "memory");
            assert_eq!(cfg.cache.memory_max_bytes, 64 * 1024 * 1024);
            jail.create_file("keel.toml", "[cache]\nprovider = \"redis\"\nmemory_max_bytes = 1024")?;
            jail.set_env("KEEL_CACHE__REDIS_URL", "redis://10.0.0.1:6379");
            let cfg = load(&cli).map_err(|e| *e)?;
            assert_eq!(cfg.cache.provider, "redis");
            assert_eq!(cfg.cache.memory_max_bytes, 1024);
            assert_eq!(cfg.cache.redis_url, "redis://10.0.0.1:6379");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure signature is fixed
    fn outbound_allow_from_toml_and_env() {
        figment::Jail::expect_with(|jail| {
            let cli = Cli::parse_from(["keel", "serve"]);
            assert!(load(&cli).map_err(|e| *e)?.outbound.allow.is_empty());
            jail.create_file("keel.toml", "[outbound]\nallow = [\"127.0.0.1/32\", \"::1/128\"]")?;
            assert_eq!(load(&cli).map_err(|e| *e)?.outbound.allow, ["127.0.0.1/32", "::1/128"]);
            // A variable gives the list comma-separated (or in figment's `[a, b]` form).
            jail.set_env("KEEL_OUTBOUND__ALLOW", "10.1.0.0/16, fd00::/8");
            assert_eq!(load(&cli).map_err(|e| *e)?.outbound.allow, ["10.1.0.0/16", "fd00::/8"]);
            jail.set_env("KEEL_OUTBOUND__ALLOW", "[10.2.0.0/16, 127.0.0.1]");
            assert_eq!(load(&cli).map_err(|e| *e)?.outbound.allow, ["10.2.0.0/16", "127.0.0.1"]);
            Ok(())
        });
    }
}
