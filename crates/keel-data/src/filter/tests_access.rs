//! What a caller's filter may reach (`Origin::Filter`), on the fixture of `tests_sql.rs`:
//! u1 (email a@x.io, visible) and u2 (b@x.io, not visible); posts p1 (author u1, editors
//! u1 u2), p2 (author u2, editors u2); comments c1 c2 on p1, c3 on p2.

use std::sync::Arc;

use super::tests_sql::{ids, superuser, Db};
use super::Origin;
use crate::schema::Collection;

/// Replaces the collection `name` of the fixture's schema with `f` applied to it.
fn with_collection(db: &mut Db, name: &str, f: impl FnOnce(&mut Collection)) {
    let i = db.schema.0.iter().position(|c| c.name == name).unwrap();
    let mut c = (*db.schema.0[i]).clone();
    f(&mut c);
    db.schema.0[i] = Arc::new(c);
}

#[tokio::test]
async fn collection_joins_are_for_superusers_only_in_filters() {
    let mut db = Db::new().await;
    let f = "@collection.users.email ~ 'a%'";
    for who in [None, Some("u1")] {
        let req = db.req(who);
        match db.compile("posts", f, &req) {
            Err(keel_core::Error::Forbidden(m)) => assert_eq!(m, "Only superusers can filter by @collection."),
            Err(e) => panic!("{who:?}: {e:?}"),
            Ok(buf) => panic!("{who:?}: compiled to {}", buf.text),
        }
    }
    let su = superuser(&db);
    assert_eq!(db.ids_as("posts", f, &su).await, ids("p1 p2 p3 p4"));
    // A rule (written by a superuser) keeps `@collection`.
    db.origin = Origin::Rule;
    let guest = db.req(None);
    assert_eq!(db.ids_as("posts", f, &guest).await, ids("p1 p2 p3 p4"));
}

#[tokio::test]
async fn invisible_emails_never_match() {
    let mut db = Db::new().await;
    let guest = db.req(None);
    let u2 = db.req(Some("u2"));
    let su = superuser(&db);
    // On the row itself: the comparison is false where the email is invisible, whatever it is.
    assert_eq!(db.ids_as("users", "email ~ 'x.io'", &guest).await, ids("u1"));
    assert_eq!(db.ids_as("users", "email ~ 'b@'", &guest).await, ids(""));
    assert_eq!(db.ids_as("users", "email != 'zz'", &guest).await, ids("u1"));
    assert_eq!(db.ids_as("users", "email = ''", &guest).await, ids(""));
    // ... but the caller's own email counts, and superusers see every email.
    assert_eq!(db.ids_as("users", "email ~ 'b@'", &u2).await, ids("u2"));
    assert_eq!(db.ids_as("users", "email ~ 'b@'", &su).await, ids("u2"));
    // Through relations.
    assert_eq!(db.ids_as("posts", "author.email ~ 'x.io'", &guest).await, ids("p1"));
    assert_eq!(db.ids_as("posts", "author.email ~ 'b@%'", &guest).await, ids(""));
    assert_eq!(db.ids_as("posts", "author.email ~ 'b@%'", &u2).await, ids("p2"));
    assert_eq!(db.ids_as("posts", "author.email ~ 'b@%'", &su).await, ids("p2"));
    assert_eq!(db.ids_as("posts", "editors.email ?~ 'b@'", &guest).await, ids(""));
    assert_eq!(db.ids_as("posts", "editors.email ?~ 'b@'", &u2).await, ids("p1 p2"));
    assert_eq!(db.ids_as("comments", "post.author.email ~ 'b@'", &guest).await, ids(""));
    assert_eq!(db.ids_as("comments", "post.author.email ~ 'b@'", &u2).await, ids("c3"));
    // A rule is trusted.
    db.origin = Origin::Rule;
    assert_eq!(db.ids_as("posts", "author.email ~ 'b@%'", &guest).await, ids("p2"));
}

