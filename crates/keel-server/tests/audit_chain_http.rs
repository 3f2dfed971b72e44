//! The audit trail is append-only and hash-chained: no API changes or removes an entry
//! (records API, batch, truncate, collection changes), superusers included; tampering in the
//! database breaks the chain; collection, settings and role changes are entries too, with
//! secrets masked.

mod common;

use axum::http::{Method, StatusCode};
use common::{App, Resp};
use keel_data::AuditVerification;
use keel_sql::Engine;
use serde_json::{json, Value};

async fn entries(app: &App, su: &str, event: &str) -> Vec<Value> {
    let uri = format!("/api/audit?filter=event%3D'{event}'");
    let r = app.send(Method::GET, &uri, Some(su), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json["items"].as_array().unwrap().clone()
}

/// A trail of three entries (role changes by a superuser); returns the superuser's token.
async fn trail(app: &App) -> String {
    let su = app.superuser().await;
    for name in ["alpha", "beta"] {
        let body = json!({"name": name, "permissions": ["cache:read"]});
        let r = app.send(Method::POST, "/api/roles", Some(&su), Some(body)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    }
    let r = app.send(Method::DELETE, "/api/roles/beta", Some(&su), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    su
}

fn assert_append_only(r: &Resp) {
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(
        r.json["message"].as_str().unwrap().contains("append-only"),
        "{}",
        r.text()
    );
}

fn intact(v: &AuditVerification) -> u64 {
    match v {
        AuditVerification::Intact { count, .. } => *count,
        other => panic!("expected an intact trail, got {other:?}"),
    }
}

#[tokio::test]
async fn superusers_cannot_change_delete_or_forge_entries_through_any_api() {
    let app = App::new().await;
    let su = trail(&app).await;
    let all = app.send(Method::GET, "/api/audit?sort=seq", Some(&su), None).await;
    let first = all.json["items"][0].clone();
    let id = first["id"].as_str().unwrap().to_string();
    assert_eq!(first["seq"], 1, "{}", all.text());
    assert_eq!(first["prevHash"], "");
    assert_eq!(first["hash"].as_str().unwrap().len(), 64);
    assert_eq!(all.json["items"][1]["prevHash"], first["hash"]);

    let uri = format!("/api/collections/_audit/records/{id}");
    assert_append_only(
        &app.send(Method::PATCH, &uri, Some(&su), Some(json!({"ip": "6.6.6.6"})))
            .await,
    );
    assert_append_only(&app.send(Method::DELETE, &uri, Some(&su), None).await);
    let forged = json!({"event": "auth.login", "success": true, "actor": "users/x"});
    assert_append_only(
        &app.send(
            Method::POST,
            "/api/collections/_audit/records",
            Some(&su),
            Some(forged.clone()),
        )
        .await,
    );

    app.enable_batch(10).await;
    for op in [
        json!({"method": "DELETE", "url": uri}),
        json!({"method": "PATCH", "url": uri, "body": {"ip": "6.6.6.6"}}),
        json!({"method": "POST", "url": "/api/collections/_audit/records", "body": forged}),
    ] {
        let r = app
            .send(Method::POST, "/api/batch", Some(&su), Some(json!({"requests": [op]})))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
        assert!(r.text().contains("append-only"), "{}", r.text());
    }

    let r = app
        .send(Method::DELETE, "/api/collections/_audit/truncate", Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let r = app
        .send(Method::DELETE, "/api/collections/_audit", Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    for patch in [
        json!({"fields": [{"name": "event", "type": "text"}]}),
        json!({"listRule": ""}),
        json!({"indexes": []}),
    ] {
        assert_append_only(
            &app.send(Method::PATCH, "/api/collections/_audit", Some(&su), Some(patch))
                .await,
        );
    }

    // Every entry is still there and the chain holds (the refusals above are not entries).
    let after = app
        .send(Method::GET, &format!("/api/audit?filter=id%3D'{id}'"), Some(&su), None)
        .await;
    assert_eq!(after.json["items"][0]["ip"], first["ip"]);
    assert_eq!(intact(&app.state.store.verify_audit().await.unwrap()), 3);
}

async fn tamper(app: &App, sql: &str) {
    let engine: &std::sync::Arc<dyn Engine> = app.state.store.engine();
    let mut tx = engine.begin().await.unwrap();
    assert_eq!(tx.execute(sql, &[]).await.unwrap(), 1, "{sql}");
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn tampering_in_the_database_is_found_and_the_entry_named() {
    let app = App::new().await;
    let su = trail(&app).await;
    let items = app.send(Method::GET, "/api/audit?sort=seq", Some(&su), None).await.json["items"].clone();
    let (second, third) = (items[1]["id"].as_str().unwrap(), items[2]["id"].as_str().unwrap());

    tamper(
        &app,
        &format!("UPDATE \"_audit\" SET \"actor\" = 'someone/else' WHERE \"id\" = '{second}'"),
    )
    .await;
    match app.state.store.verify_audit().await.unwrap() {
        AuditVerification::Broken { id, seq, problem } => {
            assert_eq!((id.as_str(), seq), (second, 2));
            assert!(problem.contains("content"), "{problem}");
        }
        other => panic!("{other:?}"),
    }

    tamper(&app, &format!("DELETE FROM \"_audit\" WHERE \"id\" = '{second}'")).await;
    match app.state.store.verify_audit().await.unwrap() {
        AuditVerification::Broken { id, seq, problem } => {
            assert_eq!((id.as_str(), seq), (third, 3));
            assert!(problem.contains("deleted"), "{problem}");
        }
        other => panic!("{other:?}"),
    }

    // New entries keep chaining from the head: the gap stays visible.
    let r = app
        .send(
            Method::POST,
            "/api/roles",
            Some(&su),
            Some(json!({"name": "gamma", "permissions": []})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(matches!(
        app.state.store.verify_audit().await.unwrap(),
        AuditVerification::Broken { seq: 3, .. }
    ));
}

#[tokio::test]
async fn collection_changes_are_entries_with_before_and_after() {
    let app = App::new().await;
    let su = app.superuser().await;
    let r = app
        .send(
            Method::POST,
            "/api/collections",
            Some(&su),
            Some(json!({"name": "notes", "type": "base"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let mut fields = r.json["fields"].as_array().unwrap().clone();
    fields.push(json!({"name": "body", "type": "text"}));
    let r = app
        .send(
            Method::PATCH,
            "/api/collections/notes",
            Some(&su),
            Some(json!({"listRule": "@request.auth.id != ''", "fields": fields})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = app
        .send(
            Method::PATCH,
            "/api/collections/users",
            Some(&su),
            Some(json!({"authToken": {"secret": "a-new-secret-0123456789012345678901234567890123"}, "viewRule": ""})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = app
        .send(Method::DELETE, "/api/collections/notes", Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());

    let created = entries(&app, &su, "collection.create").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["details"]["collection"], "notes");
    assert!(created[0]["actor"].as_str().unwrap().starts_with("_superusers/"));
    let updated = entries(&app, &su, "collection.update").await;
    assert_eq!(updated.len(), 2);
    let notes = updated.iter().find(|e| e["details"]["collection"] == "notes").unwrap();
    assert_eq!(notes["details"]["before"]["listRule"], Value::Null);
    assert_eq!(notes["details"]["after"]["listRule"], "@request.auth.id != ''");
    let fields = |v: &Value| {
        v["fields"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["name"] == "body")
            .count()
    };
    assert_eq!(
        (fields(&notes["details"]["before"]), fields(&notes["details"]["after"])),
        (0, 1)
    );
    let users = updated.iter().find(|e| e["details"]["collection"] == "users").unwrap();
    assert_eq!(users["details"]["after"]["viewRule"], "");
    let text = users.to_string();
    assert!(!text.contains("a-new-secret"), "{text}");
    assert!(users["details"]["after"]["authToken"].get("secret").is_none(), "{text}");
    let deleted = entries(&app, &su, "collection.delete").await;
    assert_eq!(deleted[0]["details"]["before"]["name"], "notes");
    assert_eq!(deleted[0]["details"]["after"], Value::Null);
    assert_eq!(intact(&app.state.store.verify_audit().await.unwrap()), 4);
}

#[tokio::test]
async fn settings_changes_are_entries_with_secrets_masked() {
    let app = App::new().await;
    let su = app.superuser().await;
    let patch = json!({
        "meta": {"appName": "Renamed"},
        "smtp": {"enabled": true, "host": "smtp.example.com", "port": 587, "username": "mailer", "password": "hunter2-smtp-password"}
    });
    let r = app.send(Method::PATCH, "/api/settings", Some(&su), Some(patch)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let items = entries(&app, &su, "settings.update").await;
    assert_eq!(items.len(), 1);
    let e = &items[0];
    assert!(!e.to_string().contains("hunter2"), "{e}");
    assert_eq!(e["details"]["after"]["smtp"]["password"], "******");
    assert_eq!(e["details"]["before"]["smtp"]["password"], "");
    assert_eq!(e["details"]["after"]["smtp"]["host"], "smtp.example.com");
    assert_eq!(e["details"]["after"]["meta"]["appName"], "Renamed");
    assert_ne!(e["details"]["before"]["meta"]["appName"], "Renamed");
    assert!(e["actor"].as_str().unwrap().starts_with("_superusers/"));
}
