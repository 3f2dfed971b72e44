//! `/_/`: the pages the default auth emails link to are served by Keel itself.

mod common;

use axum::http::{Method, StatusCode};
use common::App;

#[tokio::test]
async fn the_links_of_the_default_auth_emails_lead_to_a_page_keel_serves() {
    let app = App::new().await;
    let r = app.send(Method::GET, "/_/", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("content-type").starts_with("text/html"));
    assert!(r.header("content-security-policy").contains("script-src 'self'"));
    let page = r.text();
    assert!(page.contains("<script src=\"/_/auth.js\">"), "{page}");

    let r = app.send(Method::GET, "/_/auth.js", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("content-type").starts_with("text/javascript"));
    let script = r.text();
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
        assert!(script.contains(action), "{action}");
    }
    assert!(script.contains("\"/api/collections/\""));

    let r = app.send(Method::GET, "/_", None, None).await;
    assert_eq!(r.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(r.header("location"), "/_/");
}
