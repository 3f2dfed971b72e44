//! HTTP middleware: request ids, one log span per request, the request log (`/api/logs`),
//! Prometheus metrics, CORS and the body limit. `apply` wraps a router in all of them, in
//! this order from the outside in: request id → trace → request log → CORS → body limit →
//! (per route) metrics → routes. A CORS preflight is answered by the CORS layer: it is logged
//! but not counted in the route metrics.
//!
//! Trace logs never carry headers, bodies or query strings (file URLs carry tokens): a
//! request's span holds `request_id`, `method` and `path`; its completion event adds `status`
//! and `latency_ms` (at `warn` for a 5xx, `debug` otherwise: the request log keeps them all). The request log ([`request_log`]) keeps PocketBase's `_logs` row of each
//! request: the URL with its `token` values masked, the referer and user agent, the caller's
//! collection (and id, with `logs.logAuthId`), the client address (with `logs.logIP`), the
//! error answer's message and data; `keel_app::logs::record_request` decides what is kept.

use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderName, Method, Response};
use axum::middleware::Next;
use axum::Router;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::error::LoggedError;
use crate::request::AuthSeen;
use crate::state::AppState;

/// Counter of finished requests, labelled `method`, `route`, `status`.
pub const REQUESTS_TOTAL: &str = "keel_http_requests_total";
/// Histogram of request durations in seconds (to the response head), same labels.
pub const REQUEST_DURATION: &str = "keel_http_request_duration_seconds";

/// Latency buckets in seconds, from sub-millisecond reads to slow uploads.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Installs the global Prometheus recorder (with Keel's histogram buckets and every metric's
/// `# HELP` text, `crate::metrics::describe`) and returns the handle that renders `/metrics`
/// (put it in `AppState::metrics`). Call it early, from inside a Tokio runtime: it also
/// starts the upkeep task that folds recorded histogram samples into their buckets every few
/// seconds (without it, samples pile up in memory until someone scrapes `/metrics`).
/// Later calls return the same handle. If another recorder is already installed, logs a
/// warning and returns the handle of a detached recorder (its `/metrics` output stays empty)
/// instead of failing the start.
pub fn install_metrics() -> PrometheusHandle {
    RECORDER.get_or_init(install_recorder).clone()
}

/// The handle [`install_metrics`] returns; set once the global recorder is (or could not be)
/// installed, after which the global recorder never changes.
static RECORDER: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();

fn install_recorder() -> PrometheusHandle {
    let builder = match PrometheusBuilder::new().set_buckets(BUCKETS) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "invalid metrics buckets; using summaries");
            PrometheusBuilder::new()
        }
    };
    match builder.install_recorder() {
        Ok(handle) => {
            crate::metrics::describe();
            let upkeep = handle.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(5));
                loop {
                    tick.tick().await;
                    upkeep.run_upkeep();
                }
            });
            handle
        }
        Err(e) => {
            tracing::warn!(error = %e, "metrics recorder not installed");
            PrometheusBuilder::new().build_recorder().handle()
        }
    }
}

/// Wraps `router` in Keel's middleware stack (see the module docs). `extractor_limit` bounds
/// the body axum's own extractors read; Keel's routes read theirs with `crate::body`.
///
/// Only the metrics layer is applied to each route (it labels by the matched route, which
/// exists only inside the router). The rest wraps the router once: `Router::layer` wraps every
/// route's boxed service in each layer's box, and each request cloned that whole nest of boxes
/// (callgrind: 33 boxed clones, ~15,000 instructions a request). The stack is returned as it
/// is, not as an outer `Router`'s fallback: that router matched every path against no routes
/// and cloned the boxed stack for each request (~3,000 instructions).
pub fn apply(router: Router, state: &AppState, extractor_limit: usize) -> impl crate::HttpApp {
    let routes = router.layer(axum::middleware::from_fn(record_metrics));
    tower::ServiceBuilder::new()
        // The trace layer wraps the response body; the app answers with axum's.
        .map_response(|resp: Response<_>| resp.map(axum::body::Body::new))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(make_span)
                .on_request(())
                .on_response(on_response)
                .on_body_chunk(())
                .on_eos(()),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(axum::middleware::from_fn_with_state(state.clone(), request_log))
        .layer(cors())
        .layer(DefaultBodyLimit::max(extractor_limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::ratelimit::layer,
        ))
        .service(routes)
}

