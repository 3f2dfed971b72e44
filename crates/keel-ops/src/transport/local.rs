//! The local transport: `shell.exec` on the Keel host itself. Commands run under `/bin/sh -c`
//! in a process group of their own, so a timeout or cancel can signal everything they
//! started (`SIGTERM`, then `SIGKILL` after [`KILL_GRACE`](super::KILL_GRACE)).

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;

use async_trait::async_trait;
use bytes::Bytes;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

use super::{ExecOutcome, ExecRequest, Identity, OutputSink, OutputStream, Transport, TransportError, KILL_GRACE};

/// Runs commands on the Keel host.
#[derive(Debug, Clone, Default)]
pub struct LocalTransport {
    _private: (),
}

impl LocalTransport {
    pub fn new() -> LocalTransport {
        LocalTransport::default()
    }
}

/// Why the wait for a command ended early.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    TimedOut,
    Cancelled,
}

/// Reads one stream to its end, handing each chunk to the sink.
async fn pump(mut from: impl AsyncRead + Unpin, stream: OutputStream, sink: &dyn OutputSink) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => sink.chunk(stream, Bytes::copy_from_slice(&buf[..n])).await,
        }
    }
}

/// Signals the child's process group; the group may already be gone.
fn signal_group(pgid: Option<u32>, signal: Signal) {
    if let Some(pgid) = pgid.and_then(|p| i32::try_from(p).ok()) {
        let _ = killpg(Pid::from_raw(pgid), signal);
    }
}

/// Stops the child's group: `SIGTERM`, then `SIGKILL` if it has not ended within the grace.
async fn stop_group(child: &mut Child, pgid: Option<u32>) -> Option<std::process::ExitStatus> {
    signal_group(pgid, Signal::SIGTERM);
    let ended = tokio::time::timeout(KILL_GRACE, child.wait()).await;
    // Kill the rest of the group even when the leader ended on TERM: a child that ignores
    // TERM must not outlive the step.
    signal_group(pgid, Signal::SIGKILL);
    match ended {
        Ok(status) => status.ok(),
        Err(_) => child.wait().await.ok(),
    }
}

#[async_trait]
impl Transport for LocalTransport {
    async fn exec(&self, request: ExecRequest, sink: &dyn OutputSink) -> Result<ExecOutcome, TransportError> {
        request.validate()?;
        let mut command = Command::new("/bin/sh");
        command
            .arg("-c")
            .arg(&request.command)
            .envs(&request.env)
            .stdin(if request.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(dir) = &request.working_dir {
            command.current_dir(dir);
        }
        let mut child = command.spawn().map_err(|e| TransportError::Spawn {
            reason: format!(
                "{e} (working directory {:?})",
                request.working_dir.as_deref().unwrap_or(".")
            ),
        })?;
        // With process_group(0) the group id is the child's pid.
        let pgid = child.id();

        let stdin_task = match (child.stdin.take(), request.stdin.clone()) {
            (Some(mut pipe), Some(bytes)) => Some(tokio::spawn(async move {
                // A command that exits without reading its input closes the pipe: not an error.
                let _ = pipe.write_all(&bytes).await;
                let _ = pipe.shutdown().await;
            })),
            _ => None,
        };
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let output = async {
            let out = async {
                if let Some(s) = stdout {
                    pump(s, OutputStream::Stdout, sink).await;
                }
            };
            let err = async {
                if let Some(s) = stderr {
                    pump(s, OutputStream::Stderr, sink).await;
                }
            };
            tokio::join!(out, err);
        };
        tokio::pin!(output);

        let deadline = async {
            match request.timeout {
                Some(t) => tokio::time::sleep(t).await,
                None => std::future::pending().await,
            }
        };
        // Output first, then the exit: the sink has every byte before exec returns.
        let finished = async {
            (&mut output).await;
            child.wait().await
        };
        let stop = tokio::select! {
            status = finished => {
                if let Some(task) = stdin_task {
                    task.abort();
                }
                let status = status.map_err(|e| TransportError::Spawn { reason: format!("waiting for the command failed: {e}") })?;
                return Ok(outcome(Some(status), None));
            }
            _ = deadline => Stop::TimedOut,
            _ = request.cancel.cancelled() => Stop::Cancelled,
        };
        if let Some(task) = stdin_task {
            task.abort();
        }
        let status = stop_group(&mut child, pgid).await;
        // The group is gone, so its pipes are closed: drain what it wrote last.
        let _ = tokio::time::timeout(KILL_GRACE, &mut output).await;
        Ok(outcome(status, Some(stop)))
    }

    async fn upload(&self, local: &Path, remote: &str) -> Result<u64, TransportError> {
        tokio::fs::copy(local, remote)
            .await
            .map_err(|e| TransportError::Transfer {
                operation: "copying to",
                path: remote.to_string(),
                reason: e.to_string(),
            })
    }

    async fn download(&self, remote: &str, local: &Path) -> Result<u64, TransportError> {
        tokio::fs::copy(remote, local)
            .await
            .map_err(|e| TransportError::Transfer {
                operation: "copying from",
                path: remote.to_string(),
                reason: e.to_string(),
            })
    }

    async fn identity(&self) -> Result<Identity, TransportError> {
        let uts = nix::sys::utsname::uname().map_err(|e| TransportError::Spawn {
            reason: format!("uname failed: {e}"),
        })?;
        let os_release = tokio::fs::read_to_string("/etc/os-release")
            .await
            .ok()
            .and_then(|text| {
                text.lines()
                    .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                    .map(|v| v.trim().trim_matches('"').to_string())
            });
        Ok(Identity {
            hostname: uts.nodename().to_string_lossy().into_owned(),
            os: uts.sysname().to_string_lossy().into_owned(),
            os_release,
            kernel: uts.release().to_string_lossy().into_owned(),
        })
    }

    async fn close(&self) {}
}

fn outcome(status: Option<std::process::ExitStatus>, stop: Option<Stop>) -> ExecOutcome {
    ExecOutcome {
        exit_code: status.and_then(|s| s.code()),
        signal: status.and_then(|s| s.signal()).map(signal_name),
        timed_out: stop == Some(Stop::TimedOut),
        cancelled: stop == Some(Stop::Cancelled),
    }
}

/// `15` → `"TERM"`, as SSH names signals.
fn signal_name(number: i32) -> String {
    match Signal::try_from(number) {
        Ok(s) => s.as_str().trim_start_matches("SIG").to_string(),
        Err(_) => number.to_string(),
    }
}
