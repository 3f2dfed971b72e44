//! The OpenAPI 3.1 document of one collection's records API, built from its definition, so a
//! collection change can be rated as an API change too (`api_diff` on the documents before and
//! after) and a client team can read what it calls (`GET /api/collections/{c}/openapi.json`).
//!
//! What it describes, with PocketBase's paths under `/api/collections/{name}/`:
//!
//! - `records` GET (list: `page`, `perPage`, `sort`, `filter`, `expand`, `fields`,
//!   `skipTotal`) and POST (create); `records/{id}` GET, PATCH and DELETE. A view collection
//!   has the reads only;
//! - an auth collection's sign-in and account paths as far as its options enable them:
//!   `auth-with-password` (password auth on), `auth-with-otp` and `request-otp` (OTP on),
//!   `auth-with-oauth2` (OAuth2 on), `auth-with-ldap` (LDAP on), `auth-refresh`,
//!   `auth-methods`, the verification, password-reset and email-change requests;
//! - schemas from the fields: `Record` (what readers get: every field that is not hidden,
//!   plus `collectionId`, `collectionName`, and `expand`), `RecordCreate` (what a create
//!   accepts, `required` = the required fields that are not generated) and `RecordUpdate`
//!   (the same, nothing required). Field options become constraints (`maxLength`, `pattern`,
//!   `minimum`, `enum`, `maxItems`, …);
//! - security from the rules: a `null` rule (superusers only) needs a token, any other rule
//!   lets anonymous callers try (the rule decides per record).
//!
//! Not described: file uploads as multipart bodies (files are strings, their names), the
//! realtime subscription, batch, and the rules' conditions themselves.

use keel_core::Error;
use keel_data::schema::{CollectionType, FieldKind};
use keel_data::{Collection, Field};
use serde_json::{json, Map, Value};

use crate::authz::{authorize, Permission};
use crate::caller::Caller;
use crate::App;

/// The document of the collection `id_or_name`, for `GET /api/collections/{c}/openapi.json`:
/// superusers, and holders of `collections:read` or `changes:read` (who read collection
/// definitions anyway); a system collection's for superusers only (404 for others, as if it
/// did not exist).
pub fn for_caller(app: &App, caller: &Caller, id_or_name: &str) -> Result<Value, Error> {
    if let Err(e) = authorize(caller, Permission::CollectionsRead) {
        if authorize(caller, Permission::ChangesRead).is_err() {
            return Err(match e {
                Error::Forbidden(_) => Error::Forbidden(
                    "Reading a collection's OpenAPI document needs collections:read or changes:read.".into(),
                ),
                other => other,
            });
        }
    }
    let c = app.store.collection(id_or_name)?;
    if !caller.is_superuser() && keel_data::request::is_system_name(&c.name) {
        return Err(Error::NotFound(format!("No collection {id_or_name:?}.")));
    }
    Ok(document(Some(&c)))
}

