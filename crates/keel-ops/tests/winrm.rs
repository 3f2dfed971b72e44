//! The WinRM transport against keel-testkit's WS-Management stand-in (no Windows host is
//! reachable here): the stand-in checks the protocol exchange and the auth, runs commands
//! from a scripted table, and lists every protocol problem it saw (each test asserts none).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use keel_ops::transport::winrm::{WinrmAuth, WinrmConfig, WinrmShell, WinrmTransport};
use keel_ops::{CollectSink, Credentials, ExecOutcome, ExecRequest, OutputStream, Transport, TransportError};
use keel_testkit::winrm_standin::{Handler, Invocation, Reply, ShellKind, StandinAuth, WinrmStandin, SIGNAL_TERMINATE};
use sha2::{Digest, Sha256};

const USER: &str = "keel-ops";
const PASSWORD: &str = "Winrm-Pa55-word";

async fn standin(auth: StandinAuth) -> WinrmStandin {
    WinrmStandin::start(auth, USER, PASSWORD)
        .await
        .expect("start the stand-in")
}

fn config(s: &WinrmStandin, auth: WinrmAuth, user: &str, password: &str) -> WinrmConfig {
    let mut config = WinrmConfig::new("127.0.0.1", Credentials::password(user, password));
    config.port = s.port;
    config.auth = auth;
    // The stand-in speaks HTTP and does not implement NTLM message sealing.
    config.allow_unencrypted = true;
    config
}

async fn connect(s: &WinrmStandin, auth: WinrmAuth) -> WinrmTransport {
    match WinrmTransport::connect(&config(s, auth, USER, PASSWORD)).await {
        Ok(t) => t,
        Err(e) => panic!("connect: {e}; stand-in problems: {:?}", s.problems()),
    }
}

async fn run(t: &WinrmTransport, request: ExecRequest) -> (ExecOutcome, CollectSink) {
    let sink = CollectSink::new();
    let outcome = t.exec(request, &sink).await.expect("exec");
    (outcome, sink)
}

fn assert_clean(s: &WinrmStandin) {
    assert_eq!(s.problems(), Vec::<String>::new(), "protocol problems");
    assert_eq!(s.open_shells(), 0, "every shell is deleted");
}

#[tokio::test]
async fn cmd_and_powershell_report_exit_code_stdout_and_stderr() {
    let s = standin(StandinAuth::Basic).await;
    s.script(
        ShellKind::Cmd,
        "dir C:\\missing /b",
        Reply::exit(3).stdout("partial\r\n").stderr("File Not Found\r\n"),
    );
    // The script reaches the server as UTF-16LE base64 and decodes back to the same text,
    // quotes and non-ASCII included.
    let script = "Write-Output \"héllo 'wörld'\"; Write-Error 'nope'; exit 2";
    s.script(
        ShellKind::PowerShell,
        script,
        Reply::exit(2).stdout("héllo 'wörld'\r\n").stderr("nope\r\n"),
    );
    let t = connect(&s, WinrmAuth::Basic).await;

    let cmd = t.with_shell(WinrmShell::Cmd);
    assert_eq!(cmd.shell(), WinrmShell::Cmd);
    let (outcome, sink) = run(&cmd, ExecRequest::new("dir C:\\missing /b")).await;
    assert_eq!(outcome.exit_code, Some(3));
    assert!(!outcome.timed_out && !outcome.cancelled && !outcome.success());
    assert_eq!(sink.stdout(), "partial\r\n");
    assert_eq!(sink.stderr(), "File Not Found\r\n");

    let (outcome, sink) = run(&t, ExecRequest::new(script)).await;
    assert_eq!(outcome.exit_code, Some(2));
    assert_eq!(sink.stdout(), "héllo 'wörld'\r\n");
    assert_eq!(sink.stderr(), "nope\r\n");

    let ran: Vec<(ShellKind, String)> = s.invocations().into_iter().map(|i| (i.shell, i.text)).collect();
    assert_eq!(
        ran,
        vec![
            (ShellKind::Cmd, "dir C:\\missing /b".to_string()),
            (ShellKind::PowerShell, script.to_string())
        ]
    );
    // connect (Create, Delete), then per command: Create, Command, Send, Receive, Delete.
    let one = ["Create", "Command", "Send", "Receive", "Delete"];
    let expected: Vec<&str> = ["Create", "Delete"].into_iter().chain(one).chain(one).collect();
    assert_eq!(s.actions(), expected);
    assert!(s.requests().iter().all(|r| r.auth == "Basic" && r.user == USER));
    assert_clean(&s);
}

