//! The web console at `/_/` in a real browser: `tests/console/*.test.mjs` drive Debian's
//! Chromium through playwright-core against one `keel serve` (ops' `shell.exec` allowed, for
//! the runbook test), as a person would: sign in, collections and records, jobs, ops,
//! settings. Each test fails on any console error or failed request in its pages.
//!
//! Needs Node 20+, `npm ci --prefix tests/console` and Chromium (`apt-get install chromium`).
//! Without them the test prints that it skipped, unless `KEEL_TEST_REQUIRE_ENGINES=1` (as in
//! `.ci/run`). Screenshots go to `target/console-screenshots/` (docs/console.md shows them).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::node::{self, engines_required};
use common::KeelProcess;

/// The whole suite normally takes about a minute; this only stops a hung run.
const SUITE_TIMEOUT: Duration = Duration::from_secs(600);

#[test]
fn the_console_works_in_a_browser() {
    if let Some(why) = node::missing_browser() {
        assert!(!engines_required(), "the console's browser tests cannot run: {why}.");
        println!("skipped the console's browser tests: {why}");
        return;
    }
    let keel = KeelProcess::start_with_env(&[("KEEL_OPS__SHELL_EXEC", "true")]);
    let mut cmd = Command::new("node");
    // One file at a time: each drives its own Chromium, and this machine may have two cores.
    cmd.args(["--test", "--test-concurrency=1", "--test-reporter=spec"])
        .arg("tests/console/")
        .env("KEEL_URL", keel.url());
    let status = node::run(cmd, "[console] ", SUITE_TIMEOUT);
    assert!(
        status.success(),
        "the console's browser tests failed ({status}); their output is above"
    );
}

/// A live records page goes offline when Keel stops and comes back live by itself once it is
/// restarted on the same address: a record written afterwards appears without a reload
/// (`tests/console/reconnect.mjs`).
#[test]
fn a_live_page_reconnects_after_a_restart() {
    if let Some(why) = node::missing_browser() {
        assert!(!engines_required(), "the console's browser tests cannot run: {why}.");
        println!("skipped the console's reconnect test: {why}");
        return;
    }
    let env = [("KEEL_OPS__SHELL_EXEC", "true")];
    let keel = KeelProcess::start_with_env(&env);
    let address = keel.url().trim_start_matches("http://").to_string();
    let mut script = Command::new("node")
        .arg("tests/console/reconnect.mjs")
        .current_dir(common::workspace_root())
        .env("KEEL_URL", keel.url())
        .env("KEEL_SUPERUSER_EMAIL", common::SUPERUSER_EMAIL)
        .env("KEEL_SUPERUSER_PASSWORD", common::SUPERUSER_PASSWORD)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    common::forward_lines(script.stderr.take().unwrap(), "[reconnect] ", true);
    let mut lines = BufReader::new(script.stdout.take().unwrap()).lines();
    let mut said = |what: &str| loop {
        match lines.next() {
            Some(Ok(line)) => {
                println!("[reconnect] {line}");
                if line == what {
                    return true;
                }
            }
            _ => return false,
        }
    };
    assert!(
        said("READY"),
        "the page never became live; the script's output is above"
    );
    let data_dir = keel.kill();
    let _keel = KeelProcess::serve_on(data_dir, &address, &env);
    writeln!(script.stdin.take().unwrap(), "restarted").unwrap();
    assert!(
        said("DONE"),
        "the page did not come back live; the script's output is above"
    );
    assert!(script.wait().unwrap().success());
}

/// On a first start `serve` prints a one-time link that makes the first superuser in the
/// browser (`tests/console/install.mjs`).
#[test]
fn the_first_superuser_is_made_from_the_install_link() {
    if let Some(why) = node::missing_browser() {
        assert!(!engines_required(), "the console's browser tests cannot run: {why}.");
        println!("skipped the console's install test: {why}");
        return;
    }
    let data_dir = tempfile::Builder::new().prefix("keel-test-").tempdir().unwrap();
    let keel = KeelProcess::serve(data_dir);
    let line = keel
        .wait_for_output("/_/#/install/", Duration::from_secs(30))
        .expect("serve printed no install link");
    let mut cmd = Command::new("node");
    cmd.arg("tests/console/install.mjs")
        .env("KEEL_URL", keel.url())
        .env("KEEL_INSTALL_URL", line.trim());
    let status = node::run(cmd, "[install] ", SUITE_TIMEOUT);
    assert!(
        status.success(),
        "the install page test failed ({status}); its output is above"
    );
}
