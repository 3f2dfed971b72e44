//! A real SMTP server for tests: PyPI's `aiosmtpd`, run as a child process that stores
//! every message it accepts in a Maildir in a fresh temporary directory.
//!
//! Install it with `pip install aiosmtpd`. Without it, [`SmtpServer::start`] prints one
//! line and returns `None` (the test returns early), unless `KEEL_TEST_REQUIRE_ENGINES=1`,
//! where it panics.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mail_parser::{MessageParser, PartType};

use crate::env::engines_required;

/// How long a starting server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A mailbox of a received message (`"Ann" <ann@x.test>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailAddr {
    pub name: Option<String>,
    pub email: String,
}

/// One message as the server received it, parsed.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// The `From` header's mailbox.
    pub from: Option<MailAddr>,
    /// The `To` header's mailboxes.
    pub to: Vec<MailAddr>,
    /// The decoded subject.
    pub subject: Option<String>,
    /// The `text/plain` part, decoded (`None` if the message has none).
    pub text: Option<String>,
    /// The `text/html` part, decoded (`None` if the message has none).
    pub html: Option<String>,
    /// The top-level headers as sent: name and raw (undecoded) value, in order.
    pub headers: Vec<(String, String)>,
    /// The SMTP envelope: `MAIL FROM` and every `RCPT TO`, as aiosmtpd recorded them.
    pub envelope_from: Option<String>,
    pub envelope_to: Vec<String>,
    /// The whole message as stored.
    pub raw: Vec<u8>,
}

