//! A WS-Management (WinRM) stand-in on 127.0.0.1 for the WinRM transport's tests: no Windows
//! host is reachable here, so this server checks the protocol exchange a real one would see
//! and answers like one. It is a protocol checker, not Windows:
//!
//! - **HTTP or HTTPS** ([`WinrmStandin::start_https`]: a self-signed certificate; NTLM's
//!   channel binding token, when sent, must match it).
//! - **Auth**: Basic, or NTLM over `Negotiate` (NEGOTIATE → a CHALLENGE in a 401 →
//!   AUTHENTICATE, whose NTLMv2 response is verified against the configured password). A
//!   wrong credential gets a 401 and counts in [`WinrmStandin::auth_failures`]. NTLM message
//!   sealing (encrypted bodies over HTTP) is not implemented: such a body is a problem.
//! - **Envelopes**: every request must carry `To`, `MessageID`, the remote shell
//!   `ResourceURI` and one of the `Action`s Create, Command, Send, Receive, Signal, Delete;
//!   all but Create must name a live shell by its `ShellId` selector, and Send, Receive and
//!   Signal a command of that shell by its `CommandId`. A request breaking a rule is answered
//!   with a SOAP fault and listed in [`WinrmStandin::problems`].
//! - **Commands** run by a scripted table: the command line (cmd) or the script decoded from
//!   `powershell -EncodedCommand <UTF-16LE base64>` → stdout, stderr, exit code, an
//!   optional delay and optional stdout answered at once (so streaming shows); a [`Handler`] may answer what the table does not. A Receive waits up to
//!   a second for the command to end, then answers the `w:TimedOut` fault a real server sends
//!   when its operation timeout passes (shortened here), so clients must poll again.

mod ntlm;
mod tls;
mod xml;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

pub const SHELL_URI: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd";
const TRANSFER: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/";
const SHELL: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/";
pub const SIGNAL_TERMINATE: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate";
const SIGNAL_CTRL_C: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/ctrl_c";
/// How long a Receive waits for the command before answering `w:TimedOut`.
const RECEIVE_WAIT: Duration = Duration::from_secs(1);

/// The authentication scheme the stand-in demands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StandinAuth {
    Basic,
    Ntlm,
}

/// Which shell a command ran in, as the stand-in understood it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShellKind {
    Cmd,
    PowerShell,
}

/// What a scripted command answers.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit_code: i32,
    /// How long the command "runs" before it ends.
    pub delay: Duration,
    /// Stdout the command writes at once: the first Receive answers it (the command still
    /// running), before the rest at the end.
    pub early_stdout: Vec<u8>,
}

impl Reply {
    pub fn exit(exit_code: i32) -> Reply {
        Reply {
            exit_code,
            ..Reply::default()
        }
    }
    pub fn stdout(mut self, s: impl AsRef<[u8]>) -> Reply {
        self.stdout = s.as_ref().to_vec();
        self
    }
    pub fn stderr(mut self, s: impl AsRef<[u8]>) -> Reply {
        self.stderr = s.as_ref().to_vec();
        self
    }
    pub fn delay(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }
    pub fn early_stdout(mut self, s: impl AsRef<[u8]>) -> Reply {
        self.early_stdout = s.as_ref().to_vec();
        self
    }
}

/// A command as the stand-in ran it: the shell, the command line or decoded script, and
/// the shell's environment, working directory and the stdin the client sent.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub shell: ShellKind,
    pub text: String,
    pub env: Vec<(String, String)>,
    pub working_dir: Option<String>,
    pub stdin: Vec<u8>,
}

/// Answers commands the table does not hold (`None`: the command is unknown).
pub type Handler = Arc<dyn Fn(&Invocation) -> Option<Reply> + Send + Sync>;

/// One request as received (after authentication).
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `Create`, `Command`, `Send`, `Receive`, `Signal`, `Delete` (the Action's last part).
    pub action: String,
    pub shell_id: Option<String>,
    pub command_id: Option<String>,
    /// A Signal's code.
    pub signal: Option<String>,
    /// `Basic` or `NTLM`, and the user it proved.
    pub auth: String,
    pub user: String,
}

struct Command {
    invocation: Invocation,
    reply: Option<Reply>,
    started: Instant,
    early_sent: bool,
    done: bool,
    terminated: bool,
}

