//! The transport contract: a connection to one target that runs commands, copies files and
//! says what the target is. The run engine holds one as `Arc<dyn Transport>` per target and
//! step; providers are [`ssh`] (OpenSSH-compatible servers, SFTP for files), [`winrm`]
//! (Windows over WS-Management) and [`local`] (`shell.exec` on the Keel host).
//!
//! # Guarantees
//!
//! - **Output** reaches the [`OutputSink`] in chunks as it arrives, stdout and stderr kept
//!   apart ([`OutputStream`]); within one stream, chunks are in order. The sink sees every
//!   byte the command wrote before [`Transport::exec`] returns. A command has ended when it
//!   exited and its output pipes are closed (a background child still holding them keeps
//!   the step running, as with `ssh host cmd`).
//! - **Timeout and cancel stop the command, not just the wait.** When
//!   [`ExecRequest::timeout`] passes or [`ExecRequest::cancel`] fires, the transport sends
//!   `SIGTERM` to the command's whole process group (the command and everything it started
//!   that did not leave the group with `setsid`), waits up to [`KILL_GRACE`] for it to end,
//!   then sends `SIGKILL` to the group; only then does `exec` return, with
//!   [`ExecOutcome::timed_out`] or [`ExecOutcome::cancelled`] set. Over SSH the group is
//!   signalled by a second command on the same connection (`kill -- -PGID`), which works
//!   on any POSIX target, where a protocol `signal` request is ignored by many servers.
//!   Over WinRM there is no process group: the command gets the Signal `terminate`, then
//!   its shell is deleted, and the outcome's `signal` is `"terminate"`.
//! - **A dropped connection** fails the running `exec` with [`TransportError::ConnectionLost`].
//!   What happens to the remote command then is up to the server: OpenSSH closes the
//!   command's pipes, so a command that writes gets `SIGPIPE`, but one that does not write
//!   (a `sleep`) runs on. A caller that must be sure reconnects and checks.
//! - **Reuse**: a connection serves any number of `exec`, `upload`, `download` and
//!   `identity` calls, concurrently (each on its own channel; OpenSSH allows `MaxSessions`,
//!   10 by default, at once).
//! - **Errors** ([`TransportError`]) say what failed and what to do, and never carry a
//!   password, a key or a passphrase.

pub mod credentials;
pub mod error;
pub mod local;
pub mod output;
pub mod ssh;
pub mod winrm;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

pub use credentials::{Credentials, PrivateKey};
pub use error::TransportError;
pub use output::{CollectSink, OutputChunk, OutputSink, OutputStream};

/// How long a command signalled with `SIGTERM` (on timeout or cancel) may take to end before
/// its process group gets `SIGKILL`.
pub const KILL_GRACE: Duration = Duration::from_secs(2);

/// One command to run on a target.
#[derive(Debug, Clone, Default)]
pub struct ExecRequest {
    /// The command line, run by the target's shell (`/bin/sh -c` locally, the login shell of
    /// the SSH user remotely; SSH targets need a POSIX shell).
    pub command: String,
    /// Bytes written to the command's standard input, which is then closed. `None`: the
    /// command reads end-of-file at once.
    pub stdin: Option<Vec<u8>>,
    /// Variables added to the command's environment. Names must be `[A-Za-z_][A-Za-z0-9_]*`.
    pub env: BTreeMap<String, String>,
    /// The directory the command starts in (the target's default, usually the user's home,
    /// when `None`).
    pub working_dir: Option<String>,
    /// How long the command may run; `None` for no limit.
    pub timeout: Option<Duration>,
    /// Fires to stop the command (see the module's guarantees).
    pub cancel: CancellationToken,
}

impl ExecRequest {
    /// A request running `command` with no stdin, no extra environment, no timeout.
    pub fn new(command: impl Into<String>) -> ExecRequest {
        ExecRequest {
            command: command.into(),
            ..ExecRequest::default()
        }
    }

