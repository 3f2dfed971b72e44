//! A runbook's parameters: a JSON Schema object (`type`, `required`, `default`, `enum`,
//! `pattern`, … as the `jsonschema` crate validates them; remote `$ref`s are never fetched).
//! One extension: a property of `"type": "secret"` takes the name of a vault secret (a
//! non-empty string); the run reads the secret itself by that name.
//!
//! At launch, missing properties take their `default`, then the whole is validated: a 400
//! naming `params.<name>` for each problem.

use keel_core::error::{FieldError, FieldErrors};
use keel_core::{Error, Result};
use serde_json::{Map, Value};

/// The schema as JSON Schema: each `"type": "secret"` property becomes a non-empty string.
fn standard(schema: &Value) -> Value {
    let mut out = schema.clone();
    if let Some(props) = out.get_mut("properties").and_then(Value::as_object_mut) {
        for prop in props.values_mut() {
            if let Some(p) = prop.as_object_mut() {
                if p.get("type").and_then(Value::as_str) == Some("secret") {
                    p.insert("type".into(), Value::from("string"));
                    p.entry("minLength").or_insert(Value::from(1));
                }
            }
        }
    }
    out
}

/// Compiles the schema, or says why it is not one.
pub fn compile(schema: &Value) -> std::result::Result<jsonschema::Validator, String> {
    jsonschema::validator_for(&standard(schema)).map_err(|e| format!("Not a valid JSON Schema: {e}"))
}

/// The names of the parameters of type `secret`.
pub fn secret_names(schema: &Value) -> Vec<String> {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|props| {
            props
                .iter()
                .filter(|(_, p)| p.get("type").and_then(Value::as_str) == Some("secret"))
                .map(|(name, _)| name.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// `given` with the schema's defaults filled in, if it passes the schema; else a 400 naming
/// each failing parameter (`params.<name>`, or `params` for the whole).
pub fn resolve(schema: &Value, given: &Map<String, Value>) -> Result<Map<String, Value>> {
    let validator = compile(schema).map_err(|e| Error::field("parameters", "validation_invalid_schema", e))?;
    let mut params = given.clone();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            if let (false, Some(default)) = (params.contains_key(name), prop.get("default")) {
                params.insert(name.clone(), default.clone());
            }
        }
    }
    let instance = Value::Object(params);
    let mut errors = FieldErrors::new();
    for e in validator.iter_errors(&instance) {
        let field = match e.kind() {
            jsonschema::error::ValidationErrorKind::Required { property } => {
                format!("params.{}", property.as_str().unwrap_or_default())
            }
            _ => {
                let path: Vec<String> = e
                    .instance_path()
                    .as_str()
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .map(|s| s.replace("~1", "/").replace("~0", "~"))
                    .collect();
                if path.is_empty() {
                    "params".to_string()
                } else {
                    format!("params.{}", path.join("."))
                }
            }
        };
        let code = format!("validation_{}", e.kind().keyword().to_ascii_lowercase());
        errors
            .entry(field)
            .or_insert_with(|| FieldError::new(code, e.to_string()));
    }
    if !errors.is_empty() {
        return Err(Error::fields(errors));
    }
    match instance {
        Value::Object(map) => Ok(map),
        _ => Ok(Map::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "svc": {"type": "string", "pattern": "^[a-z-]+$"},
                "mode": {"type": "string", "enum": ["restart", "reload"], "default": "restart"},
                "count": {"type": "integer", "minimum": 1},
                "admin": {"type": "secret"}
            },
            "required": ["svc", "admin"]
        })
    }

    fn fields(e: Error) -> Vec<(String, String)> {
        match e {
            Error::BadRequest { fields, .. } => fields.into_iter().map(|(k, v)| (k, v.code)).collect(),
            other => panic!("not a 400: {other:?}"),
        }
    }

    #[test]
    fn defaults_fill_in_and_a_valid_launch_passes() {
        let given = json!({"svc": "nginx", "admin": "db-admin"})
            .as_object()
            .unwrap()
            .clone();
        let p = resolve(&schema(), &given).unwrap();
        assert_eq!(
            Value::Object(p),
            json!({"svc": "nginx", "admin": "db-admin", "mode": "restart"})
        );
        assert_eq!(secret_names(&schema()), ["admin"]);
    }

    #[test]
    fn each_bad_parameter_is_named() {
        let given = json!({"svc": "Nginx!", "mode": "stop", "count": 0})
            .as_object()
            .unwrap()
            .clone();
        let got = fields(resolve(&schema(), &given).unwrap_err());
        let names: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            ["params.admin", "params.count", "params.mode", "params.svc"],
            "{got:?}"
        );
        assert!(
            got.contains(&("params.admin".into(), "validation_required".into())),
            "{got:?}"
        );
        assert!(
            got.contains(&("params.mode".into(), "validation_enum".into())),
            "{got:?}"
        );
        assert!(
            got.contains(&("params.svc".into(), "validation_pattern".into())),
            "{got:?}"
        );
        let empty_secret = json!({"svc": "a", "admin": ""}).as_object().unwrap().clone();
        let got = fields(resolve(&schema(), &empty_secret).unwrap_err());
        assert_eq!(got, [("params.admin".to_string(), "validation_minlength".to_string())]);
    }

    #[test]
    fn a_schema_that_is_not_one_is_refused() {
        assert!(compile(&json!({"type": "object", "properties": {"a": {"type": "nonsense"}}})).is_err());
        assert!(compile(&json!({"type": "object", "properties": {"a": {"$ref": "http://example.com/x"}}})).is_err());
    }
}
