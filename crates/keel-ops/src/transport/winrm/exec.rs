//! One command over WinRM: a shell of its own, the command, its stdin, Receive until Done
//! (or Signal `terminate` on timeout or cancel), and the shell deleted whatever happened.

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
    client: &WinrmClient,
    shell_kind: WinrmShell,
    request: ExecRequest,
    sink: &dyn OutputSink,
) -> Result<ExecOutcome, TransportError> {
    let shell = client.open_shell(&t.host).await.map_err(|e| t.error(e))?;
    let result = drive(t, client, &shell, shell_kind, &request, sink).await;
    let deleted = shell.close().await;
    match (result, deleted) {
        (Ok(outcome), Err(e)) => {
            tracing::debug!(address = %t.address, error = %t.error(e), "deleting a WinRM shell failed");
            Ok(outcome)
        }
        (result, _) => result,
    }
}

async fn drive(
    t: &WinrmTransport,
    client: &WinrmClient,
    shell: &Shell<'_>,
    shell_kind: WinrmShell,
    request: &ExecRequest,
    sink: &dyn OutputSink,
) -> Result<ExecOutcome, TransportError> {
    let deadline = request.timeout.map(|d| Instant::now() + d);
    let (program, args) = command_line(shell_kind, &request.command);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let command_id = shell.start_command(&program, &args).await.map_err(|e| t.error(e))?;
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
