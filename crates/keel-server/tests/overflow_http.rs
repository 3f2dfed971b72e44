//! Numbers and names that once reached the database as they were and came back as 500s: a
//! huge `page`, a collection named like SQLite's or Keel's own tables.

mod common;

use axum::http::{Method, StatusCode};
use common::{field_error, posts, App};
use serde_json::json;

#[tokio::test]
async fn a_page_past_the_engines_integers_is_a_400_naming_page() {
    let app = App::new().await;
    posts(&app).await;
    let su = app.superuser().await;
    for uri in [
        "/api/collections/posts/records?page=9223372036854775807",
        "/api/collections/posts/records?page=9223372036854775807&perPage=1",
        "/api/audit?page=9223372036854775807",
        "/api/collections?page=9223372036854775807",
    ] {
        let r = app.send(Method::GET, uri, Some(&su), None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}: {}", r.text());
        assert!(field_error(&r, "page"), "{uri}: {}", r.text());
    }
    let r = app
        .send(
            Method::GET,
            "/api/collections/posts/records?perPage=99999999999999999999",
            Some(&su),
            None,
        )
        .await;
    assert!(field_error(&r, "perPage"), "{}", r.text());
    // the largest page accepted still answers (an empty page)
    let max = keel_server::routes::records::params::MAX_PAGE;
    let r = app
        .send(
            Method::GET,
            &format!("/api/collections/posts/records?page={max}"),
            Some(&su),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json["items"], json!([]));
}

#[tokio::test]
async fn collections_named_like_internal_tables_are_refused_naming_name() {
    let app = App::new().await;
    let su = app.superuser().await;
    for name in ["sqlite_master", "SQLITE_sequence", "sqlite_stat1", "keel_jobs"] {
        let r = app
            .send(
                Method::POST,
                "/api/collections",
                Some(&su),
                Some(json!({"name": name, "type": "base", "fields": [{"name": "title", "type": "text"}]})),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name}: {}", r.text());
        assert!(field_error(&r, "name"), "{name}: {}", r.text());
    }
}
