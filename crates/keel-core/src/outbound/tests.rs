//! The guard against real sockets: a tiny HTTP server on loopback counts the connections it
//! accepts, so a refused request is one that never connected.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

/// A server on 127.0.0.1 answering every request with `response`; the count of accepted
/// connections.
async fn server(response: String) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let response = response.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = sock.write_all(response.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (port, accepted)
}

fn ok(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn guard(allow: &[&str]) -> OutboundGuard {
    let cfg = OutboundConfig {
        allow: allow.iter().map(|s| s.to_string()).collect(),
    };
    OutboundGuard::new(&cfg).unwrap()
}

#[test]
fn internal_ip_literals_are_refused_in_every_encoding() {
    let g = OutboundGuard::default();
    for (url, kind) in [
        ("http://127.0.0.1:8090/", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[::1]:6379/", "loopback"),
        ("http://0x7f000001:5432/", "loopback"),
        ("http://2130706433/", "loopback"),
        ("http://0177.0.0.1/", "loopback"),
        ("http://127.1/", "loopback"),
        ("http://0/", "unspecified"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://[::ffff:7f00:1]/", "loopback"),
        ("http://[::ffff:a9fe:a9fe]/", "link-local"),
        ("http://169.254.0.1/", "link-local"),
        ("https://10.0.0.1/", "private"),
        ("https://10.255.255.254/", "private"),
        ("http://172.16.0.1/", "private"),
        ("http://172.31.255.254/", "private"),
        ("http://192.168.0.1/", "private"),
        ("http://192.168.255.254/", "private"),
        ("http://100.64.1.1/", "carrier-grade NAT"),
        ("http://100.127.255.254/", "carrier-grade NAT"),
        ("http://[fc00::1]/", "private"),
        ("http://[fd00::1]/", "private"),
        ("http://[fdff:ffff::1]/", "private"),
        ("http://[fe80::1]/", "link-local"),
        ("http://[febf::1]/", "link-local"),
        ("http://0.0.0.0:8090/", "unspecified"),
        ("http://[::]:8090/", "unspecified"),
    ] {
        match g.check_url(url) {
            Err(Refusal::Internal { kind: k, .. }) => assert_eq!(k, kind, "{url}"),
            other => panic!("{url}: {other:?}"),
        }
    }
    let err = g.check_url("http://127.0.0.1/").unwrap_err().to_string();
    assert_eq!(
        err,
        "outbound request to 127.0.0.1 refused: loopback addresses are not allowed; allow-list it in [outbound] allow"
    );
    assert_eq!(g.check_url("ftp://example.com/"), Err(Refusal::Scheme));
    assert_eq!(g.check_url("file:///etc/passwd"), Err(Refusal::Scheme));
    assert_eq!(g.check_url("not a url"), Err(Refusal::InvalidUrl));
    // Public addresses (the neighbours of the internal blocks too) and host names pass here
    // (names are checked when they resolve).
    for url in [
        "https://8.8.8.8/",
        "https://example.com/hook",
        "http://localhost:1/",
        "http://172.15.255.255/",
        "http://172.32.0.1/",
        "http://192.169.0.1/",
        "http://100.63.255.255/",
        "http://100.128.0.1/",
        "http://169.255.0.1/",
        "http://[fe00::1]/",
        "http://[2606:4700::1111]/",
    ] {
        assert!(g.check_url(url).is_ok(), "{url}");
    }
}

#[test]
fn the_allow_list_opens_exactly_its_blocks() {
    let g = guard(&["127.0.0.1/32", "::1/128", "10.1.0.0/16"]);
    for url in [
        "http://127.0.0.1:1/",
        "http://0x7f000001/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://10.1.200.3/",
    ] {
        assert!(g.check_url(url).is_ok(), "{url}");
    }
    for url in ["http://127.0.0.2/", "http://10.2.0.1/", "http://169.254.169.254/"] {
        assert!(matches!(g.check_url(url), Err(Refusal::Internal { .. })), "{url}");
    }
    let bad = OutboundGuard::new(&OutboundConfig {
        allow: vec!["127.0.0.1/32".into(), "localhost".into()],
    })
    .unwrap_err();
    let crate::Error::BadRequest { fields, .. } = bad else {
        panic!("expected a 400")
    };
    assert!(fields["outbound.allow"].message.contains("\"localhost\""));
}

#[tokio::test]
async fn a_host_name_resolving_to_loopback_is_refused_before_connecting() {
    let (port, accepted) = server(ok("internal secret")).await;
    let err = OutboundGuard::default()
        .get(&format!("http://localhost:{port}/"))
        .unwrap()
        .send()
        .await
        .unwrap_err();
    let text = explain(&err);
    assert!(
        text.starts_with("outbound request to localhost (") && text.contains("refused: loopback addresses"),
        "{text}"
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "the guard connected");
    // An IP literal never reaches the resolver: refused by the request builder.
    let refused = OutboundGuard::default().get(&format!("http://127.0.0.1:{port}/"));
    assert!(matches!(refused, Err(Refusal::Internal { kind: "loopback", .. })));
    assert_eq!(accepted.load(Ordering::SeqCst), 0);
}

/// What a request to `url` through `g` came to: the refusal's text, or the answer's status.
async fn outcome(g: &OutboundGuard, url: &str) -> Result<u16, String> {
    let req = g.post(url).map_err(|r| r.to_string())?;
    match req.send().await {
        Ok(resp) => Ok(resp.status().as_u16()),
        Err(e) => Err(explain(&e)),
    }
}

#[tokio::test]
async fn every_internal_address_is_refused_through_a_request_and_never_connected_to() {
    let (port, accepted) = server(ok("internal secret")).await;
    let g = OutboundGuard::default();
    // Every way of writing "this machine": each would reach the server if the guard let it.
    for (host, kind) in [
        ("127.0.0.1", "loopback"),
        ("127.1", "loopback"),
        ("0x7f000001", "loopback"),
        ("2130706433", "loopback"),
        ("0177.0.0.1", "loopback"),
        ("[::1]", "loopback"),
        ("[::ffff:127.0.0.1]", "loopback"),
        ("[::ffff:7f00:1]", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("[::]", "unspecified"),
        ("localhost", "loopback"),
    ] {
        let url = format!("http://{host}:{port}/");
        let text = outcome(&g, &url).await.unwrap_err();
        assert!(
            text.contains(&format!("refused: {kind} addresses are not allowed")),
            "{url}: {text}"
        );
    }
    // The other internal blocks: refused before any connection is attempted.
    for (host, kind) in [
        ("169.254.169.254", "link-local"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("[fc00::1]", "private"),
        ("[fe80::1]", "link-local"),
    ] {
        let url = format!("http://{host}:{port}/latest/meta-data/");
        let text = outcome(&g, &url).await.unwrap_err();
        assert!(
            text.contains(&format!("refused: {kind} addresses are not allowed")),
            "{url}: {text}"
        );
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "the guard connected");
}

#[tokio::test]
async fn an_allow_listed_cidr_opens_its_block_for_names_and_literals_and_nothing_else() {
    let (port, accepted) = server(ok("hello")).await;
    let g = guard(&["127.0.0.0/30"]);
    for host in ["127.0.0.1", "0x7f000001", "2130706433", "localhost"] {
        let url = format!("http://{host}:{port}/");
        assert_eq!(outcome(&g, &url).await, Ok(200), "{url}");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 4);
    // Outside the block (and another block listed): still refused, still not connected.
    for g in [guard(&["127.0.0.2/31"]), guard(&["10.0.0.0/8", "::1/128"])] {
        for host in ["127.0.0.1", "localhost", "169.254.169.254"] {
            let url = format!("http://{host}:{port}/");
            let text = outcome(&g, &url).await.unwrap_err();
            assert!(text.contains("refused:"), "{url}: {text}");
        }
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn allow_listed_hosts_are_reached() {
    let (port, accepted) = server(ok("hello")).await;
    let g = guard(&["127.0.0.1/32", "::1/128"]);
    for url in [format!("http://127.0.0.1:{port}/"), format!("http://localhost:{port}/")] {
        let mut resp = g.get(&url).unwrap().send().await.unwrap();
        assert_eq!(resp.status(), 200, "{url}");
        assert_eq!(
            read_capped(&mut resp, 1024).await.unwrap(),
            (Bytes::from("hello"), false)
        );
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let (internal, reached) = server(ok("internal secret")).await;
    let redirect = format!(
        "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://127.0.0.1:{internal}/\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
    let (port, _) = server(redirect).await;
    let g = guard(&["127.0.0.1/32"]);
    let resp = g
        .post(&format!("http://127.0.0.1:{port}/"))
        .unwrap()
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 307);
    assert_eq!(reached.load(Ordering::SeqCst), 0, "the redirect was followed");
}

#[tokio::test]
async fn bodies_are_read_up_to_the_cap() {
    let big = "x".repeat(100_000);
    let (port, _) = server(ok(&big)).await;
    let mut resp = guard(&["127.0.0.1/32"])
        .get(&format!("http://127.0.0.1:{port}/"))
        .unwrap()
        .send()
        .await
        .unwrap();
    let (body, truncated) = read_capped(&mut resp, 4096).await.unwrap();
    assert_eq!(body.len(), 4096);
    assert!(truncated);
}

#[test]
fn shown_urls_carry_no_credentials() {
    let shown = super::shown_url("https://hook:s3cret@push.example.com:8443/in?token=t0k#f");
    assert!(
        !shown.contains("s3cret") && !shown.contains("hook") && !shown.contains("t0k"),
        "{shown}"
    );
    assert!(shown.starts_with("https://push.example.com:8443/in?"), "{shown}");
    assert_eq!(super::shown_url("not a url"), "the URL");
}

#[tokio::test]
async fn the_http2_guard_keeps_the_policy_and_opens_with_the_h2_preface() {
    // Same allow-list: refused without it, before any connection.
    let (port, accepted) = server(ok("")).await;
    let url = format!("http://127.0.0.1:{port}/");
    assert!(matches!(
        OutboundGuard::default().http2().post(&url),
        Err(Refusal::Internal { kind: "loopback", .. })
    ));
    let allowed = guard(&["127.0.0.1/32"]).http2();
    assert_eq!(allowed.allowed().len(), 1);
    assert_eq!(accepted.load(Ordering::SeqCst), 0);

    // With it, the connection opens with HTTP/2's client preface (prior knowledge), where the
    // ordinary guard speaks HTTP/1.1.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let first_bytes = tokio::spawn(async move {
        let mut out = Vec::new();
        for _ in 0..2 {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 24];
            sock.read_exact(&mut buf).await.unwrap();
            out.push(buf);
            // Closing the connection fails the request; only its first bytes matter here.
        }
        out
    });
    let url = format!("http://127.0.0.1:{port}/");
    let _ = allowed.post(&url).unwrap().send().await;
    let _ = guard(&["127.0.0.1/32"]).post(&url).unwrap().send().await;
    let first_bytes = first_bytes.await.unwrap();
    assert_eq!(first_bytes[0], b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    assert!(first_bytes[1].starts_with(b"POST / HTTP/1.1\r\n"));
}
