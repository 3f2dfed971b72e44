//! Serving the app over HTTP/1.1 on a TCP listener, or over TLS (rustls) with HTTP/2 or
//! HTTP/1.1 as the client's ALPN picks, with the limits a public server needs:
//!
//! - a client has `header_timeout` to send a request's headers (hyper's HTTP/1
//!   `header_read_timeout`), else its connection is closed;
//! - a connection with no request in flight (response bodies, SSE streams included) for
//!   `idle_timeout` is closed, whether it is a keep-alive connection between requests or one
//!   that never sent anything;
//! - a TLS client has `header_timeout` to finish its handshake too;
//! - one client IP holds at most `max_per_ip` connections: a connection over the cap is
//!   closed as soon as it is accepted;
//! - bodies are bounded in time by `crate::body` (the route reads them).
//!
//! Every request carries `ConnectInfo<SocketAddr>` (rate limits and the audit trail read it).
//! [`serve`] returns once `shutdown` resolved and every connection finished: each is asked
//! to close after its in-flight requests.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use crate::HttpApp;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use keel_core::config::LimitsConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;
use tower::ServiceExt;

/// Counter of connections closed on accept because their IP held `max_per_ip` already.
pub const CONNECTIONS_REFUSED: &str = "keel_http_connections_refused_total";

/// The connection limits of [`serve`], and its TLS.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Serve TLS with this certificate and key (`serve --https`); `None`: plain HTTP/1.1.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Time a client has to send a request's headers.
    pub header_timeout: Duration,
    /// Time a connection may stay open with no request in flight.
    pub idle_timeout: Duration,
    /// Connections one client IP may hold at once (0 = no cap).
    pub max_per_ip: usize,
}

impl ServeOptions {
    /// The options `[limits]` configures.
    pub fn from_limits(limits: &LimitsConfig) -> Self {
        ServeOptions {
            tls: None,
            header_timeout: Duration::from_secs(limits.header_timeout_secs.max(1)),
            idle_timeout: Duration::from_secs(limits.idle_timeout_secs.max(1)),
            max_per_ip: limits.max_connections_per_ip,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets every connection finish
/// its in-flight requests and returns.
pub async fn serve<A: HttpApp>(
    listener: TcpListener,
    app: A,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let per_ip = Arc::new(PerIp::new(options.max_per_ip));
    let open = Arc::new(OpenConnections::default());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment instead of spinning.
                    tracing::warn!(error = %e, "accept error");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(ip_guard) = per_ip.acquire(peer.ip()) else {
            // Counted, not logged at warn: a flood would otherwise flood the log too.
            metrics::counter!(CONNECTIONS_REFUSED).increment(1);
            tracing::debug!(ip = %peer.ip(), max = options.max_per_ip, "too many connections from one address; closed");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let conn = Connection {
            app: app.clone(),
            options: options.clone(),
            peer,
            stop: stop_rx.clone(),
            open: open.clone().enter(),
        };
        tokio::spawn(conn.start(stream, ip_guard));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    open.wait_all().await;
}

/// One accepted connection and what it holds until it closes.
struct Connection<A> {
    app: A,
    options: ServeOptions,
    peer: SocketAddr,
    stop: watch::Receiver<bool>,
    open: OpenGuard,
}

impl<A: HttpApp> Connection<A> {
    /// Serves the accepted `stream`: plain, or after a TLS handshake.
    async fn start(self, stream: TcpStream, ip: IpGuard) {
        let Some(tls) = self.options.tls.clone() else {
            let held = Held {
                ip: Some(ip),
                stream,
                first: Default::default(),
            };
            return self.run(held, false).await;
        };
        let handshake = tokio_rustls::TlsAcceptor::from(tls).accept(stream);
        let stream = match tokio::time::timeout(self.options.header_timeout, handshake).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::debug!(peer = %self.peer.ip(), error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(peer = %self.peer.ip(), "connection closed: TLS handshake not done in time");
                return;
            }
        };
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        let held = Held {
            ip: Some(ip),
            stream,
            // HTTP/2 has no request line to mend (and the leniency is for shells' one-shot
            // plain requests anyway).
            first: crate::request_line::FirstLine::Passthrough,
        };
        self.run(held, h2).await
    }

    async fn run<S>(mut self, stream: Held<S>, h2: bool)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let activity = Arc::new(Activity::new());
        let service = {
            let app = self.app.clone();
            let peer = self.peer;
            let activity = activity.clone();
            hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                let busy = activity.start();
                let app = app.clone();
                async move {
                    let resp = app.oneshot(req.map(Body::new)).await?;
                    // The request stays in flight until its response body (an SSE stream,
                    // a file) is done.
                    Ok::<_, Infallible>(resp.map(|body| {
                        Body::new(body.map_frame(move |frame| {
                            let _busy = &busy;
                            frame
                        }))
                    }))
                }
            })
        };
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.options.header_timeout);
        builder.http2().timer(TokioTimer::new());
        let builder = if h2 { builder.http2_only() } else { builder.http1_only() };
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
        let mut conn = std::pin::pin!(conn);
        let idle = self.options.idle_timeout;
        let mut closing = false;
        loop {
            let check_at = activity
                .idle_since()
                .map_or(Instant::now() + idle, |since| since + idle);
            tokio::select! {
                res = conn.as_mut() => {
                    if let Err(e) = res {
                        log_connection_error(self.peer, &*e);
                    }
                    break;
                }
                () = tokio::time::sleep_until(check_at), if !closing => {
                    if activity.idle_since().is_some_and(|since| since.elapsed() >= idle) {
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                    }
                }
                changed = self.stop.changed(), if !closing => {
                    if changed.is_err() || *self.stop.borrow() {
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                    }
                }
            }
        }
        drop(self.open);
    }
}

