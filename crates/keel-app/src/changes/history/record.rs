//! What one collection change becomes in the history: the `ChangeRecorder` the collection
//! paths hand the store, called inside the change's transaction.
//!
//! - `kind`: `create`, `update`, `rename` (an update that changes the name, whatever else it
//!   changes) or `delete`; `source`: `api` (the collections API and the console), `import`
//!   (`PUT /api/collections/import`) or `migration` (collections as code, `keel migrate`);
//! - `author`: the caller as the audit trail names it (`_superusers/ID`, `users/ID`,
//!   `apikey/ID`), `migration` for migration files;
//! - `findings` from the classifier, `verdict` their highest level; a direct update through
//!   the collections API counts its data checks just before the change
//!   ([`Recorder::with_counts`]) and its findings keep those `affectedRows` (the checks are
//!   not run inside the change's transaction);
//! - `apiVerdict` / `apiFindings`: the collection's records API (`collection_api`) before and
//!   after, compared by `api_diff` ([`api_report`]);
//! - `version`: a new collection starts at `1.0.0`; a major change bumps the major number, a
//!   minor one the minor, a patch the patch. A collection older than the history counts as
//!   `1.0.0`. A change with no finding and no difference is not recorded; one with a
//!   difference no rule rates is `other-change` (patch);
//! - `before` / `after`: the collection JSON with every secret masked; `diff` (see `diff.rs`).

use keel_core::Result;
use keel_data::{Collection, CollectionChange, RecordData};
use serde_json::Value;

use super::diff::diff;
use crate::changes::classify::classify;
use crate::changes::{Finding, Level, Report};
use crate::redact::collection_json;

/// Where a change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The collections API (and the console).
    Api,
    /// `PUT /api/collections/import`.
    Import,
    /// Collections as code: a migration file applied (`keel migrate`, automigrate at start).
    Migration,
    /// A reviewed proposal (`POST /api/changes`), applied.
    Review,
    /// The reverse of an applied change (`POST /api/changes/{id}/rollback`).
    Rollback,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Api => "api",
            Source::Import => "import",
            Source::Migration => "migration",
            Source::Review => "review",
            Source::Rollback => "rollback",
        }
    }
}

/// Records a change made by `author` through `source`.
#[derive(Debug, Clone)]
pub struct Recorder {
    pub author: String,
    pub source: Source,
    /// The data checks' findings counted just before the change (`affectedRows` set), whose
    /// counts the entry keeps for its findings of the same code and subject.
    pub counted: Vec<Finding>,
}

impl Recorder {
    pub fn new(author: impl Into<String>, source: Source) -> Recorder {
        Recorder {
            author: author.into(),
            source,
            counted: Vec::new(),
        }
    }

    /// The recorder keeping the counts of `counted` (findings with `affectedRows`).
    pub fn with_counts(mut self, counted: Vec<Finding>) -> Recorder {
        self.counted = counted;
        self
    }
}

impl keel_data::ChangeRecorder for Recorder {
    fn entry(&self, change: &CollectionChange<'_>) -> Result<Option<RecordData>> {
        Ok(entry(self, change))
    }
}

/// A semver version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u64, pub u64, pub u64);

impl Version {
    pub const FIRST: Version = Version(1, 0, 0);

    /// `MAJOR.MINOR.PATCH` (digits only).
    pub fn parse(s: &str) -> Option<Version> {
        let mut parts = s.split('.');
        let mut next = || {
            parts
                .next()
                .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))?
                .parse()
                .ok()
        };
        let v = Version(next()?, next()?, next()?);
        parts.next().is_none().then_some(v)
    }

    pub fn bump(self, level: Level) -> Version {
        let Version(major, minor, patch) = self;
        match level {
            Level::Major => Version(major + 1, 0, 0),
            Level::Minor => Version(major, minor + 1, 0),
            Level::Patch => Version(major, minor, patch + 1),
        }
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

fn kind(before: Option<&Collection>, after: Option<&Collection>) -> &'static str {
    match (before, after) {
        (None, _) => "create",
        (Some(_), None) => "delete",
        (Some(b), Some(a)) if b.name != a.name => "rename",
        _ => "update",
    }
}

