//! Step templating: minijinja in OpsConductor's `{{ param }}` syntax. A step's strings are
//! rendered with `params` (and each parameter by its own name, so `{{ svc }}` is
//! `{{ params.svc }}`), `steps` (each ended step's `state`, `exitCode`, `stdout`, `stderr`,
//! `outputs`, by step id), `target` (the target the step runs on: `name`, `address`, `port`,
//! `os`, `tags`), `item` (the `forEach` item), `run` (`id`, `runbook`, `version`,
//! `startedBy`) and the function `secret("name")` (the secret's data: `.password`, `.token`…,
//! read from the vault by the run; its values are then redacted from every output).
//!
//! Strict: a variable the context does not have fails the render with a message naming it
//! (`steps.check.stdout is not defined`), never an empty string. Nothing is HTML-escaped.

use std::sync::Arc;

use minijinja::{Environment, Error as JinjaError, ErrorKind, UndefinedBehavior};
use serde_json::{Map, Value};

/// Where `secret("name")` gets a secret's data.
pub trait SecretSource: Send + Sync {
    /// The data of the secret `name` (`{"username": …, "password": …}`), or why not.
    fn secret(&self, name: &str) -> Result<Map<String, Value>, String>;
}

/// No vault: every `secret(…)` fails naming the secret.
pub struct NoSecrets;

impl SecretSource for NoSecrets {
    fn secret(&self, name: &str) -> Result<Map<String, Value>, String> {
        Err(format!("no secret {name:?} is available here"))
    }
}

fn env(secrets: Arc<dyn SecretSource>) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.add_function("secret", move |name: String| -> Result<minijinja::Value, JinjaError> {
        secrets
            .secret(&name)
            .map(|data| minijinja::Value::from_serialize(&data))
            .map_err(|why| JinjaError::new(ErrorKind::InvalidOperation, why))
    });
    env
}

fn describe(e: &JinjaError) -> String {
    let detail = e.detail().map(str::to_string).unwrap_or_else(|| e.kind().to_string());
    match e.line() {
        Some(line) if line > 1 => format!("{detail} (line {line})"),
        _ => detail,
    }
}

/// Whether `source` compiles (syntax only).
pub fn check(source: &str) -> Result<(), String> {
    let env = env(Arc::new(NoSecrets));
    env.template_from_str(source).map(|_| ()).map_err(|e| describe(&e))
}

/// Whether the expression `expr` (a `when:`) compiles.
pub fn check_expression(expr: &str) -> Result<(), String> {
    let env = env(Arc::new(NoSecrets));
    env.compile_expression(expr).map(|_| ()).map_err(|e| describe(&e))
}

/// Whether every string inside `value` compiles.
pub fn check_value(value: &Value) -> Result<(), String> {
    match value {
        Value::String(s) => check(s),
        Value::Array(items) => items.iter().try_for_each(check_value),
        Value::Object(map) => map.values().try_for_each(check_value),
        _ => Ok(()),
    }
}

/// What a step's templates see.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub params: Map<String, Value>,
    pub steps: Map<String, Value>,
    pub target: Option<Value>,
    pub item: Option<Value>,
    pub run: Value,
    /// Variables of one evaluation (a step's result, for its `outputs`): they shadow
    /// parameters of the same name, never the reserved variables.
    pub locals: Map<String, Value>,
}

impl Context {
    /// The context as one JSON object: the parameters by name, then the reserved variables
    /// (a parameter cannot shadow them: `check` refuses such names).
    pub fn to_value(&self) -> Value {
        let mut out = self.params.clone();
        for (k, v) in &self.locals {
            out.insert(k.clone(), v.clone());
        }
        out.insert("params".into(), Value::Object(self.params.clone()));
        out.insert("steps".into(), Value::Object(self.steps.clone()));
        if let Some(t) = &self.target {
            out.insert("target".into(), t.clone());
        }
        if let Some(i) = &self.item {
            out.insert("item".into(), i.clone());
        }
        out.insert("run".into(), self.run.clone());
        Value::Object(out)
    }
}

/// A render that failed: the message names the missing variable when that is why.
fn failure(e: &JinjaError, undeclared: impl FnOnce() -> Vec<String>, ctx: &Value) -> String {
    if e.kind() == ErrorKind::UndefinedError {
        let mut missing: Vec<String> = undeclared().iter().filter_map(|path| missing_part(ctx, path)).collect();
        missing.sort();
        if let Some(first) = missing.first() {
            return format!("{first} is not defined");
        }
    }
    describe(e)
}

/// The dotted `path` up to its first part `ctx` does not have, or `None` when all exist (or
/// it names a function of the environment).
fn missing_part(ctx: &Value, path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split('.').collect();
    if matches!(
        parts.first(),
        Some(&("secret" | "range" | "dict" | "namespace" | "loop"))
    ) {
        return None;
    }
    let mut at = ctx;
    for (i, part) in parts.iter().enumerate() {
        match at.get(part) {
            Some(v) => at = v,
            None => return Some(parts[..=i].join(".")),
        }
    }
    None
}

