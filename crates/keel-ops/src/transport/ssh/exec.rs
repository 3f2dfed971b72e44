//! Running one command over SSH, and stopping it for real.
//!
//! The command line sent to the server is
//! `printf 'KEEL_PGID=%s\n' "$$"; export NAME='value'…; cd 'dir' || exit 1; eval 'COMMAND'`.
//! OpenSSH runs it in a new session, so the login shell's pid `$$` is the process group of
//! the command and everything it starts. The first stdout line carries it and is not passed
//! on to the sink. On timeout or cancel a second channel runs `kill -TERM -- -PGID`, waits
//! up to [`KILL_GRACE`] for the group to end, then `kill -KILL -- -PGID`; the first channel
//! then closes with the group's end. A protocol `signal` request (`TERM`) is sent too, but
//! not relied on: servers other than OpenSSH ≥ 7.9 ignore it, and OpenSSH refuses it for
//! forced commands. When the group id is not known yet (a timeout before the first output
//! line, or a login script that writes to stdout first), `KILL` is requested that way and
//! the channel closed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use russh::client::Handle;
use russh::{ChannelMsg, Sig};
use tokio::io::AsyncWriteExt;

use super::host_key::Client;
use super::lost_or_protocol;
use crate::transport::{shell_quote, ExecOutcome, ExecRequest, OutputSink, OutputStream, TransportError, KILL_GRACE};

const PGID_MARKER: &[u8] = b"KEEL_PGID=";
/// The marker line is short; more without a newline means it is not ours.
const MARKER_MAX: usize = 64;

/// The command line the server runs for `request` (see the module doc).
fn remote_command(request: &ExecRequest) -> String {
    let mut line = String::from("printf 'KEEL_PGID=%s\\n' \"$$\"; ");
    for (name, value) in &request.env {
        line.push_str(&format!("export {name}={}; ", shell_quote(value)));
    }
    if let Some(dir) = &request.working_dir {
        line.push_str(&format!("cd {} || exit 1; ", shell_quote(dir)));
    }
    line.push_str("eval ");
    line.push_str(&shell_quote(&request.command));
    line
}

/// The script that stops a process group: TERM, up to the grace for it to end, then KILL.
fn kill_script(pgid: u32) -> String {
    let tries = KILL_GRACE.as_millis() / 100;
    format!(
        "kill -TERM -- -{pgid} 2>/dev/null; i=0; \
         while kill -0 -- -{pgid} 2>/dev/null && [ $i -lt {tries} ]; do sleep 0.1; i=$((i+1)); done; \
         kill -KILL -- -{pgid} 2>/dev/null; true"
    )
}

/// Strips the process-group line from the start of stdout.
enum Marker {
    Pending(BytesMut),
    Done(Option<u32>),
}

impl Marker {
    /// Feeds stdout bytes; returns what belongs to the command's own output.
    fn feed(&mut self, data: Bytes) -> Option<Bytes> {
        let Marker::Pending(buf) = self else {
            return Some(data);
        };
        buf.extend_from_slice(&data);
        let agrees = |b: &[u8]| {
            let n = b.len().min(PGID_MARKER.len());
            b[..n] == PGID_MARKER[..n]
        };
        if !agrees(buf) {
            let all = std::mem::take(buf).freeze();
            *self = Marker::Done(None);
            return Some(all);
        }
        if let Some(nl) = buf.iter().position(|b| *b == b'\n') {
            let line = buf.split_to(nl + 1);
            let pgid = std::str::from_utf8(&line[PGID_MARKER.len().min(line.len())..])
                .ok()
                .and_then(|s| s.trim().parse().ok());
            let rest = std::mem::take(buf).freeze();
            *self = Marker::Done(pgid);
            return (!rest.is_empty()).then_some(rest);
        }
        if buf.len() > MARKER_MAX {
            let all = std::mem::take(buf).freeze();
            *self = Marker::Done(None);
            return Some(all);
        }
        None
    }

