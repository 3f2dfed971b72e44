//! Normalising and validating a collection before it is saved.

use std::sync::{Arc, OnceLock};

use keel_core::{Error, FieldError, FieldErrors, Result};
use regex::Regex;
use serde_json::Value;

use super::cache::{Overlay, Schema};
use super::ddl;
use crate::filter::{self, CompileCtx};
use crate::request::RequestInfo;
use crate::schema::{Collection, CollectionType, Field, FieldKind, TextOptions, OAUTH2_PROVIDERS};
use keel_sql::{Dialect, SqlBuf};

/// Field names a record's JSON already uses for something else (or an engine's hidden column).
const RESERVED: &[&str] = &[
    "expand",
    "collectionId",
    "collectionName",
    keel_sql::INSERTION_ORDER_COLUMN,
];

fn re(cell: &'static OnceLock<Regex>, src: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(src).unwrap_or_else(|_| unreachable!("static regex")))
}

/// Whether a collection's or field's name has 1 to 100 characters. Counted here rather than
/// as a regex's `{1,100}`: a bounded repeat of Unicode's `\w` compiles to an automaton of a
/// hundred copies of the class (tens of MB built on the first collection a server makes, and
/// kept for the process's life).
fn name_fits(name: &str) -> bool {
    (1..=100).contains(&name.chars().count())
}

fn err(code: &str, message: &str) -> FieldError {
    FieldError::new(code, message)
}

/// Parses PocketBase's collection JSON into a `Collection` (a 400 when it does not fit).
pub(crate) fn parse(input: Value) -> Result<Collection> {
    let Value::Object(map) = input else {
        return Err(Error::bad_request("The collection data must be a JSON object."));
    };
    if !map.get("name").is_some_and(Value::is_string) {
        return Err(Error::field("name", "validation_required", "Cannot be blank."));
    }
    serde_json::from_value(Value::Object(map)).map_err(|e| Error::bad_request(format!("Invalid collection data: {e}.")))
}

/// A new field id in PocketBase's shape (`type` followed by digits).
pub(crate) fn new_field_id(f: &Field) -> String {
    format!(
        "{}{}",
        f.kind.type_name(),
        keel_core::id::random_string(10, b"0123456789")
    )
}

/// Makes sure the system fields of `kind` are present, with the user's options when the user
/// named them with the same type, in PocketBase's order: `id` first, then the given fields in
/// their order (`created`/`updated` added after them when `add_timestamps` and not named),
/// then the system fields the request left out (an auth collection's `password`, `tokenKey`, …).
pub(crate) fn complete_fields(kind: CollectionType, fields: Vec<Field>, add_timestamps: bool) -> Result<Vec<Field>> {
    let mut out = fields;
    let mut missing = Vec::new();
    for sys in Collection::system_fields(kind) {
        match out.iter_mut().find(|f| f.name == sys.name) {
            Some(f) => {
                if f.kind.type_name() != sys.kind.type_name() {
                    return Err(Error::field(
                        "fields",
                        "validation_system_field_type",
                        format!(
                            "The system field {} must be of type {}.",
                            sys.name,
                            sys.kind.type_name()
                        ),
                    ));
                }
                if f.id.is_empty() {
                    f.id = sys.id.clone();
                }
                f.system = true;
                if f.name == "id" {
                    f.required = true;
                    if let FieldKind::Text(o) = &mut f.kind {
                        o.primary_key = true;
                    }
                }
                if sys.hidden {
                    f.hidden = true;
                }
            }
            None => missing.push(sys),
        }
    }
    if let Some(pos) = out.iter().position(|f| f.name == "id") {
        let id = out.remove(pos);
        out.insert(0, id);
    } else if let Some(pos) = missing.iter().position(|f| f.name == "id") {
        let id = missing.remove(pos);
        out.insert(0, id);
    }
    if add_timestamps {
        for t in Collection::timestamp_fields() {
            if !out.iter().any(|f| f.name == t.name) {
                out.push(t);
            }
        }
    }
    out.extend(missing);
    for f in &mut out {
        if f.id.is_empty() {
            f.id = new_field_id(f);
        }
        // An autodate field is set by the server: `required` means nothing (PocketBase has none).
        if matches!(f.kind, FieldKind::Autodate(_)) {
            f.required = false;
        }
    }
    Ok(out)
}