impl ReceivedMail {
    /// The raw values of every top-level header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
            .collect()
    }

    /// Parses one stored message; `None` if it is not a message at all.
    pub fn parse(raw: &[u8]) -> Option<ReceivedMail> {
        let msg = MessageParser::default().parse(raw)?;
        let addrs = |a: Option<&mail_parser::Address<'_>>| -> Vec<MailAddr> {
            a.map(|a| {
                a.iter()
                    .map(|m| MailAddr {
                        name: m.name().map(str::to_string),
                        email: m.address().unwrap_or_default().to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default()
        };
        let part = |ids: &[u32], html: bool| {
            ids.iter().find_map(|id| match &msg.parts.get(*id as usize)?.body {
                PartType::Text(t) if !html => Some(t.to_string()),
                PartType::Html(h) if html => Some(h.to_string()),
                _ => None,
            })
        };
        let headers: Vec<(String, String)> = msg.headers_raw().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        let envelope = |name: &str| -> Vec<String> {
            headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .flat_map(|(_, v)| v.split(',').map(|s| s.trim().to_string()))
                .filter(|s| !s.is_empty())
                .collect()
        };
        Some(ReceivedMail {
            from: addrs(msg.from()).into_iter().next(),
            to: addrs(msg.to()),
            subject: msg.subject().map(str::to_string),
            text: part(&msg.text_body, false),
            html: part(&msg.html_body, true),
            envelope_from: envelope("X-MailFrom").into_iter().next(),
            envelope_to: envelope("X-RcptTo"),
            headers,
            raw: raw.to_vec(),
        })
    }
}

/// A running `aiosmtpd` on `127.0.0.1` and an ephemeral port; killed on drop.
pub struct SmtpServer {
    pub host: String,
    pub port: u16,
    child: Child,
    maildir: PathBuf,
    dir: tempfile::TempDir,
}

impl SmtpServer {
    /// The Maildir the server writes every message to (`new/`, `cur/`).
    pub fn maildir(&self) -> &std::path::Path {
        &self.maildir
    }

    /// Starts a server, or `None` (after printing why) when `python3 -m aiosmtpd` is not
    /// available and engines are not required.
    pub fn start() -> Option<SmtpServer> {
        Self::start_on_free_port(None)
    }

    /// Starts a server that refuses, for good (SMTP 552), any message over `max_bytes`.
    /// `None` as [`start`](SmtpServer::start).
    pub fn start_with_max_size(max_bytes: usize) -> Option<SmtpServer> {
        Self::start_on_free_port(Some(max_bytes))
    }

    /// Starts a server on `port` (one the caller reserved, e.g. to bring a mail server up
    /// after Keel first failed to reach it); panics when it cannot. `None` as [`start`].
    ///
    /// [`start`]: SmtpServer::start
    pub fn start_on(port: u16) -> Option<SmtpServer> {
        if !Self::available() {
            return None;
        }
        match Self::spawn(port, None) {
            Ok(server) => Some(server),
            Err(e) => panic!("aiosmtpd did not start on port {port}: {e}"),
        }
    }

    /// Whether aiosmtpd can be used here. When it cannot, prints that the test is skipped
    /// and returns `false`, or panics when `KEEL_TEST_REQUIRE_ENGINES=1`.
    pub fn available() -> bool {
        if aiosmtpd_installed() {
            return true;
        }
        let why = "aiosmtpd is not installed (pip install aiosmtpd)";
        if engines_required() {
            panic!("{why} but KEEL_TEST_REQUIRE_ENGINES=1: the SMTP tests need it");
        }
        println!("skipped: {why}");
        false
    }

    /// Starts a server that offers STARTTLS with a self-signed certificate and requires it,
    /// then `AUTH` (PLAIN or LOGIN) as `username`/`password`, before it takes any mail.
    /// [`SmtpServer::ca_cert_pem`] is the certificate to trust. `None` as [`start`].
    ///
    /// [`start`]: SmtpServer::start
    pub fn start_secure(username: &str, password: &str) -> Option<SmtpServer> {
        if !Self::available() {
            return None;
        }
        let Some(openssl) = crate::tls::find_program("openssl") else {
            let why = "openssl is not installed (needed for the STARTTLS server)";
            if engines_required() {
                panic!("{why} but KEEL_TEST_REQUIRE_ENGINES=1");
            }
            println!("skipped: {why}");
            return None;
        };
        Some(Self::on_free_port("aiosmtpd (STARTTLS + AUTH)", |port| {
            Self::spawn_secure(port, &openssl, username, password)
        }))
    }

    /// Starts a server with `spawn` on a port the OS picked; panics naming `what` when three
    /// tries fail (a port picked by the OS may be taken again before the server binds it).
    fn on_free_port(what: &str, spawn: impl Fn(u16) -> Result<SmtpServer, String>) -> SmtpServer {
        let mut last = String::new();
        for _ in 0..3 {
            match free_port().map_err(|e| format!("free port: {e}")).and_then(&spawn) {
                Ok(server) => return server,
                Err(e) => last = e,
            }
        }
        panic!("{what} did not start: {last}");
    }

    /// The PEM of the self-signed certificate of a [`start_secure`](SmtpServer::start_secure)
    /// server.
    pub fn ca_cert_pem(&self) -> Option<String> {
        std::fs::read_to_string(self.dir.path().join("cert.pem")).ok()
    }

    fn spawn_secure(
        port: u16,
        openssl: &std::path::Path,
        username: &str,
        password: &str,
    ) -> Result<SmtpServer, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        crate::tls::self_signed_certificate(openssl, dir.path())?;
        let maildir = dir.path().join("maildir");
        let child = Command::new("python3")
            .arg("-c")
            .arg(SECURE_SERVER)
            .arg(port.to_string())
            .arg(&maildir)
            .arg(dir.path().join("cert.pem"))
            .arg(dir.path().join("key.pem"))
            .arg(username)
            .arg(password)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawning python3: {e}"))?;
        Self::ready(child, port, maildir, dir)
    }

    fn start_on_free_port(max_bytes: Option<usize>) -> Option<SmtpServer> {
        if !Self::available() {
            return None;
        }
        Some(Self::on_free_port("aiosmtpd", |port| Self::spawn(port, max_bytes)))
    }

    fn spawn(port: u16, max_bytes: Option<usize>) -> Result<SmtpServer, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let maildir = dir.path().join("maildir");
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(
                max_bytes
                    .map(|n| ["-s".to_string(), n.to_string()])
                    .into_iter()
                    .flatten(),
            )
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawning python3: {e}"))?;
        Self::ready(child, port, maildir, dir)
    }

    /// Waits until the spawned server accepts connections on `port`.
    fn ready(mut child: Child, port: u16, maildir: PathBuf, dir: tempfile::TempDir) -> Result<SmtpServer, String> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("it exited with {status} (port {port})"));
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("port {port} not accepting after {START_TIMEOUT:?}"));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Ok(SmtpServer {
            host: "127.0.0.1".into(),
            port,
            child,
            maildir,
            dir,
        })
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        read_maildir(&self.maildir)
    }

    /// The messages received so far whose `To` header or envelope names `addr`.
    pub fn messages_to(&self, addr: &str) -> Vec<ReceivedMail> {
        self.messages()
            .into_iter()
            .filter(|m| {
                m.to.iter().any(|t| t.email.eq_ignore_ascii_case(addr))
                    || m.envelope_to.iter().any(|t| t.eq_ignore_ascii_case(addr))
            })
            .collect()
    }

    /// Polls until at least `n` messages have arrived or `timeout` elapses, then returns
    /// every message received (possibly fewer than `n`: the caller asserts).
    pub async fn wait_for_messages(&self, n: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = Instant::now() + timeout;
        loop {
            let found = self.messages();
            if found.len() >= n || Instant::now() >= deadline {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// aiosmtpd requiring STARTTLS, then AUTH, before mail; argv: port, maildir, cert, key,
/// username, password. Messages go to the Maildir like the plain server's.
const SECURE_SERVER: &str = r#"
import signal, ssl, sys
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult

port, maildir, cert, key, user, password = sys.argv[1:7]
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)

def authenticate(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == user.encode() and auth_data.password == password.encode()
    return AuthResult(success=ok)

controller = Controller(Mailbox(maildir), hostname="127.0.0.1", port=int(port),
    tls_context=ctx, require_starttls=True, auth_required=True, auth_require_tls=True,
    authenticator=authenticate)
controller.start()
signal.pause()
"#;

fn aiosmtpd_installed() -> bool {
    Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

/// Messages in `new/` and `cur/` (aiosmtpd writes to `tmp/` and renames, so every file seen
/// there is complete), in arrival order: by the delivery counter in their Maildir names
/// (`<secs>.M<usecs>P<pid>Q<counter>.<host>`), which one server process increments.
fn read_maildir(maildir: &Path) -> Vec<ReceivedMail> {
    let mut files: Vec<(u64, String, PathBuf)> = ["new", "cur"]
        .iter()
        .filter_map(|sub| std::fs::read_dir(maildir.join(sub)).ok())
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (delivery_counter(&name).unwrap_or(u64::MAX), name, e.path())
        })
        .collect();
    files.sort();
    files
        .iter()
        .filter_map(|(_, _, path)| std::fs::read(path).ok())
        .filter_map(|raw| ReceivedMail::parse(&raw))
        .collect()
}

fn delivery_counter(name: &str) -> Option<u64> {
    let after = &name[name.find('Q')? + 1..];
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}