#[tokio::test]
async fn environment_working_directory_and_stdin_reach_the_shell() {
    let s = standin(StandinAuth::Basic).await;
    s.script(ShellKind::Cmd, "more", Reply::exit(0).stdout("fed\r\n"));
    let t = connect(&s, WinrmAuth::Basic).await.with_shell(WinrmShell::Cmd);
    let mut request = ExecRequest::new("more");
    request.env.insert("GREETING".into(), "it's me".into());
    request.working_dir = Some("C:\\Deploy".into());
    request.stdin = Some(b"fed\n".to_vec());
    let (outcome, sink) = run(&t, request).await;
    assert!(outcome.success(), "{outcome:?}");
    assert_eq!(sink.stdout(), "fed\r\n");
    let ran: Vec<Invocation> = s.invocations();
    assert_eq!(ran.len(), 1);
    assert_eq!(ran[0].env, vec![("GREETING".to_string(), "it's me".to_string())]);
    assert_eq!(ran[0].working_dir.as_deref(), Some("C:\\Deploy"));
    assert_eq!(ran[0].stdin, b"fed\n");

    // An unknown command fails like cmd says, and is not a protocol problem.
    let (outcome, sink) = run(&t, ExecRequest::new("nosuchtool")).await;
    assert_eq!(outcome.exit_code, Some(1));
    assert!(sink.stderr().contains("not recognized"), "{}", sink.stderr());
    assert_clean(&s);
}

#[tokio::test]
async fn ntlm_signs_in_with_an_ntlmv2_response_checked_against_the_password() {
    let s = standin(StandinAuth::Ntlm).await;
    s.script(
        ShellKind::PowerShell,
        "whoami",
        Reply::exit(0).stdout("keel\\keel-ops\r\n"),
    );
    let t = connect(&s, WinrmAuth::Ntlm).await;
    let (outcome, sink) = run(&t, ExecRequest::new("whoami")).await;
    assert!(outcome.success());
    assert_eq!(sink.stdout(), "keel\\keel-ops\r\n");
    // Every request carried a verified AUTHENTICATE message (a handshake per request).
    let requests = s.requests();
    assert!(requests.len() >= 7);
    assert!(
        requests.iter().all(|r| r.auth == "NTLM" && r.user == USER),
        "{requests:?}"
    );

    // A DOMAIN\user name signs in as the user, the domain folded into NTLMv2's hash.
    let domain_user = config(&s, WinrmAuth::Ntlm, &format!("KEEL\\{USER}"), PASSWORD);
    let t = WinrmTransport::connect(&domain_user).await.expect("DOMAIN\\user");
    assert!(run(&t, ExecRequest::new("whoami")).await.0.success());
    assert_eq!(s.auth_failures(), 0);
    assert_clean(&s);
}

