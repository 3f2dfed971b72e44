//! The SSH transport against a real OpenSSH server (keel-testkit's `sshd`).

use std::time::Duration;

use keel_ops::transport::ssh::{HostKeyPolicy, SshConfig, SshTransport};
use keel_ops::{CollectSink, Credentials, ExecRequest, OutputStream, Transport, TransportError};
use keel_testkit::sshd::{SshServer, KEY_PASSPHRASE, PASSWORD, USER};

fn config(server: &SshServer, credentials: Credentials) -> SshConfig {
    let mut config = SshConfig::new(server.host.clone(), credentials);
    config.port = server.port;
    config.host_key = HostKeyPolicy::Pinned(server.host_key_fingerprint.clone());
    config
}

async fn connect_password(server: &SshServer) -> SshTransport {
    let cfg = config(server, Credentials::password(USER, PASSWORD));
    match SshTransport::connect(&cfg).await {
        Ok(t) => t,
        Err(e) => panic!("connect: {e}\nsshd log:\n{}", server.log()),
    }
}

async fn run(t: &SshTransport, request: ExecRequest) -> (keel_ops::ExecOutcome, CollectSink) {
    let sink = CollectSink::new();
    let outcome = t.exec(request, &sink).await.expect("exec");
    (outcome, sink)
}

/// Lines of `pgrep -af PATTERN` on the server, through a fresh connection.
async fn remote_processes(server: &SshServer, pattern: &str) -> String {
    let t = connect_password(server).await;
    let (_, sink) = run(&t, ExecRequest::new(format!("pgrep -af '{pattern}' || true"))).await;
    sink.stdout()
}

#[tokio::test]
async fn exec_streams_stdout_and_stderr_apart_with_the_exit_code() {
    let Some(server) = SshServer::start() else { return };
    let t = connect_password(&server).await;
    let mut request = ExecRequest::new("echo out-1; echo err-1 >&2; printf \"$GREETING\"; cat; pwd; exit 7");
    request.env.insert("GREETING".into(), "it's me\n".into());
    request.stdin = Some(b"from stdin\n".to_vec());
    request.working_dir = Some(server.work_dir.display().to_string());
    let (outcome, sink) = run(&t, request).await;
    assert_eq!(outcome.exit_code, Some(7));
    assert!(!outcome.timed_out && !outcome.cancelled);
    assert_eq!(
        sink.stdout(),
        format!("out-1\nit's me\nfrom stdin\n{}\n", server.work_dir.display())
    );
    assert_eq!(sink.stderr(), "err-1\n");
    assert!(sink.chunks().iter().any(|c| c.stream == OutputStream::Stderr));

    // The same connection serves more commands, concurrently too.
    let (a, b) = tokio::join!(run(&t, ExecRequest::new("echo a")), run(&t, ExecRequest::new("exit 0")));
    assert_eq!(a.1.stdout(), "a\n");
    assert!(b.0.success());

    // A failing working directory is the command's failure, reported on stderr.
    let mut bad_dir = ExecRequest::new("echo never");
    bad_dir.working_dir = Some("/no/such/dir".into());
    let (outcome, sink) = run(&t, bad_dir).await;
    assert_eq!(outcome.exit_code, Some(1));
    assert_eq!(sink.stdout(), "");
    assert!(sink.stderr().contains("/no/such/dir"), "{}", sink.stderr());
}

#[tokio::test]
async fn output_arrives_while_the_command_runs() {
    let Some(server) = SshServer::start() else { return };
    let t = connect_password(&server).await;
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let gate = server.work_dir.join("gate");
    let command = format!(
        "echo started; while [ ! -e '{}' ]; do sleep 0.05; done; echo done",
        gate.display()
    );
    let exec = tokio::spawn(async move {
        let outcome = t
            .exec(ExecRequest::new(command).with_timeout(Duration::from_secs(30)), &tx)
            .await;
        outcome.map(|o| o.exit_code)
    });
    // The first line reaches the sink before the command can end (it waits for the gate).
    let first = tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("first chunk")
        .unwrap();
    assert_eq!(first.stream, OutputStream::Stdout);
    assert_eq!(&first.data[..], b"started\n");
    assert!(!exec.is_finished());
    std::fs::write(&gate, b"").unwrap();
    let second = rx.recv().await.unwrap();
    assert_eq!(&second.data[..], b"done\n");
    assert_eq!(exec.await.unwrap().unwrap(), Some(0));
}

