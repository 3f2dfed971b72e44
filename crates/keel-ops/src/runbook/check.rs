//! Whether a runbook makes sense, with every problem named by its path (`steps[2].needs`,
//! `parameters.properties.svc`) in one 400: step ids unique and usable in templates, known
//! types with their required keys and no unknown ones, targets exactly where a step runs on
//! targets, `needs` naming other steps without a cycle, templates that compile, and a
//! parameter schema that is a JSON Schema object whose names do not shadow the template's
//! own variables.

use std::collections::{BTreeMap, HashMap};

use keel_core::error::{FieldError, FieldErrors};
use keel_core::{Error, Result};
use serde_json::Value;

use super::model::{Runbook, Step, StepKind};
use super::template;

/// Names a parameter may not take: the template's own variables.
pub const RESERVED: [&str; 7] = ["params", "steps", "target", "run", "item", "secret", "env"];

/// A runbook that passed [`check`]: its steps' types, and an order that honours `needs`.
#[derive(Debug, Clone)]
pub struct Checked {
    pub runbook: Runbook,
    pub kinds: Vec<StepKind>,
    /// Step indexes, each after every step it needs.
    pub order: Vec<usize>,
}

/// Reads a runbook from JSON, or YAML when it does not start with `{`.
pub fn parse(text: &str) -> Result<Runbook> {
    let trimmed = text.trim_start();
    let parsed = if trimmed.starts_with('{') {
        serde_json::from_str::<Runbook>(trimmed).map_err(|e| e.to_string())
    } else {
        serde_norway::from_str::<Runbook>(text).map_err(|e| e.to_string())
    };
    parsed.map_err(|e| Error::field("runbook", "validation_invalid_runbook", format!("Not a runbook: {e}")))
}

/// Checks `runbook` (see the module docs).
pub fn check(runbook: Runbook) -> Result<Checked> {
    let mut errors = FieldErrors::new();
    let mut put = |path: String, code: &str, message: String| {
        errors.entry(path).or_insert_with(|| FieldError::new(code, message));
    };
    if runbook.name.trim().is_empty() {
        put("name".into(), "validation_required", "A runbook needs a name.".into());
    }
    check_parameters(&runbook.parameters, &mut put);
    if runbook.steps.is_empty() {
        put(
            "steps".into(),
            "validation_required",
            "A runbook needs at least one step.".into(),
        );
    }
    let mut ids: HashMap<&str, usize> = HashMap::new();
    for (i, step) in runbook.steps.iter().enumerate() {
        let id = step.id.as_str();
        if !is_identifier(id) {
            put(
                format!("steps[{i}].id"),
                "validation_invalid_id",
                "A step id is letters, digits and `_`, not starting with a digit (it is used as `steps.<id>` in templates).".into(),
            );
        } else if ids.insert(id, i).is_some() {
            put(
                format!("steps[{i}].id"),
                "validation_not_unique",
                format!("Another step is {id:?}."),
            );
        }
    }
    let mut kinds = Vec::new();
    for (i, step) in runbook.steps.iter().enumerate() {
        for need in &step.needs {
            if need == &step.id {
                put(
                    format!("steps[{i}].needs"),
                    "validation_invalid_needs",
                    "A step cannot need itself.".into(),
                );
            } else if !ids.contains_key(need.as_str()) {
                put(
                    format!("steps[{i}].needs"),
                    "validation_invalid_needs",
                    format!("No step is {need:?}."),
                );
            }
        }
        let Some(kind) = StepKind::parse(&step.kind) else {
            let known: Vec<&str> = StepKind::ALL.iter().map(|k| k.as_str()).collect();
            put(
                format!("steps[{i}].type"),
                "validation_invalid_type",
                format!("Unknown step type {:?}: use one of {}.", step.kind, known.join(", ")),
            );
            kinds.push(StepKind::Approval);
            continue;
        };
        kinds.push(kind);
        check_step(i, step, kind, &mut put);
    }
    let order = match order(&runbook.steps, &ids) {
        Ok(order) => order,
        Err(cycle) => {
            put(
                "steps".into(),
                "validation_cycle",
                format!("These steps need each other in a cycle: {}.", cycle.join(", ")),
            );
            Vec::new()
        }
    };
    if !errors.is_empty() {
        return Err(Error::fields(errors));
    }
    Ok(Checked { runbook, kinds, order })
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_parameters(schema: &Value, put: &mut impl FnMut(String, &str, String)) {
    let Some(obj) = schema.as_object() else {
        put(
            "parameters".into(),
            "validation_invalid_schema",
            "parameters must be a JSON Schema object ({\"type\": \"object\", \"properties\": {…}}).".into(),
        );
        return;
    };
    if obj.get("type").is_some_and(|t| t != "object") {
        put(
            "parameters.type".into(),
            "validation_invalid_schema",
            "The parameters' schema describes an object: its type is \"object\".".into(),
        );
    }
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        for name in props.keys() {
            if RESERVED.contains(&name.as_str()) {
                put(
                    format!("parameters.properties.{name}"),
                    "validation_reserved_name",
                    format!("{name:?} is a template variable of its own; name the parameter otherwise."),
                );
            } else if !is_identifier(name) {
                put(
                    format!("parameters.properties.{name}"),
                    "validation_invalid_name",
                    "A parameter name is letters, digits and `_`, not starting with a digit.".into(),
                );
            }
        }
    }
    if let Err(e) = super::params::compile(schema) {
        put("parameters".into(), "validation_invalid_schema", e);
    }
}