#[tokio::test]
async fn a_wrong_password_is_refused_clearly_without_echoing_it() {
    for (standin_auth, auth, scheme) in [
        (StandinAuth::Basic, WinrmAuth::Basic, "Basic"),
        (StandinAuth::Ntlm, WinrmAuth::Ntlm, "NTLM"),
    ] {
        let s = standin(standin_auth).await;
        let wrong = "not-the-password-xyz";
        let err = WinrmTransport::connect(&config(&s, auth, USER, wrong))
            .await
            .expect_err("a wrong password");
        let text = err.to_string();
        assert!(matches!(err, TransportError::AuthRefused { .. }), "{text}");
        assert!(text.contains(USER) && text.contains(scheme), "{text}");
        assert!(!text.contains(wrong) && !format!("{err:?}").contains(wrong), "{text}");
        assert!(!text.contains(PASSWORD), "{text}");
        assert!(s.auth_failures() >= 1, "the stand-in refused the credential");
        // Nothing ran.
        assert!(s.requests().is_empty(), "{:?}", s.requests());
        assert_clean(&s);
    }
}

#[tokio::test]
async fn http_without_encryption_needs_an_explicit_opt_in() {
    let s = standin(StandinAuth::Basic).await;
    for (auth, says) in [(WinrmAuth::Basic, "in clear"), (WinrmAuth::Ntlm, "message encryption")] {
        let mut cfg = config(&s, auth, USER, PASSWORD);
        cfg.allow_unencrypted = false;
        let err = WinrmTransport::connect(&cfg).await.expect_err("unencrypted HTTP");
        let text = err.to_string();
        assert!(
            matches!(err, TransportError::InvalidRequest { field: "auth", .. }),
            "{text}"
        );
        assert!(
            text.contains(says) && text.contains("HTTPS") && text.contains("AllowUnencrypted"),
            "{text}"
        );
    }
    assert!(s.requests().is_empty() && s.auth_failures() == 0, "no request was sent");

    // Nobody listening: unreachable, naming the address.
    let mut closed = config(&s, WinrmAuth::Basic, USER, PASSWORD);
    closed.port = 1;
    let err = WinrmTransport::connect(&closed).await.expect_err("port 1");
    assert!(matches!(err, TransportError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
}

/// The Signal requests the stand-in received: (command id, code).
fn signals(s: &WinrmStandin) -> Vec<(String, String)> {
    s.requests()
        .into_iter()
        .filter(|r| r.action == "Signal")
        .map(|r| (r.command_id.unwrap_or_default(), r.signal.unwrap_or_default()))
        .collect()
}

/// The command id of the first Command's Receive.
fn receive_command_id(s: &WinrmStandin) -> Option<String> {
    s.requests()
        .into_iter()
        .find(|r| r.action == "Receive")
        .and_then(|r| r.command_id)
}

#[tokio::test]
async fn a_timeout_signals_terminate_and_deletes_the_shell() {
    let s = standin(StandinAuth::Ntlm).await;
    s.script(
        ShellKind::PowerShell,
        "Start-Sleep 3600",
        Reply::exit(0).delay(Duration::from_secs(3600)),
    );
    let t = connect(&s, WinrmAuth::Ntlm).await;
    let (outcome, sink) = run(
        &t,
        ExecRequest::new("Start-Sleep 3600").with_timeout(Duration::from_millis(1500)),
    )
    .await;
    assert!(outcome.timed_out && !outcome.cancelled, "{outcome:?}");
    assert_eq!(outcome.exit_code, None);
    assert_eq!(outcome.signal.as_deref(), Some("terminate"));
    assert_eq!(sink.stdout(), "");
    let command_id = receive_command_id(&s).expect("a Receive");
    assert_eq!(signals(&s), vec![(command_id, SIGNAL_TERMINATE.to_string())]);
    let actions = s.actions();
    let signal_at = actions.iter().position(|a| a == "Signal").unwrap();
    assert_eq!(actions.last().map(String::as_str), Some("Delete"));
    assert!(signal_at < actions.len() - 1, "{actions:?}");
    assert_clean(&s);
}

#[tokio::test]
async fn cancel_signals_terminate_and_deletes_the_shell() {
    let s = standin(StandinAuth::Basic).await;
    s.script(
        ShellKind::Cmd,
        "ping -t 10.0.0.1",
        Reply::exit(0).delay(Duration::from_secs(3600)),
    );
    let t = connect(&s, WinrmAuth::Basic).await.with_shell(WinrmShell::Cmd);
    let request = ExecRequest::new("ping -t 10.0.0.1");
    let cancel = request.cancel.clone();
    let exec = tokio::spawn(async move { t.exec(request, &CollectSink::new()).await });
    // Cancel once the command runs and is being received.
    keel_testkit::eventually(Duration::from_secs(20), "a Receive for the command", || {
        let seen = receive_command_id(&s).is_some();
        async move { seen }
    })
    .await;
    cancel.cancel();
    let outcome = tokio::time::timeout(Duration::from_secs(20), exec)
        .await
        .expect("exec returns after cancel")
        .unwrap()
        .expect("exec");
    assert!(outcome.cancelled && !outcome.timed_out, "{outcome:?}");
    let command_id = receive_command_id(&s).unwrap();
    assert_eq!(signals(&s), vec![(command_id, SIGNAL_TERMINATE.to_string())]);
    assert_eq!(s.actions().last().map(String::as_str), Some("Delete"));
    assert_clean(&s);
}

/// `$p='PATH'` in a transfer script, `''` unescaped.
fn quoted_path(text: &str) -> Option<String> {
    let rest = text.split_once("$p='")?.1;
    let mut out = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            if chars.peek() == Some(&'\'') {
                chars.next();
                out.push('\'');
            } else {
                return Some(out);
            }
        } else {
            out.push(c);
        }
    }
    None
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = text.split_once(start)?.1;
    rest.split_once(end).map(|(v, _)| v)
}

