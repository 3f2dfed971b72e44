//! The WinRM transport: WS-Management over HTTP (5985) or HTTPS (5986) to a Windows target,
//! through `winrm-rs` 1.1 (the SOAP envelopes, NTLMv2 and Basic auth, NTLM message sealing).
//!
//! - **Commands** run in a remote shell created for each command and deleted after it:
//!   Create, Command, Send (stdin, then end of stream), Receive until `CommandState/Done`
//!   with its `ExitCode` (output streamed to the sink as each Receive brings it), Delete.
//!   [`WinrmShell::PowerShell`] (the default) runs the command as
//!   `powershell -EncodedCommand <UTF-16LE base64>`, so no quoting reaches cmd;
//!   [`WinrmShell::Cmd`] hands the command line to the cmd shell as is.
//! - **Timeout and cancel** send the Signal `terminate` for the command (winrs ends the
//!   process), then Delete the shell, whose deletion ends what the command started.
//! - **Auth**: NTLM (NTLMv2) or Basic, over HTTPS; over HTTP only with `allow_unencrypted`
//!   (the server needs `AllowUnencrypted` too). WinRM over HTTP otherwise wants NTLM
//!   message encryption, and winrm-rs 1.1 sends the first body of a sealed session in
//!   clear, which such a listener refuses: Keel refuses that setup up front, with the way
//!   out. Basic over HTTP would also send the password in clear. Kerberos and CredSSP are
//!   not offered.
//! - **HTTPS** trusts the public web roots only (winrm-rs 1.1 takes no custom CA);
//!   `accept_invalid_certs` turns verification off, for a test lab only.
//! - **Files** ([`copy`]) move in base64 chunks through PowerShell, size and SHA-256 checked.

mod copy;
mod exec;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use winrm_rs::{AuthMethod, EncryptionMode, SoapError, WinrmClient, WinrmCredentials, WinrmError};

use super::{Credentials, ExecOutcome, ExecRequest, Identity, OutputSink, Transport, TransportError};

/// How to authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WinrmAuth {
    /// NTLMv2 (a local or domain account); the default.
    #[default]
    Ntlm,
    /// Basic (local accounts only; the server must allow it).
    Basic,
}

impl WinrmAuth {
    fn name(self) -> &'static str {
        match self {
            WinrmAuth::Ntlm => "NTLM",
            WinrmAuth::Basic => "Basic",
        }
    }
}

/// Which shell runs a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WinrmShell {
    /// Windows PowerShell, the command sent as `-EncodedCommand`; the default.
    #[default]
    PowerShell,
    /// The cmd shell, the command line as is.
    Cmd,
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct WinrmConfig {
    /// Host name or address (no scheme, no port).
    pub host: String,
    pub port: u16,
    /// HTTPS instead of HTTP.
    pub https: bool,
    pub auth: WinrmAuth,
    /// The user (`user`, `DOMAIN\user` or `user@domain`) and password; a private key is not
    /// used by WinRM.
    pub credentials: Credentials,
    /// The NTLM domain; `None`: taken from a `DOMAIN\user` username, else empty (a local
    /// account).
    pub domain: Option<String>,
    /// Allows HTTP without encryption (NTLM and Basic alike; Basic then sends the password in
    /// clear). Only for a server with `AllowUnencrypted` on a network you trust.
    pub allow_unencrypted: bool,
    /// Skips HTTPS certificate verification (a test lab only).
    pub accept_invalid_certs: bool,
    /// The shell commands run in (see [`WinrmTransport::with_shell`]).
    pub shell: WinrmShell,
    /// The limit for the TCP connect.
    pub connect_timeout: Duration,
    /// How long one Receive may wait on the server for output (WS-Management
    /// `OperationTimeout`); the server then answers "timed out" and the transport asks again.
    pub operation_timeout: Duration,
}

