//! The SSH transport (russh): one authenticated connection to one target, reused for every
//! command and copy; SFTP for files.
//!
//! - **Host keys** are checked during the key exchange, before any credential is sent
//!   ([`HostKeyPolicy`]): a pinned fingerprint must match; trust on first use accepts the key
//!   and reports it ([`SshTransport::host_key`]); otherwise the connection is refused with
//!   the fingerprint the server presented.
//! - **Authentication**: the private key first when there is one (RSA signs with the best
//!   hash the server allows), then the password.
//! - **Commands** run in the SSH user's login shell (a POSIX shell is required). The
//!   transport learns the command's process group id first (OpenSSH starts each command in
//!   a session of its own), so a timeout or cancel can signal the whole group from a second
//!   channel (see [`exec`]).

mod auth;
mod exec;
mod host_key;
mod sftp;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use russh::client::{self, Handle};
use tokio::net::TcpStream;

pub use host_key::{fingerprint, HostKeyPolicy};

use self::host_key::Client;
use super::{Credentials, ExecOutcome, ExecRequest, Identity, OutputSink, Transport, TransportError};

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct SshConfig {
    /// Host name or address.
    pub host: String,
    pub port: u16,
    pub credentials: Credentials,
    pub host_key: HostKeyPolicy,
    /// The limit for the TCP connect, the key exchange and authentication, each.
    pub connect_timeout: Duration,
    /// Keepalive probes on an idle connection, so a dead peer is noticed.
    pub keepalive_interval: Option<Duration>,
}

impl SshConfig {
    /// Port 22, a 10 s connect timeout, keepalives every 15 s, and the host key
    /// [`HostKeyPolicy::RequirePinned`].
    pub fn new(host: impl Into<String>, credentials: Credentials) -> SshConfig {
        SshConfig {
            host: host.into(),
            port: 22,
            credentials,
            host_key: HostKeyPolicy::RequirePinned,
            connect_timeout: Duration::from_secs(10),
            keepalive_interval: Some(Duration::from_secs(15)),
        }
    }

    fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// An authenticated SSH connection to one target.
pub struct SshTransport {
    address: String,
    handle: Arc<Handle<Client>>,
    host_key: String,
    trusted_on_first_use: bool,
}

impl std::fmt::Debug for SshTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshTransport")
            .field("address", &self.address)
            .field("host_key", &self.host_key)
            .finish()
    }
}

impl SshTransport {
    /// Connects, checks the host key, and authenticates.
    pub async fn connect(config: &SshConfig) -> Result<SshTransport, TransportError> {
        config.host_key.validate()?;
        let address = config.address();
        let limit = config.connect_timeout;
        let timed_out = |stage| TransportError::ConnectTimeout {
            address: address.clone(),
            stage,
            seconds: limit.as_secs().max(1),
        };

        let tcp = tokio::time::timeout(limit, TcpStream::connect((config.host.as_str(), config.port)))
            .await
            .map_err(|_| timed_out("the TCP connection"))?
            .map_err(|e| TransportError::Unreachable {
                address: address.clone(),
                reason: e.to_string(),
            })?;
        let _ = tcp.set_nodelay(true);

        let russh_config = Arc::new(client::Config {
            keepalive_interval: config.keepalive_interval,
            keepalive_max: 3,
            nodelay: true,
            ..client::Config::default()
        });
        let seen = Arc::new(Mutex::new(None));
        let handler = Client {
            policy: config.host_key.clone(),
            seen: seen.clone(),
        };
        let handshake = tokio::time::timeout(limit, client::connect_stream(russh_config, tcp, handler))
            .await
            .map_err(|_| timed_out("the SSH handshake"))?;
        let seen_key = seen.lock().ok().and_then(|s| s.clone());
        let mut handle = match handshake {
            Ok(handle) => handle,
            Err(russh::Error::UnknownKey) => {
                return Err(host_key::refused(
                    &config.host_key,
                    &address,
                    seen_key.unwrap_or_default(),
                ));
            }
            Err(e) => return Err(lost_or_protocol(&address, e)),
        };
        let host_key = seen_key.unwrap_or_default();

        tokio::time::timeout(limit, auth::authenticate(&mut handle, &config.credentials, &address))
            .await
            .map_err(|_| timed_out("authentication"))??;

        Ok(SshTransport {
            address,
            handle: Arc::new(handle),
            host_key,
            trusted_on_first_use: config.host_key == HostKeyPolicy::TrustOnFirstUse,
        })
    }

    /// The fingerprint (`SHA256:…`) of the host key the server presented.
    pub fn host_key(&self) -> &str {
        &self.host_key
    }

    /// The key was accepted by trust on first use: the caller should store
    /// [`host_key`](Self::host_key) and pin it.
    pub fn trusted_on_first_use(&self) -> bool {
        self.trusted_on_first_use
    }

    /// `host:port`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Whether the connection is gone.
    pub fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }
}

/// A russh error after the handshake began: a lost connection or a protocol failure.
fn lost_or_protocol(address: &str, e: russh::Error) -> TransportError {
    match e {
        russh::Error::Disconnect
        | russh::Error::SendError
        | russh::Error::HUP
        | russh::Error::IO(_)
        | russh::Error::KeepaliveTimeout
        | russh::Error::InactivityTimeout => TransportError::ConnectionLost {
            address: address.to_string(),
            reason: e.to_string(),
        },
        other => TransportError::Protocol {
            address: address.to_string(),
            reason: other.to_string(),
        },
    }
}

#[async_trait]
impl Transport for SshTransport {
    async fn exec(&self, request: ExecRequest, sink: &dyn OutputSink) -> Result<ExecOutcome, TransportError> {
        exec::run(&self.handle, &self.address, request, sink).await
    }

    async fn upload(&self, local: &std::path::Path, remote: &str) -> Result<u64, TransportError> {
        sftp::upload(&self.handle, &self.address, local, remote).await
    }

    async fn download(&self, remote: &str, local: &std::path::Path) -> Result<u64, TransportError> {
        sftp::download(&self.handle, &self.address, remote, local).await
    }

    async fn identity(&self) -> Result<Identity, TransportError> {
        let sink = super::CollectSink::new();
        let request = ExecRequest::new(super::IDENTITY_COMMAND).with_timeout(Duration::from_secs(30));
        let outcome = self.exec(request, &sink).await?;
        match Identity::parse(&sink.stdout()) {
            Some(identity) if outcome.success() => Ok(identity),
            _ => Err(TransportError::Protocol {
                address: self.address.clone(),
                reason: format!(
                    "`uname` did not answer (exit {:?}); the target needs a POSIX shell and uname",
                    outcome.exit_code
                ),
            }),
        }
    }

    async fn close(&self) {
        let _ = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, "closed by Keel", "en")
            .await;
    }
}