struct Shell {
    env: Vec<(String, String)>,
    working_dir: Option<String>,
    commands: HashMap<String, Command>,
}

struct Inner {
    auth: StandinAuth,
    user: String,
    password: String,
    table: HashMap<(ShellKind, String), Reply>,
    handler: Option<Handler>,
    challenges: Vec<[u8; 8]>,
    shells: HashMap<String, Shell>,
    requests: Vec<Recorded>,
    invocations: Vec<Invocation>,
    problems: Vec<String>,
    auth_failures: usize,
    /// Over HTTPS: the channel binding hash NTLM must carry for the certificate.
    channel_bindings: Option<[u8; 16]>,
    bindings_verified: usize,
}

type Shared = Arc<Mutex<Inner>>;

fn lock(state: &Shared) -> MutexGuard<'_, Inner> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running stand-in; stopped when dropped.
pub struct WinrmStandin {
    pub port: u16,
    state: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WinrmStandin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WinrmStandin {
    /// Starts a stand-in over HTTP on an ephemeral port of 127.0.0.1 accepting `user` and
    /// `password` by `auth`.
    pub async fn start(auth: StandinAuth, user: &str, password: &str) -> std::io::Result<WinrmStandin> {
        WinrmStandin::start_with(auth, user, password, false).await
    }

    /// The same over HTTPS, with a self-signed certificate (clients must skip verification);
    /// NTLM's channel binding, when sent, must match the certificate. Needs `openssl`.
    pub async fn start_https(auth: StandinAuth, user: &str, password: &str) -> std::io::Result<WinrmStandin> {
        WinrmStandin::start_with(auth, user, password, true).await
    }

    async fn start_with(auth: StandinAuth, user: &str, password: &str, https: bool) -> std::io::Result<WinrmStandin> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let tls = if https { Some(tls::acceptor()?) } else { None };
        let state: Shared = Arc::new(Mutex::new(Inner {
            auth,
            user: user.to_string(),
            password: password.to_string(),
            table: HashMap::new(),
            handler: None,
            challenges: Vec::new(),
            shells: HashMap::new(),
            requests: Vec::new(),
            invocations: Vec::new(),
            problems: Vec::new(),
            auth_failures: 0,
            channel_bindings: tls.as_ref().map(|(_, b)| *b),
            bindings_verified: 0,
        }));
        let app = Router::new().fallback(handle).with_state(state.clone());
        let task = match tls {
            Some((acceptor, _)) => tokio::spawn(async move {
                let _ = axum::serve(
                    tls::TlsListener {
                        tcp: listener,
                        acceptor,
                    },
                    app,
                )
                .await;
            }),
            None => tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            }),
        };
        Ok(WinrmStandin { port, state, task })
    }

    /// Scripts a command: in `shell`, the command line (cmd) or script (PowerShell) `text`
    /// answers `reply`.
    pub fn script(&self, shell: ShellKind, text: &str, reply: Reply) {
        lock(&self.state).table.insert((shell, text.to_string()), reply);
    }

    /// Answers commands the table does not hold.
    pub fn set_handler(&self, handler: Handler) {
        lock(&self.state).handler = Some(handler);
    }

    /// Every authenticated request, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.state).requests.clone()
    }

    /// The Actions received, in order (`Create`, `Command`, …).
    pub fn actions(&self) -> Vec<String> {
        self.requests().into_iter().map(|r| r.action).collect()
    }

    /// Every command run, in order.
    pub fn invocations(&self) -> Vec<Invocation> {
        lock(&self.state).invocations.clone()
    }

    /// Requests that broke the protocol, each saying how; a test asserts there are none.
    pub fn problems(&self) -> Vec<String> {
        lock(&self.state).problems.clone()
    }

    /// Requests refused for a wrong or missing credential (after a scheme's handshake).
    pub fn auth_failures(&self) -> usize {
        lock(&self.state).auth_failures
    }

    /// NTLM sign-ins over HTTPS whose channel binding matched the certificate.
    pub fn channel_bindings_verified(&self) -> usize {
        lock(&self.state).bindings_verified
    }

    /// Shells created and not deleted yet.
    pub fn open_shells(&self) -> usize {
        lock(&self.state).shells.len()
    }
}