impl WinrmConfig {
    /// HTTP on port 5985 (turn [`https`](Self::https) on, or allow unencrypted traffic),
    /// NTLM, PowerShell, a 10 s connect timeout and a 20 s operation timeout.
    pub fn new(host: impl Into<String>, credentials: Credentials) -> WinrmConfig {
        WinrmConfig {
            host: host.into(),
            port: 5985,
            https: false,
            auth: WinrmAuth::Ntlm,
            credentials,
            domain: None,
            allow_unencrypted: false,
            accept_invalid_certs: false,
            shell: WinrmShell::PowerShell,
            connect_timeout: Duration::from_secs(10),
            operation_timeout: Duration::from_secs(20),
        }
    }

    /// The same over HTTPS on port 5986.
    pub fn https(mut self) -> WinrmConfig {
        self.https = true;
        self.port = 5986;
        self
    }

    fn address(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}:{}", self.endpoint_host(), self.port)
    }

    /// The host as winrm-rs puts it in the URL: an IPv6 address in brackets.
    fn endpoint_host(&self) -> String {
        let host = self.host.trim();
        if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.to_string()
        }
    }

    /// The username and domain NTLM wants (`DOMAIN\user` split apart).
    fn user_and_domain(&self) -> (String, String) {
        let name = self.credentials.username.as_str();
        match (&self.domain, name.split_once('\\')) {
            (Some(d), _) => (name.to_string(), d.clone()),
            (None, Some((d, u))) => (u.to_string(), d.to_string()),
            (None, None) => (name.to_string(), String::new()),
        }
    }

    fn validate(&self) -> Result<(), TransportError> {
        if self.host.trim().is_empty() || self.host.contains(['/', '@', ' ']) {
            return Err(TransportError::invalid(
                "host",
                "give a host name or address alone, without scheme, port, user or path",
            ));
        }
        if self.credentials.username.trim().is_empty() {
            return Err(TransportError::invalid(
                "username",
                "is empty; give the Windows account to sign in as",
            ));
        }
        if self.credentials.password.as_deref().unwrap_or("").is_empty() {
            return Err(TransportError::NoCredential);
        }
        if self.auth == WinrmAuth::Ntlm && !self.https && !self.allow_unencrypted {
            return Err(TransportError::invalid(
                "auth",
                "NTLM over HTTP needs WinRM message encryption, which this transport does not do reliably (winrm-rs 1.1 sends the first request unencrypted, which a listener requiring encryption refuses); use HTTPS (port 5986), or allow unencrypted traffic only for a server with AllowUnencrypted on a network you trust",
            ));
        }
        if self.auth == WinrmAuth::Basic && !self.https && !self.allow_unencrypted {
            return Err(TransportError::invalid(
                "auth",
                "Basic over HTTP would send the password in clear; use HTTPS (port 5986) or NTLM, or allow unencrypted traffic only for a server with AllowUnencrypted on a network you trust",
            ));
        }
        Ok(())
    }
}

/// A WinRM target. HTTP is stateless: "connected" means the credential was accepted once;
/// each command authenticates again on the (kept-alive) HTTP connections.
#[derive(Clone)]
pub struct WinrmTransport {
    address: String,
    host: String,
    auth: WinrmAuth,
    username: String,
    /// Kept only to scrub it from any text a server sends back.
    password: String,
    base: winrm_rs::WinrmConfig,
    credentials: WinrmCredentials,
    client: Arc<WinrmClient>,
    shell: WinrmShell,
    closed: Arc<AtomicBool>,
}

impl std::fmt::Debug for WinrmTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WinrmTransport")
            .field("address", &self.address)
            .field("auth", &self.auth)
            .field("username", &self.username)
            .field("shell", &self.shell)
            .finish()
    }
}