/// A connection's socket with its slot in [`PerIp`]. The slot is given back before the
/// socket closes (on shutdown, or when dropped: fields drop in order), so a client that saw
/// its connection end may open another at once.
struct Held<S> {
    ip: Option<IpGuard>,
    stream: S,
    /// The first request line, made acceptable to hyper as PocketBase accepts it.
    first: crate::request_line::FirstLine,
}

impl<S: AsyncRead + Unpin> AsyncRead for Held<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        this.first.poll_read(&mut this.stream, cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Held<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.ip = None;
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Requests in flight on one connection, and when the last one ended.
struct Activity {
    in_flight: AtomicUsize,
    last_end: Mutex<Instant>,
}

impl Activity {
    fn new() -> Self {
        Activity {
            in_flight: AtomicUsize::new(0),
            last_end: Mutex::new(Instant::now()),
        }
    }

    fn start(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        Busy(self.clone())
    }

    /// When the connection became idle; `None` while a request is in flight.
    fn idle_since(&self) -> Option<Instant> {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        Some(*self.last_end.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// A request in flight; ends when dropped.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        *self.0.last_end.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Open connections per client IP.
struct PerIp {
    max: usize,
    counts: Mutex<HashMap<IpAddr, usize>>,
}

impl PerIp {
    fn new(max: usize) -> Self {
        PerIp {
            max,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// A slot for one more connection from `ip`, or `None` when it holds the most allowed.
    fn acquire(self: &Arc<Self>, ip: IpAddr) -> Option<IpGuard> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts.entry(ip).or_insert(0);
        if self.max > 0 && *n >= self.max {
            return None;
        }
        *n += 1;
        Some(IpGuard {
            per_ip: self.clone(),
            ip,
        })
    }
}

/// One connection's slot in [`PerIp`], given back when dropped.
struct IpGuard {
    per_ip: Arc<PerIp>,
    ip: IpAddr,
}

impl Drop for IpGuard {
    fn drop(&mut self) {
        let mut counts = self.per_ip.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// The count of open connections, to wait for the last one on shutdown.
#[derive(Default)]
struct OpenConnections {
    count: AtomicUsize,
    closed: tokio::sync::Notify,
}

impl OpenConnections {
    fn enter(self: Arc<Self>) -> OpenGuard {
        self.count.fetch_add(1, Ordering::SeqCst);
        OpenGuard(self)
    }

    async fn wait_all(&self) {
        loop {
            let notified = self.closed.notified();
            if self.count.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

struct OpenGuard(Arc<OpenConnections>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::SeqCst);
        self.0.closed.notify_waiters();
    }
}

/// Logs why hyper ended a connection. A request hyper could not parse gets a bare 400 from
/// hyper itself before Keel sees it; the commonest cause is a URL with characters that must
/// be percent-encoded (a filter typed into curl: `filter=(views>0)`), so the line says so.
fn log_connection_error(peer: SocketAddr, e: &(dyn std::error::Error + Send + Sync + 'static)) {
    let Some(e) = e.downcast_ref::<hyper::Error>() else {
        tracing::debug!(peer = %peer.ip(), error = %e, "connection ended with an error");
        return;
    };
    if e.is_parse() || e.is_parse_too_large() {
        tracing::info!(
            peer = %peer.ip(),
            error = %e,
            "request refused with 400 before routing: malformed request line or headers \
             (percent-encode characters such as < > \" {{ }} | in URLs, e.g. curl -G --data-urlencode)"
        );
    } else if e.is_timeout() {
        tracing::debug!(peer = %peer.ip(), "connection closed: headers not received in time");
    } else {
        tracing::debug!(peer = %peer.ip(), error = %e, "connection ended with an error");
    }
}
