//! The local transport (`shell.exec` on the Keel host).

use std::process::Command;
use std::time::Duration;

use keel_ops::transport::local::LocalTransport;
use keel_ops::{CollectSink, ExecRequest, OutputStream, Transport, TransportError};

async fn run(request: ExecRequest) -> (keel_ops::ExecOutcome, CollectSink) {
    let sink = CollectSink::new();
    let outcome = LocalTransport::new().exec(request, &sink).await.expect("exec");
    (outcome, sink)
}

/// `pgrep -af PATTERN` here.
fn processes(pattern: &str) -> String {
    String::from_utf8(Command::new("pgrep").args(["-af", pattern]).output().unwrap().stdout).unwrap()
}

#[tokio::test]
async fn exec_streams_stdout_and_stderr_apart_with_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let mut request = ExecRequest::new("echo out; echo err >&2; printf '%s\\n' \"$NAME\"; cat; pwd; exit 3");
    request.env.insert("NAME".into(), "it's me".into());
    request.stdin = Some(b"piped\n".to_vec());
    request.working_dir = Some(dir.path().display().to_string());
    let (outcome, sink) = run(request).await;
    assert_eq!(outcome.exit_code, Some(3));
    assert_eq!(outcome.signal, None);
    assert_eq!(
        sink.stdout(),
        format!("out\nit's me\npiped\n{}\n", dir.path().display())
    );
    assert_eq!(sink.stderr(), "err\n");
    assert!(run(ExecRequest::new("true")).await.0.success());
}

#[tokio::test]
async fn output_arrives_while_the_command_runs() {
    let dir = tempfile::tempdir().unwrap();
    let gate = dir.path().join("gate");
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let command = format!(
        "echo started; while [ ! -e '{}' ]; do sleep 0.05; done; echo done >&2",
        gate.display()
    );
    let exec = tokio::spawn(async move { LocalTransport::new().exec(ExecRequest::new(command), &tx).await });
    let first = tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (first.stream, &first.data[..]),
        (OutputStream::Stdout, &b"started\n"[..])
    );
    assert!(!exec.is_finished());
    std::fs::write(&gate, b"").unwrap();
    let second = rx.recv().await.unwrap();
    assert_eq!(
        (second.stream, &second.data[..]),
        (OutputStream::Stderr, &b"done\n"[..])
    );
    assert!(exec.await.unwrap().unwrap().success());
}

#[tokio::test]
async fn a_timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("marker");
    // The child ignores TERM: only the KILL after the grace stops it.
    let command = format!("sleep 5101 & trap '' TERM; sleep 5102; touch '{}'", marker.display());
    let (outcome, _) = run(ExecRequest::new(command).with_timeout(Duration::from_millis(300))).await;
    assert!(outcome.timed_out && !outcome.cancelled, "{outcome:?}");
    assert_eq!(outcome.exit_code, None);
    assert!(outcome.signal.is_some(), "{outcome:?}");
    assert_eq!(processes("slee[p] 510[12]"), "");
    assert!(!marker.exists());
}

#[tokio::test]
async fn cancel_kills_the_command() {
    let request = ExecRequest::new("echo begun; sleep 5201 & sleep 5202");
    let cancel = request.cancel.clone();
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let exec = tokio::spawn(async move { LocalTransport::new().exec(request, &tx).await });
    let first = tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&first.data[..], b"begun\n");
    cancel.cancel();
    let outcome = exec.await.unwrap().unwrap();
    assert!(outcome.cancelled, "{outcome:?}");
    assert_eq!(outcome.signal.as_deref(), Some("TERM"));
    assert_eq!(processes("slee[p] 520[12]"), "");
}

#[tokio::test]
async fn copies_and_identity() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    std::fs::write(&a, b"content").unwrap();
    let b = dir.path().join("b").display().to_string();
    let t = LocalTransport::new();
    assert_eq!(t.upload(&a, &b).await.unwrap(), 7);
    let c = dir.path().join("c");
    assert_eq!(t.download(&b, &c).await.unwrap(), 7);
    assert_eq!(std::fs::read(&c).unwrap(), b"content");
    let err = t.download("/no/such/file", &c).await.unwrap_err();
    assert!(matches!(err, TransportError::Transfer { .. }) && err.to_string().contains("/no/such/file"));

    let id = t.identity().await.unwrap();
    let uname = String::from_utf8(Command::new("uname").arg("-n").output().unwrap().stdout).unwrap();
    assert_eq!(id.hostname, uname.trim());
    assert_eq!(id.os, "Linux");
}

#[tokio::test]
async fn bad_requests_are_refused_naming_the_field() {
    let t = LocalTransport::new();
    let sink = CollectSink::new();
    let mut request = ExecRequest::new("true");
    request.env.insert("NOT-A-NAME".into(), "x".into());
    let err = t.exec(request, &sink).await.unwrap_err();
    assert!(err.to_string().starts_with("invalid env"), "{err}");
    let mut request = ExecRequest::new("true");
    request.working_dir = Some("/no/such/dir".into());
    let err = t.exec(request, &sink).await.unwrap_err();
    assert!(err.to_string().contains("/no/such/dir"), "{err}");
}
