//! Checks of values serde cannot make: URLs (scheme, host, port), the log filter, the
//! metrics token and the request limits. A message names the key and the problem, never the
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
    let mysql = (
        &["mysql", "mariadb"][..],
        "mysql://[user[:password]@]host[:port]/database",
    );
    for (key, value, (schemes, shape)) in [
        ("engines.redis_url", &cfg.engines.redis_url, redis),
        (
            "engines.memcached_url",
            &cfg.engines.memcached_url,
            (
                &["memcache", "memcached", "tcp", "unix"][..],
                "memcache://[user:password@]host[:port] or unix:///path",
            ),
        ),
        ("engines.postgres_url", &cfg.engines.postgres_url, postgres),
        ("engines.mysql_url", &cfg.engines.mysql_url, mysql),
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
    for server in cfg.engines.nats_url.split(',').map(str::trim) {
        let server = if server.contains("://") {
            server.to_string()
        } else {
            format!("nats://{server}")
        };
        if let Err(problem) = check_url(&server, nats.0, nats.1) {
            bad("engines.nats_url", problem);
            break;
        }
    }
    if let Err(keel_core::Error::BadRequest { fields, .. }) = keel_core::bus::check_channel(&cfg.events.channel) {
        for f in fields.values() {
            bad(
                "events.channel",
                f.message.trim_start_matches("[events] channel: ").to_string(),
            );
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
    let l = &cfg.limits;
    for (key, value) in [
        ("limits.small_body_bytes", l.small_body_bytes as u64),
        ("limits.json_body_bytes", l.json_body_bytes as u64),
        ("limits.json_max_depth", l.json_max_depth as u64),
        ("limits.json_max_items", l.json_max_items as u64),
        ("limits.json_max_values", l.json_max_values as u64),
        ("limits.body_timeout_secs", l.body_timeout_secs),
        ("limits.header_timeout_secs", l.header_timeout_secs),
        ("limits.idle_timeout_secs", l.idle_timeout_secs),
        ("max_body_bytes", cfg.max_body_bytes as u64),
    ] {
        if value == 0 {
            bad(key, "must be at least 1 (0 would refuse every request)".into());
        }
    }
    if l.small_body_bytes > l.json_body_bytes || l.json_body_bytes > cfg.max_body_bytes {
        bad(
            "limits.json_body_bytes",
            "expected limits.small_body_bytes <= limits.json_body_bytes <= max_body_bytes".into(),
        );
    }
    // `[[notify.providers]]`: each table checked as the server builds it (key names only).
    for (key, problem) in crate::wiring::notify_problems(cfg) {
        bad(&key, problem);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_of_zero_or_out_of_order_are_named() {
        let mut cfg = Config::default();
        cfg.limits.json_max_depth = 0;
        cfg.limits.small_body_bytes = cfg.limits.json_body_bytes + 1;
        let errs = match check(&cfg, &|_| String::new()) {
            Err(ConfigError(errs)) => errs,
            Ok(()) => panic!("accepted"),
        };
        assert!(errs.iter().any(|e| e.contains("`limits.json_max_depth`")), "{errs:?}");
        assert!(errs.iter().any(|e| e.contains("`limits.json_body_bytes`")), "{errs:?}");
        assert!(check(&Config::default(), &|_| String::new()).is_ok());
    }

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