fn new_id() -> String {
    let n: u128 = rand::random();
    let h = format!("{n:032X}");
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

fn soap(action: &str, relates_to: &str, body: &str) -> String {
    format!(
        r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><s:Header><a:Action>{action}Response</a:Action><a:MessageID>uuid:{}</a:MessageID><a:RelatesTo>{}</a:RelatesTo></s:Header><s:Body>{body}</s:Body></s:Envelope>"#,
        new_id(),
        xml::escape(relates_to)
    )
}

fn fault(subcode: &str, reason: &str) -> Response {
    let body = format!(
        r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>w:{subcode}</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">{}</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>"#,
        xml::escape(reason)
    );
    soap_response(StatusCode::INTERNAL_SERVER_ERROR, body)
}

fn soap_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/soap+xml;charset=UTF-8")],
        body,
    )
        .into_response()
}

/// Records a protocol problem and answers it as a fault.
fn problem(state: &Shared, what: String) -> Response {
    let response = fault("InvalidParameter", &what);
    lock(state).problems.push(what);
    response
}

fn unauthorized(auth: StandinAuth, challenge: Option<&[u8]>) -> Response {
    let value = match (auth, challenge) {
        (StandinAuth::Basic, _) => "Basic realm=\"WSMAN\"".to_string(),
        (StandinAuth::Ntlm, None) => "Negotiate".to_string(),
        (StandinAuth::Ntlm, Some(c)) => format!("Negotiate {}", B64.encode(c)),
    };
    (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, value)]).into_response()
}

/// Checks the credential; `Ok` names the scheme and user, `Err` is the answer to send.
fn authenticate(state: &Shared, headers: &HeaderMap) -> Result<(String, String), Box<Response>> {
    let mut s = lock(state);
    let auth = s.auth;
    let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return Err(Box::new(unauthorized(auth, None)));
    };
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    match (auth, scheme) {
        (StandinAuth::Basic, "Basic") => {
            let decoded = B64.decode(token.trim()).ok().and_then(|b| String::from_utf8(b).ok());
            match decoded.as_deref().and_then(|d| d.split_once(':')) {
                Some((user, password)) if user == s.user && password == s.password => {
                    Ok(("Basic".into(), user.to_string()))
                }
                _ => {
                    s.auth_failures += 1;
                    Err(Box::new(unauthorized(auth, None)))
                }
            }
        }
        (StandinAuth::Ntlm, "Negotiate" | "NTLM") => {
            let Ok(msg) = B64.decode(token.trim()) else {
                s.problems.push("the Negotiate token is not base64".into());
                return Err(Box::new(unauthorized(auth, None)));
            };
            match ntlm::message_type(&msg) {
                Some(1) => {
                    let challenge: [u8; 8] = rand::random();
                    s.challenges.push(challenge);
                    if s.challenges.len() > 64 {
                        s.challenges.remove(0);
                    }
                    Err(Box::new(unauthorized(auth, Some(&ntlm::challenge_message(challenge)))))
                }
                Some(3) => match ntlm::parse_authenticate(&msg) {
                    Ok(a) => {
                        let matched = s
                            .challenges
                            .iter()
                            .position(|c| a.user.eq_ignore_ascii_case(&s.user) && a.verifies(&s.password, c));
                        match matched {
                            Some(i) => {
                                s.challenges.remove(i);
                                match (s.channel_bindings, a.channel_bindings()) {
                                    (Some(expected), Some(sent)) if expected != sent => {
                                        s.auth_failures += 1;
                                        s.problems
                                            .push("NTLM channel binding does not match the certificate".into());
                                        return Err(Box::new(unauthorized(auth, None)));
                                    }
                                    (Some(_), Some(_)) => s.bindings_verified += 1,
                                    _ => {}
                                }
                                Ok(("NTLM".into(), a.user))
                            }
                            None => {
                                s.auth_failures += 1;
                                Err(Box::new(unauthorized(auth, None)))
                            }
                        }
                    }
                    Err(e) => {
                        s.problems.push(format!("AUTHENTICATE message: {e}"));
                        Err(Box::new(unauthorized(auth, None)))
                    }
                },
                other => {
                    s.problems.push(format!("unexpected NTLM message type {other:?}"));
                    Err(Box::new(unauthorized(auth, None)))
                }
            }
        }
        _ => Err(Box::new(unauthorized(auth, None))),
    }
}

