//! Configuration: defaults, then `keel.toml`, then `KEEL_*` variables, then flags.
//!
//! Strict: an unknown key (in the file or as a `KEEL_*` variable), an unknown value of an
//! enumerated key and a malformed URL are errors at start. Each problem is reported on its
//! own line naming the key path (`jobs.stroe`) and where it came from (the file, or the
//! variable `KEEL_JOBS__STROE`), and what is allowed; a value is never echoed, since it may
//! hold a credential. `KEEL_TEST_*` and `KEEL_BENCH_*` variables configure the test suites and
//! the benchmark scripts, not Keel, and are ignored.

use figment::error::Kind;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Value};
use figment::{Figment, Metadata, Provider, Source};
use keel_core::config::Config;

use crate::cli::{Cli, Command};

mod validate;

/// The problems that keep a configuration from loading, one per line.
#[derive(Debug)]
pub struct ConfigError(pub Vec<String>);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for ConfigError {}

/// Reads the configuration for this invocation.
pub fn load(cli: &Cli) -> Result<Config, ConfigError> {
    let fig = figment(cli);
    // Serde stops at the first unknown key; this names them all.
    let unknown = unknown_keys(&fig);
    if !unknown.is_empty() {
        return Err(ConfigError(unknown));
    }
    let cfg: Config = fig.extract().map_err(|e| describe(&fig, e))?;
    validate::check(&cfg, &|key| source_of(&fig, key))?;
    Ok(cfg)
}

fn figment(cli: &Cli) -> Figment {
    let mut fig = Figment::from(Serialized::defaults(Config::default()));
    match &cli.config {
        Some(path) => fig = fig.merge(Toml::file_exact(path)),
        None => fig = fig.merge(Toml::file("keel.toml")),
    }
    // `KEEL_CACHE__PROVIDER` sets `cache.provider`: a double underscore nests.
    fig = fig.merge(
        Env::prefixed(ENV_PREFIX)
            .filter(|k| {
                !IGNORED_ENV
                    .iter()
                    .any(|p| k.as_str().get(..p.len()).is_some_and(|s| s.eq_ignore_ascii_case(p)))
            })
            .split("__"),
    );
    if let Some(dir) = &cli.data_dir {
        fig = fig.merge(Serialized::default("data_dir", dir));
    }
    if let Command::Serve(args) = &cli.command {
        if let Some(http) = &args.http {
            fig = fig.merge(Serialized::default("http", http));
        }
        if let Some(https) = &args.https {
            fig = fig.merge(Serialized::default("https", https));
        }
        if let Some(cert) = &args.tls_cert {
            fig = fig.merge(Serialized::default("tls_cert", cert));
        }
        if let Some(key) = &args.tls_key {
            fig = fig.merge(Serialized::default("tls_key", key));
        }
    }
    fig
}

const ENV_PREFIX: &str = "KEEL_";

/// `KEEL_*` variables that are not configuration (after the prefix): the test suites'
/// (`.env.example`), the benchmark scripts', and the vault's master keys (`KEEL_MASTER_KEY`,
/// `KEEL_MASTER_KEY_PREVIOUS`), which only `keel_vault::KeySource` reads.
const IGNORED_ENV: &[&str] = &["test_", "bench_", "master_key"];

