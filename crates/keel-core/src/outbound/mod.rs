//! The one guard every outbound HTTP request made on a user's behalf goes through (HTTP push
//! queues, OAuth2 avatar downloads, and later webhooks).
//!
//! A user (an `operator` setting a queue's `pushUrl`, an OAuth2 provider naming an avatar URL)
//! must not be able to make Keel reach what only Keel can reach: loopback services, the cloud
//! metadata endpoint, the private network. So [`OutboundGuard`] refuses every internal address
//! (see [`ranges`]) unless `[outbound] allow` lists it as a CIDR, and it checks the addresses
//! **actually connected to**, not the URL's text:
//!
//! - a host name is resolved by the guard's own resolver, which drops internal addresses from
//!   the answer before the connector sees it (refusing when none is left), so a DNS answer that
//!   changes between a check and the connection (rebinding) cannot slip through;
//! - an IP-literal host (`http://127.0.0.1/`, `http://[::1]/`, and every encoding the URL
//!   parser normalises to one: `0x7f000001`, `2130706433`, `0177.0.0.1`) never reaches a
//!   resolver, so [`OutboundGuard::check_url`] checks it before each request;
//! - redirects are never followed (a 3xx is the answer), and no proxy is used.
//!
//! That is why the guard hands out request builders ([`OutboundGuard::get`],
//! [`OutboundGuard::post`], [`OutboundGuard::request`]), each for a URL it checked, and never its
//! `reqwest::Client`: a bare client would accept any IP literal.
//!
//! Read answers with [`read_capped`] (never a whole body into memory) and describe failures
//! with [`explain`] (a refusal reads "outbound request to 127.0.0.1 refused: loopback addresses
//! are not allowed; allow-list it in [outbound] allow").

pub mod ranges;
mod resolver;

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::{Method, RequestBuilder, Response, Url};

use crate::config::OutboundConfig;
pub use ranges::Cidr;

/// The longest a connection may take to open; callers set the whole request's timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The whole request's timeout when the caller sets none.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the guard refused a request (or could not make one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The URL does not parse.
    #[error("not a valid URL")]
    InvalidUrl,
    /// Only `http` and `https` are requested.
    #[error("only http:// and https:// URLs are requested")]
    Scheme,
    /// The host is (or resolves only to) an internal address that is not allow-listed.
    #[error(
        "outbound request to {target} refused: {kind} addresses are not allowed; allow-list it in [outbound] allow"
    )]
    Internal {
        /// The address, or `name (address)` for a resolved host name.
        target: String,
        /// What kind of address it is (`loopback`, `private`, `link-local`…).
        kind: &'static str,
    },
    /// The host name did not resolve.
    #[error("cannot resolve {0}")]
    Unresolved(String),
    /// The HTTP client could not be built (TLS setup).
    #[error("the outbound HTTP client: {0}")]
    Client(String),
}

/// The allow-list, shared by the guard and its resolver.
#[derive(Debug, Default)]
struct Policy {
    allow: Vec<Cidr>,
}

impl Policy {
    fn check(&self, ip: IpAddr, name: Option<&str>) -> Result<(), Refusal> {
        let Some(kind) = ranges::internal_kind(ip) else {
            return Ok(());
        };
        if self.allow.iter().any(|c| c.contains(ip)) {
            return Ok(());
        }
        Err(Refusal::Internal {
            target: match name {
                Some(n) => format!("{n} ({ip})"),
                None => ip.to_string(),
            },
            kind,
        })
    }
}

/// The outbound request guard. Cheap to clone (one `Arc`); build it once per process from
/// `[outbound]` and share it. `Default` allows no internal address.
#[derive(Clone, Default)]
pub struct OutboundGuard {
    policy: Arc<Policy>,
    client: Arc<OnceLock<Result<reqwest::Client, String>>>,
    /// The HTTP/2-only client of [`OutboundGuard::http2`], built on first use.
    h2_client: Arc<OnceLock<Result<reqwest::Client, String>>>,
    /// Whether this guard's requests use `h2_client`.
    http2_only: bool,
}

impl std::fmt::Debug for OutboundGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundGuard")
            .field("allow", &self.policy.allow)
            .finish()
    }
}

impl OutboundGuard {
    /// The guard for `[outbound]`; a 400 naming `outbound.allow` for an entry that is not a CIDR.
    pub fn new(cfg: &OutboundConfig) -> crate::Result<OutboundGuard> {
        let allow = cfg
            .allow
            .iter()
            .map(|s| s.parse::<Cidr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| crate::Error::field("outbound.allow", "validation_invalid_cidr", e))?;
        Ok(OutboundGuard {
            policy: Arc::new(Policy { allow }),
            client: Arc::default(),
            h2_client: Arc::default(),
            http2_only: false,
        })
    }