/// PocketBase's default CORS: any origin, the usual methods and any request header.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::any())
        .allow_methods(AllowMethods::list([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ]))
        .allow_headers(AllowHeaders::any())
        .expose_headers([HeaderName::from_static("x-request-id"), header::RETRY_AFTER])
        .max_age(Duration::from_secs(86_400))
}

fn make_span<B>(req: &axum::http::Request<B>) -> Span {
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or("");
    tracing::info_span!(
        "request",
        // `&str` values are recorded as they are; `%` would format each through `Display`
        // into a new string (~2,800 instructions a request for these three).
        request_id = request_id,
        method = req.method().as_str(),
        path = req.uri().path(),
    )
}

fn on_response<B>(resp: &Response<B>, latency: Duration, _span: &Span) {
    let status = resp.status().as_u16();
    let latency_ms = latency.as_secs_f64() * 1000.0;
    // Every request is kept in the request logs (`/api/logs`); on stderr only failures are
    // worth a line by default (a line per request cost ~6,600 instructions, 6 % of a view).
    if status >= 500 {
        tracing::warn!(status, latency_ms, "request finished");
    } else {
        tracing::debug!(status, latency_ms, "request finished");
    }
}

/// Hands the finished request to the request logs (when `logs.maxDays` is above 0): method,
/// URL, status, time to the response head, referer, user agent, the caller the `Caller`
/// extractor resolved ([`AuthSeen`]), the client addresses when `logs.logIP` is on, and the
/// error answer ([`LoggedError`]). The entry is queued for the batched writer; the request
/// never waits on a database.
async fn request_log(State(state): State<AppState>, mut req: Request, next: Next) -> axum::response::Response {
    if !keel_app::logs::enabled(&state) {
        return next.run(req).await;
    }
    let start = Instant::now();
    let seen = AuthSeen::default();
    req.extensions_mut().insert(seen.clone());
    let referer = header_text(&req, header::REFERER);
    let user_agent = header_text(&req, header::USER_AGENT);
    let settings = state.settings.get();
    let (user_ip, remote_ip) = if settings.logs.log_ip {
        // Formatted once: the rate limits and the handlers reuse the client's address.
        let remote = crate::ratelimit::remote_ip(&req);
        let client = crate::ratelimit::client_ip_from(&req, &settings, remote.as_deref());
        req.extensions_mut().insert(crate::request::ClientIp(client.clone()));
        (client, remote.unwrap_or_default())
    } else {
        (String::new(), String::new())
    };
    drop(settings);
    let method = req.method().as_str().to_string();
    let url = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| req.uri().path().to_string());
    let resp = next.run(req).await;
    let error = resp
        .extensions()
        .get::<LoggedError>()
        .map(|e| (e.message.clone(), e.data.clone()));
    keel_app::logs::record_request(
        &state,
        keel_app::logs::RequestFacts {
            method,
            url,
            status: resp.status().as_u16(),
            exec_ms: start.elapsed().as_secs_f64() * 1000.0,
            auth: seen.get(),
            user_ip,
            remote_ip,
            referer,
            user_agent,
            error,
        },
    );
    resp
}

/// A header's value as text (empty when absent or not visible ASCII).
fn header_text(req: &Request, name: header::HeaderName) -> String {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// Counts the request and observes its duration under its route template.
async fn record_metrics(req: Request, next: Next) -> axum::response::Response {
    let start = Instant::now();
    let method = method_label(req.method());
    // `MatchedPath` holds its template in an `Arc`: cloned, not copied.
    let route = req.extensions().get::<MatchedPath>().cloned();
    let resp = next.run(req).await;
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let installed = RECORDER.get().is_some();
    crate::metrics::requests::record(
        installed,
        method,
        route,
        resp.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    resp
}

/// The method as a bounded label (unknown methods share one label).
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}
