//! `/metrics`: protected by default (a `metrics:read` holder or the `[metrics] token`),
//! optionally open to loopback peers or to everyone, and complete: every metric has a
//! `# HELP` line, with process, pool, realtime, cache and job queue gauges.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use common::{App, Resp};
use keel_core::config::{Config, MetricsAccess, MetricsConfig};
use serde_json::json;

const TOKEN: &str = "scrape-token-0123456789";

/// An app with metrics installed, a metered memory cache and `[metrics]` set to `metrics`.
async fn app_with(metrics: MetricsConfig) -> App {
    let mut app = App::new().await;
    let services = app.state.edit();
    services.metrics = Some(keel_server::middleware::install_metrics());
    services.cache = keel_cache::metered(Arc::new(keel_cache::MemoryCache::default()));
    services.config = Arc::new(Config {
        metrics,
        ..(*services.config).clone()
    });
    app
}

fn protected() -> MetricsConfig {
    MetricsConfig::default()
}

/// `GET /metrics` as if from `peer`, with an `Authorization` header when `auth` is given.
async fn scrape(app: &App, peer: Option<&str>, auth: Option<&str>) -> Resp {
    let mut req = Request::builder().method(Method::GET).uri("/metrics");
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let mut req = req.body(Body::empty()).unwrap();
    if let Some(p) = peer {
        req.extensions_mut()
            .insert(ConnectInfo(p.parse::<SocketAddr>().unwrap()));
    }
    app.raw(req).await
}

