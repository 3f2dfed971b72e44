//! The records API over HTTP: list/view/create/update/delete, rules, validation, auth records.

mod common;

use axum::http::{Method, StatusCode};
use common::{posts, App, Multipart};
use serde_json::json;

#[tokio::test]
async fn crud_happy_path_in_pocketbase_shapes() {
    let app = App::new().await;
    posts(&app).await;
    let (user, token) = app.auth_record("users", "alice@example.com", "alicepassword").await;

    let r = app
        .send(
            Method::POST,
            "/api/collections/posts/records",
            Some(&token),
            Some(json!({"title": "Hello", "views": 3, "author": user.id(), "secret": "s3cr3t", "ignored": 1})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let id = r.json["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 15);
    assert_eq!(r.json["collectionName"], "posts");
    assert_eq!(r.json["title"], "Hello");
    assert_eq!(r.json["views"], 3);
    assert!(r.json.get("secret").is_none(), "hidden fields are never shown");
    assert!(r.json["created"].as_str().is_some_and(|s| !s.is_empty()));

    let r = app
        .send(Method::GET, &format!("/api/collections/posts/records/{id}"), None, None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["title"], "Hello");

    let r = app
        .send(
            Method::GET,
            "/api/collections/posts/records?perPage=10&sort=-created",
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json["page"], 1);
    assert_eq!(r.json["perPage"], 10);
    assert_eq!(r.json["totalItems"], 1);
    assert_eq!(r.json["totalPages"], 1);
    assert_eq!(r.json["items"][0]["id"], id.as_str());

    let r = app
        .send(Method::GET, "/api/collections/posts/records?skipTotal=1", None, None)
        .await;
    assert_eq!(r.json["totalItems"], -1);

    let r = app
        .send(
            Method::PATCH,
            &format!("/api/collections/posts/records/{id}"),
            Some(&token),
            Some(json!({"views+": 2, "title": "Hello again"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json["views"], 5);
    assert_eq!(r.json["title"], "Hello again");

    let r = app
        .send(
            Method::DELETE,
            &format!("/api/collections/posts/records/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.bytes.is_empty());
    let r = app
        .send(Method::GET, &format!("/api/collections/posts/records/{id}"), None, None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json["status"], 404);
}

#[tokio::test]
async fn expand_and_fields() {
    let app = App::new().await;
    posts(&app).await;
    let (user, token) = app.auth_record("users", "bob@example.com", "bobpassword1").await;
    let post = app
        .insert("posts", json!({"title": "With author", "author": user.id()}))
        .await;

    let r = app
        .send(
            Method::GET,
            &format!("/api/collections/posts/records/{}?expand=author", post.id()),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json["expand"]["author"]["id"], user.id());
    assert!(r.json["expand"]["author"].get("password").is_none());

    let r = app
        .send(
            Method::GET,
            "/api/collections/posts/records?fields=id,title",
            None,
            None,
        )
        .await;
    assert_eq!(r.json["items"][0], json!({"id": post.id(), "title": "With author"}));
}

#[tokio::test]
async fn bad_requests_name_what_is_wrong() {
    let app = App::new().await;
    posts(&app).await;

    let r = app.send(Method::GET, "/api/collections/nope/records", None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .send(Method::GET, "/api/collections/nope/records/abc", None, None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .send(Method::POST, "/api/collections/nope/records", None, Some(json!({})))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let r = app
        .send(Method::GET, "/api/collections/posts/records?perPage=many", None, None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json["data"]["perPage"].is_object(), "{}", r.text());
    let r = app
        .send(Method::GET, "/api/collections/posts/records?page=zero", None, None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json["data"]["page"].is_object());

    let r = app
        .send(
            Method::GET,
            "/api/collections/posts/records?filter=title%20%3D%3D%3D",
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let r = app
        .send(
            Method::GET,
            "/api/collections/posts/records?filter=nosuchfield%3D1",
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());

    let r = app
        .send_bytes(
            Method::POST,
            "/api/collections/posts/records",
            None,
            "application/json",
            b"{\"title\": ".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json["message"],
        "Failed to load the submitted data due to invalid formatting."
    );
    let r = app
        .send_bytes(
            Method::POST,
            "/api/collections/posts/records",
            None,
            "application/json",
            b"[1,2]".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // validation errors carry per-field codes
    let r = app
        .send(
            Method::POST,
            "/api/collections/posts/records",
            None,
            Some(json!({"title": "ab"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(
        r.json["data"]["title"]["code"]
            .as_str()
            .is_some_and(|c| c.starts_with("validation_")),
        "{}",
        r.text()
    );
    let r = app
        .send(Method::POST, "/api/collections/posts/records", None, Some(json!({})))
        .await;
    assert_eq!(r.json["data"]["title"]["code"], "validation_required", "{}", r.text());
    let r = app
        .send(Method::GET, "/api/collections/posts/records", None, None)
        .await;
    assert_eq!(r.json["totalItems"], 0, "nothing was created by the failed requests");
}

#[tokio::test]
async fn rules_decide_who_sees_and_changes_what() {
    let app = App::new().await;
    posts(&app).await;
    let (alice, alice_token) = app.auth_record("users", "alice@example.com", "alicepassword").await;
    let (_bob, bob_token) = app.auth_record("users", "bob@example.com", "bobpassword1").await;
    let su = app.superuser().await;
    let post = app
        .insert("posts", json!({"title": "Alice's", "author": alice.id()}))
        .await;
    let url = format!("/api/collections/posts/records/{}", post.id());

    // null rules: superusers only (403 for guests and users)
    for token in [None, Some(alice_token.as_str())] {
        let r = app
            .send(Method::GET, "/api/collections/_superusers/records", token, None)
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    }
    let r = app
        .send(Method::GET, "/api/collections/_superusers/records", Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["totalItems"], 1);

    // list rules filter silently; view rules answer 404
    let r = app
        .send(Method::GET, "/api/collections/users/records", None, None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["totalItems"], 0);
    let r = app
        .send(Method::GET, "/api/collections/users/records", Some(&alice_token), None)
        .await;
    assert_eq!(r.json["totalItems"], 1);
    assert_eq!(r.json["items"][0]["id"], alice.id());
    assert_eq!(
        r.json["items"][0]["email"], "alice@example.com",
        "owners see their email"
    );
    let r = app
        .send(
            Method::GET,
            &format!("/api/collections/users/records/{}", alice.id()),
            Some(&bob_token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // update and delete by someone else: 404, nothing changed
    let r = app
        .send(
            Method::PATCH,
            &url,
            Some(&bob_token),
            Some(json!({"title": "Bob's now"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .send(Method::PATCH, &url, None, Some(json!({"title": "Guest's now"})))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.send(Method::DELETE, &url, Some(&bob_token), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.send(Method::GET, &url, None, None).await;
    assert_eq!(r.json["title"], "Alice's");

    // a failing create rule is a 400
    app.create_collection(json!({
        "name": "notes", "createRule": "@request.auth.id != ''", "listRule": null,
        "fields": [{"name": "text", "type": "text"}]
    }))
    .await;
    let r = app
        .send(
            Method::POST,
            "/api/collections/notes/records",
            None,
            Some(json!({"text": "x"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let r = app
        .send(
            Method::POST,
            "/api/collections/notes/records",
            Some(&alice_token),
            Some(json!({"text": "x"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = app
        .send(Method::GET, "/api/collections/notes/records", Some(&alice_token), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn multipart_plain_fields_are_typed() {
    let app = App::new().await;
    posts(&app).await;
    let form = Multipart::new().text("title", "From a form").text("views", "42");
    let r = app
        .multipart(Method::POST, "/api/collections/posts/records", None, form)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json["title"], "From a form");
    assert_eq!(r.json["views"], 42);

    let form = Multipart::new().json(json!({"title": "Json payload", "views": 7}));
    let r = app
        .multipart(Method::POST, "/api/collections/posts/records", None, form)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json["views"], 7);
}

#[tokio::test]
async fn a_number_that_overflows_to_infinity_is_a_400_naming_the_field() {
    let app = App::new().await;
    posts(&app).await;
    let r = app
        .send_bytes(
            Method::POST,
            "/api/collections/posts/records",
            None,
            "application/json",
            br#"{"title": "huge", "views": 1e400}"#.to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.json["data"].get("views").is_some(), "{}", r.text());
    let r = app
        .multipart(
            Method::POST,
            "/api/collections/posts/records",
            None,
            Multipart::new()
                .text("title", "huge")
                .text("views", &format!("1{}", "0".repeat(400))),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.json["data"].get("views").is_some(), "{}", r.text());
    let r = app
        .send(Method::GET, "/api/collections/posts/records", None, None)
        .await;
    assert_eq!(r.json["totalItems"], 0, "nothing stored: {}", r.text());
}

#[tokio::test]
async fn per_page_above_the_maximum_is_lowered_to_it_as_pocketbase_does() {
    let app = App::new().await;
    posts(&app).await;
    app.insert("posts", json!({"title": "first"})).await;
    let r = app
        .send(Method::GET, "/api/collections/posts/records?perPage=5555", None, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json["perPage"], 1000);
    assert_eq!(r.json["totalItems"], 1);
    assert_eq!(r.json["items"][0]["title"], "first");
}

#[tokio::test]
async fn the_only_superuser_cannot_be_deleted() {
    let app = App::new().await;
    let su = app.superuser().await;
    let r = app
        .send(Method::GET, "/api/collections/_superusers/records", Some(&su), None)
        .await;
    let root = r.json["items"][0]["id"].as_str().unwrap().to_string();
    let url = format!("/api/collections/_superusers/records/{root}");
    let r = app.send(Method::DELETE, &url, Some(&su), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert_eq!(r.json["message"], "You can't delete the only existing superuser");
    let r = app.send(Method::GET, &url, Some(&su), None).await;
    assert_eq!(r.status, StatusCode::OK, "still there: {}", r.text());

    // with a second superuser, one of the two may go, but not the last one left
    let (second, _) = app
        .auth_record("_superusers", "second@example.com", "secondpassword1")
        .await;
    let r = app.send(Method::DELETE, &url, Some(&su), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let second_token = app.sign(&second, keel_auth::token::TokenKind::Auth);
    let r = app
        .send(
            Method::DELETE,
            &format!("/api/collections/_superusers/records/{}", second.id()),
            Some(&second_token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
}

/// `GET uri` with the header `X-Token: token` when given.
async fn get_with_token_header(app: &App, uri: &str, token: Option<&str>) -> common::Resp {
    let mut req = axum::http::Request::builder().uri(uri);
    if let Some(t) = token {
        req = req.header("x-token", t);
    }
    app.raw(req.body(axum::body::Body::empty()).unwrap()).await
}

#[tokio::test]
async fn rules_and_filters_read_request_headers_and_query() {
    let app = App::new().await;
    app.create_collection(json!({
        "name": "notes", "type": "base",
        "fields": [{"name": "title", "type": "text"}],
        "listRule": "@request.headers.x_token = 'letmein'",
        "viewRule": "@request.headers.x_token = 'letmein'"
    }))
    .await;
    app.create_collection(json!({
        "name": "open", "type": "base",
        "fields": [{"name": "title", "type": "text"}],
        "listRule": "", "viewRule": ""
    }))
    .await;
    app.create_collection(json!({
        "name": "keyed", "type": "base",
        "fields": [{"name": "title", "type": "text"}],
        "listRule": "@request.query.key = 'k1'"
    }))
    .await;
    app.insert("keyed", json!({"title": "k"})).await;
    let note = app.insert("notes", json!({"title": "n"})).await;
    app.insert("open", json!({"title": "o"})).await;

    // A rule reading a header: the list filters, the view is a 404, unless the header says so.
    let r = get_with_token_header(&app, "/api/collections/notes/records", Some("letmein")).await;
    assert_eq!(r.json["totalItems"], 1, "{}", r.text());
    for token in [None, Some("wrong")] {
        let r = get_with_token_header(&app, "/api/collections/notes/records", token).await;
        assert_eq!(r.json["totalItems"], 0, "{}", r.text());
    }
    let view = format!("/api/collections/notes/records/{}", note.id());
    assert_eq!(
        get_with_token_header(&app, &view, Some("letmein")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        get_with_token_header(&app, &view, None).await.status,
        StatusCode::NOT_FOUND
    );

    // A rule reading the query string.
    let r = get_with_token_header(&app, "/api/collections/keyed/records?key=k1", None).await;
    assert_eq!(r.json["totalItems"], 1, "{}", r.text());
    for uri in [
        "/api/collections/keyed/records",
        "/api/collections/keyed/records?key=k2",
    ] {
        let r = get_with_token_header(&app, uri, None).await;
        assert_eq!(r.json["totalItems"], 0, "{}", r.text());
    }

    // The request's own filter may read them too.
    let filtered = "/api/collections/open/records?filter=%40request.headers.x_token%3D%27letmein%27";
    let r = get_with_token_header(&app, filtered, Some("letmein")).await;
    assert_eq!(r.json["totalItems"], 1, "{}", r.text());
    let r = get_with_token_header(&app, filtered, None).await;
    assert_eq!(r.json["totalItems"], 0, "{}", r.text());
}

/// A record's JSON is written straight from the record when no `fields` is asked for, and
/// built as a value (then picked) when it is: both give the same bytes, escapes, expand,
/// hidden fields and all.
#[tokio::test]
async fn records_are_written_the_same_with_and_without_a_fields_picker() {
    let app = App::new().await;
    posts(&app).await;
    let (user, _token) = app.auth_record("users", "dora@example.com", "dorapassword1").await;
    let tricky = "quote \" back \\ slash / tab\t nl\n ctl\u{1} del\u{7f} ünï 😀";
    let post = app
        .insert(
            "posts",
            json!({"title": tricky, "views": 2.5, "secret": "never shown", "author": user.id()}),
        )
        .await;
    app.insert("posts", json!({"title": "a plain title", "views": -3}))
        .await;

    for uri in [
        format!("/api/collections/posts/records/{}?expand=author", post.id()),
        "/api/collections/posts/records?expand=author&sort=created".to_string(),
        "/api/collections/posts/records?page=1&perPage=1".to_string(),
    ] {
        let direct = app.send(Method::GET, &uri, None, None).await;
        assert_eq!(direct.status, StatusCode::OK, "{}", direct.text());
        let picked = app.send(Method::GET, &format!("{uri}&fields=*"), None, None).await;
        assert_eq!(picked.status, StatusCode::OK, "{}", picked.text());
        assert_eq!(direct.text(), picked.text(), "{uri}");
        assert!(
            !direct.text().contains("never shown"),
            "hidden fields stay hidden: {uri}"
        );
    }
    let view = app
        .send(
            Method::GET,
            &format!("/api/collections/posts/records/{}", post.id()),
            None,
            None,
        )
        .await;
    assert_eq!(view.json["title"], tricky);
    assert_eq!(view.json["views"], 2.5);
}
