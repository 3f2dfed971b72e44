//! A real OpenSSH server for tests: `sshd -D -e -f CONFIG` with its own host key, config and
//! authorized keys in a fresh temp dir, on a free loopback port; killed when the
//! [`SshServer`] drops.
//!
//! Needs the Debian package `openssh-server`, and root (to create the test user [`USER`]
//! and to run sshd). Without either, [`SshServer::start`] prints one line and returns
//! `None`, or panics when `KEEL_TEST_REQUIRE_ENGINES=1`.
//!
//! The user is created once per machine and kept (`useradd`, then its password set to
//! [`PASSWORD`]); that step holds an exclusive lock on a file in the temp dir, so test
//! binaries and threads starting servers at once do not race on `/etc/passwd`. Each server
//! reads its own `authorized_keys` (from its temp dir: `StrictModes no`), so servers
//! running in parallel never see each other's keys.

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::env::engines_required;
use crate::tls::find_program;

/// The test user every server accepts.
pub const USER: &str = "keelssh";
/// Its password (a test machine's throwaway user).
pub const PASSWORD: &str = "keel-ssh-test-pw";
/// The passphrase of [`SshServer::rsa_key_pem`].
pub const KEY_PASSPHRASE: &str = "keel-key-passphrase";

const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A running sshd on `127.0.0.1`; killed on drop.
pub struct SshServer {
    /// `127.0.0.1`.
    pub host: String,
    pub port: u16,
    /// The host key's fingerprint, `SHA256:…` as `ssh-keygen -lf` prints it.
    pub host_key_fingerprint: String,
    /// An authorized Ed25519 key, OpenSSH format, no passphrase.
    pub ed25519_key: String,
    /// An authorized RSA key, PEM (PKCS#1) format, encrypted with [`KEY_PASSPHRASE`].
    pub rsa_key_pem: String,
    /// A key the server does not accept (Ed25519, OpenSSH format).
    pub unknown_key: String,
    /// A directory on the server that [`USER`] owns (for copies and marker files).
    pub work_dir: PathBuf,
    log: Arc<Mutex<String>>,
    child: Child,
    _dir: tempfile::TempDir,
}

