//! Test harness: runs the real `keel` binary on a fresh data dir, the way a user would.
//!
//! `KeelProcess::start()` creates a temporary data dir, a superuser (`keel superuser upsert`),
//! then `keel serve --http 127.0.0.1:0` and waits for the `Keel listening on http://…` line.
//! The child is killed when the `KeelProcess` is dropped.

// Each test binary uses a different part of the harness.
#![allow(dead_code)]

pub mod engines;
pub mod node;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use tempfile::TempDir;

pub const SUPERUSER_EMAIL: &str = "admin@keel.test";
pub const SUPERUSER_PASSWORD: &str = "keel-test-password-1";

/// How long `keel serve` may take to print its listening line.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const READY_PREFIX: &str = "Keel listening on ";

/// The workspace root (where `tests/sdk/` lives).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A `Command` for the `keel` binary built for this test, without the test-only `KEEL_TEST_*`
/// variables (they configure the tests, not the server).
pub fn keel_command(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keel"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("KEEL_TEST_") {
            cmd.env_remove(key);
        }
    }
    cmd.arg("--data-dir").arg(data_dir);
    cmd
}

/// Copies every line of `reader` to the test's output (captured by the test harness, shown on
/// failure or with `--nocapture`), prefixed with `prefix`. Returns when the stream closes.
pub fn forward_lines<R: Read + Send + 'static>(
    reader: R,
    prefix: &'static str,
    to_stderr: bool,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            if to_stderr {
                eprintln!("{prefix}{line}");
            } else {
                println!("{prefix}{line}");
            }
        }
    })
}

/// A running `keel serve`, killed on drop.
pub struct KeelProcess {
    child: Child,
    url: String,
    data_dir: Option<TempDir>,
    /// Every line the server printed on stdout after its listening line.
    output: mpsc::Receiver<String>,
}

impl KeelProcess {
    /// A fresh data dir with a superuser (`SUPERUSER_EMAIL` / `SUPERUSER_PASSWORD`), served.
    pub fn start() -> Self {
        Self::start_with_env(&[])
    }

    /// Like `start`, with extra environment variables for the server (e.g. `KEEL_JOBS__STORE`).
    pub fn start_with_env(env: &[(&str, &str)]) -> Self {
        let data_dir = tempfile::Builder::new().prefix("keel-test-").tempdir().unwrap();
        upsert_superuser_with_env(data_dir.path(), SUPERUSER_EMAIL, SUPERUSER_PASSWORD, env);
        Self::serve_with_env(data_dir, env)
    }

    /// Serves an existing data dir (e.g. one returned by `kill`).
    pub fn serve(data_dir: TempDir) -> Self {
        Self::serve_with_env(data_dir, &[])
    }

    /// Serves an existing data dir with extra environment variables.
    pub fn serve_with_env(data_dir: TempDir, env: &[(&str, &str)]) -> Self {
        Self::serve_on(data_dir, "127.0.0.1:0", env)
    }

    /// Serves an existing data dir on `http` (the `--http` flag) with extra variables.
    pub fn serve_on(data_dir: TempDir, http: &str, env: &[(&str, &str)]) -> Self {
        Self::serve_args(data_dir, &["--http", http], env)
    }

    /// Serves an existing data dir with `keel serve ARGS` and extra variables.
    pub fn serve_args(data_dir: TempDir, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = keel_command(data_dir.path())
            .envs(env.iter().copied())
            .arg("serve")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", env!("CARGO_BIN_EXE_keel")));
        forward_lines(child.stderr.take().unwrap(), "[keel] ", true);

        // Read stdout until the listening line, then keep draining it so the server never blocks.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let (output_tx, output) = mpsc::channel();
        thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                println!("[keel] {line}");
                if let Some(url) = line.strip_prefix(READY_PREFIX) {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(url.trim().trim_end_matches('/').to_string());
                    }
                } else if tx.is_none() {
                    let _ = output_tx.send(line);
                }
            }
        });

        let url = match rx.recv_timeout(READY_TIMEOUT) {
            Ok(url) => url,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().unwrap();
                panic!("keel serve exited before listening ({status}); its output is above");
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("keel serve did not print \"{READY_PREFIX}…\" within {READY_TIMEOUT:?}");
            }
        };
        Self {
            child,
            url,
            data_dir: Some(data_dir),
            output,
        }
    }

    /// The first line printed after the listening line that contains `needle`, waiting up to
    /// `timeout` for it.
    pub fn wait_for_output(&self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(std::time::Instant::now())?;
            match self.output.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The base URL, e.g. `http://127.0.0.1:41234` (no trailing slash).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.as_ref().unwrap().path()
    }

    /// `kill -9` (SIGKILL on Unix): no graceful shutdown. Returns the data dir to serve again.
    pub fn kill(mut self) -> TempDir {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.data_dir.take().unwrap()
    }

    /// Sends SIGTERM (a graceful shutdown request).
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits up to `timeout` for the process to exit; `None` if it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The exit status if the server has exited on its own.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }
}

impl Drop for KeelProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `keel --data-dir DIR superuser upsert EMAIL PASSWORD`, which must succeed.
pub fn upsert_superuser(data_dir: &Path, email: &str, password: &str) {
    upsert_superuser_with_env(data_dir, email, password, &[]);
}

/// `upsert_superuser` with extra environment variables (the records engine's, e.g.).
pub fn upsert_superuser_with_env(data_dir: &Path, email: &str, password: &str, env: &[(&str, &str)]) {
    let out = keel_command(data_dir)
        .envs(env.iter().copied())
        .args(["superuser", "upsert", email, password])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "keel superuser upsert failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A superuser token (`SUPERUSER_EMAIL` / `SUPERUSER_PASSWORD`) from the server at `url`.
pub async fn superuser_token(http: &reqwest::Client, url: &str) -> String {
    let res = http
        .post(format!("{url}/api/collections/_superusers/auth-with-password"))
        .json(&serde_json::json!({ "identity": SUPERUSER_EMAIL, "password": SUPERUSER_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "superuser login: {}", res.text().await.unwrap());
    let body: serde_json::Value = res.json().await.unwrap();
    body["token"].as_str().unwrap().to_string()
}