/// A view collection's own rules (PocketBase's): no create, update or delete rule (its
/// records cannot be written), no indexes.
pub(crate) fn check_view_options(c: &Collection) -> Result<()> {
    let mut errs = FieldErrors::new();
    for (name, rule) in [
        ("createRule", &c.create_rule),
        ("updateRule", &c.update_rule),
        ("deleteRule", &c.delete_rule),
    ] {
        if rule.is_some() {
            errs.insert(name.into(), err("validation_nil", "Must be blank."));
        }
    }
    if !c.indexes.is_empty() {
        errs.insert(
            "indexes".into(),
            err(
                "validation_indexes_not_supported",
                "View collections don't support indexes.",
            ),
        );
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(Error::fields(errs))
    }
}

/// Validates `c` (being created when `old` is `None`) against the schema; normalises relation
/// targets to ids and index statements to their canonical form.
pub(crate) fn validate(
    schema: &Schema,
    old: Option<&Collection>,
    c: &mut Collection,
    d: &'static dyn Dialect,
) -> Result<()> {
    static NAME: OnceLock<Regex> = OnceLock::new();
    static FIELD: OnceLock<Regex> = OnceLock::new();
    let mut errs = FieldErrors::new();
    // The auth collection's own unique indexes, shown in `indexes` like PocketBase's, come
    // back in a collection sent back whole: Keel creates them itself, so they are not kept.
    let keep: Vec<String> = c
        .indexes
        .iter()
        .filter(|i| !ddl::is_system_index(i, c))
        .cloned()
        .collect();
    c.indexes = keep;

    if !name_fits(&c.name) || !re(&NAME, r"^[A-Za-z0-9_]+$").is_match(&c.name) {
        errs.insert(
            "name".into(),
            err(
                "validation_match_invalid",
                "Invalid collection name: use 1-100 letters, digits or _.",
            ),
        );
    } else if c.name.starts_with('_') && !c.system {
        errs.insert(
            "name".into(),
            err(
                "validation_invalid_name",
                "Collection names starting with _ are reserved.",
            ),
        );
    } else if ["sqlite_", "keel_"]
        .iter()
        .any(|p| c.name.len() >= p.len() && c.name[..p.len()].eq_ignore_ascii_case(p))
    {
        // SQLite's own tables (`sqlite_master`, …) and Keel's (`keel_jobs`, …).
        errs.insert(
            "name".into(),
            err(
                "validation_invalid_name",
                "Collection names starting with sqlite_ or keel_ are reserved for the database and Keel's own tables.",
            ),
        );
    } else if let Some(other) = schema.get(&c.name) {
        if other.id != c.id {
            errs.insert(
                "name".into(),
                err(
                    "validation_collection_name_exists",
                    "Collection name must be unique (case insensitive).",
                ),
            );
        }
    }
    if let Some(old) = old {
        if old.system && old.name != c.name {
            errs.insert(
                "name".into(),
                err(
                    "validation_system_collection_name_change",
                    "System collections cannot be renamed.",
                ),
            );
        }
    }

    let mut names: Vec<String> = Vec::new();
    let mut ids: Vec<&str> = Vec::new();
    let is_view = c.is_view();
    for (i, f) in c.fields.iter_mut().enumerate() {
        let key = |k: &str| format!("fields.{i}.{k}");
        if !name_fits(&f.name) || !re(&FIELD, r"^\w+$").is_match(&f.name) {
            errs.insert(
                key("name"),
                err(
                    "validation_invalid_name",
                    "Invalid field name: use 1-100 letters, digits or _.",
                ),
            );
        } else if RESERVED.contains(&f.name.as_str()) {
            errs.insert(
                key("name"),
                err("validation_reserved_field_name", "The name is reserved."),
            );
        } else if names.iter().any(|n| n.eq_ignore_ascii_case(&f.name)) {
            errs.insert(
                key("name"),
                err("validation_duplicated_field_name", "Duplicated field name."),
            );
        }
        names.push(f.name.clone());
        if f.is_encrypted() && (f.system || f.name == "id" || matches!(&f.kind, FieldKind::Text(o) if o.primary_key)) {
            errs.insert(
                key("encrypted"),
                err(
                    "validation_encrypted_system_field",
                    "System and primary key fields cannot be encrypted: set encrypted on a field of your own.",
                ),
            );
        }
        if let Some(old_f) = old.and_then(|o| o.fields.iter().find(|x| x.id == f.id)) {
            if old_f.is_encrypted() != f.is_encrypted() {
                errs.insert(
                    key("encrypted"),
                    err(
                        "validation_encrypted_change",
                        "An existing field cannot be switched to or from encrypted: add a new field with the wanted option and copy the values over.",
                    ),
                );
            }
            if old_f.kind.type_name() != f.kind.type_name() {
                errs.insert(
                    key("type"),
                    err(
                        "validation_field_type_change",
                        "The type of an existing field cannot be changed.",
                    ),
                );
            }
        }
        match &mut f.kind {
            FieldKind::Select(o) if o.values.is_empty() => {
                errs.insert(key("values"), err("validation_required", "Cannot be blank."));
            }
            FieldKind::Relation(o) => {
                let target = if o.collection_id == c.id || o.collection_id.eq_ignore_ascii_case(&c.name) {
                    Some(c.id.clone())
                } else {
                    schema.get(&o.collection_id).map(|t| t.id.clone())
                };
                let target_is_view = schema.get(&o.collection_id).is_some_and(|t| t.is_view());
                match target {
                    Some(_) if target_is_view && !is_view => {
                        errs.insert(
                            key("collectionId"),
                            err(
                                "validation_relation_field_non_view_base_collection",
                                "Only view collections are allowed to have relations to other views.",
                            ),
                        );
                    }
                    Some(id) if !o.collection_id.is_empty() => o.collection_id = id,
                    _ => {
                        errs.insert(
                            key("collectionId"),
                            err("validation_missing_collection", "The related collection doesn't exist."),
                        );
                    }
                }
            }
            FieldKind::Text(TextOptions { pattern, .. }) if !pattern.is_empty() && Regex::new(pattern).is_err() => {
                errs.insert(
                    key("pattern"),
                    err("validation_invalid_regex", "Invalid regular expression."),
                );
            }
            _ => {}
        }
    }
    for f in &c.fields {
        if ids.contains(&f.id.as_str()) {
            errs.insert(
                "fields".into(),
                err("validation_duplicated_field_id", "Duplicated field id."),
            );
        }
        ids.push(&f.id);
    }

    let old_name = old.map(|o| o.name.as_str()).unwrap_or(&c.name).to_string();
    let fields: Vec<String> = c.fields.iter().map(|f| f.name.clone()).collect();
    for (i, idx) in c.indexes.iter_mut().enumerate() {
        let ok = ddl::parse_index(idx).filter(|def| {
            (def.table.eq_ignore_ascii_case(&c.name) || def.table.eq_ignore_ascii_case(&old_name))
                && ddl::index_columns(def)
                    .iter()
                    .all(|col| fields.contains(col) || def.rest.contains(&format!("{col}(")))
        });
        match ok {
            Some(def) if ddl::is_partial(&def) && !d.partial_indexes() => {
                errs.insert(
                    format!("indexes.{i}"),
                    err(
                        "validation_partial_index_unsupported",
                        &format!(
                            "Partial indexes (CREATE INDEX … WHERE …) are not supported on {}: remove the WHERE clause.",
                            d.name()
                        ),
                    ),
                );
            }
            Some(def) if def.unique && encrypted_column(&def, &c.fields).is_some() => {
                let name = encrypted_column(&def, &c.fields).unwrap_or_default();
                errs.insert(
                    format!("indexes.{i}"),
                    err(
                        "validation_encrypted_unique_index",
                        &format!(
                            "The field {name:?} is encrypted (each value is sealed differently), so a unique index over it cannot work: remove it from the index."
                        ),
                    ),
                );
            }
            Some(def) => *idx = ddl::index_sql(&def, &c.name, d),
            None => {
                errs.insert(
                    format!("indexes.{i}"),
                    err("validation_invalid_index_expression", "Invalid index expression."),
                );
            }
        }
    }

    if let Some(auth) = &c.auth {
        check_oauth2_providers(&auth.oauth2, &mut errs);
    }
    super::search_check::check(c, &mut errs);
    if errs.is_empty() {
        check_rules(schema, c, d, &mut errs);
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(Error::fields(errs))
    }
}

