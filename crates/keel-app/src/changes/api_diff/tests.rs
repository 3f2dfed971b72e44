//! One test per check: a small pair of documents and the code and level expected.

use serde_json::{json, Value};

use super::{check_document, diff, diff_within};
use crate::changes::finding::Level::{self, Major, Minor, Patch};

fn doc(paths: Value) -> Value {
    json!({"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": paths,
           "components": {"schemas": {
               "Pet": {"type": "object", "required": ["id", "name"], "properties": {
                   "id": {"type": "integer"}, "name": {"type": "string", "maxLength": 50},
                   "status": {"type": "string", "enum": ["available", "sold"]},
                   "owner": {"$ref": "#/components/schemas/Owner"}}},
               "Owner": {"type": "object", "properties": {"name": {"type": "string"},
                   "pets": {"type": "array", "items": {"$ref": "#/components/schemas/Pet"}}}}}}})
}

/// GET /pets/{id} with a query parameter, POST /pets with a body, both answering a Pet.
fn base_paths() -> Value {
    json!({
        "/pets": {
            "post": {"operationId": "createPet",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["name"], "properties": {
                        "name": {"type": "string", "maxLength": 50, "minLength": 1},
                        "age": {"type": "integer", "minimum": 0, "maximum": 30},
                        "kind": {"type": "string", "enum": ["cat", "dog"]},
                        "tag": {"type": "string", "pattern": "^[a-z]+$"},
                        "born": {"type": "string", "format": "date"},
                        "notes": {"type": "string", "nullable": true},
                        "toys": {"type": "array", "maxItems": 10, "items": {"type": "string"}}}}}}},
                "responses": {"201": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}}}},
            "get": {"operationId": "listPets", "security": [{"apiKey": []}],
                "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 100}},
                               {"name": "sort", "in": "query", "schema": {"type": "string", "enum": ["name", "age"]}}],
                "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {
                    "type": "array", "items": {"$ref": "#/components/schemas/Pet"}}}}},
                    "400": {"description": "bad"}}}
        },
        "/pets/{id}": {
            "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
            "get": {"operationId": "getPet",
                "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}},
                              "404": {"description": "missing"}}},
            "delete": {"operationId": "deletePet", "responses": {"204": {"description": "gone"}}}
        }
    })
}

/// Diffs the base against the base changed by `change`; asserts `code` at `level` is found.
fn check(change: impl FnOnce(&mut Value), code: &str, level: Level) {
    let old = doc(base_paths());
    let mut new = old.clone();
    change(&mut new);
    let found = diff(&old, &new);
    assert!(
        found.iter().any(|f| f.code == code && f.level == level),
        "expected {code} ({level}), got {:#?}",
        found.iter().map(|f| (&f.code, f.level, &f.message)).collect::<Vec<_>>()
    );
}

fn post_props(d: &mut Value) -> &mut Value {
    &mut d["paths"]["/pets"]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]
}

fn post_schema(d: &mut Value) -> &mut Value {
    &mut d["paths"]["/pets"]["post"]["requestBody"]["content"]["application/json"]["schema"]
}

fn pet(d: &mut Value) -> &mut Value {
    &mut d["components"]["schemas"]["Pet"]
}

#[test]
fn identical_documents_have_no_findings() {
    let d = doc(base_paths());
    assert!(diff(&d, &d).is_empty());
}

