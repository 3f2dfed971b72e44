//! Checks of values serde cannot make: URLs (scheme, host, port), the listen address, the
//! log filter and the metrics token. A message names the key and the problem, never the
//! value (a URL may carry a password).

use keel_core::config::Config;

use super::ConfigError;

/// Every problem of `cfg`, each as `` `key`: problem `` (with where the key was set, from
/// `source(key)`), or `Ok`.
pub(super) fn check(cfg: &Config, source: &dyn Fn(&str) -> String) -> Result<(), ConfigError> {
    let mut errs = Vec::new();
    let mut bad = |key: &str, problem: String| errs.push(format!("`{key}`{}: {problem}", source(key)));
    let redis = (
        &["redis", "rediss", "redis+unix", "unix"][..],
        "redis://[:password@]host[:port][/db]",
    );
    let postgres = (
        &["postgres", "postgresql"][..],
        "postgres://[user[:password]@]host[:port]/database",
    );
    for (key, value, (schemes, shape)) in [
        ("cache.redis_url", &cfg.cache.redis_url, redis),
        (
            "cache.memcached_url",
            &cfg.cache.memcached_url,
            (
                &["memcache", "memcached", "tcp", "unix"][..],
                "memcache://[user:password@]host[:port] or unix:///path",
            ),
        ),
        ("queue.postgres_url", &cfg.queue.postgres_url, postgres),
        ("queue.redis_url", &cfg.queue.redis_url, redis),
        ("jobs.postgres_url", &cfg.jobs.postgres_url, postgres),
    ] {
        if let Err(problem) = check_url(value, schemes, shape) {
            bad(key, problem);
        }
    }
    // NATS takes a comma-separated list of servers, each with or without a scheme.
    let nats = (
        &["nats", "tls", "ws", "wss"][..],
        "nats://[user:password@]host[:port][,…]",
    );
    for server in cfg.queue.nats_url.split(',').map(str::trim) {
        let server = if server.contains("://") {
            server.to_string()
        } else {
            format!("nats://{server}")
        };
        if let Err(problem) = check_url(&server, nats.0, nats.1) {
            bad("queue.nats_url", problem);
            break;
        }
    }
    // `http` is checked by `serve::parse_listen_addr` (it also takes `:PORT` and host names),
    // before anything is created.
    if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&cfg.log_level) {
        bad(
            "log_level",
            format!("not a valid log filter ({e}); e.g. info or keel=debug,info"),
        );
    }
    let token = &cfg.metrics.token;
    if !token.is_empty() && (token.len() < 16 || !token.bytes().all(|b| b.is_ascii_graphic())) {
        bad(
            "metrics.token",
            "expected at least 16 visible ASCII characters (no spaces), or empty for none".into(),
        );
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ConfigError(errs))
    }
}

/// `Err(problem)` unless `value` is a URL with one of `schemes` and, for network schemes, a
/// host. The problem never quotes the value.
fn check_url(value: &str, schemes: &[&str], shape: &str) -> Result<(), String> {
    let url = url::Url::parse(value).map_err(|e| format!("not a valid URL ({e}); expected {shape}"))?;
    if !schemes.contains(&url.scheme()) {
        let allowed: Vec<String> = schemes.iter().map(|s| format!("{s}://")).collect();
        return Err(format!(
            "unsupported scheme; expected {} (as in {shape})",
            allowed.join(", ")
        ));
    }
    let local = url.scheme() == "unix" || url.scheme().ends_with("+unix");
    if !local && url.host_str().is_none_or(str::is_empty) {
        return Err(format!("no host; expected {shape}"));
    }
    if local && url.path().is_empty() {
        return Err(format!("no socket path; expected {shape}"));
    }
    Ok(())
}

/// `host:port` or `[v6]:port` with a numeric port.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_by_scheme_and_host() {
        let redis = &["redis", "rediss"][..];
        assert!(check_url("redis://:p@h:6379/0", redis, "").is_ok());
        assert!(check_url("rediss://h", redis, "").is_ok());
        assert!(check_url("redis://", redis, "").unwrap_err().contains("no host"));
        assert!(check_url("http://h", redis, "")
            .unwrap_err()
            .contains("redis://, rediss://"));
        assert!(check_url("unix:///tmp/m.sock", &["unix"], "").is_ok());
        for bad in ["redis//:pw@h", "redis://:pw@h:70000", "::"] {
            let e = check_url(bad, redis, "").unwrap_err();
            assert!(!e.contains("pw"), "{e}");
        }
    }
}
