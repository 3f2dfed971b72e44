mod common;

use common::*;
use keel_data::Access;
use serde_json::json;

#[tokio::test]
async fn fresh_store_has_system_collections() {
    let t = fresh().await;
    let su = t.store.collection("_superusers").unwrap();
    assert!(su.system && su.is_auth());
    let users = t.store.collection("users").unwrap();
    assert_eq!(users.id, "_pb_users_auth_");
    assert!(users.field("email").is_some() && users.field("created").is_some());
    // _superusers, users and the identity, webhook, notification, vault, ops and change-history system
    // collections, which cannot be deleted.
    let mut system = keel_data::system::identity_collections();
    system.push(keel_data::system::auth_origins_collection());
    system.extend(keel_data::system::notification_collections());
    system.extend(keel_data::system::webhook_collections());
    system.extend(keel_data::system::vault_collections());
    system.extend(keel_data::system::ops_collections());
    system.extend(keel_data::system::change_collections());
    assert_eq!(t.store.collections().len(), 2 + system.len());
    for c in system {
        let stored = t.store.collection(&c.name).unwrap();
        assert!(stored.system && !stored.is_auth(), "{}", c.name);
        assert!(
            t.store.delete_collection(&c.name).await.is_err(),
            "{} was deleted",
            c.name
        );
    }
    // Lookups by id and case-insensitively by name.
    assert_eq!(t.store.collection("USERS").unwrap().id, users.id);
    assert!(t.store.migrate().await.unwrap().is_empty());
}

#[tokio::test]
async fn names_have_one_to_a_hundred_word_characters() {
    let t = fresh().await;
    // Any of Unicode's word characters (30 of them, 60 bytes: within every engine's limit).
    t.store
        .create_collection(json!({"name": "n", "fields": [{"name": "é".repeat(30), "type": "text"}]}))
        .await
        .unwrap();
    let e = t
        .store
        .create_collection(json!({"name": "n".repeat(101)}))
        .await
        .unwrap_err();
    assert_eq!(code_of(&e, "name"), "validation_match_invalid");
    for bad in ["é".repeat(101), String::new(), "a-b".into()] {
        let e = t
            .store
            .create_collection(json!({"name": "p", "fields": [{"name": bad, "type": "text"}]}))
            .await
            .unwrap_err();
        assert_eq!(code_of(&e, "fields.1.name"), "validation_invalid_name", "{bad:?}");
    }
}

#[tokio::test]
async fn create_validates_names_and_fields() {
    let t = fresh().await;
    let e = t.store.create_collection(json!({"name": "users"})).await.unwrap_err();
    assert_eq!(code_of(&e, "name"), "validation_collection_name_exists");
    let e = t.store.create_collection(json!({"name": "_x"})).await.unwrap_err();
    assert_eq!(code_of(&e, "name"), "validation_invalid_name");
    let e = t
        .store
        .create_collection(json!({"name": "bad name"}))
        .await
        .unwrap_err();
    assert_eq!(code_of(&e, "name"), "validation_match_invalid");
    let e = t
        .store
        .create_collection(
            json!({"name": "p", "fields": [{"name": "a", "type": "text"}, {"name": "a", "type": "number"}]}),
        )
        .await
        .unwrap_err();
    assert_eq!(code_of(&e, "fields.2.name"), "validation_duplicated_field_name");
    let e = t
        .store
        .create_collection(json!({"name": "p", "fields": [{"name": "expand", "type": "text"}]}))
        .await
        .unwrap_err();
    assert_eq!(code_of(&e, "fields.1.name"), "validation_reserved_field_name");
    let e = t
        .store
        .create_collection(json!({"name": "p", "fields": [{"name": "r", "type": "relation", "collectionId": "nope"}]}))
        .await
        .unwrap_err();
    assert_eq!(code_of(&e, "fields.1.collectionId"), "validation_missing_collection");
    let e = t
        .store
        .create_collection(json!({"name": "p", "indexes": ["DROP TABLE users"]}))
        .await
        .unwrap_err();
    assert_eq!(code_of(&e, "indexes.0"), "validation_invalid_index_expression");
}

#[tokio::test]
async fn bad_rule_names_the_rule() {
    let t = fresh().await;
    let e = t
        .store
        .create_collection(json!({"name": "p", "listRule": "nope = 1"}))
        .await
        .unwrap_err();
    assert_eq!(code_of(&e, "listRule"), "validation_invalid_rule");
    let e = t
        .store
        .create_collection(json!({"name": "p", "viewRule": "(("}))
        .await
        .unwrap_err();
    assert_eq!(code_of(&e, "viewRule"), "validation_invalid_rule");
}