#[test]
fn renamed_path_parameter_is_no_change() {
    let old = doc(base_paths());
    let text = serde_json::to_string(&old)
        .unwrap()
        .replace("/pets/{id}", "/pets/{petId}")
        .replace("\"name\":\"id\",\"in\":\"path\"", "\"name\":\"petId\",\"in\":\"path\"");
    let new: Value = serde_json::from_str(&text).unwrap();
    let found = diff(&old, &new);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn endpoint_removed() {
    check(
        |d| {
            d["paths"].as_object_mut().unwrap().remove("/pets/{id}");
        },
        "endpoint-removed",
        Major,
    );
}

#[test]
fn endpoint_added() {
    check(
        |d| d["paths"]["/owners"] = json!({"get": {"responses": {"200": {"description": "ok"}}}}),
        "endpoint-added",
        Minor,
    );
}

#[test]
fn operation_removed() {
    check(
        |d| {
            d["paths"]["/pets/{id}"].as_object_mut().unwrap().remove("delete");
        },
        "operation-removed",
        Major,
    );
}

#[test]
fn operation_added() {
    check(
        |d| d["paths"]["/pets/{id}"]["put"] = json!({"responses": {"200": {"description": "ok"}}}),
        "operation-added",
        Minor,
    );
}

#[test]
fn operation_id_changed() {
    check(
        |d| d["paths"]["/pets"]["get"]["operationId"] = json!("findPets"),
        "api-operation-id-changed",
        Minor,
    );
}

#[test]
fn operation_deprecated() {
    check(
        |d| d["paths"]["/pets"]["get"]["deprecated"] = json!(true),
        "api-deprecated",
        Patch,
    );
}

#[test]
fn new_required_request_parameter() {
    check(
        |d| {
            d["paths"]["/pets"]["get"]["parameters"]
                .as_array_mut()
                .unwrap()
                .push(json!({"name": "owner", "in": "query", "required": true, "schema": {"type": "string"}}))
        },
        "new-required-request-parameter",
        Major,
    );
}

#[test]
fn new_optional_request_parameter() {
    check(
        |d| {
            d["paths"]["/pets"]["get"]["parameters"]
                .as_array_mut()
                .unwrap()
                .push(json!({"name": "owner", "in": "query", "schema": {"type": "string"}}))
        },
        "new-optional-request-parameter",
        Minor,
    );
}

#[test]
fn request_parameter_removed() {
    check(
        |d| {
            d["paths"]["/pets"]["get"]["parameters"]
                .as_array_mut()
                .unwrap()
                .remove(0);
        },
        "request-parameter-removed",
        Major,
    );
}

#[test]
fn request_parameter_became_required() {
    check(
        |d| d["paths"]["/pets"]["get"]["parameters"][0]["required"] = json!(true),
        "request-parameter-became-required",
        Major,
    );
}

#[test]
fn request_parameter_type_changed() {
    check(
        |d| d["paths"]["/pets"]["get"]["parameters"][0]["schema"]["type"] = json!("string"),
        "request-parameter-type-changed",
        Major,
    );
}

#[test]
fn request_parameter_type_generalized() {
    check(
        |d| d["paths"]["/pets"]["get"]["parameters"][0]["schema"]["type"] = json!("number"),
        "request-parameter-type-generalized",
        Minor,
    );
}

#[test]
fn request_parameter_enum_value_removed() {
    check(
        |d| d["paths"]["/pets"]["get"]["parameters"][1]["schema"]["enum"] = json!(["name"]),
        "request-parameter-enum-value-removed",
        Major,
    );
}

#[test]
fn request_parameter_max_decreased() {
    check(
        |d| d["paths"]["/pets"]["get"]["parameters"][0]["schema"]["maximum"] = json!(50),
        "request-parameter-max-decreased",
        Major,
    );
}

#[test]
fn request_body_became_required() {
    check(
        |d| {
            d["paths"]["/pets"]["post"]["requestBody"]["required"] = json!(false);
        },
        "request-body-became-optional",
        Minor,
    );
    let mut old = doc(base_paths());
    old["paths"]["/pets"]["post"]["requestBody"]["required"] = json!(false);
    let new = doc(base_paths());
    assert!(diff(&old, &new)
        .iter()
        .any(|f| f.code == "request-body-became-required" && f.level == Major));
}

#[test]
fn new_required_request_body() {
    check(
        |d| {
            d["paths"]["/pets/{id}"]["delete"]["requestBody"] =
                json!({"required": true, "content": {"application/json": {"schema": {"type": "object"}}}})
        },
        "new-required-request-body",
        Major,
    );
}

#[test]
fn request_body_media_type_removed() {
    check(
        |d| {
            let c = d["paths"]["/pets"]["post"]["requestBody"]["content"]
                .as_object_mut()
                .unwrap();
            let v = c.remove("application/json").unwrap();
            c.insert("application/xml".into(), v);
        },
        "request-body-media-type-removed",
        Major,
    );
}

#[test]
fn request_property_removed() {
    check(
        |d| {
            post_props(d).as_object_mut().unwrap().remove("tag");
        },
        "request-property-removed",
        Major,
    );
}

#[test]
fn request_property_became_required() {
    check(
        |d| post_schema(d)["required"] = json!(["name", "age"]),
        "request-property-became-required",
        Major,
    );
}

#[test]
fn new_required_request_property() {
    check(
        |d| {
            post_props(d)["color"] = json!({"type": "string"});
            post_schema(d)["required"] = json!(["name", "color"]);
        },
        "new-required-request-property",
        Major,
    );
}

#[test]
fn new_optional_request_property() {
    check(
        |d| post_props(d)["color"] = json!({"type": "string"}),
        "new-optional-request-property",
        Minor,
    );
}

#[test]
fn request_property_type_changed() {
    check(
        |d| post_props(d)["age"]["type"] = json!("string"),
        "request-property-type-changed",
        Major,
    );
}

#[test]
fn request_property_enum_value_removed() {
    check(
        |d| post_props(d)["kind"]["enum"] = json!(["cat"]),
        "request-property-enum-value-removed",
        Major,
    );
}

#[test]
fn request_property_enum_value_added() {
    check(
        |d| post_props(d)["kind"]["enum"] = json!(["cat", "dog", "bird"]),
        "request-property-enum-value-added",
        Minor,
    );
}

#[test]
fn request_property_format_changed() {
    check(
        |d| post_props(d)["born"]["format"] = json!("date-time"),
        "request-property-format-changed",
        Major,
    );
}

#[test]
fn request_property_max_length_decreased() {
    check(
        |d| post_props(d)["name"]["maxLength"] = json!(20),
        "request-property-max-length-decreased",
        Major,
    );
}

#[test]
fn request_property_max_length_increased() {
    check(
        |d| post_props(d)["name"]["maxLength"] = json!(80),
        "request-property-max-length-increased",
        Minor,
    );
}

#[test]
fn request_property_min_length_increased() {
    check(
        |d| post_props(d)["name"]["minLength"] = json!(3),
        "request-property-min-length-increased",
        Major,
    );
}

#[test]
fn request_property_max_decreased() {
    check(
        |d| post_props(d)["age"]["maximum"] = json!(20),
        "request-property-max-decreased",
        Major,
    );
}

#[test]
fn request_property_min_increased() {
    check(
        |d| post_props(d)["age"]["minimum"] = json!(1),
        "request-property-min-increased",
        Major,
    );
}

#[test]
fn request_property_max_items_decreased() {
    check(
        |d| post_props(d)["toys"]["maxItems"] = json!(5),
        "request-property-max-items-decreased",
        Major,
    );
}

#[test]
fn request_property_pattern_changed() {
    check(
        |d| post_props(d)["tag"]["pattern"] = json!("^[a-z]{2,}$"),
        "request-property-pattern-changed",
        Major,
    );
}

#[test]
fn request_property_pattern_removed() {
    check(
        |d| {
            post_props(d)["tag"].as_object_mut().unwrap().remove("pattern");
        },
        "request-property-pattern-removed",
        Minor,
    );
}

#[test]
fn request_property_became_not_nullable() {
    check(
        |d| post_props(d)["notes"]["nullable"] = json!(false),
        "request-property-became-not-nullable",
        Major,
    );
}

#[test]
fn request_property_became_nullable() {
    check(
        |d| post_props(d)["tag"]["nullable"] = json!(true),
        "request-property-became-nullable",
        Minor,
    );
}

#[test]
fn request_nested_array_items_compared() {
    check(
        |d| post_props(d)["toys"]["items"]["type"] = json!("integer"),
        "request-property-type-changed",
        Major,
    );
}

#[test]
fn response_property_removed_through_ref() {
    check(
        |d| {
            pet(d)["properties"].as_object_mut().unwrap().remove("status");
        },
        "response-property-removed",
        Major,
    );
}

#[test]
fn response_property_became_optional() {
    check(
        |d| pet(d)["required"] = json!(["id"]),
        "response-property-became-optional",
        Major,
    );
}

#[test]
fn response_property_added() {
    check(
        |d| pet(d)["properties"]["color"] = json!({"type": "string"}),
        "response-property-added",
        Minor,
    );
}

#[test]
fn response_property_type_changed() {
    check(
        |d| pet(d)["properties"]["id"]["type"] = json!("string"),
        "response-property-type-changed",
        Major,
    );
}

#[test]
fn response_property_enum_value_added_breaks_readers() {
    check(
        |d| pet(d)["properties"]["status"]["enum"] = json!(["available", "sold", "lost"]),
        "response-property-enum-value-added",
        Major,
    );
}

#[test]
fn response_property_enum_value_removed_is_safe() {
    check(
        |d| pet(d)["properties"]["status"]["enum"] = json!(["available"]),
        "response-property-enum-value-removed",
        Patch,
    );
}

#[test]
fn response_property_became_nullable() {
    check(
        |d| pet(d)["properties"]["name"]["nullable"] = json!(true),
        "response-property-became-nullable",
        Major,
    );
}

#[test]
fn response_success_status_removed() {
    check(
        |d| {
            let r = d["paths"]["/pets/{id}"]["delete"]["responses"].as_object_mut().unwrap();
            r.remove("204");
            r.insert("200".into(), json!({"description": "ok"}));
        },
        "response-success-status-removed",
        Major,
    );
}

#[test]
fn response_non_success_status_removed() {
    check(
        |d| {
            d["paths"]["/pets/{id}"]["get"]["responses"]
                .as_object_mut()
                .unwrap()
                .remove("404");
        },
        "response-non-success-status-removed",
        Minor,
    );
}

#[test]
fn response_status_added() {
    check(
        |d| d["paths"]["/pets/{id}"]["get"]["responses"]["410"] = json!({"description": "gone"}),
        "response-status-added",
        Minor,
    );
}

#[test]
fn response_media_type_removed() {
    check(
        |d| {
            let c = d["paths"]["/pets/{id}"]["get"]["responses"]["200"]["content"]
                .as_object_mut()
                .unwrap();
            let v = c.remove("application/json").unwrap();
            c.insert("text/plain".into(), v);
        },
        "response-media-type-removed",
        Major,
    );
}

#[test]
fn security_added() {
    check(
        |d| d["paths"]["/pets/{id}"]["get"]["security"] = json!([{"bearer": []}]),
        "api-security-added",
        Major,
    );
}

#[test]
fn security_removed() {
    check(
        |d| d["paths"]["/pets"]["get"]["security"] = json!([]),
        "api-security-removed",
        Minor,
    );
}

#[test]
fn security_requirement_replaced() {
    check(
        |d| d["paths"]["/pets"]["get"]["security"] = json!([{"bearer": []}]),
        "api-security-requirement-removed",
        Major,
    );
    check(
        |d| d["paths"]["/pets"]["get"]["security"] = json!([{"apiKey": []}, {"bearer": []}]),
        "api-security-requirement-added",
        Minor,
    );
}

#[test]
fn global_security_applies_to_operations_without_their_own() {
    check(|d| d["security"] = json!([{"bearer": []}]), "api-security-added", Major);
}

#[test]
fn all_of_parts_are_merged() {
    let mut old = doc(base_paths());
    old["components"]["schemas"]["Extra"] = json!({"type": "object", "properties": {"color": {"type": "string"}}});
    post_schema(&mut old)
        .as_object_mut()
        .unwrap()
        .insert("allOf".into(), json!([{"$ref": "#/components/schemas/Extra"}]));
    let mut new = old.clone();
    new["components"]["schemas"]["Extra"]["properties"]["color"]["type"] = json!("integer");
    let found = diff(&old, &new);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].code, "request-property-type-changed");
    assert!(found[0].message.contains("`color`"), "{found:#?}");
}