async fn handle(State(state): State<Shared>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let (scheme, user) = match authenticate(&state, &headers) {
        Ok(who) => who,
        Err(answer) => return *answer,
    };
    if method != Method::POST || uri.path() != "/wsman" {
        return problem(&state, format!("{method} {} (WinRM takes POST /wsman)", uri.path()));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/soap+xml") {
        return problem(
            &state,
            format!("Content-Type {content_type:?} (sealed or not SOAP); expected application/soap+xml"),
        );
    }
    let Ok(envelope) = std::str::from_utf8(&body) else {
        return problem(&state, "the body is not UTF-8".into());
    };
    let action_uri = xml::text(envelope, "Action").unwrap_or_default();
    let action = match action_uri
        .strip_prefix(TRANSFER)
        .or_else(|| action_uri.strip_prefix(SHELL))
    {
        Some(a @ ("Create" | "Delete")) if action_uri.starts_with(TRANSFER) => a.to_string(),
        Some(a @ ("Command" | "Send" | "Receive" | "Signal")) if action_uri.starts_with(SHELL) => a.to_string(),
        _ => return problem(&state, format!("unknown Action {action_uri:?}")),
    };
    let resource = xml::text(envelope, "ResourceURI").unwrap_or_default();
    if resource != SHELL_URI {
        return problem(
            &state,
            format!("{action}: ResourceURI {resource:?}, expected {SHELL_URI}"),
        );
    }
    let message_id = xml::text(envelope, "MessageID").unwrap_or_default();
    if !message_id.starts_with("uuid:") {
        return problem(&state, format!("{action}: MessageID {message_id:?} is not uuid:…"));
    }
    if !xml::text(envelope, "To").is_some_and(|to| to.ends_with("/wsman")) {
        return problem(&state, format!("{action}: no To address ending in /wsman"));
    }
    let shell_id = xml::elements(envelope, "Selector")
        .into_iter()
        .find(|(attrs, _)| xml::attr(attrs, "Name").as_deref() == Some("ShellId"))
        .map(|(_, text)| text.trim().to_string());
    let body_xml = envelope.split_once("Body>").map(|(_, b)| b).unwrap_or("");
    let command_id = ["DesiredStream", "Signal", "Stream"].iter().find_map(|name| {
        xml::elements(body_xml, name)
            .into_iter()
            .find_map(|(a, _)| xml::attr(&a, "CommandId"))
    });
    let signal = xml::text(body_xml, "Code");
    lock(&state).requests.push(Recorded {
        action: action.clone(),
        shell_id: shell_id.clone(),
        command_id: command_id.clone(),
        signal: signal.clone(),
        auth: scheme,
        user,
    });

    if action == "Create" {
        return create(&state, &message_id, body_xml);
    }
    let Some(shell_id) = shell_id else {
        return problem(&state, format!("{action}: no ShellId selector"));
    };
    if !lock(&state).shells.contains_key(&shell_id) {
        return problem(&state, format!("{action}: ShellId {shell_id} names no live shell"));
    }
    match action.as_str() {
        "Delete" => {
            lock(&state).shells.remove(&shell_id);
            soap_response(StatusCode::OK, soap(&format!("{TRANSFER}Delete"), &message_id, ""))
        }
        "Command" => command(&state, &message_id, &shell_id, body_xml),
        _ => {
            let Some(command_id) = command_id else {
                return problem(&state, format!("{action}: no CommandId"));
            };
            if !lock(&state)
                .shells
                .get(&shell_id)
                .is_some_and(|s| s.commands.contains_key(&command_id))
            {
                return problem(
                    &state,
                    format!("{action}: CommandId {command_id} is not a command of shell {shell_id}"),
                );
            }
            match action.as_str() {
                "Send" => send(&state, &message_id, &shell_id, &command_id, body_xml),
                "Signal" => signal_command(&state, &message_id, &shell_id, &command_id, signal),
                _ => receive(state, message_id, shell_id, command_id).await,
            }
        }
    }
}