/// The collection's records API as an OpenAPI 3.1 document; `None` (a collection that does
/// not exist, before a create or after a delete) is a document without paths.
pub fn document(c: Option<&Collection>) -> Value {
    let Some(c) = c else {
        return base(Map::new(), Map::new(), "(none)");
    };
    let mut paths = Map::new();
    let root = format!("/api/collections/{}", c.name);
    let tag = c.name.clone();
    let record_ref = json!({"$ref": "#/components/schemas/Record"});
    let id_param = json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}});
    let mut records = Map::new();
    records.insert(
        "get".into(),
        operation(
            &format!("list{}", pascal(&c.name)),
            &tag,
            &c.list_rule,
            list_params(),
            None,
            json!({
                "type": "object",
                "required": ["page", "perPage", "totalItems", "totalPages", "items"],
                "properties": {
                    "page": {"type": "integer"}, "perPage": {"type": "integer"},
                    "totalItems": {"type": "integer"}, "totalPages": {"type": "integer"},
                    "items": {"type": "array", "items": record_ref},
                },
            }),
        ),
    );
    let mut one = Map::new();
    one.insert(
        "get".into(),
        operation(
            &format!("view{}", pascal(&c.name)),
            &tag,
            &c.view_rule,
            vec![id_param.clone(), expand_param(), fields_param()],
            None,
            record_ref.clone(),
        ),
    );
    if c.kind != CollectionType::View {
        records.insert(
            "post".into(),
            operation(
                &format!("create{}", pascal(&c.name)),
                &tag,
                &c.create_rule,
                vec![expand_param(), fields_param()],
                Some("RecordCreate"),
                record_ref.clone(),
            ),
        );
        one.insert(
            "patch".into(),
            operation(
                &format!("update{}", pascal(&c.name)),
                &tag,
                &c.update_rule,
                vec![id_param.clone(), expand_param(), fields_param()],
                Some("RecordUpdate"),
                record_ref.clone(),
            ),
        );
        let mut delete = operation(
            &format!("delete{}", pascal(&c.name)),
            &tag,
            &c.delete_rule,
            vec![id_param],
            None,
            Value::Null,
        );
        delete["responses"] = json!({"204": {"description": "Deleted"}});
        one.insert("delete".into(), delete);
    }
    paths.insert(format!("{root}/records"), Value::Object(records));
    paths.insert(format!("{root}/records/{{id}}"), Value::Object(one));
    if c.kind == CollectionType::Auth {
        auth_paths(c, &root, &tag, &mut paths);
    }
    let mut schemas = Map::new();
    schemas.insert("Record".into(), record_schema(c));
    if c.kind != CollectionType::View {
        schemas.insert("RecordCreate".into(), input_schema(c, true));
        schemas.insert("RecordUpdate".into(), input_schema(c, false));
    }
    if c.kind == CollectionType::Auth {
        schemas.insert(
            "AuthResponse".into(),
            json!({"type": "object", "required": ["token", "record"],
                   "properties": {"token": {"type": "string"}, "record": {"$ref": "#/components/schemas/Record"}}}),
        );
    }
    base(paths, schemas, &c.name)
}

fn base(paths: Map<String, Value>, schemas: Map<String, Value>, name: &str) -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {"title": format!("Records API of collection {name}"), "version": "1"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"authToken": {"type": "apiKey", "in": "header", "name": "Authorization"}},
        },
    })
}

/// `posts_archive` → `PostsArchive`, for operation ids.
fn pascal(name: &str) -> String {
    name.split(|c: char| !c.is_alphanumeric())
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut cs = p.chars();
            cs.next()
                .map(|f| f.to_uppercase().chain(cs).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

/// A `null` rule lets only superusers in (a token needed); any other rule lets anyone try.
fn security(rule: &Option<String>) -> Value {
    match rule {
        None => json!([{"authToken": []}]),
        Some(_) => json!([{}, {"authToken": []}]),
    }
}

fn operation(
    id: &str,
    tag: &str,
    rule: &Option<String>,
    params: Vec<Value>,
    body: Option<&str>,
    response: Value,
) -> Value {
    let mut op = json!({
        "operationId": id,
        "tags": [tag],
        "security": security(rule),
        "parameters": params,
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": response}}}},
    });
    if let Some(name) = body {
        op["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{name}")}}},
        });
    }
    op
}

fn query(name: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "schema": schema})
}

fn expand_param() -> Value {
    query("expand", json!({"type": "string"}))
}

fn fields_param() -> Value {
    query("fields", json!({"type": "string"}))
}

fn list_params() -> Vec<Value> {
    vec![
        query("page", json!({"type": "integer", "minimum": 1})),
        query("perPage", json!({"type": "integer", "minimum": 1})),
        query("sort", json!({"type": "string"})),
        query("filter", json!({"type": "string"})),
        expand_param(),
        fields_param(),
        query("skipTotal", json!({"type": "boolean"})),
    ]
}