/// The API side of a change: the collection's records API before and after
/// (`collection_api::document`), compared by `api_diff`.
pub fn api_report(before: Option<&Collection>, after: Option<&Collection>) -> Report {
    let (old, new) = (
        crate::changes::collection_api::document(before),
        crate::changes::collection_api::document(after),
    );
    Report::new(crate::changes::api_diff::diff(&old, &new))
}

fn entry(rec: &Recorder, change: &CollectionChange<'_>) -> Option<RecordData> {
    let (before, after) = (change.before, change.after);
    let subject = after.or(before)?;
    let before_json = before.map(collection_json).unwrap_or(Value::Null);
    let after_json = after.map(collection_json).unwrap_or(Value::Null);
    let changes = match (before, after) {
        (Some(_), Some(_)) => diff(&before_json, &after_json),
        _ => Vec::new(),
    };
    let mut findings = classify(before, after);
    if findings.is_empty() {
        if changes.is_empty() {
            return None;
        }
        findings.push(Finding::new(
            "other-change",
            Level::Patch,
            subject.name.clone(),
            format!(
                "Collection {} changes in a way no rule rates (see the diff): nothing a caller notices is expected.",
                subject.name
            ),
        ));
    }
    for f in findings.iter_mut() {
        let same = rec
            .counted
            .iter()
            .find(|c| c.code == f.code && c.subject == f.subject && c.affected_rows.is_some());
        if let Some(c) = same {
            f.affected_rows = c.affected_rows;
            f.message = c.message.clone();
        }
    }
    let report = Report::new(findings);
    let api = api_report(before, after);
    let level = crate::changes::verdict(&report.findings).unwrap_or(Level::Patch);
    let previous = change.previous_version.and_then(Version::parse);
    let version = match (before, previous) {
        // A new collection, or one re-created with the id of a deleted one (its versions go on).
        (None, None) => Version::FIRST,
        (None, Some(p)) => p.bump(Level::Major),
        (Some(_), p) => p.unwrap_or(Version::FIRST).bump(level),
    };
    let previous_version = match (before, previous) {
        (None, None) => String::new(),
        (_, p) => p.unwrap_or(Version::FIRST).to_string(),
    };
    let mut data = RecordData::new();
    let mut put = |k: &str, v: Value| {
        data.insert(k.to_string(), v);
    };
    put("collectionRef", Value::from(subject.id.clone()));
    put("collection", Value::from(subject.name.clone()));
    put(
        "system",
        Value::Bool(subject.system || keel_data::request::is_system_name(&subject.name)),
    );
    put("kind", Value::from(kind(before, after)));
    put("source", Value::from(rec.source.as_str()));
    put("author", Value::from(rec.author.clone()));
    put("state", Value::from("applied"));
    put("verdict", Value::from(report.verdict.clone()));
    put("version", Value::from(version.to_string()));
    put("previousVersion", Value::from(previous_version));
    put(
        "findings",
        serde_json::to_value(&report.findings).unwrap_or(Value::Array(vec![])),
    );
    put("apiVerdict", Value::from(api.verdict.clone()));
    put(
        "apiFindings",
        serde_json::to_value(&api.findings).unwrap_or(Value::Array(vec![])),
    );
    put("diff", Value::Array(changes));
    put("before", before_json);
    put("after", after_json);
    Some(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_data::CollectionType;

    fn posts() -> Collection {
        let mut c = Collection::blank("posts", CollectionType::Base);
        c.id = "pbc_posts".into();
        c
    }

    fn record(before: Option<&Collection>, after: Option<&Collection>, previous: Option<&str>) -> Option<RecordData> {
        let rec = Recorder::new("_superusers/su1", Source::Api);
        entry(
            &rec,
            &CollectionChange {
                before,
                after,
                previous_version: previous,
            },
        )
    }

    #[test]
    fn versions_start_at_one_and_bump_by_the_verdict() {
        let c = posts();
        let created = record(None, Some(&c), None).unwrap();
        assert_eq!(created["version"], "1.0.0");
        assert_eq!(created["kind"], "create");
        assert_eq!(created["verdict"], "minor");
        assert_eq!(created["author"], "_superusers/su1");

        let mut renamed = c.clone();
        renamed.name = "articles".into();
        let r = record(Some(&c), Some(&renamed), Some("1.0.0")).unwrap();
        assert_eq!(
            (r["kind"].as_str(), r["verdict"].as_str()),
            (Some("rename"), Some("major"))
        );
        assert_eq!(r["version"], "2.0.0");
        assert_eq!(r["previousVersion"], "1.0.0");

        let mut open = c.clone();
        open.list_rule = Some(String::new());
        let r = record(Some(&c), Some(&open), Some("2.3.4")).unwrap();
        assert_eq!(
            (r["verdict"].as_str(), r["version"].as_str()),
            (Some("minor"), Some("2.4.0"))
        );

        let mut indexed = c.clone();
        indexed.indexes = vec!["CREATE INDEX idx_x ON posts (created)".into()];
        let r = record(Some(&c), Some(&indexed), Some("2.4.0")).unwrap();
        assert_eq!(
            (r["verdict"].as_str(), r["version"].as_str()),
            (Some("patch"), Some("2.4.1"))
        );

        let d = record(Some(&c), None, Some("2.4.1")).unwrap();
        assert_eq!(
            (d["kind"].as_str(), d["version"].as_str()),
            (Some("delete"), Some("3.0.0"))
        );
        assert_eq!(d["after"], Value::Null);
        // Re-created with the same id: its versions go on.
        let again = record(None, Some(&c), Some("3.0.0")).unwrap();
        assert_eq!(again["version"], "4.0.0");
    }

    #[test]
    fn a_no_op_is_not_recorded_and_an_older_collection_counts_as_one_zero_zero() {
        let c = posts();
        let mut touched = c.clone();
        touched.updated = "2030-01-01 00:00:00.000Z".into();
        assert!(record(Some(&c), Some(&touched), None).is_none());
        let mut open = c.clone();
        open.view_rule = Some(String::new());
        let r = record(Some(&c), Some(&open), None).unwrap();
        assert_eq!(
            (r["previousVersion"].as_str(), r["version"].as_str()),
            (Some("1.0.0"), Some("1.1.0"))
        );
    }

    #[test]
    fn secrets_never_reach_the_history() {
        let mut before = Collection::blank("members", CollectionType::Auth);
        before.id = "pbc_members".into();
        if let Some(auth) = before.auth.as_mut() {
            auth.auth_token.secret = "a-token-secret-that-must-stay-inside-0123456789".into();
            auth.ldap = serde_json::json!({"enabled": false, "bindPassword": "ldap-bind-password-42"});
        }
        let mut after = before.clone();
        if let Some(auth) = after.auth.as_mut() {
            auth.auth_token.duration = 3600;
        }
        let r = record(Some(&before), Some(&after), Some("1.0.0")).unwrap();
        let text = serde_json::to_string(&r).unwrap();
        assert!(
            !text.contains("a-token-secret-that-must"),
            "a token secret leaked into the history"
        );
        assert!(
            !text.contains("ldap-bind-password-42"),
            "the LDAP bind password leaked into the history"
        );
    }

    #[test]
    fn versions_parse_strictly() {
        assert_eq!(Version::parse("1.2.3"), Some(Version(1, 2, 3)));
        for bad in ["", "1.2", "1.2.3.4", "a.b.c", "1..3", "-1.0.0"] {
            assert_eq!(Version::parse(bad), None, "{bad}");
        }
    }
}
