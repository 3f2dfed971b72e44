//! Running the Node scripts under `tests/sdk/` (PocketBase's JS SDK against a real server):
//! checking Node and the SDK packages are there, and running a script to its end with its
//! output forwarded to the test's.

use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::{forward_lines, workspace_root};

/// Whether `KEEL_TEST_REQUIRE_ENGINES=1`: a missing prerequisite is then a failure, not a skip.
pub fn engines_required() -> bool {
    std::env::var("KEEL_TEST_REQUIRE_ENGINES").is_ok_and(|v| v == "1")
}

/// Why the SDK scripts cannot run here (no Node, or `npm ci --prefix tests/sdk` not run), if so.
pub fn missing_sdk() -> Option<String> {
    match Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => return Some(format!("`node --version` failed ({})", out.status)),
        Err(e) => return Some(format!("`node` not found ({e})")),
    }
    let modules = workspace_root().join("tests/sdk/node_modules");
    ["pocketbase", "eventsource"]
        .iter()
        .map(|package| modules.join(package))
        .find(|dir| !dir.is_dir())
        .map(|dir| format!("{} is missing (npm ci --prefix tests/sdk)", dir.display()))
}

/// Why the console's browser tests cannot run here (no Node, `npm ci --prefix tests/console`
/// not run, or no Chromium at `/usr/bin/chromium`), if so.
pub fn missing_browser() -> Option<String> {
    match Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => return Some(format!("`node --version` failed ({})", out.status)),
        Err(e) => return Some(format!("`node` not found ({e})")),
    }
    let playwright = workspace_root().join("tests/console/node_modules/playwright-core");
    if !playwright.is_dir() {
        return Some(format!(
            "{} is missing (npm ci --prefix tests/console)",
            playwright.display()
        ));
    }
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !std::path::Path::new(&chromium).exists() {
        return Some(format!("{chromium} is missing (apt-get install chromium)"));
    }
    None
}

/// Runs `cmd` (a `node …` command) from the workspace root with the superuser's credentials in
/// `KEEL_SUPERUSER_EMAIL`/`KEEL_SUPERUSER_PASSWORD`, its output prefixed with `prefix`, and
/// returns how it ended; a run longer than `timeout` is killed and fails the test.
pub fn run(mut cmd: Command, prefix: &'static str, timeout: Duration) -> ExitStatus {
    let mut node = cmd
        .current_dir(workspace_root())
        .env("KEEL_SUPERUSER_EMAIL", super::SUPERUSER_EMAIL)
        .env("KEEL_SUPERUSER_PASSWORD", super::SUPERUSER_PASSWORD)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = forward_lines(node.stdout.take().unwrap(), prefix, false);
    let err = forward_lines(node.stderr.take().unwrap(), prefix, true);
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = node.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = node.kill();
            let _ = node.wait();
            panic!("`{cmd:?}` did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    out.join().unwrap();
    err.join().unwrap();
    status
}