/// Every key set in `fig` that `Config` does not have, as in [`describe_one`].
fn unknown_keys(fig: &Figment) -> Vec<String> {
    let known = Serialized::defaults(Config::default()).data().ok();
    let known = known.as_ref().and_then(|d| d.get(&figment::Profile::Default));
    let Ok(data) = fig.data() else {
        return Vec::new(); // a provider failed: `extract` reports it
    };
    let (Some(known), Some(given)) = (known, data.get(&figment::Profile::Default)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    walk(fig, known, given, &mut Vec::new(), &mut out);
    out
}

fn walk(fig: &Figment, known: &Dict, given: &Dict, path: &mut Vec<String>, out: &mut Vec<String>) {
    for (k, v) in given {
        path.push(k.clone());
        match (known.get(k), v) {
            (Some(Value::Dict(_, known)), Value::Dict(_, given)) => walk(fig, known, given, path, out),
            (Some(_), _) => {}
            (None, v) => {
                let source = fig.get_metadata(v.tag()).map(|m| source(m, path)).unwrap_or_default();
                let section = match &path[..path.len() - 1] {
                    [] => String::new(),
                    s => format!(" in [{}]", s.join(".")),
                };
                let allowed: Vec<&str> = known.keys().map(String::as_str).collect();
                out.push(format!(
                    "unknown key `{}`{source}: `{k}` is not a setting{section}; allowed: {}",
                    path.join("."),
                    allowed.join(", ")
                ));
            }
        }
        path.pop();
    }
}

/// One line per figment error: the key path, where it came from, what is wrong and what is
/// allowed. Values are never shown (a misplaced password would be printed otherwise).
fn describe(fig: &Figment, err: figment::Error) -> ConfigError {
    ConfigError(err.into_iter().map(|e| describe_one(fig, &e)).collect())
}

fn describe_one(fig: &Figment, e: &figment::Error) -> String {
    let path = &e.path;
    let key = path.join(".");
    // The provider that supplied the key (the one that named an unknown key), else the one
    // figment tagged the error with.
    let found = fig.find_value(&key).ok();
    let meta = found
        .as_ref()
        .and_then(|v| fig.get_metadata(v.tag()))
        .or(e.metadata.as_ref());
    let source = meta.map(|m| source(m, path)).unwrap_or_default();
    let what = match &e.kind {
        Kind::UnknownField(field, allowed) => {
            format!("`{field}` is not a setting; allowed: {}", allowed.join(", "))
        }
        Kind::UnknownVariant(_, allowed) => format!("unknown value; allowed: {}", allowed.join(", ")),
        Kind::InvalidType(actual, expected) => format!("expected {expected}, found {}", kind_of(actual)),
        Kind::InvalidValue(_, expected) => format!("invalid value; expected {expected}"),
        Kind::InvalidLength(n, expected) => format!("{n} items; expected {expected}"),
        Kind::MissingField(field) => format!("`{field}` is missing"),
        Kind::DuplicateField(field) => format!("`{field}` is given twice"),
        Kind::ISizeOutOfRange(_) | Kind::USizeOutOfRange(_) => "number out of range".into(),
        Kind::Unsupported(actual) => format!("unsupported {}", kind_of(actual)),
        Kind::UnsupportedKey(actual, expected) => format!("unsupported key {}; expected {expected}", kind_of(actual)),
        Kind::Message(m) => without_snippet(m),
    };
    if key.is_empty() {
        format!("configuration{source}: {what}")
    } else {
        format!("`{key}`{source}: {what}")
    }
}

/// Where the value of `key` (a dotted path) was set, as [`source`] says it.
fn source_of(fig: &Figment, key: &str) -> String {
    let path: Vec<String> = key.split('.').map(str::to_string).collect();
    fig.find_value(key)
        .ok()
        .and_then(|v| fig.get_metadata(v.tag()).map(|m| source(m, &path)))
        .unwrap_or_default()
}

/// Where a key came from: ` in keel.toml`, ` (environment variable KEEL_JOBS__STROE)`, ….
fn source(meta: &Metadata, path: &[String]) -> String {
    match &meta.source {
        Some(Source::File(p)) => format!(" in {}", p.display()),
        _ if meta.name.contains("environment variable") => format!(
            " (environment variable {ENV_PREFIX}{})",
            path.join("__").to_ascii_uppercase()
        ),
        _ => String::new(),
    }
}

/// The kind of a value, without the value.
fn kind_of(actual: &figment::error::Actual) -> &'static str {
    use figment::error::Actual;
    match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) | Actual::Float(_) => "a number",
        Actual::Char(_) | Actual::Str(_) => "a string",
        Actual::Bytes(_) => "bytes",
        Actual::Unit | Actual::Option => "nothing",
        Actual::Seq => "a list",
        Actual::Map => "a table",
        _ => "another type",
    }
}

/// A parser message without the quoted source lines a TOML error carries (they may hold a
/// secret): `TOML parse error at line 3, column 9` and the description are kept.
fn without_snippet(m: &str) -> String {
    m.lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty() && !l.trim_start().starts_with('|') && !is_snippet_line(l))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A `12 | text` line of a TOML error.