#[tokio::test]
async fn metrics_need_credentials_by_default() {
    let app = app_with(protected()).await;
    let r = scrape(&app, Some("127.0.0.1:5000"), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
    assert!(!r.text().contains("# HELP"));
    let (_, user) = app.auth_record("users", "u@example.com", "userpassword").await;
    let r = scrape(&app, None, Some(&user)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(
        r.json["message"].as_str().unwrap_or("").contains("metrics:read"),
        "{}",
        r.text()
    );
    let r = scrape(&app, None, Some("Bearer not-the-token-at-all")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
}

#[tokio::test]
async fn superusers_and_roles_with_metrics_read_scrape_everything_described() {
    let app = app_with(protected()).await;
    // Something for each gauge and counter to show.
    app.state.cache.set("ns", "k", json!(1), None, &[]).await.unwrap();
    assert!(app.state.cache.get("ns", "k").await.unwrap().is_some());
    assert!(app.state.cache.get("ns", "missing").await.unwrap().is_none());
    let job: keel_jobs::NewJob = serde_json::from_value(json!({"name": "x"})).unwrap();
    app.state.jobs.enqueue("mailq", vec![job]).await.unwrap();
    let r = app.send(Method::GET, "/api/health", None, None).await;
    assert_eq!(r.status, StatusCode::OK);

    let su = app.superuser().await;
    let r = scrape(&app, None, Some(&su)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let body = r.text();
    for name in [
        "keel_http_requests_total",
        "keel_cache_hits_total",
        "keel_cache_misses_total",
        "keel_jobs_queue_depth",
        "keel_realtime_clients",
        "keel_db_readers_max",
        "keel_db_readers_busy",
        "keel_db_writer_connections",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(body.contains(&format!("# HELP {name} ")), "no HELP for {name}:\n{body}");
        assert!(
            body.lines().any(|l| l.starts_with(name) && !l.starts_with('#')),
            "no {name} sample:\n{body}"
        );
    }
    assert!(
        body.contains("keel_jobs_queue_depth{queue=\"mailq\",state=\"waiting\"} 1"),
        "{body}"
    );
    assert!(body.contains("keel_cache_hits_total{provider=\"memory\"}"), "{body}");
    // Requests are counted by their matched route.
    assert!(
        body.contains("keel_http_requests_total{method=\"GET\",route=\"/api/health\",status=\"200\"}"),
        "{body}"
    );
    // Every metric in the exposition is described.
    for line in body.lines().filter(|l| l.starts_with("# TYPE ")) {
        let name = line.split_whitespace().nth(2).unwrap();
        assert!(body.contains(&format!("# HELP {name} ")), "no HELP for {name}");
    }

    for role in ["operator", "viewer"] {
        let (rec, token) = app
            .auth_record("users", &format!("{role}@example.com"), "userpassword")
            .await;
        app.state
            .identity
            .assign_role(&app.collection("users").id, rec.id(), role)
            .await
            .unwrap();
        let r = scrape(&app, None, Some(&token)).await;
        assert_eq!(r.status, StatusCode::OK, "{role}: {}", r.text());
        assert!(r.text().contains("# HELP"), "{role}");
    }
}

#[tokio::test]
async fn the_configured_bearer_token_scrapes() {
    let app = app_with(MetricsConfig {
        token: TOKEN.into(),
        ..protected()
    })
    .await;
    let r = scrape(&app, None, Some(&format!("Bearer {TOKEN}"))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.text().contains("# HELP keel_realtime_clients "));
    let r = scrape(&app, None, Some(&format!("Bearer {TOKEN}x"))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
    let r = scrape(&app, None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
}

#[tokio::test]
async fn loopback_mode_opens_metrics_to_local_peers_only() {
    let app = app_with(MetricsConfig {
        access: MetricsAccess::Loopback,
        ..protected()
    })
    .await;
    // A real socket on loopback: the scraper's peer address is 127.0.0.1.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = keel_server::router(app.state.clone());
    let options = keel_server::listen::ServeOptions::from_limits(&app.state.config.limits);
    tokio::spawn(keel_server::listen::serve(
        listener,
        router,
        options,
        std::future::pending(),
    ));
    let url = format!("http://{addr}/metrics");
    let r = reqwest::get(&url).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("# HELP"));
    // Through a proxy on the same host the peer is loopback too: not trusted.
    let r = reqwest::Client::new()
        .get(&url)
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Another peer needs credentials.
    let r = scrape(&app, Some("203.0.113.7:4000"), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
    let r = scrape(&app, Some("[::1]:4000"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

#[tokio::test]
async fn public_mode_needs_nothing() {
    let app = app_with(MetricsConfig {
        access: MetricsAccess::Public,
        ..protected()
    })
    .await;
    let r = scrape(&app, Some("203.0.113.7:4000"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.text().contains("# HELP"));
}

/// The value of `keel_http_requests_total` for the GET `route` answered with `status` in a
/// scrape (0 before its first request).
fn requests_total(body: &str, route: &str, status: u16) -> u64 {
    let series = format!("keel_http_requests_total{{method=\"GET\",route=\"{route}\",status=\"{status}\"}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&series))
        .map_or(0, |v| v.trim().parse().unwrap())
}

#[tokio::test]
async fn every_request_is_counted_under_its_route_and_status() {
    let app = app_with(protected()).await;
    let su = app.superuser().await;
    let route = "/api/collections/{collection}/records/{id}";
    let before = scrape(&app, None, Some(&su)).await.text();
    // The same route with two statuses, each asked several times: the first request of a
    // (route, status) registers its series, the later ones must still be counted.
    for _ in 0..3 {
        let r = app
            .send(
                Method::GET,
                "/api/collections/users/records/nosuchrecord12",
                Some(&su),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    }
    let (record, _) = app.auth_record("users", "counted@example.com", "userpassword").await;
    for _ in 0..2 {
        let uri = format!("/api/collections/users/records/{}", record.id());
        let r = app.send(Method::GET, &uri, Some(&su), None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    }
    let after = scrape(&app, None, Some(&su)).await.text();
    // Other tests of this binary share the recorder but never read a record by id.
    assert_eq!(
        requests_total(&after, route, 404) - requests_total(&before, route, 404),
        3,
        "{after}"
    );
    assert_eq!(
        requests_total(&after, route, 200) - requests_total(&before, route, 200),
        2,
        "{after}"
    );
    assert!(
        after.contains(&format!(
            "keel_http_request_duration_seconds_count{{method=\"GET\",route=\"{route}\",status=\"404\"}}"
        )),
        "{after}"
    );
}