/// The JSON schema of a field's value; `input` adds the constraints a write is checked by.
fn field_schema(f: &Field, input: bool) -> Value {
    let many = |max: i64, item: Value| {
        if max > 1 {
            let mut s = json!({"type": "array", "items": item});
            if input {
                s["maxItems"] = json!(max);
            }
            s
        } else {
            item
        }
    };
    match &f.kind {
        FieldKind::Text(o) => {
            let mut s = json!({"type": "string"});
            if input {
                let max = if o.max > 0 {
                    o.max
                } else {
                    keel_data::schema::TEXT_DEFAULT_MAX
                };
                s["maxLength"] = json!(max);
                if o.min > 0 {
                    s["minLength"] = json!(o.min);
                }
                if !o.pattern.is_empty() {
                    s["pattern"] = json!(o.pattern);
                }
            }
            s
        }
        FieldKind::Editor(_) => json!({"type": "string"}),
        FieldKind::Password(o) => {
            let mut s = json!({"type": "string", "writeOnly": true});
            if o.min > 0 {
                s["minLength"] = json!(o.min);
            }
            if o.max > 0 {
                s["maxLength"] = json!(o.max);
            }
            s
        }
        FieldKind::Email(_) => json!({"type": "string", "format": "email"}),
        FieldKind::Url(_) => json!({"type": "string", "format": "uri"}),
        FieldKind::Number(o) => {
            let mut s = json!({"type": if o.only_int { "integer" } else { "number" }});
            if input {
                if let Some(min) = o.min {
                    s["minimum"] = json!(min);
                }
                if let Some(max) = o.max {
                    s["maximum"] = json!(max);
                }
            }
            s
        }
        FieldKind::Bool(_) => json!({"type": "boolean"}),
        FieldKind::Date(_) | FieldKind::Autodate(_) => json!({"type": "string"}),
        FieldKind::Select(o) => {
            let mut values = o.values.clone();
            if !input {
                // Readers also meet the empty value of an unset select.
                values.push(String::new());
            }
            many(o.max_select, json!({"type": "string", "enum": values}))
        }
        FieldKind::Relation(o) => many(o.max_select, json!({"type": "string"})),
        FieldKind::File(o) => many(o.max_select, json!({"type": "string"})),
        FieldKind::Json(_) => json!({}),
    }
}

/// What readers get: every field that is not hidden (an auth record's `email` only when
/// visible), the collection's id and name, and `expand`.
fn record_schema(c: &Collection) -> Value {
    let mut props = Map::new();
    let mut required = vec![json!("collectionId"), json!("collectionName")];
    props.insert("collectionId".into(), json!({"type": "string"}));
    props.insert("collectionName".into(), json!({"type": "string"}));
    for f in c.fields.iter().filter(|f| !f.hidden) {
        props.insert(f.name.clone(), field_schema(f, false));
        let maybe_missing = c.kind == CollectionType::Auth && f.name == "email";
        if !maybe_missing {
            required.push(json!(f.name));
        }
    }
    props.insert("expand".into(), json!({"type": "object"}));
    json!({"type": "object", "required": required, "properties": props})
}

/// What a create (`required`) or an update accepts: every field but the generated ones
/// (autodates, `tokenKey`); an auth collection's `passwordConfirm` beside `password`.
fn input_schema(c: &Collection, create: bool) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    for f in &c.fields {
        if matches!(f.kind, FieldKind::Autodate(_)) || (f.system && f.name == "tokenKey") {
            continue;
        }
        props.insert(f.name.clone(), field_schema(f, true));
        let generated = f.name == "id";
        if create && f.required && !generated {
            required.push(json!(f.name));
        }
        if c.kind == CollectionType::Auth && f.system && f.name == "password" {
            props.insert("passwordConfirm".into(), json!({"type": "string", "writeOnly": true}));
            if create {
                required.push(json!("passwordConfirm"));
            }
        }
    }
    let mut s = json!({"type": "object", "properties": props});
    if !required.is_empty() {
        s["required"] = Value::Array(required);
    }
    s
}

