//! What every governance check answers: findings with a stable code, a semver level and a
//! message a person understands; the verdict is the highest level. Stored and shown as JSON
//! (`{"code","level","message","subject"?,"affectedRows"?}`), so history and review can keep
//! them as they are.

use keel_data::Probe;
use serde::{Deserialize, Serialize};

/// How much a change breaks, as semver counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Nothing a caller can notice (an index, an option of the console).
    Patch,
    /// Additive: callers keep working, new things are possible.
    Minor,
    /// Breaking: some caller, record or session stops working as before.
    Major,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Patch => "patch",
            Level::Minor => "minor",
            Level::Major => "major",
        }
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing a check found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// Stable, kebab-case (`field-removed`, `request-property-became-required`).
    pub code: String,
    pub level: Level,
    /// Names what changed (the field, the rule, the operation and property).
    pub message: String,
    /// What the finding is about: a field or rule name, or `METHOD /path` for API diffs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Existing records the change touches, counted on the real data (data checks only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affected_rows: Option<u64>,
    /// The data check still to run for `affected_rows` (not part of the JSON).
    #[serde(skip)]
    pub probe: Option<Probe>,
}

impl Finding {
    pub fn new(code: &str, level: Level, subject: impl Into<String>, message: impl Into<String>) -> Finding {
        Finding {
            code: code.into(),
            level,
            message: message.into(),
            subject: Some(subject.into()),
            affected_rows: None,
            probe: None,
        }
    }

    /// The finding with a data check to run against the current rows.
    pub fn probe(mut self, probe: Probe) -> Finding {
        self.probe = Some(probe);
        self
    }
}

/// The highest level among `findings`; `None` when nothing changed.
pub fn verdict(findings: &[Finding]) -> Option<Level> {
    findings.iter().map(|f| f.level).max()
}

/// A verdict with its findings, as the API and the CLI answer it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// `major`, `minor`, `patch`, or `none` when nothing changed.
    pub verdict: String,
    /// Whether the verdict is `major`.
    pub breaking: bool,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn new(mut findings: Vec<Finding>) -> Report {
        // Most severe first, then in the order the checks found them.
        findings.sort_by_key(|f| std::cmp::Reverse(f.level));
        let v = verdict(&findings);
        Report {
            verdict: v.map_or("none", Level::as_str).to_string(),
            breaking: v == Some(Level::Major),
            findings,
        }
    }
}
