//! The collections API over HTTP: superusers (or holders of `collections:read` /
//! `collections:manage`); list, view, create, update, truncate, delete.

mod common;

use axum::http::{Method, StatusCode};
use common::{App, Multipart, PNG};
use serde_json::json;

#[tokio::test]
async fn only_superusers_manage_collections() {
    let app = App::new().await;
    let (_, user) = app.auth_record("users", "u@example.com", "userpassword").await;
    let r = app.send(Method::GET, "/api/collections", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = app.send(Method::GET, "/api/collections", Some(&user), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .send(
            Method::POST,
            "/api/collections",
            Some(&user),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.send(Method::DELETE, "/api/collections/users", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn roles_grant_collection_permissions_by_name() {
    let app = App::new().await;
    let (op, token) = app.auth_record("users", "op@example.com", "userpassword").await;
    app.state
        .identity
        .assign_role(&app.collection("users").id, op.id(), "operator")
        .await
        .unwrap();
    // operator holds collections:read, not collections:manage
    let r = app
        .send(Method::GET, "/api/collections/users", Some(&token), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = app
        .send(
            Method::POST,
            "/api/collections",
            Some(&token),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.text().contains("collections:manage"), "{}", r.text());
    app.state
        .identity
        .create_role("schema-admin", "", vec!["collections:*".into()])
        .await
        .unwrap();
    app.state
        .identity
        .assign_role(&app.collection("users").id, op.id(), "schema-admin")
        .await
        .unwrap();
    let r = app
        .send(
            Method::POST,
            "/api/collections",
            Some(&token),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

#[tokio::test]
async fn list_filter_sort_and_page() {
    let app = App::new().await;
    let su = app.superuser().await;
    let r = app.send(Method::GET, "/api/collections", Some(&su), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json["page"], 1);
    assert_eq!(r.json["perPage"], 30);
    let names: Vec<&str> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"users") && names.contains(&"_superusers"), "{names:?}");
    // As a member (`"secret":`): `_webhooks` has a (hidden) field named "secret".
    assert!(!r.text().contains("\"secret\":"), "token secrets never leave the server");

    let r = app
        .send(
            Method::GET,
            "/api/collections?filter=name%3D%22users%22",
            Some(&su),
            None,
        )
        .await;
    assert_eq!(r.json["totalItems"], 1, "{}", r.text());
    assert_eq!(r.json["items"][0]["name"], "users");
    let r = app
        .send(
            Method::GET,
            "/api/collections?filter=type%3D'auth'%20%26%26%20name~'super'",
            Some(&su),
            None,
        )
        .await;
    assert_eq!(r.json["items"][0]["name"], "_superusers", "{}", r.text());

    let r = app
        .send(Method::GET, "/api/collections?filter=listRule%3D''", Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json["data"]["filter"].is_object());

    let r = app
        .send(
            Method::GET,
            "/api/collections?filter=type%3D%27auth%27&sort=-name&perPage=1&page=2",
            Some(&su),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["items"].as_array().unwrap().len(), 1);
    assert_eq!(r.json["items"][0]["name"], "_superusers");
    assert_eq!(r.json["totalPages"], r.json["totalItems"]);
    let r = app
        .send(Method::GET, "/api/collections?perPage=5000", Some(&su), None)
        .await;
    // as PocketBase's search provider does: above its MaxPerPage, served as 1000
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json["perPage"], 1000);
    let r = app
        .send(Method::GET, "/api/collections?perPage=many", Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn create_view_update_truncate_delete() {
    let app = App::new().await;
    let su = app.superuser().await;
    let r = app
        .send(
            Method::POST,
            "/api/collections",
            Some(&su),
            Some(json!({"name": "articles", "type": "base", "listRule": "", "fields": [
                {"name": "title", "type": "text"},
                {"name": "image", "type": "file", "maxSelect": 1}
            ]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let id = r.json["id"].as_str().unwrap().to_string();
    assert_eq!(r.json["name"], "articles");
    assert_eq!(r.json["listRule"], "");
    assert!(r.json["viewRule"].is_null());
    let fields: Vec<&str> = r.json["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"id") && fields.contains(&"title") && fields.contains(&"created"),
        "{fields:?}"
    );

    let r = app
        .send(
            Method::POST,
            "/api/collections",
            Some(&su),
            Some(json!({"name": "articles"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "duplicate name: {}", r.text());
    let r = app
        .send_bytes(
            Method::POST,
            "/api/collections",
            Some(&su),
            "application/json",
            b"{oops".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    let r = app
        .send(Method::GET, &format!("/api/collections/{id}"), Some(&su), None)
        .await;
    assert_eq!(r.json["name"], "articles");
    let r = app.send(Method::GET, "/api/collections/nope", Some(&su), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let r = app
        .send(
            Method::PATCH,
            "/api/collections/articles",
            Some(&su),
            Some(json!({"viewRule": ""})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json["viewRule"], "");

    // a record with a file; truncate removes both
    let form = Multipart::new()
        .text("title", "t")
        .file("image", "a.png", "image/png", PNG);
    let r = app
        .multipart(Method::POST, "/api/collections/articles/records", Some(&su), form)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let rec = r.json["id"].as_str().unwrap().to_string();
    let file = r.json["image"].as_str().unwrap().to_string();
    let r = app
        .send(Method::DELETE, "/api/collections/articles/truncate", Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let r = app
        .send(Method::GET, "/api/collections/articles/records", Some(&su), None)
        .await;
    assert_eq!(r.json["totalItems"], 0);
    assert!(app.state.files.get(&format!("{id}/{rec}/{file}")).await.is_err());

    let r = app
        .send(Method::DELETE, "/api/collections/articles", Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app
        .send(Method::GET, "/api/collections/articles", Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .send(Method::GET, "/api/collections/articles/records", Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn auth_collections_hide_secrets_and_scaffolds_exist() {
    let app = App::new().await;
    let su = app.superuser().await;
    let r = app
        .send(
            Method::POST,
            "/api/collections",
            Some(&su),
            Some(json!({"name": "members", "type": "auth"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json["type"], "auth");
    assert!(r.json["authToken"]["duration"].is_number());
    assert!(r.json["authToken"].get("secret").is_none());
    assert!(r.json["fileToken"].get("secret").is_none());

    let r = app
        .send(Method::GET, "/api/collections/meta/scaffolds", Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["auth"]["type"], "auth");
    assert_eq!(r.json["base"]["type"], "base");
    assert!(!r.text().contains("\"secret\""));
}
