mod common;

use common::*;
use keel_data::Access;
use serde_json::json;

async fn everything(store: &keel_data::Store) {
    store
        .create_collection(json!({
            "name": "things",
            "fields": [
                {"name": "title", "type": "text", "required": true, "min": 2, "max": 10, "pattern": "^[a-z ]+$"},
                {"name": "n", "type": "number", "min": 0, "max": 100},
                {"name": "i", "type": "number", "onlyInt": true},
                {"name": "flag", "type": "bool"},
                {"name": "mail", "type": "email", "exceptDomains": ["bad.com"]},
                {"name": "site", "type": "url"},
                {"name": "when", "type": "date", "min": "2000-01-01"},
                {"name": "color", "type": "select", "values": ["red", "blue"], "maxSelect": 1},
                {"name": "tags", "type": "select", "values": ["a", "b", "c"], "maxSelect": 2},
                {"name": "meta", "type": "json"},
                {"name": "owner", "type": "relation", "collectionId": "_pb_users_auth_", "maxSelect": 1},
                {"name": "friends", "type": "relation", "collectionId": "_pb_users_auth_", "maxSelect": 5},
                {"name": "doc", "type": "file", "maxSelect": 1},
                {"name": "pics", "type": "file", "maxSelect": 2},
                {"name": "body", "type": "editor"},
            ]
        }))
        .await
        .unwrap();
}

async fn user(store: &keel_data::Store, email: &str) -> keel_data::Record {
    create(store, "users", json!({"email": email, "password": "$argon2id$hash"}))
        .await
        .unwrap()
}

#[tokio::test]
async fn create_with_every_field_type() {
    let t = fresh().await;
    everything(&t.store).await;
    let u = user(&t.store, "a@x.com").await;
    let r = create(
        &t.store,
        "things",
        json!({
            "title": "hello", "n": "42.5", "i": 7, "flag": "true", "mail": "me@ok.com", "site": "https://example.com/x",
            "when": "2024-05-06T07:08:09Z", "color": "red", "tags": ["a", "b"], "meta": {"k": [1, 2]},
            "owner": u.id(), "friends": [u.id()], "doc": "f.txt", "pics": ["a.png"], "body": "<p>hi</p>",
            "unknown": "ignored"
        }),
    )
    .await
    .unwrap();
    assert_eq!(r.id().len(), 15);
    let c = t.store.collection("things").unwrap();
    let got = t
        .store
        .get_record(&c, r.id(), &guest(), Access::Superuser)
        .await
        .unwrap();
    let d = &got.data;
    assert_eq!(d["title"], "hello");
    assert_eq!(d["n"], json!(42.5));
    assert_eq!(d["i"], json!(7));
    assert_eq!(d["flag"], json!(true));
    assert_eq!(d["when"], "2024-05-06 07:08:09.000Z");
    assert_eq!(d["tags"], json!(["a", "b"]));
    assert_eq!(d["meta"], json!({"k": [1, 2]}));
    assert_eq!(d["owner"], json!(u.id()));
    assert_eq!(d["friends"], json!([u.id()]));
    assert_eq!(d["pics"], json!(["a.png"]));
    assert!(d.get("unknown").is_none());
    assert!(!d["created"].as_str().unwrap().is_empty());
    assert_eq!(got.data, r.data);

    // Defaults when nothing is given.
    let r = create(&t.store, "things", json!({"title": "ab"})).await.unwrap();
    assert_eq!(r.data["n"], json!(0));
    assert_eq!(r.data["flag"], json!(false));
    assert_eq!(r.data["tags"], json!([]));
    assert_eq!(r.data["meta"], json!(null));
    assert_eq!(r.data["owner"], "");
}

#[tokio::test]
async fn every_validation_error_is_reported_together() {
    let t = fresh().await;
    everything(&t.store).await;
    let e = create(
        &t.store,
        "things",
        json!({
            "title": "", "n": 101, "i": 1.5, "flag": "maybe", "mail": "nope", "site": "not a url", "when": "yesterday",
            "color": "green", "tags": ["a", "b", "c"], "owner": "aaaaaaaaaaaaaaa", "pics": ["1", "2", "3"]
        }),
    )
    .await
    .unwrap_err();
    let got = codes(&e);
    let want = [
        ("title", "validation_required"),
        ("n", "validation_max_number_constraint"),
        ("i", "validation_only_int_constraint"),
        ("flag", "validation_invalid_bool"),
        ("mail", "validation_is_email"),
        ("site", "validation_invalid_url"),
        ("when", "validation_invalid_date"),
        ("color", "validation_invalid_value"),
        ("tags", "validation_too_many_values"),
        ("owner", "validation_missing_rel_records"),
        ("pics", "validation_too_many_values"),
    ];
    for (f, c) in want {
        assert!(
            got.contains(&(f.to_string(), c.to_string())),
            "missing {f} {c} in {got:?}"
        );
    }
    for (title, code) in [
        ("a", "validation_min_text_constraint"),
        ("abcdefghijk", "validation_max_text_constraint"),
        ("ABC", "validation_invalid_format"),
    ] {
        let e = create(&t.store, "things", json!({"title": title})).await.unwrap_err();
        assert_eq!(code_of(&e, "title"), code);
    }
    let e = create(
        &t.store,
        "things",
        json!({"title": "ok", "mail": "x@bad.com", "n": -1, "when": "1999-01-01", "i": "NaN"}),
    )
    .await
    .unwrap_err();
    assert_eq!(code_of(&e, "mail"), "validation_email_domain_not_allowed");
    assert_eq!(code_of(&e, "n"), "validation_min_number_constraint");
    assert_eq!(code_of(&e, "when"), "validation_min_date_constraint");
    assert_eq!(code_of(&e, "i"), "validation_invalid_number");
    // A client id must have the id shape; a duplicate id is not unique.
    let e = create(&t.store, "things", json!({"title": "ok", "id": "BAD"}))
        .await
        .unwrap_err();
    assert!(codes(&e).iter().any(|(f, _)| f == "id"));
    let r = create(&t.store, "things", json!({"title": "ok", "id": "abcdefghijklmno"}))
        .await
        .unwrap();
    assert_eq!(r.id(), "abcdefghijklmno");
    let e = create(&t.store, "things", json!({"title": "ok", "id": "abcdefghijklmno"}))
        .await
        .unwrap_err();
    assert_eq!(code_of(&e, "id"), "validation_not_unique");
}