impl WinrmTransport {
    /// Checks the configuration and the credential: creates a shell and deletes it.
    pub async fn connect(config: &WinrmConfig) -> Result<WinrmTransport, TransportError> {
        config.validate()?;
        let (user, domain) = config.user_and_domain();
        let password = config.credentials.password.clone().unwrap_or_default();
        let base = winrm_rs::WinrmConfig {
            port: config.port,
            use_tls: config.https,
            accept_invalid_certs: config.accept_invalid_certs,
            connect_timeout_secs: config.connect_timeout.as_secs().max(1),
            operation_timeout_secs: config.operation_timeout.as_secs().max(1),
            auth_method: match config.auth {
                WinrmAuth::Ntlm => AuthMethod::Ntlm,
                WinrmAuth::Basic => AuthMethod::Basic,
            },
            // Never sealed: over HTTPS TLS protects the bodies; over HTTP only with
            // `allow_unencrypted` (see `validate`).
            encryption: EncryptionMode::Never,
            user_agent: Some("keel-ops".into()),
            ..winrm_rs::WinrmConfig::default()
        };
        let credentials = WinrmCredentials::new(user, password.clone(), domain);
        let transport = WinrmTransport {
            address: config.address(),
            host: config.endpoint_host(),
            auth: config.auth,
            username: config.credentials.username.clone(),
            password,
            client: Arc::new(WinrmClient::new(base.clone(), credentials.clone()).map_err(setup_error)?),
            base,
            credentials,
            shell: config.shell,
            closed: Arc::new(AtomicBool::new(false)),
        };
        let shell = transport
            .client
            .open_shell(&transport.host)
            .await
            .map_err(|e| transport.error(e))?;
        shell.close().await.map_err(|e| transport.error(e))?;
        Ok(transport)
    }

    /// The same connection running its commands in `shell` (the run engine picks a step's
    /// shell this way; the HTTP connections are shared).
    pub fn with_shell(&self, shell: WinrmShell) -> WinrmTransport {
        WinrmTransport { shell, ..self.clone() }
    }

    /// The shell commands run in.
    pub fn shell(&self) -> WinrmShell {
        self.shell
    }

    /// `http(s)://host:port`.
    pub fn address(&self) -> &str {
        &self.address
    }

    fn check_open(&self) -> Result<(), TransportError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(TransportError::ConnectionLost {
                address: self.address.clone(),
                reason: "the transport was closed".into(),
            });
        }
        Ok(())
    }

    /// A client whose shells start with `env` and in `working_dir` (WS-Management sets both
    /// when the shell is created).
    fn client_for(&self, request: &ExecRequest) -> Result<Arc<WinrmClient>, TransportError> {
        if request.env.is_empty() && request.working_dir.is_none() {
            return Ok(self.client.clone());
        }
        let config = winrm_rs::WinrmConfig {
            env_vars: request.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            working_directory: request.working_dir.clone(),
            ..self.base.clone()
        };
        WinrmClient::new(config, self.credentials.clone())
            .map(Arc::new)
            .map_err(setup_error)
    }

    /// Removes the password from text a server or a library produced.
    fn scrub(&self, text: String) -> String {
        if self.password.len() >= 3 && text.contains(&self.password) {
            text.replace(&self.password, "<hidden>")
        } else {
            text
        }
    }

    /// A winrm-rs error as a transport error, without the password.
    fn error(&self, e: WinrmError) -> TransportError {
        let address = self.address.clone();
        match e {
            WinrmError::Http(e) => {
                let mut reason = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    reason = format!("{reason}: {s}");
                    source = s.source();
                }
                let reason = self.scrub(reason);
                if reason.contains("certificate") {
                    let reason = reason.rsplit(": ").next().unwrap_or_default().to_string();
                    TransportError::UntrustedCertificate { address, reason }
                } else if e.is_connect() {
                    TransportError::Unreachable { address, reason }
                } else {
                    TransportError::ConnectionLost { address, reason }
                }
            }
            WinrmError::AuthFailed(_) => TransportError::AuthRefused {
                address,
                username: self.username.clone(),
                tried: self.auth.name().into(),
            },
            WinrmError::Soap(SoapError::Fault { code, reason }) => TransportError::Protocol {
                address,
                reason: self.scrub(format!("WS-Management fault {code}: {reason}")),
            },
            WinrmError::Timeout(s) => TransportError::ConnectionLost {
                address,
                reason: format!("no answer within {s} s"),
            },
            WinrmError::Transfer(m) => TransportError::Protocol {
                address,
                reason: self.scrub(m),
            },
            other => TransportError::Protocol {
                address,
                reason: self.scrub(other.to_string()),
            },
        }
    }
}

