//! A webhook endpoint cannot be pointed at what only Keel can reach: an internal address in
//! any encoding is refused when the endpoint is created (400 naming `url`), a host NAME that
//! resolves to one is refused at delivery (the guard's resolver drops it, nothing connects),
//! and `[outbound] allow` opens exactly the CIDRs it lists.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use support::TestApp;

/// A receiver on 127.0.0.1 answering 200; the counts of the connections it accepted and of
/// the requests it answered.
async fn receiver() -> (u16, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (accepted, answered) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (connections, requests) = (accepted.clone(), answered.clone());
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            connections.fetch_add(1, Ordering::SeqCst);
            let io = hyper_util::rt::TokioIo::new(sock);
            let requests = requests.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |_req| {
                    requests.fetch_add(1, Ordering::SeqCst);
                    async { Ok::<_, std::convert::Infallible>(hyper::Response::new(axum::body::Body::from("ok"))) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, svc)
                    .await;
            });
        }
    });
    (port, accepted, answered)
}

async fn create(app: &TestApp, token: &str, url: &str) -> support::Resp {
    app.send(
        Method::POST,
        "/api/webhooks",
        Some(token),
        Some(json!({"url": url, "events": ["job.dead"]})),
    )
    .await
}

/// `POST /api/webhooks/{id}/test`: the attempt's outcome.
async fn test_send(app: &TestApp, token: &str, id: &str) -> Value {
    let r = app
        .send(Method::POST, &format!("/api/webhooks/{id}/test"), Some(token), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json
}

#[tokio::test]
async fn internal_addresses_are_refused_at_create_in_every_encoding() {
    let app = TestApp::new().await;
    let su = app.superuser_token().await;
    for (url, kind) in [
        ("http://127.0.0.1:8090/api/", "loopback"),
        ("http://[::1]:6379/", "loopback"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://[::ffff:7f00:1]/", "loopback"),
        ("http://2130706433/", "loopback"),
        ("http://0x7f000001/", "loopback"),
        ("http://0177.0.0.1/", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://10.0.0.5/hook", "private"),
        ("http://172.16.0.1/", "private"),
        ("http://172.31.255.254/", "private"),
        ("http://192.168.1.1/", "private"),
        ("http://[fc00::1]/", "private"),
        ("http://[fe80::1]/", "link-local"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://[::]/", "unspecified"),
        ("http://100.64.0.1/", "carrier-grade NAT"),
    ] {
        let r = create(&app, &su, url).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{url}: {}", r.text);
        let message = r.json["data"]["url"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("refused: {kind} addresses are not allowed"))
                && message.contains("[outbound] allow"),
            "{url}: {}",
            r.text
        );
    }
    let r = app.send(Method::GET, "/api/webhooks", Some(&su), None).await;
    assert_eq!(r.json["totalItems"], 0, "{}", r.text);
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_at_delivery_without_connecting() {
    let app = TestApp::new().await;
    let su = app.superuser_token().await;
    let (port, accepted, _) = receiver().await;
    // A name is accepted when set (what it resolves to may change): it is checked on connect.
    let r = create(&app, &su, &format!("http://localhost:{port}/hook")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let id = r.json["id"].as_str().unwrap().to_string();
    let out = test_send(&app, &su, &id).await;
    assert_eq!(out["status"], "failed", "{out}");
    let error = out["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("outbound request to localhost (") && error.contains("refused: loopback addresses"),
        "{out}"
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "the delivery connected");
}

#[tokio::test]
async fn an_allow_listed_cidr_admits_names_and_literals_in_it_and_nothing_else() {
    let app = TestApp::with_config(|c| c.outbound.allow = vec!["127.0.0.0/8".into()]).await;
    let su = app.superuser_token().await;
    let (port, _, answered) = receiver().await;
    for host in ["localhost", "127.0.0.1", "2130706433"] {
        let r = create(&app, &su, &format!("http://{host}:{port}/hook")).await;
        assert_eq!(r.status, StatusCode::OK, "{host}: {}", r.text);
        let out = test_send(&app, &su, r.json["id"].as_str().unwrap()).await;
        assert_eq!(out["status"], "succeeded", "{host}: {out}");
        assert_eq!(out["httpStatus"], 200, "{host}: {out}");
    }
    assert_eq!(answered.load(Ordering::SeqCst), 3);
    for url in ["http://169.254.169.254/", "http://10.0.0.1/", "http://[::1]/"] {
        let r = create(&app, &su, url).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{url}: {}", r.text);
        assert!(r.json["data"]["url"].is_object(), "{url}: {}", r.text);
    }
}