    /// The same request with a timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> ExecRequest {
        self.timeout = Some(timeout);
        self
    }

    /// Refuses an empty command and environment names a shell cannot hold.
    pub(crate) fn validate(&self) -> Result<(), TransportError> {
        if self.command.trim().is_empty() {
            return Err(TransportError::invalid(
                "command",
                "is empty; give the command line to run",
            ));
        }
        for name in self.env.keys() {
            let mut chars = name.chars();
            let first_ok = chars.next().is_some_and(|c| c == '_' || c.is_ascii_alphabetic());
            if !first_ok || !chars.all(|c| c == '_' || c.is_ascii_alphanumeric()) {
                return Err(TransportError::invalid(
                    "env",
                    format!("the name {name:?} is not a valid variable name; use letters, digits and '_', not starting with a digit"),
                ));
            }
        }
        Ok(())
    }
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutcome {
    /// The exit code, when the command exited on its own (or the transport could learn it
    /// after stopping it).
    pub exit_code: Option<i32>,
    /// The signal that ended the command (`"TERM"`, `"KILL"`, …), when one did.
    pub signal: Option<String>,
    /// The timeout passed and the command was stopped.
    pub timed_out: bool,
    /// The cancellation token fired and the command was stopped.
    pub cancelled: bool,
}

impl ExecOutcome {
    /// Exited by itself with code 0.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out && !self.cancelled
    }
}

/// What a target says it is, for the targets' test endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The host name (`uname -n`).
    pub hostname: String,
    /// The operating system (`uname -s`, e.g. `Linux`).
    pub os: String,
    /// The distribution's name when the target has `/etc/os-release` (`PRETTY_NAME`).
    pub os_release: Option<String>,
    /// The kernel release (`uname -r`).
    pub kernel: String,
}

impl Identity {
    /// Reads the output of [`IDENTITY_COMMAND`].
    pub(crate) fn parse(output: &str) -> Option<Identity> {
        let mut lines = output.lines().map(str::trim);
        let hostname = lines.next().filter(|s| !s.is_empty())?.to_string();
        let os = lines.next().unwrap_or_default().to_string();
        let kernel = lines.next().unwrap_or_default().to_string();
        let os_release = lines.next().filter(|s| !s.is_empty()).map(str::to_string);
        Some(Identity {
            hostname,
            os,
            os_release,
            kernel,
        })
    }
}

/// The command a POSIX target answers [`Identity`] with: four lines.
pub(crate) const IDENTITY_COMMAND: &str =
    "uname -n; uname -s; uname -r; (. /etc/os-release 2>/dev/null && printf '%s\\n' \"$PRETTY_NAME\") || true";

/// A connection to one target.
#[async_trait]
pub trait Transport: Send + Sync {
    /// Runs a command, streaming its output to `sink`, until it ends, times out or is
    /// cancelled. A command that ran and failed is an `Ok` outcome with its exit code; an
    /// `Err` means the command could not be run or followed to its end.
    async fn exec(&self, request: ExecRequest, sink: &dyn OutputSink) -> Result<ExecOutcome, TransportError>;

    /// Copies the local file `local` to `remote` on the target (created or truncated).
    /// Returns the bytes copied.
    async fn upload(&self, local: &Path, remote: &str) -> Result<u64, TransportError>;

    /// Copies `remote` on the target to the local file `local` (created or truncated).
    /// Returns the bytes copied.
    async fn download(&self, remote: &str, local: &Path) -> Result<u64, TransportError>;

    /// The target's host name, OS and kernel.
    async fn identity(&self) -> Result<Identity, TransportError>;

    /// Ends the connection; later calls fail with [`TransportError::ConnectionLost`].
    async fn close(&self);
}

/// Quotes `s` for a POSIX shell (single quotes; a `'` becomes `'\''`).
pub(crate) fn shell_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }

    #[test]
    fn env_names_are_checked() {
        let mut req = ExecRequest::new("true");
        req.env.insert("A_1".into(), "x".into());
        assert!(req.validate().is_ok());
        req.env.insert("1A".into(), "x".into());
        let err = req.validate().unwrap_err().to_string();
        assert!(err.contains("env") && err.contains("1A"), "{err}");
        assert!(ExecRequest::new("  ").validate().is_err());
    }

    #[test]
    fn identity_parses_four_lines() {
        let id = Identity::parse("web1\nLinux\n6.1.0\nDebian GNU/Linux 12 (bookworm)\n").unwrap();
        assert_eq!(id.hostname, "web1");
        assert_eq!(id.os_release.as_deref(), Some("Debian GNU/Linux 12 (bookworm)"));
        assert!(Identity::parse("").is_none());
    }
}