#[test]
fn cyclic_references_end() {
    // Pet → Owner → pets[] → Pet …: a change deep in the cycle is found once per path, and
    // the comparison ends.
    let old = doc(base_paths());
    let mut new = old.clone();
    new["components"]["schemas"]["Owner"]["properties"]["name"]["maxLength"] = json!(10);
    let found = diff(&old, &new);
    assert!(found.iter().all(|f| f.level == Patch), "{found:#?}");
    assert!(found.iter().any(|f| f.code == "response-property-max-length-decreased"));
    let mut self_ref = doc(
        json!({"/n": {"post": {"requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Node"}}}}, "responses": {}}}}),
    );
    self_ref["components"]["schemas"]["Node"] = json!({"type": "object", "properties": {"next": {"$ref": "#/components/schemas/Node"}, "v": {"type": "string"}}});
    let mut changed = self_ref.clone();
    changed["components"]["schemas"]["Node"]["properties"]["v"]["type"] = json!("integer");
    assert!(diff(&self_ref, &changed)
        .iter()
        .any(|f| f.code == "request-property-type-changed"));
    let mut looped = self_ref.clone();
    looped["components"]["schemas"]["A"] = json!({"$ref": "#/components/schemas/B"});
    looped["components"]["schemas"]["B"] = json!({"$ref": "#/components/schemas/A"});
    looped["paths"]["/n"]["post"]["requestBody"]["content"]["application/json"]["schema"] =
        json!({"$ref": "#/components/schemas/A"});
    let _ = diff(&looped, &looped.clone());
}