/// Renders `source` with `ctx`.
pub fn render(source: &str, ctx: &Context, secrets: Arc<dyn SecretSource>) -> Result<String, String> {
    let env = env(secrets);
    let tpl = env.template_from_str(source).map_err(|e| describe(&e))?;
    let value = ctx.to_value();
    tpl.render(&value)
        .map_err(|e| failure(&e, || tpl.undeclared_variables(true).into_iter().collect(), &value))
}

/// Renders every string inside `value` (objects and lists kept as they are).
pub fn render_value(value: &Value, ctx: &Context, secrets: Arc<dyn SecretSource>) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => Value::String(render(s, ctx, secrets)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| render_value(v, ctx, secrets.clone()))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), render_value(v, ctx, secrets.clone())?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// Evaluates a `when:` expression: whether the step runs.
pub fn when(expr: &str, ctx: &Context, secrets: Arc<dyn SecretSource>) -> Result<bool, String> {
    let env = env(secrets);
    let compiled = env.compile_expression(expr).map_err(|e| describe(&e))?;
    let value = ctx.to_value();
    compiled
        .eval(&value)
        .map(|v| v.is_true())
        .map_err(|e| failure(&e, || compiled.undeclared_variables(true).into_iter().collect(), &value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> Context {
        Context {
            params: json!({"svc": "nginx", "count": 2}).as_object().unwrap().clone(),
            steps: json!({"check": {"state": "succeeded", "exitCode": 0, "stdout": "up\n", "outputs": {"x": "42"}}})
                .as_object()
                .unwrap()
                .clone(),
            target: Some(json!({"name": "web-1", "address": "10.0.0.5", "tags": ["web"]})),
            item: None,
            run: json!({"id": "run1"}),
            locals: Map::new(),
        }
    }

    struct Vault;
    impl SecretSource for Vault {
        fn secret(&self, name: &str) -> Result<Map<String, Value>, String> {
            match name {
                "db-admin" => Ok(json!({"username": "admin", "password": "s3cret"})
                    .as_object()
                    .unwrap()
                    .clone()),
                _ => Err(format!("no secret {name:?}")),
            }
        }
    }

    fn r(source: &str) -> Result<String, String> {
        render(source, &ctx(), Arc::new(Vault))
    }

    #[test]
    fn opsconductor_syntax_and_the_context() {
        assert_eq!(r("Restart-Service {{ svc }}").unwrap(), "Restart-Service nginx");
        assert_eq!(r("{{ params.svc }} x{{ count }}").unwrap(), "nginx x2");
        assert_eq!(
            r("{{ steps.check.stdout | trim }}/{{ steps.check.outputs.x }}").unwrap(),
            "up/42"
        );
        assert_eq!(r("ssh {{ target.address }}").unwrap(), "ssh 10.0.0.5");
        assert_eq!(r("{{ secret('db-admin').password }}").unwrap(), "s3cret");
        assert_eq!(r("<{{ svc }}>&").unwrap(), "<nginx>&", "nothing is HTML-escaped");
    }

    #[test]
    fn an_undefined_variable_fails_naming_it() {
        assert_eq!(
            r("x {{ steps.check.outputs.y }}").unwrap_err(),
            "steps.check.outputs.y is not defined"
        );
        assert_eq!(r("{{ nope }}").unwrap_err(), "nope is not defined");
        assert_eq!(r("{{ steps.later.stdout }}").unwrap_err(), "steps.later is not defined");
        let e = r("{{ secret('other').password }}").unwrap_err();
        assert!(e.contains("no secret \"other\""), "{e}");
    }

    #[test]
    fn when_expressions() {
        let t = |e: &str| when(e, &ctx(), Arc::new(NoSecrets));
        assert_eq!(t("steps.check.exitCode == 0"), Ok(true));
        assert_eq!(t("svc == 'apache'"), Ok(false));
        assert_eq!(t("count > 1 and 'web' in target.tags"), Ok(true));
        assert_eq!(
            t("steps.missing.state == 'failed'").unwrap_err(),
            "steps.missing is not defined"
        );
        assert!(check_expression("a ==").is_err());
    }

    #[test]
    fn values_render_inside_objects_and_lists() {
        let v = json!({"url": "http://{{ target.address }}/", "n": 3, "h": ["{{ svc }}"]});
        let out = render_value(&v, &ctx(), Arc::new(NoSecrets)).unwrap();
        assert_eq!(out, json!({"url": "http://10.0.0.5/", "n": 3, "h": ["nginx"]}));
        assert!(check_value(&json!({"a": ["{{ broken"]})).is_err());
    }
}