/// An error building the HTTP client (TLS setup): never carries the credential.
fn setup_error(e: WinrmError) -> TransportError {
    TransportError::Spawn {
        reason: format!("cannot set up the WinRM client: {e}"),
    }
}

/// Whether an error is the `w:TimedOut` fault a Receive gets when no output came within
/// the operation timeout (the command still runs: ask again).
fn is_receive_timeout(e: &WinrmError) -> bool {
    matches!(e, WinrmError::Soap(SoapError::Fault { code, .. }) if code.ends_with("TimedOut"))
}

/// The PowerShell that answers [`Identity`] in [`Identity::parse`]'s four lines.
const IDENTITY_SCRIPT: &str =
    "$o = Get-CimInstance Win32_OperatingSystem; [Environment]::MachineName; 'Windows'; $o.Version; $o.Caption";

#[async_trait]
impl Transport for WinrmTransport {
    async fn exec(&self, request: ExecRequest, sink: &dyn OutputSink) -> Result<ExecOutcome, TransportError> {
        self.check_open()?;
        request.validate()?;
        let client = self.client_for(&request)?;
        exec::run(self, &client, self.shell, request, sink).await
    }

    async fn upload(&self, local: &Path, remote: &str) -> Result<u64, TransportError> {
        self.check_open()?;
        copy::upload(self, local, remote).await
    }

    async fn download(&self, remote: &str, local: &Path) -> Result<u64, TransportError> {
        self.check_open()?;
        copy::download(self, remote, local).await
    }

    async fn identity(&self) -> Result<Identity, TransportError> {
        self.check_open()?;
        let sink = super::CollectSink::new();
        let request = ExecRequest::new(IDENTITY_SCRIPT).with_timeout(Duration::from_secs(60));
        let outcome = exec::run(self, &self.client, WinrmShell::PowerShell, request, &sink).await?;
        match Identity::parse(&sink.stdout()) {
            Some(identity) if outcome.success() => Ok(identity),
            _ => Err(TransportError::Protocol {
                address: self.address.clone(),
                reason: format!(
                    "the identity script did not answer (exit {:?}); the target needs PowerShell 3 or later",
                    outcome.exit_code
                ),
            }),
        }
    }

    async fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_bracket_ipv6_and_split_domain_users() {
        let mut c = WinrmConfig::new("fe80::1", Credentials::password("CORP\\ann", "pw"));
        assert_eq!(c.address(), "http://[fe80::1]:5985");
        assert_eq!(c.user_and_domain(), ("ann".to_string(), "CORP".to_string()));
        c = c.https();
        c.host = "win1.corp".into();
        assert_eq!(c.address(), "https://win1.corp:5986");
        c.domain = Some("OTHER".into());
        assert_eq!(c.user_and_domain().1, "OTHER");
    }

    #[test]
    fn configurations_that_would_leak_are_refused() {
        let c = WinrmConfig::new("http://win1", Credentials::password("ann", "pw"));
        assert!(c.validate().unwrap_err().to_string().contains("host"));
        let mut c = WinrmConfig::new("win1", Credentials::password("ann", ""));
        assert!(matches!(c.validate(), Err(TransportError::NoCredential)));
        c.credentials.password = Some("pw".into());
        c.auth = WinrmAuth::Basic;
        assert!(c.validate().is_err());
        c = c.https();
        assert!(c.validate().is_ok());
    }
}