/// The first encrypted field among the columns of an index, if any.
fn encrypted_column(def: &ddl::IndexDef, fields: &[crate::schema::Field]) -> Option<String> {
    ddl::index_columns(def)
        .into_iter()
        .find(|col| fields.iter().any(|f| &f.name == col && f.is_encrypted()))
}

/// Each `oauth2.providers[i].name` must be one of [`OAUTH2_PROVIDERS`]: an unknown one would
/// be stored and then silently left out of every sign-in.
fn check_oauth2_providers(oauth2: &Value, errs: &mut FieldErrors) {
    let Some(providers) = oauth2.get("providers").and_then(Value::as_array) else {
        return;
    };
    for (i, p) in providers.iter().enumerate() {
        let name = p.get("name").and_then(Value::as_str).map(str::trim).unwrap_or("");
        if !OAUTH2_PROVIDERS.contains(&name) {
            errs.insert(
                format!("oauth2.providers.{i}.name"),
                err(
                    "validation_missing_provider",
                    &format!("Unknown OAuth2 provider; allowed: {}.", OAUTH2_PROVIDERS.join(", ")),
                ),
            );
        }
    }
}

/// Compiles every rule once (with a guest request) to catch unknown fields and bad syntax.
fn check_rules(schema: &Schema, c: &Collection, d: &'static dyn Dialect, errs: &mut FieldErrors) {
    let overlay = Overlay {
        base: schema,
        extra: Arc::new(c.clone()),
    };
    let req = RequestInfo::default();
    let ctx = CompileCtx {
        collection: c,
        alias: "t",
        schema: &overlay,
        request: &req,
        now: chrono::Utc::now(),
        origin: filter::Origin::Rule,
    };
    let mut rules: Vec<(&str, &Option<String>)> = vec![
        ("listRule", &c.list_rule),
        ("viewRule", &c.view_rule),
        ("createRule", &c.create_rule),
        ("updateRule", &c.update_rule),
        ("deleteRule", &c.delete_rule),
    ];
    if let Some(a) = &c.auth {
        rules.push(("authRule", &a.auth_rule));
        rules.push(("manageRule", &a.manage_rule));
    }
    for (name, rule) in rules {
        let Some(src) = rule.as_deref().filter(|r| !r.trim().is_empty()) else {
            continue;
        };
        let mut buf = SqlBuf::new(d);
        if let Err(e) = filter::compile_expr(src, name, &ctx, &mut buf) {
            let message = match e {
                Error::BadRequest { fields, message } => {
                    fields.into_values().next().map(|f| f.message).unwrap_or(message)
                }
                other => other.to_string(),
            };
            errs.insert(name.to_string(), FieldError::new("validation_invalid_rule", message));
        }
    }
}