    /// The same guard (allow-list, resolver, no redirects, no proxy) whose requests speak
    /// only HTTP/2, with prior knowledge: for a service that takes nothing else (APNs) reached
    /// over cleartext `http://` (a local stand-in or relay), where there is no TLS ALPN to
    /// agree on h2. Over `https://` the ordinary guard already negotiates h2 by ALPN.
    pub fn http2(&self) -> OutboundGuard {
        OutboundGuard {
            http2_only: true,
            ..self.clone()
        }
    }

    /// The allow-listed blocks.
    pub fn allowed(&self) -> &[Cidr] {
        &self.policy.allow
    }

    /// Whether a connection to `ip` is allowed.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Refusal> {
        self.policy.check(ip, None)
    }

    /// Parses `url` and checks what can be checked without resolving: the scheme, and an
    /// IP-literal host (in any encoding the URL parser normalises). A host name is checked
    /// when a request connects (the answer can change by then).
    ///
    /// Use it to refuse a URL when it is set (`pushUrl`); requests check again by themselves.
    pub fn check_url(&self, url: &str) -> Result<Url, Refusal> {
        let url = Url::parse(url.trim()).map_err(|_| Refusal::InvalidUrl)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refusal::Scheme);
        }
        let host = url.host_str().ok_or(Refusal::InvalidUrl)?;
        if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            self.check_ip(ip)?;
        }
        Ok(url)
    }

    /// A request to `url`, which [`check_url`](Self::check_url) accepted; the connection is
    /// checked again at connect time. Redirects are not followed; the timeout is 30 s unless
    /// the caller sets one.
    pub fn request(&self, method: Method, url: &str) -> Result<RequestBuilder, Refusal> {
        let url = self.check_url(url)?;
        Ok(self.client()?.request(method, url))
    }

    /// `GET url` (see [`request`](Self::request)).
    pub fn get(&self, url: &str) -> Result<RequestBuilder, Refusal> {
        self.request(Method::GET, url)
    }

    /// `POST url` (see [`request`](Self::request)).
    pub fn post(&self, url: &str) -> Result<RequestBuilder, Refusal> {
        self.request(Method::POST, url)
    }

    /// The client, built on first use: the guard's resolver, no redirects, no proxy (and
    /// HTTP/2 prior knowledge for [`http2`](Self::http2)'s guard).
    fn client(&self) -> Result<&reqwest::Client, Refusal> {
        let policy = self.policy.clone();
        let http2_only = self.http2_only;
        let cell = if http2_only { &self.h2_client } else { &self.client };
        cell.get_or_init(move || {
            let builder = reqwest::Client::builder()
                .dns_resolver(resolver::GuardResolver::new(policy))
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .referer(false)
                .connect_timeout(CONNECT_TIMEOUT)
                .timeout(DEFAULT_TIMEOUT)
                .user_agent("keel");
            let builder = if http2_only {
                builder.http2_prior_knowledge()
            } else {
                builder
            };
            builder.build().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Refusal::Client(e.clone()))
    }
}

/// A URL as errors and logs may show it (a job's errors are readable with `jobs:read`):
/// without user name, password and query string, which may carry credentials.
pub fn shown_url(raw: &str) -> String {
    match reqwest::Url::parse(raw) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            if url.query().is_some() {
                url.set_query(Some("…"));
            }
            url.set_fragment(None);
            url.to_string()
        }
        Err(_) => "the URL".to_string(),
    }
}

/// What went wrong with an outbound request, for a job's errors or a log line: the guard's
/// refusal when that is what stopped it, else the error and its causes, without the URL.
pub fn explain(err: &reqwest::Error) -> String {
    let mut parts = vec![if err.is_timeout() {
        "timed out".to_string()
    } else {
        strip_url(err)
    }];
    let mut source = std::error::Error::source(err);
    while let Some(e) = source {
        if let Some(refusal) = e.downcast_ref::<Refusal>() {
            return refusal.to_string();
        }
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.join(": ")
}

fn strip_url(err: &reqwest::Error) -> String {
    let text = err.to_string();
    match err.url() {
        Some(url) => text.replace(&format!(" for url ({url})"), ""),
        None => text,
    }
}

/// Reads at most `max` bytes of `resp`'s body (a chunk at a time; the rest is never read) and
/// says whether there was more.
pub async fn read_capped(resp: &mut Response, max: usize) -> Result<(Bytes, bool), reqwest::Error> {
    let mut body = BytesMut::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = max - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body.freeze(), true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body.freeze(), false))
}

#[cfg(test)]
mod tests;