#[tokio::test]
async fn update_renames_adds_drops_and_keeps_data() {
    let t = fresh().await;
    posts(&t.store).await;
    let rec = create(&t.store, "posts", json!({"title": "hello", "views": 3, "tags": ["a"]}))
        .await
        .unwrap();
    let c = t.store.collection("posts").unwrap();
    let mut fields = serde_json::to_value(&c.fields).unwrap();
    let arr = fields.as_array_mut().unwrap();
    // rename title -> headline, drop views, add body
    for f in arr.iter_mut() {
        if f["name"] == "title" {
            f["name"] = json!("headline");
        }
    }
    arr.retain(|f| f["name"] != "views");
    arr.push(json!({"name": "body", "type": "text"}));
    let c2 = t
        .store
        .update_collection(
            "posts",
            json!({"name": "articles", "fields": fields, "indexes": ["CREATE INDEX idx_head ON posts (headline)"]}),
        )
        .await
        .unwrap();
    assert_eq!(c2.name, "articles");
    assert!(c2.field("views").is_none());
    assert!(t.store.collection("posts").is_err());
    let got = t
        .store
        .get_record(&c2, rec.id(), &guest(), Access::Superuser)
        .await
        .unwrap();
    assert_eq!(got.data["headline"], "hello");
    assert_eq!(got.data["body"], "");
    assert!(got.data.get("views").is_none());
    assert_eq!(c2.indexes[0], "CREATE INDEX \"idx_head\" ON \"articles\" (headline)");

    // Type change refused.
    let mut fields = serde_json::to_value(&c2.fields).unwrap();
    for f in fields.as_array_mut().unwrap() {
        if f["name"] == "body" {
            f["type"] = json!("number");
        }
    }
    let e = t
        .store
        .update_collection("articles", json!({"fields": fields}))
        .await
        .unwrap_err();
    assert!(
        codes(&e).iter().any(|(_, c)| c == "validation_field_type_change"),
        "{e:?}"
    );

    // single -> multiple select converts data
    let mut fields = serde_json::to_value(&c2.fields).unwrap();
    for f in fields.as_array_mut().unwrap() {
        if f["name"] == "tags" {
            f["maxSelect"] = json!(1);
        }
    }
    let c3 = t
        .store
        .update_collection("articles", json!({"fields": fields}))
        .await
        .unwrap();
    let got = t
        .store
        .get_record(&c3, rec.id(), &guest(), Access::Superuser)
        .await
        .unwrap();
    assert_eq!(got.data["tags"], "a");
}

#[tokio::test]
async fn delete_collection_and_refusals() {
    let t = fresh().await;
    posts(&t.store).await;
    let e = t.store.delete_collection("_superusers").await.unwrap_err();
    assert!(matches!(e, keel_core::Error::BadRequest { .. }));
    t.store
        .create_collection(json!({"name": "comments", "fields": [{"name": "post", "type": "relation", "collectionId": "posts", "maxSelect": 1}]}))
        .await
        .unwrap();
    let e = t.store.delete_collection("posts").await.unwrap_err();
    assert!(matches!(e, keel_core::Error::BadRequest { .. }));
    t.store.delete_collection("comments").await.unwrap();
    t.store.delete_collection("posts").await.unwrap();
    assert!(t.store.collection("posts").is_err());
}

#[tokio::test]
async fn data_survives_reopen() {
    let t = fresh().await;
    posts(&t.store).await;
    let rec = create(&t.store, "posts", json!({"title": "kept"})).await.unwrap();
    t.store.set_param("settings", &json!({"a": 1})).await.unwrap();
    let users_secret = t
        .store
        .collection("users")
        .unwrap()
        .auth
        .clone()
        .unwrap()
        .auth_token
        .secret;
    drop(t.store);
    let store = reopen(&t.dir, &t.pg).await;
    let c = store.collection("posts").unwrap();
    let got = store
        .get_record(&c, rec.id(), &guest(), Access::Superuser)
        .await
        .unwrap();
    assert_eq!(got.data["title"], "kept");
    assert_eq!(store.get_param("settings").await.unwrap(), Some(json!({"a": 1})));
    assert_eq!(store.get_param("missing").await.unwrap(), None);
    assert_eq!(
        store
            .collection("users")
            .unwrap()
            .auth
            .clone()
            .unwrap()
            .auth_token
            .secret,
        users_secret
    );
}
