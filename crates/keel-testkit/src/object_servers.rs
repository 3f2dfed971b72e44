//! Object-storage emulators started per test, each on a free loopback port and killed on
//! drop: PyPI's `moto[server]` (S3) and npm's Azurite (Azure Blob; installed under
//! `tests/azurite` by `npm ci --prefix tests/azurite`).
//!
//! Without the tool, `start` prints one line and returns `None` (the test returns early),
//! unless `KEEL_TEST_REQUIRE_ENGINES=1`, where it panics.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::env::engines_required;

const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Azurite's well-known development account and key.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn missing(what: &str, install: &str) -> Option<()> {
    if engines_required() {
        panic!("{what} is not installed but KEEL_TEST_REQUIRE_ENGINES=1: {install}");
    }
    println!("skipped: {what} is not installed ({install})");
    None
}

/// Waits until `port` accepts connections, or panics (with the child's exit, if it died).
fn wait_listening(child: &mut Child, port: u16, what: &str) {
    let start = Instant::now();
    while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening: {status}");
        }
        assert!(
            start.elapsed() < START_TIMEOUT,
            "{what} did not listen on {port} within {START_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A running `moto_server` with one bucket.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The bucket created at start.
    pub bucket: String,
}

impl Moto {
    /// Starts `moto_server` on a free port and creates the bucket `keel`.
    pub async fn start() -> Option<Moto> {
        let tool = which("moto_server");
        let Some(tool) = tool else {
            missing("moto_server", "pip install 'moto[server]'")?;
            return None;
        };
        let port = free_port();
        let mut child = Command::new(tool)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        wait_listening(&mut child, port, "moto_server");
        let endpoint = format!("http://127.0.0.1:{port}");
        let moto = Moto {
            child,
            endpoint,
            bucket: "keel".into(),
        };
        moto.create_bucket("keel").await;
        Some(moto)
    }

    /// Creates a bucket (moto accepts unsigned bucket creation).
    pub async fn create_bucket(&self, name: &str) {
        let url = format!("{}/{name}", self.endpoint);
        let res = reqwest::Client::new().put(&url).send().await.expect("PUT bucket");
        assert!(res.status().is_success(), "moto bucket {name}: {}", res.status());
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running Azurite Blob service (in memory) with one container.
pub struct Azurite {
    child: Child,
    /// `http://127.0.0.1:PORT/devstoreaccount1`.
    pub endpoint: String,
    /// The container created at start.
    pub container: String,
}

impl Azurite {
    /// Starts `azurite-blob` from `tests/azurite/node_modules` on a free port and creates the
    /// container `keel`.
    pub async fn start() -> Option<Azurite> {
        let bin = repo_root().join("tests/azurite/node_modules/.bin/azurite-blob");
        if !bin.exists() {
            missing("azurite", "npm ci --prefix tests/azurite")?;
            return None;
        }
        let port = free_port();
        let mut child = Command::new(bin)
            .args([
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                &port.to_string(),
                "--inMemoryPersistence",
                "--skipApiVersionCheck",
                "--loose",
                "--disableTelemetry",
                "--silent",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("azurite-blob starts");
        wait_listening(&mut child, port, "azurite-blob");
        let az = Azurite {
            child,
            endpoint: format!("http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"),
            container: "keel".into(),
        };
        az.create_container("keel").await;
        Some(az)
    }

    /// Creates a container with a Shared Key signed `PUT ?restype=container`.
    pub async fn create_container(&self, name: &str) {
        let date = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        let version = "2021-08-06";
        let string_to_sign = format!(
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n/{AZURITE_ACCOUNT}/{AZURITE_ACCOUNT}/{name}\nrestype:container"
        );
        let key = base64::engine::general_purpose::STANDARD
            .decode(AZURITE_KEY)
            .expect("key");
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("hmac");
        mac.update(string_to_sign.as_bytes());
        let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let res = reqwest::Client::new()
            .put(format!("{}/{name}?restype=container", self.endpoint))
            .header("x-ms-date", date)
            .header("x-ms-version", version)
            .header("Authorization", format!("SharedKey {AZURITE_ACCOUNT}:{sig}"))
            .header("Content-Length", "0")
            .send()
            .await
            .expect("PUT container");
        assert!(res.status().is_success(), "azurite container {name}: {}", res.status());
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The workspace root (two levels above this crate).
fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The first `name` on `PATH`.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}
