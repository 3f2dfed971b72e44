//! Local stand-ins for the services notification providers call (SES, SendGrid, Mailgun,
//! Twilio, Slack, Teams, Discord): small axum servers on 127.0.0.1 that check what the real
//! service requires before accepting (the SigV4 signature recomputed here from the same keys,
//! Basic or Bearer credentials, JSON vs form bodies, required fields) and answer as the
//! service does. A request that fails a check is answered the way the service would refuse it
//! and noted in [`StandIn::problems`]. Tests can script the next answers
//! ([`StandIn::answer_next`]) to make the service fail, throttle or refuse.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use serde_json::{json, Value};

use crate::notify::SuiteStandIn;
use crate::notify_sigv4;

/// One request as the stand-in received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Names lower-case, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The body as form fields (`application/x-www-form-urlencoded`).
    pub fn form(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(&self.body).into_owned().collect()
    }

    /// The first value of form field `name`.
    pub fn form_field(&self, name: &str) -> Option<String> {
        self.form().into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// The `(user, password)` of an HTTP Basic `Authorization` header.
    pub fn basic_auth(&self) -> Option<(String, String)> {
        let b64 = self.header("authorization")?.strip_prefix("Basic ")?;
        let raw = base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (user, password) = text.split_once(':')?;
        Some((user.to_string(), password.to_string()))
    }
}

/// An answer of the stand-in.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn new(status: u16, body: impl Into<String>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn json(status: u16, body: Value) -> Reply {
        Reply::new(status, body.to_string()).header("content-type", "application/json")
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

/// What the service checks: `Err` is its refusal (and a problem the test sees).
pub type Check = Arc<dyn Fn(&Recorded) -> Result<(), Reply> + Send + Sync>;

struct Inner {
    requests: Vec<Recorded>,
    problems: Vec<String>,
    script: VecDeque<Reply>,
}