fn create(state: &Shared, message_id: &str, body: &str) -> Response {
    let streams_ok = xml::text(body, "InputStreams").is_some_and(|s| s.contains("stdin"))
        && xml::text(body, "OutputStreams").is_some_and(|s| s.contains("stdout") && s.contains("stderr"));
    if xml::elements(body, "Shell").is_empty() || !streams_ok {
        return problem(
            state,
            "Create: the body needs rsp:Shell with stdin in and stdout stderr out".into(),
        );
    }
    let env = xml::elements(body, "Variable")
        .into_iter()
        .filter_map(|(attrs, value)| xml::attr(&attrs, "Name").map(|n| (n, value)))
        .collect();
    let working_dir = xml::text(body, "WorkingDirectory");
    let id = new_id();
    lock(state).shells.insert(
        id.clone(),
        Shell {
            env,
            working_dir,
            commands: HashMap::new(),
        },
    );
    let answer = format!(
        "<x:ResourceCreated xmlns:x=\"http://schemas.xmlsoap.org/ws/2004/09/transfer\"><a:Address>http://127.0.0.1/wsman</a:Address></x:ResourceCreated><rsp:Shell><rsp:ShellId>{id}</rsp:ShellId><rsp:ResourceUri>{SHELL_URI}</rsp:ResourceUri></rsp:Shell>"
    );
    soap_response(StatusCode::OK, soap(&format!("{TRANSFER}Create"), message_id, &answer))
}

/// Reads a command line: `powershell … -EncodedCommand B64` is decoded to its script.
fn understand(command: &str, args: &[String]) -> Result<(ShellKind, String), String> {
    let program = command.trim().to_ascii_lowercase();
    let program = program.trim_end_matches(".exe");
    if program == "powershell" || program == "pwsh" {
        let at = args
            .iter()
            .position(|a| a.eq_ignore_ascii_case("-EncodedCommand"))
            .ok_or("powershell without -EncodedCommand")?;
        let encoded = args.get(at + 1).ok_or("-EncodedCommand without its value")?;
        let bytes = B64
            .decode(encoded.trim())
            .map_err(|_| "the encoded command is not base64")?;
        if !bytes.len().is_multiple_of(2) {
            return Err("the encoded command is not UTF-16LE (odd length)".into());
        }
        let units: Vec<u16> = bytes.chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        let script = String::from_utf16(&units).map_err(|_| "the encoded command is not UTF-16LE")?;
        return Ok((ShellKind::PowerShell, script));
    }
    let mut line = command.trim().to_string();
    for a in args {
        line.push(' ');
        line.push_str(a);
    }
    Ok((ShellKind::Cmd, line))
}

fn command(state: &Shared, message_id: &str, shell_id: &str, body: &str) -> Response {
    let Some(program) = xml::text(body, "Command") else {
        return problem(state, "Command: no rsp:CommandLine/rsp:Command".into());
    };
    let args: Vec<String> = xml::elements(body, "Arguments").into_iter().map(|(_, a)| a).collect();
    let (shell, text) = match understand(&program, &args) {
        Ok(u) => u,
        Err(e) => return problem(state, format!("Command: {e}")),
    };
    let id = new_id();
    let mut s = lock(state);
    let Some(sh) = s.shells.get_mut(shell_id) else {
        drop(s);
        return problem(state, format!("Command: ShellId {shell_id} names no live shell"));
    };
    let invocation = Invocation {
        shell,
        text,
        env: sh.env.clone(),
        working_dir: sh.working_dir.clone(),
        stdin: Vec::new(),
    };
    sh.commands.insert(
        id.clone(),
        Command {
            invocation,
            reply: None,
            started: Instant::now(),
            early_sent: false,
            done: false,
            terminated: false,
        },
    );
    drop(s);
    let answer = format!("<rsp:CommandResponse><rsp:CommandId>{id}</rsp:CommandId></rsp:CommandResponse>");
    soap_response(StatusCode::OK, soap(&format!("{SHELL}Command"), message_id, &answer))
}

fn send(state: &Shared, message_id: &str, shell_id: &str, command_id: &str, body: &str) -> Response {
    let mut data = Vec::new();
    for (attrs, text) in xml::elements(body, "Stream") {
        if xml::attr(&attrs, "Name").as_deref() != Some("stdin") {
            return problem(state, "Send: a stream other than stdin".into());
        }
        match B64.decode(text.trim()) {
            Ok(bytes) => data.extend(bytes),
            Err(_) => return problem(state, "Send: the stdin stream is not base64".into()),
        }
    }
    let mut s = lock(state);
    if let Some(c) = s
        .shells
        .get_mut(shell_id)
        .and_then(|sh| sh.commands.get_mut(command_id))
    {
        c.invocation.stdin.extend(data);
    }
    drop(s);
    soap_response(
        StatusCode::OK,
        soap(&format!("{SHELL}Send"), message_id, "<rsp:SendResponse/>"),
    )
}

