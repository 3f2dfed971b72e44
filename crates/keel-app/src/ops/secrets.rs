//! The secrets a run reads, all read from the vault when the run starts (and each use
//! recorded and audited there, as `vault.use` by `run/<id>`): the values of its parameters of
//! type `secret`, and every secret its steps name literally, `secret("db-admin")`. Templates
//! then get them from memory, and every value goes into the run's redactor before any step
//! runs, so no output, log line or error of the run shows one.
//!
//! A name only known while the run goes (`secret(steps.pick.outputs.name)`) cannot be read:
//! the step fails saying to name secrets literally or pass them as `secret` parameters.

use std::collections::{BTreeSet, HashMap};

use keel_core::Result;
use keel_ops::runbook::params::secret_names;
use keel_ops::runbook::template::SecretSource;
use keel_ops::runbook::Checked;
use serde_json::{Map, Value};

use crate::App;

/// The secrets of one run, by name.
pub struct RunSecrets {
    data: HashMap<String, Map<String, Value>>,
}

impl SecretSource for RunSecrets {
    fn secret(&self, name: &str) -> std::result::Result<Map<String, Value>, String> {
        self.data.get(name).cloned().ok_or_else(|| {
            format!(
                "the secret {name:?} was not read when the run started: name secrets literally, \
                 secret(\"name\"), or pass them as parameters of type secret"
            )
        })
    }
}

/// The names `secret("…")` / `secret('…')` calls give literally in `text`.
fn literal_names(text: &str, out: &mut BTreeSet<String>) {
    let mut rest = text;
    while let Some(at) = rest.find("secret(") {
        rest = &rest[at + "secret(".len()..];
        let trimmed = rest.trim_start();
        let Some(quote) = trimmed.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            continue;
        };
        let body = &trimmed[1..];
        if let Some(end) = body.find(quote) {
            out.insert(body[..end].to_string());
        }
    }
}

fn scan(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::String(s) => literal_names(s, out),
        Value::Array(items) => items.iter().for_each(|v| scan(v, out)),
        Value::Object(map) => map.values().for_each(|v| scan(v, out)),
        _ => {}
    }
}

/// Every secret name `checked` run with `params` reads.
pub fn names(checked: &Checked, params: &Map<String, Value>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for p in secret_names(&checked.runbook.parameters) {
        if let Some(name) = params.get(&p).and_then(Value::as_str) {
            out.insert(name.to_string());
        }
    }
    for step in &checked.runbook.steps {
        scan(&Value::Object(step.with.clone()), &mut out);
        if let Some(w) = &step.when {
            literal_names(w, &mut out);
        }
        if let Some(each) = &step.for_each {
            scan(each, &mut out);
        }
        for source in step.outputs.values() {
            literal_names(source, &mut out);
        }
    }
    out
}

/// Reads the run's secrets from the vault; a secret that cannot be read fails the run with
/// the vault's error (a 404 naming it, or the vault unavailable).
pub async fn read(
    app: &App,
    run: &str,
    checked: &Checked,
    params: &Map<String, Value>,
) -> Result<(RunSecrets, Vec<String>)> {
    let mut data = HashMap::new();
    let mut values: Vec<String> = Vec::new();
    for name in names(checked, params) {
        let secret = crate::vault::resolve(app, &name, run).await?;
        values.extend(secret.iter().map(|(_, v)| v.to_string()));
        data.insert(name, secret.to_json().as_object().cloned().unwrap_or_default());
    }
    Ok((RunSecrets { data }, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_secret_names_are_found() {
        let mut out = BTreeSet::new();
        literal_names(
            "{{ secret('db-admin').password }} x {{ secret( \"api\" ).token }} {{ secret(params.x) }}",
            &mut out,
        );
        assert_eq!(out.into_iter().collect::<Vec<_>>(), ["api", "db-admin"]);
    }
}
