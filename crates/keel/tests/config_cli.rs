//! `keel serve` refuses a configuration with an unknown key, an unknown value or a malformed
//! URL: it exits 2 before opening anything, naming each key, and never prints a password.

mod common;

use std::process::Output;

use common::keel_command;

/// Runs `keel --config FILE serve` with `toml` in FILE and `env` set. The listen address
/// cannot be bound, so a configuration that is (wrongly) accepted ends the process too.
fn serve_with(toml: &str, env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keel.toml");
    std::fs::write(&file, toml).unwrap();
    let mut cmd = keel_command(&dir.path().join("data"));
    cmd.arg("--config").arg(&file).args(["serve", "--http", "256.0.0.1:1"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn serve_with_an_unknown_key_exits_2_naming_it() {
    let out = serve_with("[jobs]\nstroe = \"postgres\"\n", &[("KEEL_HTP", "127.0.0.1:1")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown key `jobs.stroe`"), "{stderr}");
    assert!(stderr.contains("allowed: background, store"), "{stderr}");
    assert!(stderr.contains("environment variable KEEL_HTP"), "{stderr}");
}

#[test]
fn serve_with_a_bad_value_or_url_exits_2_without_echoing_secrets() {
    let out = serve_with(
        "[cache]\nprovider = \"redis\"\n[engines]\nredis_url = \"redis//:hunter2@10.0.0.1:6379\"\n",
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`engines.redis_url`"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
    let out = serve_with("", &[("KEEL_LOG_FORMAT", "xml")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("`log_format`") && stderr.contains("auto, json, pretty"),
        "{stderr}"
    );
}

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Runs `keel serve` on a listen address it can bind, so it gets as far as opening engines.
fn serve_until_exit(toml: &str, env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keel.toml");
    std::fs::write(&file, toml).unwrap();
    let mut cmd = keel_command(&dir.path().join("data"));
    cmd.arg("--config").arg(&file).args(["serve", "--http", "127.0.0.1:0"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn an_unreachable_engine_stops_the_start_naming_its_key_not_its_password() {
    let port = closed_port();
    for (toml, key, var, url) in [
        (
            "[jobs]\nstore = \"postgres\"\n",
            "engines.postgres_url",
            "KEEL_ENGINES__POSTGRES_URL",
            format!("postgres://keel:hunter2@127.0.0.1:{port}/app"),
        ),
        (
            "[cache]\nprovider = \"tiered\"\n",
            "engines.redis_url",
            "KEEL_ENGINES__REDIS_URL",
            format!("redis://:hunter2@127.0.0.1:{port}/0"),
        ),
        (
            "[events]\nbus = \"redis\"\n",
            "engines.redis_url",
            "KEEL_ENGINES__REDIS_URL",
            format!("redis://:hunter2@127.0.0.1:{port}/0"),
        ),
        (
            "[events]\nbus = \"nats\"\n",
            "engines.nats_url",
            "KEEL_ENGINES__NATS_URL",
            format!("nats://keel:hunter2@127.0.0.1:{port}"),
        ),
        (
            "[events]\nbus = \"postgres\"\n",
            "engines.postgres_url",
            "KEEL_ENGINES__POSTGRES_URL",
            format!("postgres://keel:hunter2@127.0.0.1:{port}/app"),
        ),
    ] {
        let out = serve_until_exit(toml, &[(var, &url)]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(&format!("{key}: cannot connect (")), "{stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("Keel listening"),
            "no engine, no start"
        );
    }
}

#[test]
fn a_bad_events_channel_exits_2_naming_the_key() {
    let out = serve_with("[events]\nbus = \"postgres\"\nchannel = \"Keel Prod\"\n", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("`events.channel`") && stderr.contains("a-z 0-9 _"),
        "{stderr}"
    );
    let out = serve_with("[events]\nbus = \"kafka\"\n", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("local, postgres, redis, nats"), "{stderr}");
}

#[test]
fn a_bad_notify_provider_exits_2_naming_its_key_not_its_secret() {
    let toml = "[[notify.providers]]\nname = \"mail\"\nkind = \"sendgrid\"\nfrom = \"a@b.test\"\napi_key = \"SG.hunter2\"\n\n\
                [[notify.providers]]\nname = \"sms\"\nkind = \"twilio\"\naccount_sid = \"AC1\"\nauth_token = \"hunter2\"\n";
    let out = serve_with(toml, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`notify.providers[1].from`"), "{stderr}");
    assert!(
        !stderr.contains("notify.providers[0]"),
        "the first provider is fine: {stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}