/// Plays a Windows file system for the transfer scripts: chunk writes (Create, Append),
/// size and Get-FileHash, chunked reads. `lie_about` gets a wrong hash.
fn file_system(files: Arc<Mutex<HashMap<String, Vec<u8>>>>, lie_about: &'static str) -> Handler {
    Arc::new(move |inv: &Invocation| {
        if inv.shell != ShellKind::PowerShell || !inv.text.starts_with("$ErrorActionPreference='Stop'") {
            return None;
        }
        let path = quoted_path(&inv.text)?;
        let mut files = files.lock().unwrap();
        if let Some(b64) = between(&inv.text, "FromBase64String('", "')") {
            let file = files.entry(path).or_default();
            if inv.text.contains("'Create'") {
                file.clear();
            }
            file.extend(B64.decode(b64).unwrap());
            return Some(Reply::exit(0));
        }
        let Some(data) = files.get(&path) else {
            return Some(Reply::exit(1).stderr(format!("Cannot find path '{path}' because it does not exist.\r\n")));
        };
        if inv.text.contains("Get-FileHash") {
            let mut hash = format!("{:X}", Sha256::digest(data));
            if path == lie_about {
                hash = "0".repeat(64);
            }
            return Some(Reply::exit(0).stdout(format!("{}\r\n{hash}\r\n", data.len())));
        }
        let offset: usize = between(&inv.text, "Seek(", ",")?.parse().ok()?;
        let len: usize = between(&inv.text, "byte[] ", ";")?.parse().ok()?;
        let end = (offset + len).min(data.len());
        let chunk = data.get(offset..end).unwrap_or_default();
        Some(Reply::exit(0).stdout(format!("{}\r\n", B64.encode(chunk))))
    })
}

