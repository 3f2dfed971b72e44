//! Where a rule or filter expression (PocketBase's language, parsed by keel-data) reaches what
//! a change touches: a field path of its own collection (`title`), through relations
//! (`post.title`), back-relations (`comments_via_post.text`), `@collection.posts.title`,
//! `@request.auth.*` (walked from every auth collection; a deleted auth collection counts only
//! for paths no other auth collection resolves) and `@request.body.*`.
//!
//! Paths are resolved over the collections as they are now, except the touched collection,
//! which is seen as it was before the change (by its id and its old name), so a field or a
//! name the change removes is still found.

use std::collections::HashMap;
use std::sync::Arc;

use keel_data::filter::ast::{Operand, Root};
use keel_data::{Collection, FieldKind};

use super::touched::Touched;

/// The collections paths are resolved over.
pub struct Schema {
    by_key: HashMap<String, Arc<Collection>>,
    auth: Vec<Arc<Collection>>,
}

impl Schema {
    /// `all` as they are now, the touched collection as it was before.
    pub fn new(all: &[Arc<Collection>], t: &Touched) -> Schema {
        let mut by_key = HashMap::new();
        let before = Arc::new(t.before.clone());
        for c in all {
            let c = if c.id == t.id() { before.clone() } else { c.clone() };
            by_key.insert(c.id.clone(), c.clone());
            by_key.insert(c.name.to_lowercase(), c);
        }
        by_key.insert(t.id().to_string(), before.clone());
        by_key.insert(t.name().to_lowercase(), before.clone());
        let mut auth: Vec<Arc<Collection>> = Vec::new();
        for c in by_key.values() {
            if c.is_auth() && !auth.iter().any(|a| a.id == c.id) {
                auth.push(c.clone());
            }
        }
        Schema { by_key, auth }
    }

    fn get(&self, key: &str) -> Option<&Arc<Collection>> {
        self.by_key.get(key).or_else(|| self.by_key.get(&key.to_lowercase()))
    }
}

/// One place an expression reaches the touched collection: the path as written, and the
/// touched field it reads (`None`: the collection itself, deleted or renamed).
#[derive(Debug, Clone, PartialEq)]
pub struct Ref {
    pub path: String,
    pub field: Option<String>,
}

/// The references of `src` (an expression about a record of `home`) to what `t` touches.
/// An expression that does not parse references nothing (it fails on its own already).
pub fn references(src: &str, home: &Collection, schema: &Schema, t: &Touched) -> Vec<Ref> {
    if src.trim().is_empty() {
        return Vec::new();
    }
    let Ok(expr) = keel_data::filter::parse(src) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    expr.for_each_cmp(&mut |cmp| {
        for side in [&cmp.left, &cmp.right] {
            let Operand::Path(p) = side else { continue };
            let mut found = Vec::new();
            match &p.root {
                Root::Field | Root::Body => walk(schema, home, &p.segments, t, &mut found),
                Root::Auth => auth_refs(schema, &p.segments, t, &mut found),
                Root::Collection { name, .. } => match schema.get(name) {
                    Some(c)
                        if c.id == t.id() && (t.deleted() || (t.renamed() && name.eq_ignore_ascii_case(t.name()))) =>
                    {
                        found.push(None)
                    }
                    Some(c) => walk(schema, c, &p.segments, t, &mut found),
                    None => {}
                },
                _ => {}
            }
            for field in found {
                let r = Ref {
                    path: p.raw.clone(),
                    field,
                };
                if !out.contains(&r) {
                    out.push(r);
                }
            }
        }
    });
    out
}

/// `@request.auth.<segs>` walked from every auth collection. A deleted auth collection's
/// callers can no longer sign in, so the path reaches it only when it resolves on no other
/// auth collection (`@request.auth.id` still means something for the others).
fn auth_refs(schema: &Schema, segs: &[String], t: &Touched, out: &mut Vec<Option<String>>) {
    let mut deleted_only = false;
    let mut elsewhere = false;
    for a in &schema.auth {
        if t.deleted() && a.id == t.id() {
            deleted_only = true;
            continue;
        }
        elsewhere |= resolves(schema, a, segs);
        walk(schema, a, segs, t, out);
    }
    if deleted_only && !elsewhere && !out.contains(&None) {
        out.push(None);
    }
}

/// Whether `segs` names something from a record of `start` (as a rule would resolve it:
/// fields, relations, back-relations; a non-relation field may hold a JSON path).
fn resolves(schema: &Schema, start: &Collection, segs: &[String]) -> bool {
    if let [only] = segs {
        if only == "collectionName" || only == "collectionId" {
            return true;
        }
    }
    let mut coll: &Collection = start;
    for (i, seg) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        if let Some(f) = coll.field(seg) {
            let FieldKind::Relation(o) = &f.kind else { return true };
            if last {
                return true;
            }
            match schema.get(&o.collection_id) {
                Some(next) => coll = next,
                None => return false,
            }
            continue;
        }
        let Some((name, via)) = seg.split_once("_via_").filter(|_| !last) else {
            return false;
        };
        match schema.get(name) {
            Some(target) if target.field(via).is_some() => coll = target,
            _ => return false,
        }
    }
    false
}