fn is_snippet_line(l: &str) -> bool {
    match l.trim_start().split_once(" |") {
        Some((n, _)) => !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use keel_core::config::{CacheProvider, DataEngine, JobsStore, LogFormat, MetricsAccess};

    use super::*;

    /// The error lines for the configuration `keel serve` would load.
    fn errors() -> Vec<String> {
        match load(&Cli::parse_from(["keel", "serve"])) {
            Ok(_) => Vec::new(),
            Err(e) => e.0,
        }
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure signature is fixed
    fn flags_override_env_and_data_dir_is_global() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("KEEL_HTTP", "127.0.0.1:9000");
            jail.set_env("KEEL_DATA_DIR", "/from/env");
            let cli = Cli::parse_from(["keel", "serve", "--data-dir", "/from/flag"]);
            let cfg = load(&cli).map_err(|e| e.to_string())?;
            assert_eq!(cfg.http, "127.0.0.1:9000");
            assert_eq!(cfg.data_dir, std::path::PathBuf::from("/from/flag"));
            jail.create_file("keel.toml", "http = \"0.0.0.0:1\"\nlog_level = \"debug\"")?;
            let cli = Cli::parse_from(["keel", "--data-dir", "/x", "serve", "--http", "127.0.0.1:7"]);
            let cfg = load(&cli).map_err(|e| e.to_string())?;
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
            let cfg = load(&cli).map_err(|e| e.to_string())?;
            assert_eq!(cfg.cache.provider, CacheProvider::Memory);
            assert_eq!(cfg.cache.memory_max_bytes, 64 * 1024 * 1024);
            assert_eq!(cfg.data.engine, DataEngine::Sqlite);
            jail.create_file(
                "keel.toml",
                "[cache]\nprovider = \"redis\"\nmemory_max_bytes = 1024\n[data]\nengine = \"mysql\"",
            )?;
            jail.set_env("KEEL_ENGINES__REDIS_URL", "redis://10.0.0.1:6379");
            jail.set_env("KEEL_DATA__ENGINE", "postgres");
            jail.set_env("KEEL_ENGINES__POSTGRES_URL", "postgres://u@10.0.0.2:5432/app");
            let cfg = load(&cli).map_err(|e| e.to_string())?;
            assert_eq!(cfg.cache.provider, CacheProvider::Redis);
            assert_eq!(cfg.cache.memory_max_bytes, 1024);
            assert_eq!(cfg.engines.redis_url, "redis://10.0.0.1:6379");
            assert_eq!(cfg.data.engine, DataEngine::Postgres);
            assert_eq!(cfg.engines.postgres_url, "postgres://u@10.0.0.2:5432/app");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure signature is fixed
    fn outbound_allow_from_toml_and_env() {
        figment::Jail::expect_with(|jail| {
            let cli = Cli::parse_from(["keel", "serve"]);
            assert!(load(&cli).map_err(|e| e.to_string())?.outbound.allow.is_empty());
            jail.create_file("keel.toml", "[outbound]\nallow = [\"127.0.0.1/32\", \"::1/128\"]")?;
            assert_eq!(
                load(&cli).map_err(|e| e.to_string())?.outbound.allow,
                ["127.0.0.1/32", "::1/128"]
            );
            // A variable gives the list comma-separated (or in figment's `[a, b]` form).
            jail.set_env("KEEL_OUTBOUND__ALLOW", "10.1.0.0/16, fd00::/8");
            assert_eq!(
                load(&cli).map_err(|e| e.to_string())?.outbound.allow,
                ["10.1.0.0/16", "fd00::/8"]
            );
            jail.set_env("KEEL_OUTBOUND__ALLOW", "[10.2.0.0/16, 127.0.0.1]");
            assert_eq!(
                load(&cli).map_err(|e| e.to_string())?.outbound.allow,
                ["10.2.0.0/16", "127.0.0.1"]
            );
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure signature is fixed
    fn enumerated_values_and_metrics_section_load() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "keel.toml",
                "log_format = \"json\"\n[jobs]\nstore = \"postgres\"\n\
                 [metrics]\naccess = \"loopback\"\ntoken = \"0123456789abcdef-token\"",
            )?;
            let cfg = load(&Cli::parse_from(["keel", "serve"])).map_err(|e| e.to_string())?;
            assert_eq!(cfg.log_format, LogFormat::Json);
            assert_eq!(cfg.jobs.store, JobsStore::Postgres);
            assert_eq!(cfg.metrics.access, MetricsAccess::Loopback);
            assert_eq!(cfg.metrics.token, "0123456789abcdef-token");
            assert!(!format!("{cfg:?}").contains("0123456789abcdef"));
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure signature is fixed
    fn unknown_keys_in_the_file_are_errors_naming_the_key_and_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("keel.toml", "htp = \"127.0.0.1:1\"\n[jobs]\nstroe = \"postgres\"")?;
            let errs = errors();
            assert_eq!(errs.len(), 2, "{errs:?}");
            let stroe = errs
                .iter()
                .find(|e| e.contains("`jobs.stroe`"))
                .expect("jobs.stroe named");
            assert!(stroe.contains("keel.toml"), "{stroe}");
            assert!(stroe.contains("allowed: background, store"), "{stroe}");
            let htp = errs.iter().find(|e| e.contains("`htp`")).expect("htp named");
            assert!(htp.contains("keel.toml") && htp.contains("http"), "{htp}");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure signature is fixed
    fn unknown_keel_variables_are_errors_naming_the_variable_and_test_ones_are_ignored() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("KEEL_TEST_POSTGRES_URL", "postgres://x@h/db");
            jail.set_env("KEEL_TEST_REQUIRE_ENGINES", "1");
            jail.set_env("KEEL_BENCH_POSTGRES_URL", "postgres://x@h/db");
            // The vault's keys are read by keel-vault, not as configuration.
            jail.set_env("KEEL_MASTER_KEY", "not-config");
            jail.set_env("KEEL_MASTER_KEY_PREVIOUS", "not-config");
            assert_eq!(errors(), Vec::<String>::new());
            jail.set_env("KEEL_JOBS__STROE", "postgres");
            let errs = errors();
            assert_eq!(errs.len(), 1, "{errs:?}");
            assert!(errs[0].contains("`jobs.stroe`"), "{errs:?}");
            assert!(errs[0].contains("environment variable KEEL_JOBS__STROE"), "{errs:?}");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure signature is fixed
    fn unknown_values_list_the_allowed_ones_without_echoing() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("KEEL_LOG_FORMAT", "xml");
            let errs = errors();
            assert_eq!(errs.len(), 1, "{errs:?}");
            assert!(errs[0].contains("`log_format`"), "{errs:?}");
            assert!(errs[0].contains("KEEL_LOG_FORMAT"), "{errs:?}");
            assert!(errs[0].contains("auto, json, pretty"), "{errs:?}");
            jail.set_env("KEEL_LOG_FORMAT", "json");
            for (section, key, allowed) in [
                ("cache", "provider", "memory, redis, tiered, memcached"),
                ("jobs", "store", "embedded, postgres, mysql"),
                ("data", "engine", "sqlite, postgres, mysql"),
                ("metrics", "access", "protected, loopback, public"),
            ] {
                jail.create_file("keel.toml", &format!("[{section}]\n{key} = \"hunter2\""))?;
                let errs = errors();
                assert_eq!(errs.len(), 1, "{errs:?}");
                assert!(errs[0].contains(&format!("`{section}.{key}`")), "{errs:?}");
                assert!(errs[0].contains(allowed), "{errs:?}");
                assert!(!errs[0].contains("hunter2"), "{errs:?}");
            }
            jail.create_file("keel.toml", "max_body_bytes = \"hunter2\"")?;
            let errs = errors();
            assert!(
                errs[0].contains("`max_body_bytes`") && !errs[0].contains("hunter2"),
                "{errs:?}"
            );
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure signature is fixed
    fn a_toml_syntax_error_does_not_quote_the_line() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("keel.toml", "[engines]\nredis_url = \"redis://:hunter2@h:6379\n")?;
            let errs = errors();
            assert_eq!(errs.len(), 1, "{errs:?}");
            assert!(errs[0].contains("line 2"), "{errs:?}");
            assert!(!errs[0].contains("hunter2"), "{errs:?}");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure signature is fixed
    fn malformed_urls_name_the_key_and_never_the_password() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "keel.toml",
                "[engines]\nredis_url = \"redis//:hunter2@h:6379\"\n\
                 postgres_url = \"postgres://u:hunter3@h:99999/db\"\n\
                 mysql_url = \"http://u:hunter4@h/db\"",
            )?;
            let errs = errors();
            assert_eq!(errs.len(), 3, "{errs:?}");
            for (key, text) in [
                ("engines.redis_url", "redis://"),
                ("engines.postgres_url", "port"),
                ("engines.mysql_url", "mysql://"),
            ] {
                let line = errs.iter().find(|e| e.contains(&format!("`{key}`"))).expect(key);
                assert!(line.contains(text), "{line}");
            }
            let all = errs.join("\n");
            assert!(!all.contains("hunter"), "{all}");
            jail.create_file("keel.toml", "[metrics]\ntoken = \"short\"")?;
            let errs = errors();
            assert!(
                errs[0].contains("`metrics.token`") && !errs[0].contains("short\""),
                "{errs:?}"
            );
            Ok(())
        });
    }
}