    fn pgid(&self) -> Option<u32> {
        match self {
            Marker::Done(p) => *p,
            Marker::Pending(_) => None,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    TimedOut,
    Cancelled,
}

/// Stops the group from a second channel.
async fn kill_group(handle: Arc<Handle<Client>>, pgid: u32) {
    let Ok(mut channel) = handle.channel_open_session().await else {
        return;
    };
    if channel.exec(true, kill_script(pgid)).await.is_err() {
        return;
    }
    let limit = KILL_GRACE + Duration::from_secs(5);
    let _ = tokio::time::timeout(limit, async {
        while let Some(msg) = channel.wait().await {
            if matches!(msg, ChannelMsg::Close) {
                break;
            }
        }
    })
    .await;
}

type Pending = Pin<Box<dyn Future<Output = ()> + Send>>;

pub(super) async fn run(
    handle: &Arc<Handle<Client>>,
    address: &str,
    request: ExecRequest,
    sink: &dyn OutputSink,
) -> Result<ExecOutcome, TransportError> {
    request.validate()?;
    let mut channel = handle
        .channel_open_session()
        .await
        .map_err(|e| lost_or_protocol(address, e))?;
    channel
        .exec(true, remote_command(&request))
        .await
        .map_err(|e| lost_or_protocol(address, e))?;

    let mut writer = channel.make_writer();
    let stdin = request.stdin.clone().unwrap_or_default();
    let stdin_task = tokio::spawn(async move {
        // A command that ends without reading its input closes the channel: not an error.
        if !stdin.is_empty() {
            let _ = writer.write_all(&stdin).await;
        }
        let _ = writer.shutdown().await;
    });

    let deadline = tokio::time::sleep(request.timeout.unwrap_or(Duration::MAX / 4));
    tokio::pin!(deadline);
    let has_deadline = request.timeout.is_some();
    // Once stopping, how long the channel may take to close after the kill script ended.
    let drain = tokio::time::sleep(Duration::MAX / 4);
    tokio::pin!(drain);

    let mut marker = Marker::Pending(BytesMut::new());
    let mut exit_code = None;
    let mut signal = None;
    let mut stop: Option<Stop> = None;
    let mut killer: Option<Pending> = None;
    let mut closed = false;

    loop {
        tokio::select! {
            msg = channel.wait() => match msg {
                Some(ChannelMsg::Data { data }) => {
                    if let Some(out) = marker.feed(data) {
                        sink.chunk(OutputStream::Stdout, out).await;
                    }
                }
                Some(ChannelMsg::ExtendedData { data, ext: 1 }) => sink.chunk(OutputStream::Stderr, data).await,
                Some(ChannelMsg::ExitStatus { exit_status }) => exit_code = i32::try_from(exit_status).ok(),
                Some(ChannelMsg::ExitSignal { signal_name, .. }) => signal = Some(sig_name(&signal_name)),
                Some(ChannelMsg::Close) => { closed = true; break; }
                None => break,
                Some(_) => {}
            },
            _ = &mut deadline, if has_deadline && stop.is_none() => {
                stop = Some(Stop::TimedOut);
                killer = Some(start_stop(handle, &channel, marker.pgid()).await);
            }
            _ = request.cancel.cancelled(), if stop.is_none() => {
                stop = Some(Stop::Cancelled);
                killer = Some(start_stop(handle, &channel, marker.pgid()).await);
            }
            _ = async { if let Some(k) = killer.as_mut() { k.await } }, if killer.is_some() => {
                killer = None;
                drain.as_mut().reset(tokio::time::Instant::now() + Duration::from_secs(5));
            }
            _ = &mut drain, if stop.is_some() && killer.is_none() => {
                // The group is gone but the channel stays open (a child outside the group
                // holds its pipes): close it; its end is what the caller gets.
                let _ = channel.close().await;
                break;
            }
        }
    }
    stdin_task.abort();
    if let Marker::Pending(rest) = &mut marker {
        let rest = std::mem::take(rest).freeze();
        if !rest.is_empty() {
            sink.chunk(OutputStream::Stdout, rest).await;
        }
    }

    let ended = closed || exit_code.is_some() || signal.is_some();
    if !ended && stop.is_none() {
        return Err(TransportError::ConnectionLost {
            address: address.to_string(),
            reason: if handle.is_closed() {
                "the server closed the connection".to_string()
            } else {
                "the channel ended without an exit status".to_string()
            },
        });
    }
    Ok(ExecOutcome {
        exit_code,
        signal,
        timed_out: stop == Some(Stop::TimedOut),
        cancelled: stop == Some(Stop::Cancelled),
    })
}

/// Begins stopping the command: the group kill when its id is known, else a protocol signal
/// to the login shell and a close of the channel.
async fn start_stop(
    handle: &Arc<Handle<Client>>,
    channel: &russh::Channel<russh::client::Msg>,
    pgid: Option<u32>,
) -> Pending {
    // Cheap, and enough on OpenSSH ≥ 7.9 (which signals the session's group); the group
    // kill below does not depend on it.
    let _ = channel.signal(Sig::TERM).await;
    match pgid {
        Some(pgid) => Box::pin(kill_group(handle.clone(), pgid)),
        None => {
            let _ = channel.signal(Sig::KILL).await;
            let _ = channel.eof().await;
            let _ = channel.close().await;
            Box::pin(async {})
        }
    }
}

fn sig_name(sig: &Sig) -> String {
    match sig {
        Sig::ABRT => "ABRT",
        Sig::ALRM => "ALRM",
        Sig::FPE => "FPE",
        Sig::HUP => "HUP",
        Sig::ILL => "ILL",
        Sig::INT => "INT",
        Sig::KILL => "KILL",
        Sig::PIPE => "PIPE",
        Sig::QUIT => "QUIT",
        Sig::SEGV => "SEGV",
        Sig::TERM => "TERM",
        Sig::USR1 => "USR1",
        Sig::Custom(name) => name.as_str(),
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(parts: &[&str]) -> (String, Option<u32>) {
        let mut m = Marker::Pending(BytesMut::new());
        let mut out = Vec::new();
        for p in parts {
            if let Some(b) = m.feed(Bytes::copy_from_slice(p.as_bytes())) {
                out.extend_from_slice(&b);
            }
        }
        (String::from_utf8(out).unwrap(), m.pgid())
    }

    #[test]
    fn marker_is_stripped_across_chunks() {
        assert_eq!(
            feed_all(&["KEEL_P", "GID=42\nhel", "lo\n"]),
            ("hello\n".into(), Some(42))
        );
        assert_eq!(feed_all(&["KEEL_PGID=7\n"]), (String::new(), Some(7)));
    }

    #[test]
    fn foreign_output_passes_through() {
        assert_eq!(feed_all(&["hello"]), ("hello".into(), None));
    }

    #[test]
    fn remote_command_quotes_everything() {
        let mut req = ExecRequest::new("echo 'hi' $X");
        req.env.insert("X".into(), "a b'c".into());
        req.working_dir = Some("/tmp/my dir".into());
        let line = remote_command(&req);
        assert!(line.starts_with("printf 'KEEL_PGID=%s\\n' \"$$\"; "), "{line}");
        assert!(
            line.contains("export X='a b'\\''c'; cd '/tmp/my dir' || exit 1; eval 'echo '\\''hi'\\'' $X'"),
            "{line}"
        );
    }
}