fn signal_command(
    state: &Shared,
    message_id: &str,
    shell_id: &str,
    command_id: &str,
    code: Option<String>,
) -> Response {
    let code = code.unwrap_or_default();
    if code != SIGNAL_TERMINATE && code != SIGNAL_CTRL_C {
        return problem(state, format!("Signal: unknown code {code:?}"));
    }
    let mut s = lock(state);
    if let Some(c) = s
        .shells
        .get_mut(shell_id)
        .and_then(|sh| sh.commands.get_mut(command_id))
    {
        c.terminated = true;
    }
    drop(s);
    soap_response(
        StatusCode::OK,
        soap(&format!("{SHELL}Signal"), message_id, "<rsp:SignalResponse/>"),
    )
}

/// Chooses the command's reply on its first Receive (after any stdin was sent).
fn resolve(s: &mut Inner, shell_id: &str, command_id: &str) -> Option<(Reply, Instant)> {
    let table_reply = {
        let c = s.shells.get(shell_id)?.commands.get(command_id)?;
        if let Some(r) = &c.reply {
            return Some((r.clone(), c.started));
        }
        let inv = &c.invocation;
        s.table
            .get(&(inv.shell, inv.text.clone()))
            .cloned()
            .or_else(|| s.handler.as_ref().and_then(|h| h(inv)))
            .unwrap_or_else(|| {
                Reply::exit(1).stderr(format!(
                    "'{}' is not recognized as an internal or external command\r\n",
                    inv.text
                ))
            })
    };
    let c = s.shells.get_mut(shell_id)?.commands.get_mut(command_id)?;
    c.reply = Some(table_reply.clone());
    let invocation = c.invocation.clone();
    let started = c.started;
    s.invocations.push(invocation);
    Some((table_reply, started))
}

