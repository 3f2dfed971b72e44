//! One command over WinRM: a shell of its own, the command, its stdin, Receive until Done
//! (or Signal `terminate` on timeout or cancel), and the shell deleted whatever happened,
//! also when the caller drops the future ([`Abandoned`]).

use std::sync::Arc;

use bytes::Bytes;
use tokio::time::Instant;
use winrm_rs::{Shell, WinrmClient};

use super::{is_receive_timeout, WinrmShell, WinrmTransport};
use crate::transport::{ExecOutcome, ExecRequest, OutputSink, OutputStream, TransportError};

/// The program and arguments that run `command` in `shell`.
pub(super) fn command_line(shell: WinrmShell, command: &str) -> (String, Vec<String>) {
    match shell {
        WinrmShell::Cmd => (command.to_string(), Vec::new()),
        WinrmShell::PowerShell => (
            "powershell.exe".into(),
            [
                "-NoLogo",
                "-NoProfile",
                "-NonInteractive",
                "-ExecutionPolicy",
                "Bypass",
                "-EncodedCommand",
            ]
            .into_iter()
            .map(String::from)
            .chain([winrm_rs::encode_powershell_command(command)])
            .collect(),
        ),
    }
}

/// Runs `request` in a new shell of `client` and deletes the shell.
pub(super) async fn run(
    t: &WinrmTransport,
    client: &Arc<WinrmClient>,
    shell_kind: WinrmShell,
    request: ExecRequest,
    sink: &dyn OutputSink,
) -> Result<ExecOutcome, TransportError> {
    let shell = client.open_shell(&t.host).await.map_err(|e| t.error(e))?;
    let mut guard = Abandoned::new(client, &t.host, shell.shell_id());
    let result = drive(t, client, &shell, shell_kind, &request, sink, &mut guard).await;
    guard.command_id = None;
    let deleted = shell.close().await;
    guard.armed = false;
    match (result, deleted) {
        (Ok(outcome), Err(e)) => {
            tracing::debug!(address = %t.address, error = %t.error(e), "deleting a WinRM shell failed");
            Ok(outcome)
        }
        (result, _) => result,
    }
}

/// Cleans up after a caller that dropped the future mid-way instead of cancelling: the
/// running command gets the terminate signal and the shell is deleted, in the background.
pub(super) struct Abandoned {
    client: Arc<WinrmClient>,
    host: String,
    shell_id: String,
    pub command_id: Option<String>,
    pub armed: bool,
}

impl Abandoned {
    pub(super) fn new(client: &Arc<WinrmClient>, host: &str, shell_id: &str) -> Abandoned {
        Abandoned {
            client: client.clone(),
            host: host.to_string(),
            shell_id: shell_id.to_string(),
            command_id: None,
            armed: true,
        }
    }
}

impl Drop for Abandoned {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (client, host, shell_id) = (self.client.clone(), self.host.clone(), self.shell_id.clone());
        let command_id = self.command_id.take();
        runtime.spawn(async move {
            if let Some(command_id) = command_id {
                let _ = client.signal_terminate(&host, &shell_id, &command_id).await;
            }
            let _ = client.delete_shell(&host, &shell_id).await;
        });
    }
}

async fn drive(
    t: &WinrmTransport,
    client: &WinrmClient,
    shell: &Shell<'_>,
    shell_kind: WinrmShell,
    request: &ExecRequest,
    sink: &dyn OutputSink,
    guard: &mut Abandoned,
) -> Result<ExecOutcome, TransportError> {
    let deadline = request.timeout.map(|d| Instant::now() + d);
    let (program, args) = command_line(shell_kind, &request.command);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let command_id = shell.start_command(&program, &args).await.map_err(|e| t.error(e))?;
    guard.command_id = Some(command_id.clone());
    // Stdin, then its end: a command reading stdin sees end-of-file after it.
    let stdin = request.stdin.as_deref().unwrap_or_default();
    shell
        .send_input(&command_id, stdin, true)
        .await
        .map_err(|e| t.error(e))?;

    let stopped = |timed_out: bool| ExecOutcome {
        exit_code: None,
        signal: Some("terminate".into()),
        timed_out,
        cancelled: !timed_out,
    };
    loop {
        let receive = shell.receive_next(&command_id);
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        let timed_out = tokio::select! {
            received = receive => {
                match received {
                    Ok(output) => {
                        if !output.stdout.is_empty() {
                            sink.chunk(OutputStream::Stdout, Bytes::from(output.stdout)).await;
                        }
                        if !output.stderr.is_empty() {
                            sink.chunk(OutputStream::Stderr, Bytes::from(output.stderr)).await;
                        }
                        if output.done {
                            return Ok(ExecOutcome {
                                exit_code: output.exit_code,
                                signal: None,
                                timed_out: false,
                                cancelled: false,
                            });
                        }
                    }
                    Err(e) if is_receive_timeout(&e) => {}
                    Err(e) => return Err(t.error(e)),
                }
                continue;
            }
            _ = request.cancel.cancelled() => false,
            _ = sleep => true,
        };
        // Stop the command itself; the shell's deletion follows in `run`.
        if let Err(e) = client.signal_terminate(&t.host, shell.shell_id(), &command_id).await {
            tracing::debug!(address = %t.address, error = %t.error(e), "the WinRM terminate signal failed");
        }
        return Ok(stopped(timed_out));
    }
}