#[test]
fn documents_are_checked() {
    assert!(check_document("old", &json!({"openapi": "3.1.0", "paths": {}})).is_ok());
    for bad in [
        json!(null),
        json!([]),
        json!({"swagger": "2.0"}),
        json!({"openapi": "2.0"}),
        json!({"openapi": "3.0.0", "paths": []}),
    ] {
        let e = check_document("new", &bad).unwrap_err();
        assert!(
            matches!(e, keel_core::Error::BadRequest { ref fields, .. } if fields.contains_key("new")),
            "{bad}"
        );
    }
}

#[test]
fn shared_references_are_compared_once() {
    // S0 → two uses of S1 → two uses of S2 … : 2^20 paths if expanded at every use (past
    // the budget); compared once each, the change is found once.
    let mut d = doc(
        json!({"/x": {"post": {"requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/S0"}}}}, "responses": {}}}}),
    );
    for i in 0..20 {
        d["components"]["schemas"][format!("S{i}")] = json!({"type": "object", "properties": {
            "a": {"$ref": format!("#/components/schemas/S{}", i + 1)},
            "b": {"$ref": format!("#/components/schemas/S{}", i + 1)}}});
    }
    d["components"]["schemas"]["S20"] = json!({"type": "string"});
    let mut changed = d.clone();
    changed["components"]["schemas"]["S20"] = json!({"type": "integer"});
    let found = diff(&d, &changed);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].code, "request-property-type-changed");
}

