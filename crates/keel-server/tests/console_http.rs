//! `/_/`: the web console is served by Keel itself, compressed and cached, and the links of
//! the default auth emails lead to its pages. (What the pages do is tested in a real browser:
//! `crates/keel/tests/console_browser.rs`.)

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::App;

fn get(uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut req = Request::builder().method(Method::GET).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn the_console_page_and_its_modules_are_served_from_the_binary() {
    let app = App::new().await;
    let r = app.send(Method::GET, "/_/", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("content-type").starts_with("text/html"));
    let csp = r.header("content-security-policy");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let page = r.text();
    assert!(page.contains(r#"<script type="module" src="/_/app.js">"#), "{page}");

    // A module, compressed for a browser, with a validator that makes a reload a 304.
    let r = app.raw(get("/_/app.js", &[("accept-encoding", "gzip, br")])).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("content-type").starts_with("text/javascript"));
    assert_eq!(r.header("content-encoding"), "gzip");
    let etag = r.header("etag").to_string();
    assert!(etag.starts_with('"'), "{etag}");
    let mut plain = String::new();
    std::io::Read::read_to_string(&mut flate2_reader(&r.bytes), &mut plain).unwrap();
    assert!(plain.contains("hashchange"), "{plain}");
    let r = app.raw(get("/_/app.js", &[("if-none-match", &etag)])).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert!(r.bytes.is_empty());

    // Without gzip in Accept-Encoding the file comes as it is.
    let r = app.raw(get("/_/pages/records.js", &[])).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-encoding"), "");
    assert!(r.text().contains("export default"));

    for missing in ["/_/nope.js", "/_/../Cargo.toml", "/_/pages/"] {
        let r = app.send(Method::GET, missing, None, None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{missing}");
    }

    for (from, to, status) in [
        ("/_", "/_/", StatusCode::PERMANENT_REDIRECT),
        ("/", "/_/", StatusCode::TEMPORARY_REDIRECT),
    ] {
        let r = app.send(Method::GET, from, None, None).await;
        assert_eq!(r.status, status, "{from}");
        assert_eq!(r.header("location"), to);
    }
}

fn flate2_reader(bytes: &[u8]) -> impl std::io::Read + '_ {
    flate2::read::GzDecoder::new(bytes)
}

#[tokio::test]
async fn the_links_of_the_default_auth_emails_lead_to_console_pages() {
    let app = App::new().await;
    let script = app.send(Method::GET, "/_/pages/auth_links.js", None, None).await.text();
    let router = app.send(Method::GET, "/_/app.js", None, None).await.text();
    assert!(router.contains("'/auth/:action/:token', 'auth_links'"), "{router}");
    // Every action a default template links to is handled, by posting to the collection's API.
    let templates = keel_notify::default_templates();
    for (action, body) in [
        ("confirm-verification", &templates.verification.body),
        ("confirm-password-reset", &templates.reset_password.body),
        ("confirm-email-change", &templates.confirm_email_change.body),
    ] {
        assert!(
            body.contains(&format!("{{APP_URL}}/_/#/auth/{action}/{{TOKEN}}")),
            "{body}"
        );
        assert!(script.contains(&format!("'{action}'")), "{action}");
    }
    assert!(script.contains("`/api/collections/${seg(claims.collectionId)}/${action}`"));
}