#[tokio::test]
async fn key_auth_works_with_openssh_and_encrypted_pem_keys() {
    let Some(server) = SshServer::start() else { return };
    let ed = config(&server, Credentials::key(USER, server.ed25519_key.clone(), None));
    let t = SshTransport::connect(&ed)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
    let (outcome, sink) = run(&t, ExecRequest::new("whoami")).await;
    assert!(outcome.success());
    assert_eq!(sink.stdout(), format!("{USER}\n"));

    let rsa = config(
        &server,
        Credentials::key(USER, server.rsa_key_pem.clone(), Some(KEY_PASSPHRASE.into())),
    );
    let t = SshTransport::connect(&rsa)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
    assert!(run(&t, ExecRequest::new("true")).await.0.success());

    // An encrypted key without its passphrase: said so, without the key.
    let no_pass = config(&server, Credentials::key(USER, server.rsa_key_pem.clone(), None));
    let err = SshTransport::connect(&no_pass).await.unwrap_err();
    assert!(matches!(err, TransportError::BadPrivateKey { .. }), "{err}");
    assert!(err.to_string().contains("passphrase"), "{err}");
    assert!(!err.to_string().contains("PRIVATE KEY"), "{err}");

    // A key the server does not know is refused.
    let unknown = config(&server, Credentials::key(USER, server.unknown_key.clone(), None));
    let err = SshTransport::connect(&unknown).await.unwrap_err();
    assert!(matches!(err, TransportError::AuthRefused { .. }), "{err}");
}

#[tokio::test]
async fn a_wrong_password_is_refused_clearly_without_echoing_it() {
    let Some(server) = SshServer::start() else { return };
    let cfg = config(&server, Credentials::password(USER, "not-the-password-xyz"));
    let err = SshTransport::connect(&cfg).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, TransportError::AuthRefused { .. }), "{text}");
    assert!(text.contains(USER) && text.contains("password"), "{text}");
    assert!(!text.contains("not-the-password-xyz"), "{text}");
    assert!(!format!("{err:?}").contains("not-the-password-xyz"));
}

#[tokio::test]
async fn sftp_upload_and_download_round_trip() {
    let Some(server) = SshServer::start() else { return };
    let t = connect_password(&server).await;
    let local = tempfile::tempdir().unwrap();
    let source = local.path().join("in.bin");
    let content: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&source, &content).unwrap();
    let remote = server.work_dir.join("copied.bin").display().to_string();
    assert_eq!(t.upload(&source, &remote).await.unwrap(), content.len() as u64);
    // The file is on the server, owned by the SSH user.
    let (_, sink) = run(&t, ExecRequest::new(format!("stat -c '%U %s' '{remote}'"))).await;
    assert_eq!(sink.stdout(), format!("{USER} {}\n", content.len()));

    let back = local.path().join("out.bin");
    assert_eq!(t.download(&remote, &back).await.unwrap(), content.len() as u64);
    assert_eq!(std::fs::read(&back).unwrap(), content);

    let err = t.download("/no/such/file", &back).await.unwrap_err();
    assert!(err.to_string().contains("/no/such/file"), "{err}");
}

#[tokio::test]
async fn a_timeout_stops_the_remote_command_and_its_children() {
    let Some(server) = SshServer::start() else { return };
    let t = connect_password(&server).await;
    let marker = server.work_dir.join("marker");
    // A background child and a foreground one; the marker would appear after both.
    // The foreground child ignores TERM: only the KILL after the grace stops it.
    let command = format!("sleep 4101 & trap '' TERM; sleep 4102; touch '{}'", marker.display());
    let (outcome, _) = run(&t, ExecRequest::new(command).with_timeout(Duration::from_millis(500))).await;
    assert!(outcome.timed_out, "{outcome:?}");
    assert!(!outcome.success());
    // Every process of the command is gone when exec returns.
    assert_eq!(remote_processes(&server, "slee[p] 410[12]").await, "");
    assert!(!marker.exists());
    // The connection is still usable.
    assert!(run(&t, ExecRequest::new("true")).await.0.success());
}

#[tokio::test]
async fn cancel_stops_the_remote_command() {
    let Some(server) = SshServer::start() else { return };
    let t = connect_password(&server).await;
    let request = ExecRequest::new("echo begun; sleep 4201 & sleep 4202");
    let cancel = request.cancel.clone();
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let exec = tokio::spawn(async move { t.exec(request, &tx).await });
    // Cancel once the command has visibly started.
    let first = tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&first.data[..], b"begun\n");
    cancel.cancel();
    let outcome = tokio::time::timeout(Duration::from_secs(20), exec)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(outcome.cancelled && !outcome.timed_out, "{outcome:?}");
    assert_eq!(remote_processes(&server, "slee[p] 420[12]").await, "");
}