#[test]
fn a_diff_past_its_budget_says_so_and_is_breaking() {
    let old = doc(base_paths());
    let mut new = old.clone();
    post_props(&mut new)["color"] = json!({"type": "string"});
    let found = diff_within(&old, &new, 3);
    assert!(
        found
            .iter()
            .any(|f| f.code == "api-diff-incomplete" && f.level == Major),
        "{found:#?}"
    );
    assert!(!diff(&old, &new).iter().any(|f| f.code == "api-diff-incomplete"));
    // Nesting deeper than 32 levels is not compared either, and says so.
    let mut deep = json!({"type": "string"});
    for _ in 0..40 {
        deep = json!({"type": "object", "properties": {"n": deep}});
    }
    let mut a = doc(
        json!({"/d": {"post": {"requestBody": {"content": {"application/json": {"schema": deep}}}, "responses": {}}}}),
    );
    let b = a.clone();
    a["info"]["version"] = json!("2");
    assert!(diff(&a, &b).iter().any(|f| f.code == "api-diff-incomplete"));
}

#[test]
fn one_of_branch_removed_from_a_request() {
    let mut old = doc(base_paths());
    post_props(&mut old)["pet"] =
        json!({"oneOf": [{"$ref": "#/components/schemas/Pet"}, {"$ref": "#/components/schemas/Owner"}]});
    let mut new = old.clone();
    post_props(&mut new)["pet"]["oneOf"].as_array_mut().unwrap().remove(1);
    let found = diff(&old, &new);
    let f = found
        .iter()
        .find(|f| f.code == "request-property-one-of-removed")
        .expect("one-of-removed");
    assert_eq!(f.level, Major);
    assert!(f.message.contains("Owner"), "{}", f.message);
    // The other way round, a new branch is additive for a request.
    assert!(diff(&new, &old)
        .iter()
        .any(|f| f.code == "request-property-one-of-added" && f.level == Minor));
}

#[test]
fn any_of_branch_added_to_a_response_and_branches_compared() {
    let mut old = doc(base_paths());
    pet(&mut old)["properties"]["id"] = json!({"anyOf": [{"type": "integer"}]});
    let mut new = old.clone();
    pet(&mut new)["properties"]["id"]["anyOf"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "string"}));
    assert!(diff(&old, &new)
        .iter()
        .any(|f| f.code == "response-property-any-of-added" && f.level == Major));
    let mut changed = old.clone();
    pet(&mut changed)["properties"]["id"]["anyOf"][0]["type"] = json!("string");
    assert!(
        diff(&old, &changed)
            .iter()
            .any(|f| f.code == "response-property-type-changed"),
        "{:#?}",
        diff(&old, &changed)
    );
}
