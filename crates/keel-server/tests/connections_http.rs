//! Connection limits of `keel_server::listen::serve`, over raw TCP sockets: a client that
//! holds a connection with partial headers, or an idle one, is closed; one IP holds at most
//! `max_per_ip` connections.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use keel_server::listen::{serve, ServeOptions};
use support::TestApp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Bound on each wait for the server to act (a test that hangs fails instead).
const BOUND: Duration = Duration::from_secs(30);

async fn start(app: &TestApp, options: ServeOptions) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, app.router(), options, async move {
        let _ = stopped.await;
    }));
    (addr, stop)
}

fn options(header_secs: u64, idle_secs: u64, max_per_ip: usize) -> ServeOptions {
    ServeOptions {
        tls: None,
        header_timeout: Duration::from_secs(header_secs),
        idle_timeout: Duration::from_secs(idle_secs),
        max_per_ip,
    }
}

/// Reads until the server closes the connection; returns what it sent.
async fn read_to_close(conn: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let read = tokio::time::timeout(BOUND, async {
        let mut buf = [0u8; 4096];
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server kept the connection open");
    out
}

/// One request on `conn` (kept alive), returning the response head.
async fn health(conn: &mut TcpStream) -> String {
    conn.write_all(b"GET /api/health HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(BOUND, conn.read(&mut buf)).await.unwrap().unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn a_connection_with_partial_headers_is_closed_after_the_header_timeout() {
    let app = TestApp::new().await;
    let (addr, _stop) = start(&app, options(1, 600, 0)).await;
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"GET /api/health HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        .await
        .unwrap();
    let sent = read_to_close(&mut conn).await;
    assert!(!String::from_utf8_lossy(&sent).contains("200 OK"));
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_idle_timeout() {
    let app = TestApp::new().await;
    let (addr, _stop) = start(&app, options(600, 1, 0)).await;
    // one that never sends anything
    let mut silent = TcpStream::connect(addr).await.unwrap();
    // one kept alive after a request
    let mut kept = TcpStream::connect(addr).await.unwrap();
    assert!(health(&mut kept).await.starts_with("HTTP/1.1 200"));
    read_to_close(&mut silent).await;
    read_to_close(&mut kept).await;
}

#[tokio::test]
async fn one_ip_holds_at_most_max_per_ip_connections() {
    let app = TestApp::new().await;
    let (addr, _stop) = start(&app, options(600, 600, 2)).await;
    let mut a = TcpStream::connect(addr).await.unwrap();
    let mut b = TcpStream::connect(addr).await.unwrap();
    assert!(health(&mut a).await.starts_with("HTTP/1.1 200"));
    assert!(health(&mut b).await.starts_with("HTTP/1.1 200"));

    // the third is closed at once, without an answer
    let mut c = TcpStream::connect(addr).await.unwrap();
    let _ = c.write_all(b"GET /api/health HTTP/1.1\r\nHost: t\r\n\r\n").await;
    assert!(read_to_close(&mut c).await.is_empty());

    // once one closes, a new connection is served
    a.write_all(b"GET /api/health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&read_to_close(&mut a).await).starts_with("HTTP/1.1 200"));
    let mut d = TcpStream::connect(addr).await.unwrap();
    assert!(health(&mut d).await.starts_with("HTTP/1.1 200"));
    assert!(health(&mut b).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn requests_see_the_client_address() {
    // The rate limiter reads the socket's address: 127.0.0.1 is excluded from a limit of one
    // request, so both pass (without the address the second would be refused).
    let app = TestApp::new().await;
    let su = app.superuser_token().await;
    let r = app
        .send(
            axum::http::Method::PATCH,
            "/api/settings",
            Some(&su),
            Some(
                serde_json::json!({"rateLimits": {"enabled": true, "excludedIPs": ["127.0.0.1"], "rules": [
                    {"label": "/api/health", "maxRequests": 1, "duration": 60, "audience": ""}
                ]}}),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (addr, _stop) = start(&app, options(600, 600, 0)).await;
    let mut conn = TcpStream::connect(addr).await.unwrap();
    for _ in 0..3 {
        let head = health(&mut conn).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    }
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_refused() {
    let app = TestApp::with_config(|c| c.limits.body_timeout_secs = 1).await;
    let (addr, _stop) = start(&app, options(600, 600, 0)).await;
    let mut conn = TcpStream::connect(addr).await.unwrap();
    // 100 bytes announced, 14 sent: a slow-loris body
    conn.write_all(
        b"POST /api/collections/users/auth-with-password HTTP/1.1\r\nHost: t\r\n\
          Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"identity\":\"a",
    )
    .await
    .unwrap();
    let answer = String::from_utf8_lossy(&read_to_close(&mut conn).await).into_owned();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("validation_body_timeout"), "{answer}");
}

#[tokio::test]
async fn a_filter_typed_into_a_shell_is_accepted_as_pocketbase_accepts_it() {
    // `curl '…/records?filter=(title>"a")'` sends `>` and `"` as they are: PocketBase answers
    // the list; hyper alone would refuse the request line with a bare 400.
    let app = TestApp::new().await;
    let su = app.superuser_token().await;
    let def = serde_json::json!({"name": "posts", "type": "base", "listRule": "",
        "fields": [{"name": "title", "type": "text"}]});
    let r = app
        .send(axum::http::Method::POST, "/api/collections", Some(&su), Some(def))
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    for title in ["apple", "banana"] {
        let body = serde_json::json!({"title": title});
        let r = app
            .send(
                axum::http::Method::POST,
                "/api/collections/posts/records",
                Some(&su),
                Some(body),
            )
            .await;
        assert!(r.status.is_success(), "{}", r.text);
    }
    let (addr, _stop) = start(&app, options(600, 600, 0)).await;
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(
        b"GET /api/collections/posts/records?filter=(title>\"b\")&fields=title HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let answer = String::from_utf8(read_to_close(&mut conn).await).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""totalItems":1"#), "{answer}");
    assert!(answer.contains("banana") && !answer.contains("apple"), "{answer}");
}