#[tokio::test]
async fn relation_hops_apply_the_target_rules() {
    let mut db = Db::new().await;
    with_collection(&mut db, "users", |c| {
        c.view_rule = Some("id = @request.auth.id".into());
        c.list_rule = None;
    });
    let guest = db.req(None);
    let u1 = db.req(Some("u1"));
    let su = superuser(&db);
    assert_eq!(db.ids_as("posts", "author.name = 'bob'", &guest).await, ids(""));
    assert_eq!(db.ids_as("posts", "author.name = 'bob'", &u1).await, ids(""));
    assert_eq!(db.ids_as("posts", "author.name = 'Alice'", &u1).await, ids("p1"));
    assert_eq!(db.ids_as("posts", "author.name = 'bob'", &su).await, ids("p2"));
    assert_eq!(db.ids_as("posts", "editors.name ?= 'bob'", &u1).await, ids(""));
    assert_eq!(db.ids_as("posts", "editors.name ?= 'Alice'", &u1).await, ids("p1"));
    // `@request.auth.rel.*` walks too: u1's org is visible (orgs are public) ...
    assert_eq!(
        db.ids_as("posts", "@request.auth.org.title = 'Acme' && id = 'p1'", &u1)
            .await,
        ids("p1")
    );
    // ... unless the orgs' view rule says otherwise.
    with_collection(&mut db, "orgs", |c| c.view_rule = None);
    let u1 = db.req(Some("u1"));
    assert_eq!(
        db.ids_as("posts", "@request.auth.org.title = 'Acme'", &u1).await,
        ids("")
    );
    // Back-relations use the list rule: null (superusers only) reaches nothing.
    with_collection(&mut db, "comments", |c| c.list_rule = None);
    let guest = db.req(None);
    assert_eq!(
        db.ids_as("posts", "comments_via_post.message ?= 'meh'", &guest).await,
        ids("")
    );
    let su = superuser(&db);
    assert_eq!(
        db.ids_as("posts", "comments_via_post.message ?= 'meh'", &su).await,
        ids("p1")
    );
    with_collection(&mut db, "comments", |c| c.list_rule = Some("message = 'nice'".into()));
    assert_eq!(
        db.ids_as("posts", "comments_via_post.message ?= 'meh'", &guest).await,
        ids("")
    );
    assert_eq!(
        db.ids_as("posts", "comments_via_post.message ?= 'nice'", &guest).await,
        ids("p1 p2")
    );
    // The same hops in a rule are trusted.
    db.origin = Origin::Rule;
    assert_eq!(
        db.ids_as("posts", "comments_via_post.message ?= 'meh'", &guest).await,
        ids("p1")
    );
    assert_eq!(db.ids_as("posts", "author.name = 'bob'", &guest).await, ids("p2"));
}

#[tokio::test]
async fn system_collections_are_unreachable_through_relations() {
    let mut db = Db::new().await;
    // Rename `orgs` into a system collection (users.org points at it by id).
    with_collection(&mut db, "orgs", |c| {
        c.name = "_orgs".into();
        c.view_rule = Some(String::new());
        c.list_rule = Some(String::new());
    });
    sqlx::query("ALTER TABLE orgs RENAME TO _orgs")
        .execute(&mut db.conn)
        .await
        .unwrap();
    let guest = db.req(None);
    assert_eq!(db.ids_as("users", "org.title = 'Acme'", &guest).await, ids(""));
    let su = superuser(&db);
    assert_eq!(db.ids_as("users", "org.title = 'Acme'", &su).await, ids("u1"));
}

/// A rule a hop applies binds parameters; a comparison folded at compile time may drop the
/// operand holding them, and every parameter must still be referenced (checked by `compile`).
#[tokio::test]
async fn folded_comparisons_keep_the_hop_rules_parameters() {
    let mut db = Db::new().await;
    with_collection(&mut db, "users", |c| {
        c.view_rule = Some("name != 'zz' && id != 'x'".into())
    });
    let guest = db.req(None);
    assert_eq!(
        db.ids_as("posts", "author.name = @request.auth.id", &guest).await,
        ids("")
    );
    assert_eq!(
        db.ids_as("posts", "author.name != @request.auth.id", &guest).await,
        ids("p1 p2 p3 p4")
    );
    assert_eq!(
        db.ids_as("posts", "author.email !~ @request.auth.id", &guest).await,
        ids("p1")
    );
}
