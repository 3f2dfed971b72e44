//! API diff: two OpenAPI 3.x documents (`serde_json::Value`) in, [`Finding`]s out, in
//! oasdiff's vocabulary (`endpoint-removed`, `new-required-request-parameter`,
//! `request-property-became-required`, `response-property-removed`, …) and semver levels.
//! Split by what it compares: paths and operations (paths.rs), parameters (params.rs),
//! request bodies and responses (bodies.rs), schemas in a direction (schema.rs), security
//! requirements (security.rs); local `$ref`s are followed by resolve.rs.
//!
//! Direction matters: a request accepting less breaks callers (an enum value removed, a
//! shorter `maxLength`), a response giving more breaks readers (an enum value added, a
//! property that may be missing or `null`). Paths are compared with their parameter names
//! blanked (`/pets/{id}` = `/pets/{petId}`). Not compared: `not`, discriminators,
//! `additionalProperties`, headers, links and callbacks, examples and descriptions.

mod bodies;
mod params;
mod paths;
mod resolve;
mod schema;
mod security;

#[cfg(test)]
mod tests;

use keel_core::Error;
use serde_json::Value;

use super::finding::{Finding, Level};

/// 400 naming `field` unless `doc` is an OpenAPI 3.x document (an object with `openapi:
/// "3.…"` and, if present, `paths` an object).
pub fn check_document(field: &str, doc: &Value) -> Result<(), Error> {
    let bad = |msg: &str| Err(Error::field(field, "validation_invalid_openapi", msg));
    let Some(obj) = doc.as_object() else {
        return bad("Send an OpenAPI 3.x document as a JSON object.");
    };
    match obj.get("openapi").and_then(Value::as_str) {
        Some(v) if v.starts_with("3.") => {}
        Some(_) => return bad("Only OpenAPI 3.x documents are compared (`openapi` must start with 3.)."),
        None => {
            return bad("This is not an OpenAPI 3.x document: `openapi` is missing (Swagger 2.0 is not supported).")
        }
    }
    if obj.get("paths").is_some_and(|p| !p.is_object()) {
        return bad("`paths` must be an object.");
    }
    Ok(())
}

/// What changes from `old` to `new` (both checked by [`check_document`]).
pub fn diff(old: &Value, new: &Value) -> Vec<Finding> {
    diff_within(old, new, SCHEMA_BUDGET)
}

/// [`diff`] comparing at most `budget` schema pairs.
fn diff_within(old: &Value, new: &Value, budget: usize) -> Vec<Finding> {
    let mut d = Diff {
        old_root: old,
        new_root: new,
        out: Vec::new(),
        budget,
        truncated: false,
    };
    paths::compare(&mut d);
    if d.truncated {
        d.out.push(Finding::new(
            "api-diff-incomplete",
            Level::Major,
            "document",
            "The documents' schemas are larger or nest deeper (32 levels) than Keel compares in \
             one diff; the rest was not compared, so the verdict is breaking to be safe.",
        ));
    }
    d.out
}

/// The two documents and the findings so far.
pub(super) struct Diff<'a> {
    pub old_root: &'a Value,
    pub new_root: &'a Value,
    pub out: Vec<Finding>,
    /// Schema comparisons left ([`SCHEMA_BUDGET`]): a backstop on the time one diff takes.
    pub budget: usize,
    /// Whether some schema was left uncompared (the budget, or nesting deeper than 32).
    pub truncated: bool,
}

/// How many schema pairs one diff compares at most.
pub(super) const SCHEMA_BUDGET: usize = 200_000;

impl Diff<'_> {
    /// A finding about `subject` (`GET /pets`): `"{subject}: {what}"`.
    pub fn push(&mut self, code: &str, level: Level, subject: &str, what: String) {
        self.out
            .push(Finding::new(code, level, subject, format!("{subject}: {what}")));
    }
}