impl SshServer {
    /// Starts a server; `None` (after one line saying why) when sshd is not installed or the
    /// tests do not run as root. Panics if it is possible but fails.
    pub fn start() -> Option<SshServer> {
        let Some(sshd) = find_program("sshd").filter(|p| p.is_absolute()) else {
            return unavailable("sshd is not installed (apt-get install openssh-server)");
        };
        let Some(keygen) = find_program("ssh-keygen") else {
            return unavailable("ssh-keygen is not installed (apt-get install openssh-client)");
        };
        if !is_root() {
            return unavailable("the sshd tests need root (to create the test user and run sshd)");
        }
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start(&sshd, &keygen) {
                Ok(server) => return Some(server),
                Err(Failure::Port(why)) => last = why,
                Err(Failure::Other(why)) => panic!("sshd did not start: {why}"),
            }
        }
        panic!("sshd did not start after 3 ports: {last}");
    }

    /// What sshd logged so far (with `-e`, its log goes to stderr): useful in a failing
    /// test's message.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn try_start(sshd: &Path, keygen: &Path) -> Result<SshServer, Failure> {
        ensure_user().map_err(Failure::Other)?;
        fs::create_dir_all("/run/sshd").map_err(|e| Failure::Other(format!("mkdir /run/sshd: {e}")))?;
        let dir = tempfile::tempdir().map_err(|e| Failure::Other(e.to_string()))?;
        let d = dir.path();
        // sshd reads authorized_keys as the user: the directory must be traversable.
        set_mode(d, 0o755)?;
        let host_key = d.join("host_key");
        keygen_run(
            keygen,
            &["-q", "-t", "ed25519", "-N", "", "-C", "keel-test-host", "-f"],
            &host_key,
        )?;
        let ed25519 = d.join("client_ed25519");
        keygen_run(
            keygen,
            &["-q", "-t", "ed25519", "-N", "", "-C", "keel-test", "-f"],
            &ed25519,
        )?;
        let rsa = d.join("client_rsa");
        keygen_run(
            keygen,
            &[
                "-q",
                "-t",
                "rsa",
                "-b",
                "2048",
                "-m",
                "PEM",
                "-N",
                KEY_PASSPHRASE,
                "-C",
                "keel-test-rsa",
                "-f",
            ],
            &rsa,
        )?;
        let unknown = d.join("client_unknown");
        keygen_run(keygen, &["-q", "-t", "ed25519", "-N", "", "-f"], &unknown)?;

        let authorized = d.join("authorized_keys");
        let mut keys = read(&ed25519.with_extension("pub"))?;
        keys.push_str(&read(&rsa.with_extension("pub"))?);
        fs::write(&authorized, keys).map_err(|e| Failure::Other(e.to_string()))?;
        set_mode(&authorized, 0o644)?;

        let work_dir = d.join("work");
        fs::create_dir(&work_dir).map_err(|e| Failure::Other(e.to_string()))?;
        let (uid, gid) = user_ids()?;
        std::os::unix::fs::chown(&work_dir, Some(uid), Some(gid)).map_err(|e| Failure::Other(format!("chown: {e}")))?;

        let port = free_port()?;
        let config = d.join("sshd_config");
        let text = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nPidFile {pid}\nUsePAM no\n\
             PasswordAuthentication yes\nPubkeyAuthentication yes\nKbdInteractiveAuthentication no\n\
             PermitRootLogin no\nAllowUsers {USER}\nAuthorizedKeysFile {ak}\nStrictModes no\n\
             MaxStartups 200\nMaxSessions 64\nMaxAuthTries 10\nLogLevel VERBOSE\n\
             Subsystem sftp internal-sftp\n",
            hk = host_key.display(),
            pid = d.join("sshd.pid").display(),
            ak = authorized.display(),
        );
        fs::write(&config, text).map_err(|e| Failure::Other(e.to_string()))?;

        let fingerprint = fingerprint(keygen, &host_key.with_extension("pub"))?;
        let mut child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Failure::Other(format!("spawning {}: {e}", sshd.display())))?;
        let log = Arc::new(Mutex::new(String::new()));
        if let Some(stderr) = child.stderr.take() {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Ok(mut l) = log.lock() {
                        l.push_str(&line);
                        l.push('\n');
                    }
                }
            });
        }
        let server = SshServer {
            host: "127.0.0.1".into(),
            port,
            host_key_fingerprint: fingerprint,
            ed25519_key: read(&ed25519)?,
            rsa_key_pem: read(&rsa)?,
            unknown_key: read(&unknown)?,
            work_dir,
            log,
            child,
            _dir: dir,
        };
        server.wait_listening()
    }

    /// Waits for "Server listening on …" in the log; a bind failure means the port was taken.
    fn wait_listening(mut self) -> Result<SshServer, Failure> {
        let start = Instant::now();
        loop {
            let log = self.log();
            if log.contains("Server listening on") {
                return Ok(self);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let why = format!("sshd exited ({status}): {log}");
                return Err(if log.contains("Address already in use") {
                    Failure::Port(why)
                } else {
                    Failure::Other(why)
                });
            }
            if start.elapsed() > START_TIMEOUT {
                return Err(Failure::Other(format!(
                    "sshd did not listen within {START_TIMEOUT:?}: {log}"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

enum Failure {
    /// The port was taken between choosing it and sshd binding it.
    Port(String),
    Other(String),
}

fn unavailable(what: &str) -> Option<SshServer> {
    if engines_required() {
        panic!("{what}, but KEEL_TEST_REQUIRE_ENGINES=1");
    }
    println!("skipped: {what}");
    None
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Creates [`USER`] if missing and sets its password, under a machine-wide file lock.
fn ensure_user() -> Result<(), String> {
    let lock_path = std::env::temp_dir().join("keel-testkit-sshd-user.lock");
    let lock = File::create(&lock_path).map_err(|e| format!("{}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("locking {}: {e}", lock_path.display()))?;
    let exists = Command::new("id").arg(USER).output().is_ok_and(|o| o.status.success());
    if !exists {
        let useradd = find_program("useradd").ok_or("useradd is not installed")?;
        let out = Command::new(useradd)
            .args(["-m", "-s", "/bin/bash", USER])
            .output()
            .map_err(|e| format!("useradd: {e}"))?;
        if !out.status.success() {
            return Err(format!("useradd {USER}: {}", String::from_utf8_lossy(&out.stderr)));
        }
    }
    let chpasswd = find_program("chpasswd").ok_or("chpasswd is not installed")?;
    let mut child = Command::new(chpasswd)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("chpasswd: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        stdin
            .write_all(format!("{USER}:{PASSWORD}\n").as_bytes())
            .map_err(|e| format!("chpasswd: {e}"))?;
    }
    let out = child.wait_with_output().map_err(|e| format!("chpasswd: {e}"))?;
    if !out.status.success() {
        return Err(format!("chpasswd: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(())
}

fn user_ids() -> Result<(u32, u32), Failure> {
    let id = |flag: &str| -> Result<u32, Failure> {
        let out = Command::new("id")
            .args([flag, USER])
            .output()
            .map_err(|e| Failure::Other(format!("id: {e}")))?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|_| Failure::Other(format!("id {flag} {USER}: no number")))
    };
    Ok((id("-u")?, id("-g")?))
}

fn keygen_run(keygen: &Path, args: &[&str], file: &Path) -> Result<(), Failure> {
    let out = Command::new(keygen)
        .args(args)
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Failure::Other(format!("ssh-keygen: {e}")))?;
    if !out.status.success() {
        return Err(Failure::Other(format!(
            "ssh-keygen: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

/// `SHA256:…` of a public key file, from `ssh-keygen -lf FILE -E sha256`.
fn fingerprint(keygen: &Path, public: &Path) -> Result<String, Failure> {
    let out = Command::new(keygen)
        .args(["-E", "sha256", "-lf"])
        .arg(public)
        .output()
        .map_err(|e| Failure::Other(format!("ssh-keygen -l: {e}")))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace()
        .find(|w| w.starts_with("SHA256:"))
        .map(str::to_string)
        .ok_or_else(|| Failure::Other(format!("ssh-keygen -l printed no fingerprint: {text}")))
}

fn read(path: &Path) -> Result<String, Failure> {
    fs::read_to_string(path).map_err(|e| Failure::Other(format!("{}: {e}", path.display())))
}

fn set_mode(path: &Path, mode: u32) -> Result<(), Failure> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| Failure::Other(format!("chmod {}: {e}", path.display())))
}

fn free_port() -> Result<u16, Failure> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| Failure::Other(format!("finding a free port: {e}")))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| Failure::Other(e.to_string()))
}
