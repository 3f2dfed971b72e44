//! PocketBase's official JS SDK against a real Keel: `tests/sdk/scenario.mjs` and the identity
//! steps `tests/sdk/scenario_identity.mjs` (OTP by email, MFA, OAuth2) under `node --test`.
//!
//! It runs once per records engine: SQLite, and PostgreSQL on a fresh database
//! (`KEEL_TEST_POSTGRES_URL`; skipped without it unless `KEEL_TEST_REQUIRE_ENGINES=1`).
//!
//! Needs Node 20+ and `npm ci --prefix tests/sdk`. Without them the test prints that it skipped,
//! unless `KEEL_TEST_REQUIRE_ENGINES=1` (as in `.ci/run`), which makes their absence a failure.

mod common;

use std::process::Command;
use std::time::Duration;

use common::node::{self, engines_required};
use common::KeelProcess;
use keel_testkit::oauth_server::{OAuthServer, OAuthServerOptions};
use keel_testkit::postgres::DatabaseGuard;
use keel_testkit::smtp_server::SmtpServer;

/// The whole scenario normally takes a few seconds; this only stops a hung run.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(300);

#[test]
fn pocketbase_js_sdk_scenario() {
    run_scenario(&[]);
}

#[test]
fn pocketbase_js_sdk_scenario_on_postgres() {
    let Some((env, _db)) = postgres_engine() else {
        return;
    };
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run_scenario(&env);
}

/// The server environment for records on a fresh PostgreSQL database (`KEEL_TEST_POSTGRES_URL`),
/// and the guard that drops the database; `None` when the engine is not configured.
fn postgres_engine() -> Option<(Vec<(&'static str, String)>, DatabaseGuard)> {
    let url = keel_testkit::engine_url("KEEL_TEST_POSTGRES_URL")?;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (db_url, name) = rt.block_on(keel_testkit::postgres::fresh_database(&url));
    let env = vec![
        ("KEEL_DATA__ENGINE", "postgres".to_string()),
        ("KEEL_ENGINES__POSTGRES_URL", db_url),
    ];
    Some((env, DatabaseGuard { url, name }))
}

#[test]
fn pocketbase_js_sdk_scenario_on_mariadb() {
    let Some((env, _db)) = mysql_engine() else {
        return;
    };
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run_scenario(&env);
}

/// The server environment for records on a fresh MariaDB/MySQL database
/// (`KEEL_TEST_MYSQL_URL`), and the guard that drops the database; `None` when the engine is
/// not configured.
fn mysql_engine() -> Option<(Vec<(&'static str, String)>, keel_testkit::mysql::DatabaseGuard)> {
    let url = keel_testkit::engine_url("KEEL_TEST_MYSQL_URL")?;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(keel_testkit::mysql::fresh_database(&url));
    let env = vec![
        ("KEEL_DATA__ENGINE", "mysql".to_string()),
        ("KEEL_ENGINES__MYSQL_URL", db.url.clone()),
    ];
    Some((env, db.guard()))
}

/// Runs the scenario against a fresh `keel serve` started with `env`.
fn run_scenario(env: &[(&str, &str)]) {
    if let Some(why) = node::missing_sdk() {
        assert!(
            !engines_required(),
            "the SDK scenario cannot run: {why}. Run `npm ci --prefix tests/sdk` (Node 20+) first."
        );
        println!("skipped the PocketBase JS SDK scenario: {why} (run `npm ci --prefix tests/sdk`)");
        return;
    }

    let keel = KeelProcess::start_with_env(env);
    // The identity steps need a real SMTP server (to read the one-time codes) and an OpenID
    // Connect provider; the local one runs on this runtime's threads.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let oauth = rt.block_on(OAuthServer::start(OAuthServerOptions::default())).unwrap();
    let smtp = SmtpServer::start();
    let mut files = vec!["tests/sdk/scenario.mjs"];
    if smtp.is_some() {
        files.push("tests/sdk/scenario_identity.mjs");
    }
    let mut cmd = Command::new("node");
    cmd.args(["--test", "--test-concurrency=1", "--test-reporter=spec"])
        .args(&files);
    if let Some(smtp) = &smtp {
        cmd.env("KEEL_SMTP_HOST", &smtp.host)
            .env("KEEL_SMTP_PORT", smtp.port.to_string())
            .env("KEEL_SMTP_MAILDIR", smtp.maildir());
    }
    let opts = OAuthServerOptions::default();
    cmd.env("KEEL_OAUTH_URL", &oauth.url)
        .env("KEEL_OAUTH_CLIENT_ID", &opts.client_id)
        .env("KEEL_OAUTH_CLIENT_SECRET", &opts.client_secret)
        .env("KEEL_OAUTH_EMAIL", &opts.user.email)
        .env("KEEL_URL", keel.url());
    let status = node::run(cmd, "[sdk] ", SCENARIO_TIMEOUT);
    assert!(
        status.success(),
        "the SDK scenario failed ({status}); its output is above"
    );
}