/// Follows `segs` from a record of `start`, noting where it reaches the touched collection.
fn walk(schema: &Schema, start: &Collection, segs: &[String], t: &Touched, out: &mut Vec<Option<String>>) {
    let mut coll: &Collection = start;
    for (i, seg) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        let on_touched = coll.id == t.id();
        if on_touched && t.deleted() {
            out.push(None);
            return;
        }
        match coll.field(seg) {
            Some(f) => {
                if on_touched && t.field(&f.name).is_some() {
                    out.push(Some(f.name.clone()));
                    return;
                }
                match (&f.kind, last) {
                    (FieldKind::Relation(o), false) => match schema.get(&o.collection_id) {
                        Some(next) => coll = next,
                        None => return,
                    },
                    _ => return,
                }
            }
            None => {
                let Some((name, via)) = seg.split_once("_via_").filter(|_| !last) else {
                    return;
                };
                let Some(target) = schema.get(name) else { return };
                if target.id == t.id() {
                    if t.deleted() || (t.renamed() && name.eq_ignore_ascii_case(t.name())) {
                        out.push(None);
                        return;
                    }
                    if t.field(via).is_some() {
                        out.push(Some(via.to_string()));
                        return;
                    }
                }
                coll = target;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_data::schema::{CollectionType, RelationOptions, TextOptions};
    use keel_data::Field;

    /// Fields with their name as id, so two setups match field by field.
    fn text(name: &str) -> Field {
        let mut f = Field::new(name, FieldKind::Text(TextOptions::default()));
        f.id = name.into();
        f
    }

    fn relation(name: &str, to: &str) -> Field {
        let mut f = Field::new(
            name,
            FieldKind::Relation(RelationOptions {
                collection_id: to.into(),
                max_select: 1,
                ..Default::default()
            }),
        );
        f.id = name.into();
        f
    }

    fn coll(id: &str, name: &str, kind: CollectionType, fields: Vec<Field>) -> Collection {
        let mut c = Collection::blank(name, kind);
        c.id = id.into();
        c.fields.extend(fields);
        c
    }

    fn setup() -> (Vec<Arc<Collection>>, Collection) {
        let posts = coll(
            "pbc_posts",
            "posts",
            CollectionType::Base,
            vec![text("title"), text("body")],
        );
        let comments = coll(
            "pbc_comments",
            "comments",
            CollectionType::Base,
            vec![text("text"), relation("post", "pbc_posts")],
        );
        let mut users = Collection::default_users();
        users.fields.push(relation("favourite", "pbc_posts"));
        (
            vec![Arc::new(posts.clone()), Arc::new(comments), Arc::new(users)],
            posts,
        )
    }

    fn refs(src: &str, home: &str, after: Option<Collection>) -> Vec<Ref> {
        let (all, posts) = setup();
        let t = Touched::of(Some(&posts), after.as_ref()).unwrap();
        let schema = Schema::new(&all, &t);
        let home = all.iter().find(|c| c.name == home).unwrap();
        references(src, home, &schema, &t)
    }

    fn without(field: &str) -> Option<Collection> {
        let (_, mut posts) = setup();
        posts.fields.retain(|f| f.name != field);
        Some(posts)
    }

    fn fields(r: &[Ref]) -> Vec<Option<&str>> {
        r.iter().map(|r| r.field.as_deref()).collect()
    }

    #[test]
    fn relations_back_relations_collections_and_auth_reach_a_removed_field() {
        assert_eq!(
            fields(&refs("post.title = 'x'", "comments", without("title"))),
            vec![Some("title")]
        );
        assert!(refs("post.body = 'x' && text != ''", "comments", without("title")).is_empty());
        assert_eq!(
            fields(&refs("@collection.posts.title ?= text", "comments", without("title"))),
            vec![Some("title")]
        );
        assert_eq!(
            fields(&refs(
                "@request.auth.favourite.title = 'x'",
                "comments",
                without("title")
            )),
            vec![Some("title")]
        );
        assert_eq!(
            fields(&refs("@collection.comments.post.body ?= 'x'", "users", without("body"))),
            vec![Some("body")]
        );
        let r = refs("comments_via_post.text ?= 'x'", "posts", without("title"));
        assert!(r.is_empty(), "{r:?}");
        assert!(refs("not a rule ((", "comments", without("title")).is_empty());
    }

    #[test]
    fn deleting_one_auth_collection_flags_only_auth_paths_no_other_resolves() {
        let (mut all, _) = setup();
        let mut members = Collection::default_users();
        members.id = "pbc_members".into();
        members.name = "members".into();
        members.fields.push(text("nickname"));
        all.push(Arc::new(members.clone()));
        let t = Touched::of(Some(&members), None).unwrap();
        let schema = Schema::new(&all, &t);
        let posts = all.iter().find(|c| c.name == "posts").unwrap();
        let r = references("@request.auth.id != ''", posts, &schema, &t);
        assert!(r.is_empty(), "users still sign in: {r:?}");
        let r = references("@request.auth.favourite.title != ''", posts, &schema, &t);
        assert!(r.is_empty(), "{r:?}");
        assert_eq!(
            fields(&references("@request.auth.nickname != ''", posts, &schema, &t)),
            vec![None],
            "only members have a nickname"
        );
    }

    #[test]
    fn a_deleted_or_renamed_collection_is_reached_by_name_or_through_relations() {
        assert_eq!(fields(&refs("post.title = 'x'", "comments", None)), vec![None]);
        assert_eq!(
            fields(&refs("@collection.posts.id != ''", "comments", None)),
            vec![None]
        );
        let (_, mut renamed) = setup();
        renamed.name = "articles".into();
        assert_eq!(
            fields(&refs("@collection.posts.id != ''", "comments", Some(renamed.clone()))),
            vec![None]
        );
        assert!(
            refs("post.title = 'x'", "comments", Some(renamed)).is_empty(),
            "ids survive a rename"
        );
    }
}