#[tokio::test]
async fn modifiers_on_update() {
    let t = fresh().await;
    everything(&t.store).await;
    let c = t.store.collection("things").unwrap();
    let r = create(&t.store, "things", json!({"title": "ab", "n": 10, "tags": ["b"]}))
        .await
        .unwrap();
    let (before, after) = t
        .store
        .update_record(
            &c,
            r.id(),
            data(json!({"n+": 5, "+tags": "a"})),
            &guest(),
            Access::Superuser,
        )
        .await
        .unwrap();
    assert_eq!(before.data["n"], json!(10));
    assert_eq!(after.data["n"], json!(15));
    assert_eq!(after.data["tags"], json!(["a", "b"]));
    let (_, after) = t
        .store
        .update_record(
            &c,
            r.id(),
            data(json!({"n-": 5, "i-": 3, "tags+": ["c", "b"], "tags-": "a"})),
            &guest(),
            Access::Superuser,
        )
        .await
        .unwrap();
    assert_eq!(after.data["n"], json!(10));
    assert_eq!(after.data["i"], json!(-3));
    assert_eq!(after.data["tags"], json!(["b", "c"]));
    let e = t
        .store
        .update_record(&c, r.id(), data(json!({"tags+": "a"})), &guest(), Access::Superuser)
        .await
        .unwrap_err();
    assert_eq!(code_of(&e, "tags"), "validation_too_many_values");
    assert_eq!(after.data["title"], "ab", "untouched fields are kept");
}

#[tokio::test]
async fn auth_records_token_key_and_unique_email() {
    let t = fresh().await;
    let users = t.store.collection("users").unwrap();
    let u = user(&t.store, "Me@X.com").await;
    let key = u.data["tokenKey"].as_str().unwrap().to_string();
    assert_eq!(key.len(), 50);
    let e = create(&t.store, "users", json!({"email": "me@x.com", "password": "h"}))
        .await
        .unwrap_err();
    assert_eq!(code_of(&e, "email"), "validation_not_unique");
    let e = create(&t.store, "users", json!({"email": "other@x.com"}))
        .await
        .unwrap_err();
    assert_eq!(code_of(&e, "password"), "validation_required");
    let (_, after) = t
        .store
        .update_record(&users, u.id(), data(json!({"name": "n"})), &guest(), Access::Superuser)
        .await
        .unwrap();
    assert_eq!(after.data["tokenKey"], key.as_str());
    let (_, after) = t
        .store
        .update_record(
            &users,
            u.id(),
            data(json!({"password": "newhash"})),
            &guest(),
            Access::Superuser,
        )
        .await
        .unwrap();
    assert_ne!(after.data["tokenKey"], key.as_str());
    let found = t
        .store
        .find_by_field(&users, "email", &json!("ME@x.COM"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id(), u.id());
    assert!(t
        .store
        .find_by_field(&users, "email", &json!("none@x.com"))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn events_are_emitted_after_commit() {
    let t = fresh().await;
    posts(&t.store).await;
    let mut rx = t.store.subscribe();
    let c = t.store.collection("posts").unwrap();
    let r = create(&t.store, "posts", json!({"title": "x"})).await.unwrap();
    t.store
        .update_record(&c, r.id(), data(json!({"title": "y"})), &guest(), Access::Superuser)
        .await
        .unwrap();
    t.store
        .delete_record(&c, r.id(), &guest(), Access::Superuser)
        .await
        .unwrap();
    let _ = create(&t.store, "posts", json!({})).await.unwrap_err();
    let actions: Vec<_> = (0..3)
        .map(|_| rx.try_recv().unwrap())
        .map(|e| (e.action.as_str(), e.collection_name, e.record["title"].clone()))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("create", "posts".into(), json!("x")),
            ("update", "posts".into(), json!("y")),
            ("delete", "posts".into(), json!("y"))
        ]
    );
    assert!(rx.try_recv().is_err());
}