#[tokio::test]
async fn upload_and_download_round_trip_with_size_and_hash_checked() {
    let s = standin(StandinAuth::Ntlm).await;
    let files = Arc::new(Mutex::new(HashMap::new()));
    s.set_handler(file_system(files.clone(), "C:\\corrupt.bin"));
    let t = connect(&s, WinrmAuth::Ntlm).await;
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("in.bin");
    // Several upload chunks and more than one download chunk.
    let content: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&source, &content).unwrap();
    let remote = "C:\\Deploy\\it's here.bin";
    assert_eq!(t.upload(&source, remote).await.unwrap(), content.len() as u64);
    assert_eq!(files.lock().unwrap().get(remote), Some(&content));

    let back = dir.path().join("out.bin");
    assert_eq!(t.download(remote, &back).await.unwrap(), content.len() as u64);
    assert_eq!(std::fs::read(&back).unwrap(), content);

    // An empty file copies too.
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    assert_eq!(t.upload(&empty, "C:\\empty").await.unwrap(), 0);
    assert_eq!(files.lock().unwrap().get("C:\\empty"), Some(&Vec::new()));

    // A hash that does not match fails the copy, saying so.
    let err = t.upload(&source, "C:\\corrupt.bin").await.unwrap_err();
    assert!(matches!(err, TransportError::Transfer { .. }), "{err}");
    assert!(err.to_string().contains("does not match"), "{err}");

    // A missing remote file: the target's words, with the path.
    let err = t.download("C:\\no\\such.file", &back).await.unwrap_err();
    assert!(
        err.to_string().contains("C:\\no\\such.file") && err.to_string().contains("does not exist"),
        "{err}"
    );
    // A missing local file fails before anything is sent.
    let before = s.requests().len();
    let err = t.upload(&dir.path().join("absent"), "C:\\x").await.unwrap_err();
    assert!(err.to_string().contains("absent"), "{err}");
    assert_eq!(s.requests().len(), before);
    assert_clean(&s);
}

#[tokio::test]
async fn identity_reports_the_host_name_and_windows_version() {
    let s = standin(StandinAuth::Basic).await;
    s.set_handler(Arc::new(|inv: &Invocation| {
        (inv.shell == ShellKind::PowerShell && inv.text.contains("Win32_OperatingSystem")).then(|| {
            Reply::exit(0).stdout("WIN-STANDIN\r\nWindows\r\n10.0.17763\r\nMicrosoft Windows Server 2019 Standard\r\n")
        })
    }));
    // The identity runs in PowerShell whatever the transport's shell.
    let t = connect(&s, WinrmAuth::Basic).await.with_shell(WinrmShell::Cmd);
    let id = t.identity().await.expect("identity");
    assert_eq!(id.hostname, "WIN-STANDIN");
    assert_eq!(id.os, "Windows");
    assert_eq!(id.kernel, "10.0.17763");
    assert_eq!(id.os_release.as_deref(), Some("Microsoft Windows Server 2019 Standard"));

    t.close().await;
    let err = t.identity().await.unwrap_err();
    assert!(matches!(err, TransportError::ConnectionLost { .. }), "{err}");
    assert_clean(&s);
}

#[tokio::test]
async fn https_carries_ntlm_with_a_channel_binding_and_basic() {
    for (standin_auth, auth) in [
        (StandinAuth::Ntlm, WinrmAuth::Ntlm),
        (StandinAuth::Basic, WinrmAuth::Basic),
    ] {
        let s = match WinrmStandin::start_https(standin_auth, USER, PASSWORD).await {
            Ok(s) => s,
            Err(e) if !keel_testkit::env::engines_required() => {
                eprintln!("skipping the HTTPS test: the stand-in's certificate needs openssl ({e})");
                return;
            }
            Err(e) => panic!("the HTTPS stand-in: {e}"),
        };
        s.script(ShellKind::PowerShell, "hostname", Reply::exit(0).stdout("WIN-TLS\r\n"));
        let mut cfg = WinrmConfig::new("127.0.0.1", Credentials::password(USER, PASSWORD)).https();
        assert_eq!(cfg.port, 5986);
        cfg.port = s.port;
        cfg.auth = auth;
        // The stand-in's certificate is self-signed: verification is off (a lab setting).
        cfg.accept_invalid_certs = true;
        let t = WinrmTransport::connect(&cfg)
            .await
            .unwrap_or_else(|e| panic!("connect over HTTPS: {e}; problems: {:?}", s.problems()));
        assert!(t.address().starts_with("https://"), "{}", t.address());
        let (outcome, sink) = run(&t, ExecRequest::new("hostname")).await;
        assert!(outcome.success());
        assert_eq!(sink.stdout(), "WIN-TLS\r\n");
        if auth == WinrmAuth::Ntlm {
            // Every NTLM sign-in bound itself to the certificate the client saw.
            assert_eq!(s.channel_bindings_verified(), s.requests().len());
        }
        // Without turning verification off, a self-signed certificate is refused.
        cfg.accept_invalid_certs = false;
        let err = WinrmTransport::connect(&cfg)
            .await
            .expect_err("an untrusted certificate");
        assert!(matches!(err, TransportError::UntrustedCertificate { .. }), "{err}");
        assert!(err.to_string().contains("UnknownIssuer"), "{err}");
        assert!(!err.to_string().contains(PASSWORD), "{err}");
        assert_clean(&s);
    }
}

