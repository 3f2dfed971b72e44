//! A runbook as its author writes it, in JSON or YAML (the API's shape): a name, a
//! description, its parameters as a JSON Schema object, and its steps. Serde reads the shape;
//! [`super::check`] decides whether it makes sense (known step types and their keys, targets
//! where a step needs one, `needs` naming earlier-declared steps without a cycle).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A runbook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Runbook {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// A JSON Schema object (`type`, `properties`, `required`, `default`, `enum`, `pattern`);
    /// a property of `"type": "secret"` takes the name of a vault secret.
    #[serde(default = "no_parameters")]
    pub parameters: Value,
    /// The whole run's bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_sec: Option<u64>,
    /// How many runs of this runbook may run at once (none: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    pub steps: Vec<Step>,
}

fn no_parameters() -> Value {
    serde_json::json!({"type": "object", "properties": {}})
}

/// One step. The keys every step has are fields; the keys of its type (`command`, `url`,
/// `queue`, …) stay in `with` and are checked per type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// One target by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Several targets: a list of names, or `{"names": [...], "tags": [...]}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Selector>,
    /// At most this many targets (or `forEach` items) at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_sec: Option<u64>,
    /// Attempts after the first, with `retryDelaySec` doubling each time.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_delay_sec: Option<u64>,
    /// Steps that must have ended (succeeded, or failed with `continueOnError`) first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
    /// A template expression; the step is skipped when it is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub continue_on_error: bool,
    /// Runs the step once per item of a list (or of a template yielding one), as `item`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_each: Option<Value>,
    /// Named outputs: name → a template over the step's result (`{{ stdout | trim }}`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, String>,
    /// The type's own keys.
    #[serde(flatten)]
    pub with: Map<String, Value>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Which targets a step fans out to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Selector {
    Names(Vec<String>),
    Match {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        names: Vec<String>,
        /// A target must carry every one of these tags.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tags: Vec<String>,
    },
}

impl Selector {
    /// Whether a target named `name` with `tags` is selected: named, or (when tags are given)
    /// carrying all of them.
    pub fn selects(&self, name: &str, tags: &[String]) -> bool {
        match self {
            Selector::Names(names) => names.iter().any(|n| n == name),
            Selector::Match { names, tags: want } => {
                names.iter().any(|n| n == name) || (!want.is_empty() && want.iter().all(|t| tags.contains(t)))
            }
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Selector::Names(names) => names.is_empty(),
            Selector::Match { names, tags } => names.is_empty() && tags.is_empty(),
        }
    }
}

/// The step types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    SshExec,
    SshCopy,
    WinrmExec,
    WinrmCopy,
    HttpRequest,
    NotifySend,
    JobEnqueue,
    RunbookCall,
    ShellExec,
    Approval,
}

impl StepKind {
    pub const ALL: [StepKind; 10] = [
        StepKind::SshExec,
        StepKind::SshCopy,
        StepKind::WinrmExec,
        StepKind::WinrmCopy,
        StepKind::HttpRequest,
        StepKind::NotifySend,
        StepKind::JobEnqueue,
        StepKind::RunbookCall,
        StepKind::ShellExec,
        StepKind::Approval,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::SshExec => "ssh.exec",
            StepKind::SshCopy => "ssh.copy",
            StepKind::WinrmExec => "winrm.exec",
            StepKind::WinrmCopy => "winrm.copy",
            StepKind::HttpRequest => "http.request",
            StepKind::NotifySend => "notify.send",
            StepKind::JobEnqueue => "job.enqueue",
            StepKind::RunbookCall => "runbook.call",
            StepKind::ShellExec => "shell.exec",
            StepKind::Approval => "approval",
        }
    }

    pub fn parse(s: &str) -> Option<StepKind> {
        StepKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether it runs on targets (and so needs `target` or `targets`).
    pub fn on_targets(self) -> bool {
        matches!(
            self,
            StepKind::SshExec | StepKind::SshCopy | StepKind::WinrmExec | StepKind::WinrmCopy
        )
    }

    /// Its own keys: (required, optional).
    pub fn keys(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            StepKind::SshExec | StepKind::ShellExec => (&["command"], &["shell", "env", "workingDir", "stdin"]),
            StepKind::WinrmExec => (&["command"], &["shell", "env", "workingDir"]),
            StepKind::SshCopy | StepKind::WinrmCopy => (&["direction", "source", "destination"], &["mode"]),
            StepKind::HttpRequest => (&["url"], &["method", "headers", "body", "expectStatus"]),
            StepKind::NotifySend => (
                &["to"],
                &["template", "subject", "body", "channels", "data", "critical"],
            ),
            StepKind::JobEnqueue => (&["queue"], &["payload", "delaySec", "uniqueKey"]),
            StepKind::RunbookCall => (&["runbook"], &["params"]),
            StepKind::Approval => (&[], &["quorum", "message", "onTimeout"]),
        }
    }
}

impl Step {
    /// Whether any target selector is given.
    pub fn has_targets(&self) -> bool {
        self.target.as_deref().is_some_and(|t| !t.trim().is_empty())
            || self.targets.as_ref().is_some_and(|s| !s.is_empty())
    }
}