async fn receive(state: Shared, message_id: String, shell_id: String, command_id: String) -> Response {
    let (reply, started) = {
        let mut s = lock(&state);
        let finished = s
            .shells
            .get(&shell_id)
            .and_then(|sh| sh.commands.get(&command_id))
            .map(|c| c.done || c.terminated);
        if finished == Some(true) {
            drop(s);
            return problem(
                &state,
                format!("Receive: command {command_id} already ended or was terminated"),
            );
        }
        match resolve(&mut s, &shell_id, &command_id) {
            Some(r) => r,
            None => {
                drop(s);
                return problem(&state, format!("Receive: command {command_id} vanished"));
            }
        }
    };
    let early = {
        let mut s = lock(&state);
        match s
            .shells
            .get_mut(&shell_id)
            .and_then(|sh| sh.commands.get_mut(&command_id))
        {
            Some(c) if !c.early_sent && !reply.early_stdout.is_empty() => {
                c.early_sent = true;
                true
            }
            _ => false,
        }
    };
    if early {
        let answer = format!(
            "<rsp:ReceiveResponse><rsp:Stream Name=\"stdout\" CommandId=\"{command_id}\">{}</rsp:Stream><rsp:CommandState CommandId=\"{command_id}\" State=\"{SHELL}CommandState/Running\"/></rsp:ReceiveResponse>",
            B64.encode(&reply.early_stdout)
        );
        return soap_response(StatusCode::OK, soap(&format!("{SHELL}Receive"), &message_id, &answer));
    }
    let ends_at = started + reply.delay;
    let wait_until = ends_at.min(Instant::now() + RECEIVE_WAIT);
    tokio::time::sleep_until(wait_until.into()).await;
    if Instant::now() < ends_at {
        return fault(
            "TimedOut",
            "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.",
        );
    }
    {
        let mut s = lock(&state);
        match s
            .shells
            .get_mut(&shell_id)
            .and_then(|sh| sh.commands.get_mut(&command_id))
        {
            Some(c) if !c.terminated => c.done = true,
            // Terminated (or the shell deleted) while this Receive waited.
            _ => return fault("TimedOut", "The command was terminated."),
        }
    }
    let mut answer = String::from("<rsp:ReceiveResponse>");
    for (name, data) in [("stdout", &reply.stdout), ("stderr", &reply.stderr)] {
        if !data.is_empty() {
            answer.push_str(&format!(
                "<rsp:Stream Name=\"{name}\" CommandId=\"{command_id}\">{}</rsp:Stream>",
                B64.encode(data)
            ));
        }
        answer.push_str(&format!(
            "<rsp:Stream Name=\"{name}\" CommandId=\"{command_id}\" End=\"true\"></rsp:Stream>"
        ));
    }
    answer.push_str(&format!(
        "<rsp:CommandState CommandId=\"{command_id}\" State=\"{SHELL}CommandState/Done\"><rsp:ExitCode>{}</rsp:ExitCode></rsp:CommandState></rsp:ReceiveResponse>",
        reply.exit_code
    ));
    soap_response(StatusCode::OK, soap(&format!("{SHELL}Receive"), &message_id, &answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(action: &str, resource: &str, shell_id: Option<&str>, body: &str) -> String {
        let selector = shell_id
            .map(|id| format!("<w:SelectorSet><w:Selector Name=\"ShellId\">{id}</w:Selector></w:SelectorSet>"))
            .unwrap_or_default();
        format!(
            "<s:Envelope><s:Header><a:To>http://127.0.0.1/wsman</a:To><w:ResourceURI>{resource}</w:ResourceURI><a:Action>{action}</a:Action><a:MessageID>uuid:1</a:MessageID>{selector}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
        )
    }

    async fn post(port: u16, auth: Option<(&str, &str)>, body: String) -> (u16, String) {
        let mut req = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}/wsman"))
            .header("Content-Type", "application/soap+xml;charset=UTF-8")
            .body(body);
        if let Some((u, p)) = auth {
            req = req.basic_auth(u, Some(p));
        }
        let resp = req.send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    #[tokio::test]
    async fn protocol_breaks_are_faults_and_listed() {
        let s = WinrmStandin::start(StandinAuth::Basic, "u", "p").await.unwrap();
        let create = envelope(
            &format!("{TRANSFER}Create"),
            SHELL_URI,
            None,
            "<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>",
        );
        // No credential, then a wrong one: 401s, not protocol problems.
        assert_eq!(post(s.port, None, create.clone()).await.0, 401);
        assert_eq!(post(s.port, Some(("u", "wrong")), create.clone()).await.0, 401);
        assert_eq!(s.auth_failures(), 1);
        assert!(s.problems().is_empty());

        let (status, text) = post(s.port, Some(("u", "p")), create).await;
        assert_eq!(status, 200, "{text}");
        assert_eq!(s.open_shells(), 1);
        let shell_id = xml::text(&text, "ShellId").unwrap();

        // A Receive for a shell that does not exist, a wrong ResourceURI, an unknown Action,
        // a PowerShell command that is not UTF-16LE base64.
        let receive = format!("{SHELL}Receive");
        let bad = [
            envelope(&receive, SHELL_URI, Some("NOPE"), "<rsp:Receive><rsp:DesiredStream CommandId=\"C\">stdout stderr</rsp:DesiredStream></rsp:Receive>"),
            envelope(&format!("{TRANSFER}Delete"), "http://example.com/other", Some(&shell_id), ""),
            envelope("http://example.com/Frobnicate", SHELL_URI, Some(&shell_id), ""),
            envelope(&format!("{SHELL}Command"), SHELL_URI, Some(&shell_id), "<rsp:CommandLine><rsp:Command>powershell</rsp:Command><rsp:Arguments>-EncodedCommand</rsp:Arguments><rsp:Arguments>!!!</rsp:Arguments></rsp:CommandLine>"),
            envelope(&receive, SHELL_URI, Some(&shell_id), "<rsp:Receive><rsp:DesiredStream CommandId=\"UNKNOWN\">stdout stderr</rsp:DesiredStream></rsp:Receive>"),
        ];
        for body in bad {
            let (status, text) = post(s.port, Some(("u", "p")), body).await;
            assert_eq!(status, 500);
            assert!(text.contains("s:Fault"), "{text}");
        }
        let problems = s.problems();
        assert_eq!(problems.len(), 5, "{problems:?}");
        assert!(
            problems[0].contains("NOPE") && problems[1].contains("ResourceURI"),
            "{problems:?}"
        );
        assert!(
            problems[2].contains("Action") && problems[3].contains("base64"),
            "{problems:?}"
        );
        assert!(problems[4].contains("UNKNOWN"), "{problems:?}");
    }
}
