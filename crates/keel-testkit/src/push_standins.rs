//! Local stand-ins for the push services (a Web Push service, FCM HTTP v1 with its OAuth2
//! token endpoint, APNs over HTTP/2 cleartext), each an axum server on 127.0.0.1 that checks
//! the exact request a provider must make and records what it received:
//!
//! - [`WebPushService`] issues subscriptions as a browser would (a fresh P-256 key pair and
//!   auth secret each), checks the VAPID token (ES256 signature by the `k=` key it was told,
//!   `aud` its own origin, `exp` within 24 h, `sub`) and DECRYPTS the `aes128gcm` body with the
//!   subscription's private key;
//! - [`FcmService`] makes a service account (a fresh RSA key), verifies the jwt-bearer
//!   assertion at `/token` with the public key (`iss`, `scope`, `aud`, `exp`), issues access
//!   tokens and checks the bearer and body shape of `messages:send`;
//! - [`ApnsService`] makes a `.p8` key, serves HTTP/2 only (a request in HTTP/1.1 is refused),
//!   verifies the provider token (ES256, `kid`, `iss`, `iat`) and the `apns-*` headers.
//!
//! A request that fails a check is answered 400 with the reason and listed in
//! [`Recorder::problems`]; a test asserts there are none. [`Recorder::answer_next`] scripts the
//! next answers (a 410, a 429 with `Retry-After`…); by default each accepts, the n-th accepted
//! message getting the id `…/n`. Each is a [`SuiteStandIn`], so providers run the notifier
//! suite against it.

mod apns;
mod fcm;
mod webpush;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Body;
use axum::http::{HeaderMap, Response, StatusCode, Version};
use serde_json::Value;

use crate::notify::SuiteStandIn;
pub use crate::notify_standins::Reply;

pub use apns::ApnsService;
pub use fcm::{FcmService, FCM_PROJECT};
pub use webpush::{Subscription, WebPushService};

/// One request a stand-in accepted the form of.
#[derive(Debug, Clone)]
pub struct PushRequest {
    /// The path (`/push/<id>`, `/v1/projects/p/messages:send`, `/3/device/<token>`).
    pub path: String,
    /// Its headers, names lowercase.
    pub headers: Vec<(String, String)>,
    /// Whether it came over HTTP/2.
    pub http2: bool,
    /// The body: for Web Push the DECRYPTED payload parsed as JSON (or a string when it is not
    /// JSON); for FCM and APNs the JSON body.
    pub body: Value,
}

impl PushRequest {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Recorded {
    received: Vec<PushRequest>,
    problems: Vec<String>,
    next: VecDeque<Reply>,
}

/// What a stand-in received and will answer; every stand-in derefs to one.
#[derive(Clone, Default)]
pub struct Recorder {
    inner: Arc<Mutex<Recorded>>,
}

impl Recorder {
    fn lock(&self) -> MutexGuard<'_, Recorded> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The requests that passed the checks, in order.
    pub fn received(&self) -> Vec<PushRequest> {
        self.lock().received.clone()
    }

    /// Why requests were refused (empty when every request was right).
    pub fn problems(&self) -> Vec<String> {
        self.lock().problems.clone()
    }

    /// The next request that passes the checks is answered `reply` instead of the service's
    /// success (queued: call several times for several).
    pub fn answer_next(&self, reply: Reply) {
        self.lock().next.push_back(reply);
    }

    /// Records a refusal and answers it 400.
    fn problem(&self, why: impl Into<String>) -> Response<Body> {
        let why = why.into();
        self.lock().problems.push(why.clone());
        answer(400, &[], &why)
    }

    /// Records an accepted request; the scripted answer, else `ok` of its number (1 for the
    /// first accepted request: the service's message ids are predictable).
    fn accept(&self, request: PushRequest, ok: impl FnOnce(usize) -> Response<Body>) -> Response<Body> {
        let mut rec = self.lock();
        rec.received.push(request);
        let n = rec.received.len();
        match rec.next.pop_front() {
            Some(r) => {
                let headers: Vec<(&str, &str)> = r.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                answer(r.status, &headers, &r.body)
            }
            None => ok(n),
        }
    }
}

/// The suite drives each push stand-in through its [`Recorder`].
macro_rules! driven_by_the_suite {
    ($($service:ty),*) => {$(
        impl SuiteStandIn for $service {
            type Request = PushRequest;
            fn url(&self) -> &str {
                <$service>::url(self)
            }
            fn requests(&self) -> Vec<PushRequest> {
                self.received()
            }
            fn problems(&self) -> Vec<String> {
                Recorder::problems(self)
            }
            fn answer_next(&self, reply: Reply) {
                Recorder::answer_next(self, reply)
            }
        }
    )*};
}

driven_by_the_suite!(WebPushService, FcmService, ApnsService);

fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> Response<Body> {
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            axum::http::HeaderName::from_bytes(k.as_bytes()),
            axum::http::HeaderValue::from_str(v),
        ) {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}

fn header_list(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

fn is_http2(version: Version) -> bool {
    version == Version::HTTP_2
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// An ephemeral port of 127.0.0.1 and its URL (`http://127.0.0.1:port`).
async fn bind() -> std::io::Result<(tokio::net::TcpListener, String)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    Ok((listener, url))
}

/// Serves `app` on `listener` (HTTP/1.1, and HTTP/2 cleartext with prior knowledge); the task
/// to abort.
///
/// Served with hyper-util's auto builder rather than `axum::serve`, whose HTTP/2 needs a
/// feature of axum that Keel's binary does not use (see this crate's Cargo.toml).
fn spawn(listener: tokio::net::TcpListener, app: axum::Router) -> tokio::task::JoinHandle<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;
    use std::io::ErrorKind;
    tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::Interrupted
                    ) =>
                {
                    continue
                }
                Err(_) => return,
            };
            let service = TowerToHyperService::new(app.clone());
            tokio::spawn(async move {
                let _ = Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}