/// A running stand-in; stops when dropped.
pub struct StandIn {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// What it answers a valid request by default.
    pub ok: Reply,
    state: Arc<Mutex<Inner>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(m: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl StandIn {
    /// Starts a stand-in that accepts any path, checks each request with `check`, and answers
    /// the next scripted reply, else `ok`.
    pub async fn start(check: Check, ok: Reply) -> StandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a stand-in on 127.0.0.1");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let state = Arc::new(Mutex::new(Inner {
            requests: Vec::new(),
            problems: Vec::new(),
            script: VecDeque::new(),
        }));
        let (st, default) = (state.clone(), ok.clone());
        let app = Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let (state, check, ok) = (st.clone(), check.clone(), default.clone());
            async move {
                let rec = Recorded {
                    method: method.to_string(),
                    path: uri.path().to_string(),
                    query: uri.query().map(str::to_string),
                    headers: headers
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.as_str().to_string(),
                                String::from_utf8_lossy(v.as_bytes()).into_owned(),
                            )
                        })
                        .collect(),
                    body: body.to_vec(),
                };
                let verdict = check(&rec);
                let mut inner = lock(&state);
                inner.requests.push(rec);
                let reply = match verdict {
                    Err(refusal) => {
                        inner.problems.push(format!("{} {}", refusal.status, refusal.body));
                        refusal
                    }
                    Ok(()) => inner.script.pop_front().unwrap_or(ok),
                };
                respond(reply)
            }
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        StandIn { url, ok, state, task }
    }

    /// The next valid request gets `reply` (queued after earlier scripted replies).
    pub fn answer_next(&self, reply: Reply) {
        lock(&self.state).script.push_back(reply);
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.state).requests.clone()
    }

    /// The refusals of requests that failed the service's checks.
    pub fn problems(&self) -> Vec<String> {
        lock(&self.state).problems.clone()
    }

    /// Amazon SES v2 `SendEmail` for these keys (any region the keys sign for is checked
    /// against `region`).
    pub async fn ses(region: &str, access_key_id: &str, secret_access_key: &str) -> StandIn {
        let (region, akid, secret) = (
            region.to_string(),
            access_key_id.to_string(),
            secret_access_key.to_string(),
        );
        let check: Check = Arc::new(move |r: &Recorded| {
            let refuse = |code: &str, msg: &str| {
                Err(Reply::json(
                    if code == "SignatureDoesNotMatch" { 403 } else { 400 },
                    json!({"message": msg}),
                )
                .header("x-amzn-errortype", code))
            };
            if r.method != "POST" || r.path != "/v2/email/outbound-emails" {
                return Err(Reply::json(404, json!({"message": "not found"})));
            }
            if let Err(why) = notify_sigv4::verify(r, &akid, &secret, &region, "ses") {
                return refuse("SignatureDoesNotMatch", &why);
            }
            if !r
                .header("content-type")
                .is_some_and(|c| c.starts_with("application/json"))
            {
                return refuse("BadRequestException", "content-type must be application/json");
            }
            let b = r.json();
            let simple = &b["Content"]["Simple"];
            let ok = b["FromEmailAddress"].is_string()
                && b["Destination"]["ToAddresses"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_string))
                && simple["Subject"]["Data"].is_string()
                && (simple["Body"]["Text"]["Data"].is_string() || simple["Body"]["Html"]["Data"].is_string());
            if !ok {
                return refuse(
                    "BadRequestException",
                    "missing FromEmailAddress, Destination or Content.Simple",
                );
            }
            Ok(())
        });
        StandIn::start(check, Reply::json(200, json!({"MessageId": "0100018c-ses-message-id"}))).await
    }

    /// SendGrid v3 `mail/send` for this API key.
    pub async fn sendgrid(api_key: &str) -> StandIn {
        let expected = format!("Bearer {api_key}");
        let check: Check = Arc::new(move |r: &Recorded| {
            let refuse = |s: u16, msg: &str| Err(Reply::json(s, json!({"errors": [{"message": msg, "field": null}]})));
            if r.method != "POST" || r.path != "/v3/mail/send" {
                return refuse(404, "not found");
            }
            if r.header("authorization") != Some(expected.as_str()) {
                return refuse(401, "The provided authorization grant is invalid, expired, or revoked");
            }
            if !r
                .header("content-type")
                .is_some_and(|c| c.starts_with("application/json"))
            {
                return refuse(415, "content-type must be application/json");
            }
            let b = r.json();
            let to_ok = b["personalizations"][0]["to"]
                .as_array()
                .is_some_and(|a| !a.is_empty() && a.iter().all(|t| t["email"].is_string()));
            let content = b["content"].as_array().cloned().unwrap_or_default();
            // SendGrid requires text/plain first when both are present.
            let content_ok = !content.is_empty()
                && content.iter().all(|c| c["type"].is_string() && c["value"].is_string())
                && content[0]["type"] == "text/plain";
            if !to_ok || !b["from"]["email"].is_string() || !b["subject"].is_string() || !content_ok {
                return refuse(400, "personalizations, from, subject and content are required");
            }
            Ok(())
        });
        StandIn::start(check, Reply::new(202, "").header("x-message-id", "sg-message-id-1")).await
    }

    /// Mailgun `messages` of `domain` for this API key.
    pub async fn mailgun(domain: &str, api_key: &str) -> StandIn {
        let (path, key) = (format!("/v3/{domain}/messages"), api_key.to_string());
        let domain = domain.to_string();
        let check: Check = Arc::new(move |r: &Recorded| {
            if r.method != "POST" || r.path != path {
                return Err(Reply::new(404, "404 page not found"));
            }
            if r.basic_auth() != Some(("api".to_string(), key.clone())) {
                return Err(Reply::new(401, "Forbidden"));
            }
            if !r
                .header("content-type")
                .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
            {
                return Err(Reply::json(400, json!({"message": "expected a form"})));
            }
            for field in ["from", "to", "subject"] {
                if r.form_field(field).is_none_or(|v| v.is_empty()) {
                    return Err(Reply::json(
                        400,
                        json!({"message": format!("'{field}' parameter is missing")}),
                    ));
                }
            }
            if r.form_field("text").is_none() && r.form_field("html").is_none() {
                return Err(Reply::json(
                    400,
                    json!({"message": "Need at least one of 'text' or 'html' parameters specified"}),
                ));
            }
            Ok(())
        });
        let id = format!("<20261202.1.mg@{domain}>");
        StandIn::start(
            check,
            Reply::json(200, json!({"id": id, "message": "Queued. Thank you."})),
        )
        .await
    }

    /// Twilio `Messages.json` of account `sid` with `token`.
    pub async fn twilio(sid: &str, token: &str) -> StandIn {
        let (path, sid, token) = (
            format!("/2010-04-01/Accounts/{sid}/Messages.json"),
            sid.to_string(),
            token.to_string(),
        );
        let check: Check = Arc::new(move |r: &Recorded| {
            let err = |status: u16, code: u32, msg: &str| {
                Err(Reply::json(
                    status,
                    json!({"code": code, "message": msg, "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status}),
                ))
            };
            if r.method != "POST" || r.path != path {
                return err(404, 20404, "The requested resource was not found");
            }
            if r.basic_auth() != Some((sid.clone(), token.clone())) {
                return err(401, 20003, "Authentication Error - invalid username");
            }
            if !r
                .header("content-type")
                .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
            {
                return err(400, 21620, "expected a form");
            }
            let to = r.form_field("To").unwrap_or_default();
            let e164 = to.len() > 2 && to.starts_with('+') && to[1..].chars().all(|c| c.is_ascii_digit());
            if !e164 {
                return err(
                    400,
                    21211,
                    &format!("The 'To' number {to} is not a valid phone number."),
                );
            }
            if r.form_field("From").is_none() && r.form_field("MessagingServiceSid").is_none() {
                return err(
                    400,
                    21603,
                    "A 'From' or 'MessagingServiceSid' parameter is required to send a message",
                );
            }
            if r.form_field("Body").is_none_or(|b| b.is_empty()) {
                return err(400, 21602, "Message body is required.");
            }
            Ok(())
        });
        StandIn::start(
            check,
            Reply::json(
                201,
                json!({"sid": "SM0123456789abcdef0123456789abcdef", "status": "queued"}),
            ),
        )
        .await
    }

    /// A Slack incoming webhook at `path`.
    pub async fn slack(path: &str) -> StandIn {
        let path = path.to_string();
        let check: Check = Arc::new(move |r: &Recorded| {
            if r.method != "POST" || r.path != path {
                return Err(Reply::new(404, "no_service"));
            }
            let b = r.json();
            if !r
                .header("content-type")
                .is_some_and(|c| c.starts_with("application/json"))
                || !b.is_object()
            {
                return Err(Reply::new(400, "invalid_payload"));
            }
            if !b["text"].is_string() && !b["blocks"].is_array() {
                return Err(Reply::new(400, "no_text"));
            }
            if !b["blocks"].is_null() && !b["blocks"].is_array() {
                return Err(Reply::new(400, "invalid_blocks"));
            }
            Ok(())
        });
        StandIn::start(check, Reply::new(200, "ok")).await
    }

    /// A Microsoft Teams (Workflows or connector) incoming webhook at `path`.
    pub async fn teams(path: &str) -> StandIn {
        let path = path.to_string();
        let check: Check = Arc::new(move |r: &Recorded| {
            if r.method != "POST" || r.path != path {
                return Err(Reply::new(404, "not found"));
            }
            let b = r.json();
            let adaptive = b["type"] == "message"
                && b["attachments"].as_array().is_some_and(|a| {
                    !a.is_empty()
                        && a.iter().all(|x| {
                            x["contentType"] == "application/vnd.microsoft.card.adaptive"
                                && x["content"]["type"] == "AdaptiveCard"
                                && x["content"]["body"].is_array()
                        })
                });
            let message_card = b["@type"] == "MessageCard" && (b["text"].is_string() || b["title"].is_string());
            if !adaptive && !message_card {
                return Err(Reply::json(
                    400,
                    json!({"error": {"code": "InvalidRequestContent", "message": "The request content is not valid"}}),
                ));
            }
            Ok(())
        });
        StandIn::start(check, Reply::new(202, "")).await
    }

    /// A Discord webhook at `path` (called with `?wait=true`).
    pub async fn discord(path: &str) -> StandIn {
        let path = path.to_string();
        let check: Check = Arc::new(move |r: &Recorded| {
            if r.method != "POST" || r.path != path {
                return Err(Reply::json(404, json!({"message": "Unknown Webhook", "code": 10015})));
            }
            let b = r.json();
            let content = b["content"].as_str().unwrap_or_default();
            if content.is_empty() && b["embeds"].as_array().is_none_or(|e| e.is_empty()) {
                return Err(Reply::json(
                    400,
                    json!({"message": "Cannot send an empty message", "code": 50006}),
                ));
            }
            if content.chars().count() > 2000 {
                return Err(Reply::json(400, json!({"message": "Invalid Form Body", "code": 50035})));
            }
            Ok(())
        });
        StandIn::start(
            check,
            Reply::json(200, json!({"id": "1180000000000000001", "type": 0, "content": ""})),
        )
        .await
    }
}

impl SuiteStandIn for StandIn {
    type Request = Recorded;

    fn url(&self) -> &str {
        &self.url
    }

    fn requests(&self) -> Vec<Recorded> {
        StandIn::requests(self)
    }

    fn problems(&self) -> Vec<String> {
        StandIn::problems(self)
    }

    fn answer_next(&self, reply: Reply) {
        StandIn::answer_next(self, reply)
    }
}

fn respond(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, reply.body).into_response();
    for (k, v) in reply.headers {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::try_from(k.as_str()),
            axum::http::HeaderValue::from_str(&v),
        ) {
            resp.headers_mut().insert(name, value);
        }
    }
    resp
}