#[tokio::test]
async fn host_key_mismatch_is_refused_before_auth() {
    let Some(server) = SshServer::start() else { return };
    let mut cfg = config(&server, Credentials::password(USER, PASSWORD));
    let wrong = format!("SHA256:{}", "A".repeat(43));
    cfg.host_key = HostKeyPolicy::Pinned(wrong.clone());
    let err = SshTransport::connect(&cfg).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, TransportError::HostKeyMismatch { .. }), "{text}");
    assert!(
        text.contains(&wrong) && text.contains(&server.host_key_fingerprint),
        "{text}"
    );
    // No password was tried: sshd logged no authentication attempt for the user.
    assert!(
        !server.log().contains("Failed password") && !server.log().contains("Accepted"),
        "{}",
        server.log()
    );

    // Nothing pinned and no trust on first use: refused, naming the key to pin.
    cfg.host_key = HostKeyPolicy::RequirePinned;
    let err = SshTransport::connect(&cfg).await.unwrap_err();
    assert!(matches!(err, TransportError::HostKeyNotPinned { .. }), "{err}");
    assert!(err.to_string().contains(&server.host_key_fingerprint), "{err}");

    // A fingerprint not in OpenSSH's form is refused before connecting.
    cfg.host_key = HostKeyPolicy::Pinned("aa:bb:cc".into());
    assert!(matches!(
        SshTransport::connect(&cfg).await.unwrap_err(),
        TransportError::BadFingerprint { .. }
    ));
}

#[tokio::test]
async fn trust_on_first_use_returns_the_fingerprint_to_pin() {
    let Some(server) = SshServer::start() else { return };
    let mut cfg = config(&server, Credentials::password(USER, PASSWORD));
    cfg.host_key = HostKeyPolicy::TrustOnFirstUse;
    let first = SshTransport::connect(&cfg).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(first.trusted_on_first_use());
    assert_eq!(first.host_key(), server.host_key_fingerprint);
    first.close().await;

    cfg.host_key = HostKeyPolicy::Pinned(first.host_key().to_string());
    let second = SshTransport::connect(&cfg).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(!second.trusted_on_first_use());
    assert!(run(&second, ExecRequest::new("true")).await.0.success());
}

#[tokio::test]
async fn fan_out_runs_one_command_on_many_connections_at_once() {
    let Some(server) = SshServer::start() else { return };
    let cfg = config(&server, Credentials::password(USER, PASSWORD));
    let runs = (0..24).map(|i| {
        let cfg = cfg.clone();
        async move {
            let t = SshTransport::connect(&cfg).await?;
            let sink = CollectSink::new();
            let outcome = t.exec(ExecRequest::new(format!("echo target-{i}")), &sink).await?;
            t.close().await;
            Ok::<_, TransportError>((outcome, sink.stdout()))
        }
    });
    let results = futures::future::join_all(runs).await;
    for (i, result) in results.into_iter().enumerate() {
        let (outcome, out) = result.unwrap_or_else(|e| panic!("target {i}: {e}"));
        assert!(outcome.success());
        assert_eq!(out, format!("target-{i}\n"));
    }
}

#[tokio::test]
async fn identity_names_the_host() {
    let Some(server) = SshServer::start() else { return };
    let t = connect_password(&server).await;
    let identity = t.identity().await.unwrap();
    let expected = nix_hostname();
    assert_eq!(identity.hostname, expected);
    assert_eq!(identity.os, "Linux");
    assert!(!identity.kernel.is_empty());
}

fn nix_hostname() -> String {
    String::from_utf8(std::process::Command::new("uname").arg("-n").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string()
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cfg = SshConfig::new("127.0.0.1", Credentials::password(USER, PASSWORD));
    cfg.port = port;
    let err = SshTransport::connect(&cfg).await.unwrap_err();
    assert!(matches!(err, TransportError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains(&format!("127.0.0.1:{port}")), "{err}");
}

#[tokio::test]
async fn a_dropped_connection_fails_the_running_command() {
    let Some(server) = SshServer::start() else { return };
    let proxy = keel_testkit::tcp_proxy::TcpProxy::start(&format!("{}:{}", server.host, server.port)).await;
    let mut cfg = config(&server, Credentials::password(USER, PASSWORD));
    cfg.port = proxy.addr.port();
    let t = SshTransport::connect(&cfg).await.unwrap_or_else(|e| panic!("{e}"));
    let pid_file = server.work_dir.join("pid");
    let request = ExecRequest::new(format!("echo $$ > '{}'; echo begun; sleep 4301", pid_file.display()));
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let exec = tokio::spawn(async move { t.exec(request, &tx).await });
    let first = tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&first.data[..], b"begun\n");
    proxy.cut();
    let err = tokio::time::timeout(Duration::from_secs(20), exec)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, TransportError::ConnectionLost { .. }), "{err}");
    assert!(err.to_string().contains("reconnect"), "{err}");
    // As documented, OpenSSH leaves a silent command running: stop it.
    let t = connect_password(&server).await;
    let pgid = std::fs::read_to_string(&pid_file).unwrap();
    run(&t, ExecRequest::new(format!("kill -KILL -- -{}", pgid.trim()))).await;
    keel_testkit::eventually(Duration::from_secs(10), "the dropped command is stopped", || async {
        remote_processes(&server, "slee[p] 4301").await.is_empty()
    })
    .await;
}
