//! Deleting an auth record removes what belongs to it — its role assignments, linked OAuth2
//! identities, MFA sessions, one-time codes, TOTP enrolment and sign-in origins — and leaves
//! other records' rows and the audit trail alone; so does deleting a whole auth collection.

mod common;

use axum::http::{Method, StatusCode};
use common::App;
use keel_data::system::{AUTH_ORIGINS, EXTERNAL_AUTHS, MFAS, OTPS, ROLE_ASSIGNMENTS, TOTP};
use serde_json::json;

/// One row of every identity collection owned by `record` of `collection_id`.
async fn give_identity_rows(app: &App, collection_id: &str, record: &str, tag: &str) {
    let owner = |extra: serde_json::Value| {
        let mut v = json!({"collectionRef": collection_id, "recordRef": record});
        if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
            v.extend(extra.clone());
        }
        v
    };
    app.insert(
        EXTERNAL_AUTHS,
        owner(json!({"provider": "github", "providerId": format!("gh-{tag}")})),
    )
    .await;
    app.insert(MFAS, owner(json!({"method": "password"}))).await;
    app.insert(OTPS, owner(json!({"password": "hash", "sentTo": "x@example.com"})))
        .await;
    app.insert(ROLE_ASSIGNMENTS, owner(json!({"role": "viewer"}))).await;
    app.insert(TOTP, owner(json!({"seed": "s", "enabled": true}))).await;
    app.insert(AUTH_ORIGINS, owner(json!({"fingerprint": format!("fp-{tag}")})))
        .await;
}

/// How many rows of `collection` belong to `record`.
async fn owned(app: &App, su: &str, collection: &str, record: &str) -> i64 {
    let filter = format!("recordRef='{record}'");
    let uri = format!(
        "/api/collections/{collection}/records?filter={}",
        form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>()
    );
    let r = app.send(Method::GET, &uri, Some(su), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json["totalItems"].as_i64().unwrap_or(-1)
}

const OWNED: [&str; 6] = [EXTERNAL_AUTHS, MFAS, OTPS, ROLE_ASSIGNMENTS, TOTP, AUTH_ORIGINS];

#[tokio::test]
async fn deleting_an_auth_record_removes_its_identity_rows() {
    let app = App::new().await;
    let su = app.superuser().await;
    let users = app.collection("users");
    let (gone, _) = app.auth_record("users", "gone@example.com", "password123").await;
    let (kept, _) = app.auth_record("users", "kept@example.com", "password123").await;
    give_identity_rows(&app, &users.id, gone.id(), "gone").await;
    give_identity_rows(&app, &users.id, kept.id(), "kept").await;
    for c in OWNED {
        assert_eq!(owned(&app, &su, c, gone.id()).await, 1, "{c} before the delete");
    }

    let uri = format!("/api/collections/users/records/{}", gone.id());
    let r = app.send(Method::DELETE, &uri, Some(&su), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());

    for c in OWNED {
        assert_eq!(owned(&app, &su, c, gone.id()).await, 0, "{c} of the deleted record");
        assert_eq!(owned(&app, &su, c, kept.id()).await, 1, "{c} of another record");
    }
    let r = app
        .send(Method::GET, "/api/roles/viewer/members", Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(!r.text().contains(gone.id()), "{}", r.text());
}

#[tokio::test]
async fn deleting_an_auth_collection_removes_its_records_identity_rows() {
    let app = App::new().await;
    let su = app.superuser().await;
    let staff = app
        .create_collection(json!({"name": "staff", "type": "auth", "fields": []}))
        .await;
    let (member, _) = app.auth_record("staff", "s@example.com", "password123").await;
    let users = app.collection("users");
    let (user, _) = app.auth_record("users", "u@example.com", "password123").await;
    give_identity_rows(&app, &staff.id, member.id(), "staff").await;
    give_identity_rows(&app, &users.id, user.id(), "user").await;

    let r = app
        .send(Method::DELETE, "/api/collections/staff", Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    for c in OWNED {
        assert_eq!(
            owned(&app, &su, c, member.id()).await,
            0,
            "{c} of the dropped collection"
        );
        assert_eq!(owned(&app, &su, c, user.id()).await, 1, "{c} of another collection");
    }
}