fn enabled(v: &Value) -> bool {
    v.get("enabled").and_then(Value::as_bool).unwrap_or(false)
}

/// An auth path: a POST with a JSON body of string `props` (`required` ones marked).
fn auth_post(id: &str, tag: &str, props: &[(&str, bool)], response: Value, token: bool) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for (name, req) in props {
        properties.insert(name.to_string(), json!({"type": "string"}));
        if *req {
            required.push(json!(name));
        }
    }
    let mut body = json!({"type": "object", "properties": properties});
    if !required.is_empty() {
        body["required"] = Value::Array(required);
    }
    json!({"post": {
        "operationId": id,
        "tags": [tag],
        "security": if token { json!([{"authToken": []}]) } else { json!([{}]) },
        "requestBody": {"required": true, "content": {"application/json": {"schema": body}}},
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": response}}},
                      "204": {"description": "Done"}},
    }})
}

fn auth_paths(c: &Collection, root: &str, tag: &str, paths: &mut Map<String, Value>) {
    let Some(auth) = &c.auth else { return };
    let p = pascal(&c.name);
    let signed_in = json!({"$ref": "#/components/schemas/AuthResponse"});
    let none = json!({"type": "object"});
    let mut add = |path: &str, op: Value| {
        paths.insert(format!("{root}/{path}"), op);
    };
    if auth.password_auth.enabled {
        add(
            "auth-with-password",
            auth_post(
                &format!("authWithPassword{p}"),
                tag,
                &[("identity", true), ("password", true), ("identityField", false)],
                signed_in.clone(),
                false,
            ),
        );
        add(
            "request-password-reset",
            auth_post(
                &format!("requestPasswordReset{p}"),
                tag,
                &[("email", true)],
                none.clone(),
                false,
            ),
        );
        add(
            "confirm-password-reset",
            auth_post(
                &format!("confirmPasswordReset{p}"),
                tag,
                &[("token", true), ("password", true), ("passwordConfirm", true)],
                none.clone(),
                false,
            ),
        );
    }
    if enabled(&auth.otp) {
        add(
            "request-otp",
            auth_post(&format!("requestOtp{p}"), tag, &[("email", true)], none.clone(), false),
        );
        add(
            "auth-with-otp",
            auth_post(
                &format!("authWithOtp{p}"),
                tag,
                &[("otpId", true), ("password", true)],
                signed_in.clone(),
                false,
            ),
        );
    }
    if enabled(&auth.oauth2) {
        add(
            "auth-with-oauth2",
            auth_post(
                &format!("authWithOauth2{p}"),
                tag,
                &[
                    ("provider", true),
                    ("code", true),
                    ("codeVerifier", true),
                    ("redirectURL", true),
                ],
                signed_in.clone(),
                false,
            ),
        );
    }
    if enabled(&auth.ldap) {
        add(
            "auth-with-ldap",
            auth_post(
                &format!("authWithLdap{p}"),
                tag,
                &[("username", true), ("password", true)],
                signed_in.clone(),
                false,
            ),
        );
    }
    add(
        "auth-refresh",
        auth_post(&format!("authRefresh{p}"), tag, &[], signed_in, true),
    );
    add(
        "auth-methods",
        json!({"get": {"operationId": format!("authMethods{p}"), "tags": [tag], "security": [{}],
                        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}}}}),
    );
    add(
        "request-verification",
        auth_post(
            &format!("requestVerification{p}"),
            tag,
            &[("email", true)],
            none.clone(),
            false,
        ),
    );
    add(
        "confirm-verification",
        auth_post(
            &format!("confirmVerification{p}"),
            tag,
            &[("token", true)],
            none.clone(),
            false,
        ),
    );
    add(
        "request-email-change",
        auth_post(
            &format!("requestEmailChange{p}"),
            tag,
            &[("newEmail", true)],
            none.clone(),
            true,
        ),
    );
    add(
        "confirm-email-change",
        auth_post(
            &format!("confirmEmailChange{p}"),
            tag,
            &[("token", true), ("password", true)],
            none,
            false,
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::api_diff;
    use keel_data::schema::TextOptions;

    fn posts() -> Collection {
        let mut c = Collection::blank("posts", CollectionType::Base);
        c.id = "pbc_posts".into();
        c.list_rule = Some(String::new());
        c.fields
            .push(Field::new("title", FieldKind::Text(TextOptions::default())));
        c.fields
            .push(Field::new("body", FieldKind::Text(TextOptions::default())));
        c
    }

    fn codes(before: &Collection, after: &Collection) -> Vec<String> {
        let (old, new) = (document(Some(before)), document(Some(after)));
        api_diff::check_document("old", &old).unwrap();
        api_diff::diff(&old, &new).into_iter().map(|f| f.code).collect()
    }

    #[test]
    fn a_removed_field_is_a_removed_response_property() {
        let before = posts();
        let mut after = before.clone();
        after.fields.retain(|f| f.name != "body");
        let c = codes(&before, &after);
        assert!(c.contains(&"response-property-removed".to_string()), "{c:?}");
        assert!(c.contains(&"request-property-removed".to_string()), "{c:?}");
    }

    #[test]
    fn a_required_field_becomes_required_in_requests() {
        let before = posts();
        let mut after = before.clone();
        for f in after.fields.iter_mut().filter(|f| f.name == "title") {
            f.required = true;
        }
        let c = codes(&before, &after);
        assert!(c.contains(&"request-property-became-required".to_string()), "{c:?}");
    }

    #[test]
    fn an_optional_field_is_minor_and_a_rename_moves_every_path() {
        let before = posts();
        let mut after = before.clone();
        after
            .fields
            .push(Field::new("summary", FieldKind::Text(TextOptions::default())));
        let (old, new) = (document(Some(&before)), document(Some(&after)));
        let f = api_diff::diff(&old, &new);
        assert!(!f.is_empty());
        assert_eq!(crate::changes::verdict(&f), Some(crate::changes::Level::Minor), "{f:?}");

        let mut renamed = before.clone();
        renamed.name = "articles".into();
        let c = codes(&before, &renamed);
        assert!(c.contains(&"endpoint-removed".to_string()), "{c:?}");
        assert!(c.contains(&"endpoint-added".to_string()), "{c:?}");
    }

    #[test]
    fn a_closed_list_rule_needs_a_token_and_views_have_reads_only() {
        let before = posts();
        let mut after = before.clone();
        after.list_rule = None;
        assert!(codes(&before, &after).contains(&"api-security-added".to_string()));

        let mut view = Collection::blank("stats", CollectionType::View);
        view.view_query = Some("SELECT id FROM posts".into());
        let doc = document(Some(&view));
        let ops = doc["paths"]["/api/collections/stats/records"].as_object().unwrap();
        assert_eq!(ops.keys().collect::<Vec<_>>(), vec!["get"]);
    }

    #[test]
    fn auth_collections_describe_their_sign_in() {
        let users = Collection::default_users();
        let doc = document(Some(&users));
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.contains_key("/api/collections/users/auth-with-password"));
        assert!(!paths.contains_key("/api/collections/users/auth-with-otp"));
        let record = &doc["components"]["schemas"]["Record"]["properties"];
        assert!(record.get("password").is_none() && record.get("tokenKey").is_none());
        let create = &doc["components"]["schemas"]["RecordCreate"];
        assert!(create["required"]
            .as_array()
            .unwrap()
            .contains(&json!("passwordConfirm")));
        assert!(create["properties"].get("tokenKey").is_none());
    }
}