#[tokio::test]
async fn output_reaches_the_sink_while_the_command_runs() {
    let s = standin(StandinAuth::Ntlm).await;
    s.script(
        ShellKind::PowerShell,
        "Write-Output started; Start-Sleep 3600",
        Reply::exit(0)
            .early_stdout("started\r\n")
            .delay(Duration::from_secs(3600)),
    );
    s.script(
        ShellKind::PowerShell,
        "Write-Output quick",
        Reply::exit(0).stdout("quick\r\n"),
    );
    let t = connect(&s, WinrmAuth::Ntlm).await;
    let request = ExecRequest::new("Write-Output started; Start-Sleep 3600");
    let cancel = request.cancel.clone();
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let long = t.clone();
    let exec = tokio::spawn(async move { long.exec(request, &tx).await });
    let first = tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("the first chunk")
        .expect("a chunk");
    assert_eq!(first.stream, OutputStream::Stdout);
    assert_eq!(&first.data[..], b"started\r\n");
    assert!(!exec.is_finished());

    // Meanwhile the same transport runs another command to its end.
    let (outcome, sink) = run(&t, ExecRequest::new("Write-Output quick")).await;
    assert!(outcome.success());
    assert_eq!(sink.stdout(), "quick\r\n");

    cancel.cancel();
    let outcome = tokio::time::timeout(Duration::from_secs(20), exec)
        .await
        .expect("exec returns after cancel")
        .unwrap()
        .expect("exec");
    assert!(outcome.cancelled, "{outcome:?}");
    assert_clean(&s);
}

#[tokio::test]
async fn dropping_a_running_exec_still_terminates_the_command_and_deletes_its_shell() {
    let s = standin(StandinAuth::Basic).await;
    s.script(
        ShellKind::PowerShell,
        "Start-Sleep 3600",
        Reply::exit(0).delay(Duration::from_secs(3600)),
    );
    let t = connect(&s, WinrmAuth::Basic).await;
    let exec = tokio::spawn(async move { t.exec(ExecRequest::new("Start-Sleep 3600"), &CollectSink::new()).await });
    keel_testkit::eventually(Duration::from_secs(20), "a Receive for the command", || {
        let seen = receive_command_id(&s).is_some();
        async move { seen }
    })
    .await;
    // The caller gives up without cancelling: its future is dropped.
    exec.abort();
    assert!(exec.await.unwrap_err().is_cancelled());
    keel_testkit::eventually(Duration::from_secs(20), "the shell deleted", || {
        let open = s.open_shells();
        async move { open == 0 }
    })
    .await;
    let command_id = receive_command_id(&s).unwrap();
    assert_eq!(signals(&s), vec![(command_id, SIGNAL_TERMINATE.to_string())]);
    assert_eq!(s.actions().last().map(String::as_str), Some("Delete"));
    assert_clean(&s);
}