fn check_step(i: usize, step: &Step, kind: StepKind, put: &mut impl FnMut(String, &str, String)) {
    let at = |key: &str| format!("steps[{i}].{key}");
    if kind.on_targets() && !step.has_targets() {
        put(
            at("target"),
            "validation_required",
            format!(
                "A {} step runs on targets: give `target` (a name) or `targets` (names or tags).",
                kind.as_str()
            ),
        );
    }
    if !kind.on_targets() && step.has_targets() {
        put(
            at("target"),
            "validation_invalid_target",
            format!("A {} step does not run on targets.", kind.as_str()),
        );
    }
    if step.target.is_some() && step.targets.is_some() {
        put(
            at("targets"),
            "validation_invalid_target",
            "Give `target` or `targets`, not both.".into(),
        );
    }
    let (required, optional) = kind.keys();
    for key in required {
        if step
            .with
            .get(*key)
            .is_none_or(|v| v.is_null() || v.as_str() == Some(""))
        {
            put(
                at(key),
                "validation_required",
                format!("A {} step needs `{key}`.", kind.as_str()),
            );
        }
    }
    for key in step.with.keys() {
        if !required.contains(&key.as_str()) && !optional.contains(&key.as_str()) {
            let mut all: Vec<&str> = required.iter().chain(optional.iter()).copied().collect();
            all.sort_unstable();
            put(
                at(key),
                "validation_unknown_key",
                format!(
                    "A {} step has no `{key}`; its keys are {}.",
                    kind.as_str(),
                    all.join(", ")
                ),
            );
        }
    }
    if let Some(direction) = step.with.get("direction") {
        if !matches!(direction.as_str(), Some("upload" | "download")) {
            put(
                at("direction"),
                "validation_invalid_value",
                "direction is \"upload\" or \"download\".".into(),
            );
        }
    }
    if let Some(on_timeout) = step.with.get("onTimeout") {
        if !matches!(on_timeout.as_str(), Some("reject" | "approve")) {
            put(
                at("onTimeout"),
                "validation_invalid_value",
                "onTimeout is \"reject\" or \"approve\".".into(),
            );
        }
    }
    if let Some(quorum) = step.with.get("quorum") {
        if !quorum.as_u64().is_some_and(|q| (1..=100).contains(&q)) {
            put(
                at("quorum"),
                "validation_invalid_value",
                "quorum is a whole number from 1 to 100.".into(),
            );
        }
    }
    if step.parallelism == Some(0) {
        put(
            at("parallelism"),
            "validation_invalid_value",
            "parallelism is at least 1.".into(),
        );
    }
    if let Some(when) = &step.when {
        if let Err(e) = template::check_expression(when) {
            put(at("when"), "validation_invalid_template", e);
        }
    }
    for (key, value) in &step.with {
        if let Err(e) = template::check_value(value) {
            put(at(key), "validation_invalid_template", e);
        }
    }
    for (name, source) in &step.outputs {
        if !is_identifier(name) {
            put(
                at(&format!("outputs.{name}")),
                "validation_invalid_name",
                "An output name is letters, digits and `_`.".into(),
            );
        } else if let Err(e) = template::check(source) {
            put(at(&format!("outputs.{name}")), "validation_invalid_template", e);
        }
    }
}

/// Step indexes in an order where each comes after what it needs (stable: declaration order
/// among independent steps), or the ids of the steps caught in a cycle.
fn order(steps: &[Step], ids: &HashMap<&str, usize>) -> std::result::Result<Vec<usize>, Vec<String>> {
    let mut waiting: BTreeMap<usize, usize> = BTreeMap::new();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); steps.len()];
    for (i, step) in steps.iter().enumerate() {
        let needs: Vec<usize> = step
            .needs
            .iter()
            .filter_map(|n| ids.get(n.as_str()).copied())
            .filter(|&j| j != i)
            .collect();
        waiting.insert(i, needs.len());
        for j in needs {
            dependents[j].push(i);
        }
    }
    let mut out = Vec::with_capacity(steps.len());
    while let Some(next) = waiting.iter().find(|(_, n)| **n == 0).map(|(i, _)| *i) {
        waiting.remove(&next);
        out.push(next);
        for &d in &dependents[next] {
            if let Some(n) = waiting.get_mut(&d) {
                *n = n.saturating_sub(1);
            }
        }
    }
    if waiting.is_empty() {
        Ok(out)
    } else {
        Err(waiting.keys().map(|&i| steps[i].id.clone()).collect())
    }
}
