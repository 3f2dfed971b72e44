//! `GET /api/changes/export?format=markdown|json`: the changelog of every collection the
//! caller may read (optionally one, `collection=` by id or current/former name), each
//! collection's versions newest first with their findings. JSON:
//! `{"collections": [{"collectionRef", "collection", "versions": [{"version",
//! "previousVersion", "changeId", "kind", "verdict", "author", "source", "created",
//! "findings"}]}]}`; Markdown: one `##` section per collection, one `###` per version.

use std::collections::BTreeMap;

use keel_core::Error;
use keel_data::RecordData;
use serde_json::{json, Value};

use super::may_read;
use crate::caller::Caller;
use crate::App;

/// The changelog's formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Json,
}

impl Format {
    /// `markdown` (also `md`, the default) or `json`; anything else is a 400 naming `format`.
    pub fn parse(s: Option<&str>) -> Result<Format, Error> {
        match s.map(str::trim).unwrap_or("") {
            "" | "markdown" | "md" => Ok(Format::Markdown),
            "json" => Ok(Format::Json),
            _ => Err(Error::field(
                "format",
                "validation_invalid_value",
                "Use format=markdown or format=json.",
            )),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Markdown => "text/markdown; charset=utf-8",
            Format::Json => "application/json",
        }
    }
}

fn text<'a>(r: &'a RecordData, key: &str) -> &'a str {
    r.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// One collection's history: its id, its newest name and its changes newest first.
struct Section<'a> {
    id: &'a str,
    name: &'a str,
    changes: Vec<&'a RecordData>,
}

fn sections<'a>(rows: &'a [RecordData], only: Option<&str>) -> Vec<Section<'a>> {
    let mut by_id: BTreeMap<&str, Vec<&RecordData>> = BTreeMap::new();
    for r in rows {
        by_id.entry(text(r, "collectionRef")).or_default().push(r);
    }
    let mut out: Vec<Section<'a>> = by_id
        .into_iter()
        .map(|(id, mut changes)| {
            changes.reverse();
            let name = changes.first().map(|r| text(r, "collection")).unwrap_or_default();
            Section { id, name, changes }
        })
        .filter(|s| only.is_none_or(|o| s.id == o || s.changes.iter().any(|r| text(r, "collection") == o)))
        .collect();
    out.sort_by(|a, b| a.name.cmp(b.name).then(a.id.cmp(b.id)));
    out
}

/// The changelog in `format` (its text and content type).
pub async fn export(app: &App, caller: &Caller, format: Format, collection: Option<&str>) -> Result<String, Error> {
    may_read(caller)?;
    let rows = app.store.change_summaries(caller.is_superuser()).await?;
    let only = collection.map(str::trim).filter(|s| !s.is_empty());
    let only = match only.and_then(|o| app.store.collection(o).ok()) {
        Some(c) => Some(c.id.clone()),
        None => only.map(str::to_string),
    };
    let secs = sections(&rows, only.as_deref());
    Ok(match format {
        Format::Json => json_text(&secs),
        Format::Markdown => markdown(&secs),
    })
}

fn json_text(secs: &[Section<'_>]) -> String {
    let collections: Vec<Value> = secs
        .iter()
        .map(|s| {
            let versions: Vec<Value> = s
                .changes
                .iter()
                .map(|r| {
                    json!({
                        "version": text(r, "version"),
                        "previousVersion": text(r, "previousVersion"),
                        "changeId": text(r, "id"),
                        "kind": text(r, "kind"),
                        "verdict": text(r, "verdict"),
                        "author": text(r, "author"),
                        "source": text(r, "source"),
                        "created": text(r, "created"),
                        "findings": r.get("findings").cloned().unwrap_or(Value::Array(vec![])),
                    })
                })
                .collect();
            json!({"collectionRef": s.id, "collection": s.name, "versions": versions})
        })
        .collect();
    json!({ "collections": collections }).to_string()
}

/// Markdown special characters in user-chosen text (names, messages) escaped.
fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if matches!(ch, '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|') {
            out.push('\\');
        }
        if ch == '\n' || ch == '\r' {
            out.push(' ');
            continue;
        }
        out.push(ch);
    }
    out
}

fn markdown(secs: &[Section<'_>]) -> String {
    let mut out = String::from("# Changelog\n");
    if secs.is_empty() {
        out.push_str("\nNo collection changes recorded.\n");
    }
    for s in secs {
        out.push_str(&format!("\n## {} ({})\n", md(s.name), md(s.id)));
        for r in &s.changes {
            let day = text(r, "created").get(..10).unwrap_or_default();
            out.push_str(&format!(
                "\n### {} ({}) - {}\n\n{} by {} via {}",
                md(text(r, "version")),
                md(text(r, "verdict")),
                md(day),
                md(text(r, "kind")),
                md(text(r, "author")),
                md(text(r, "source")),
            ));
            let previous = text(r, "previousVersion");
            if !previous.is_empty() {
                out.push_str(&format!(", from {}", md(previous)));
            }
            out.push_str(".\n\n");
            let findings = r.get("findings").and_then(Value::as_array).cloned().unwrap_or_default();
            for f in findings {
                let get = |k: &str| f.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
                out.push_str(&format!(
                    "- **{}** `{}`: {}\n",
                    get("level"),
                    get("code").replace('`', ""),
                    md(&get("message"))
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, collection: &str, version: &str, findings: Value) -> RecordData {
        let mut r = RecordData::new();
        for (k, v) in [
            ("id", id),
            ("collectionRef", "pbc_1"),
            ("collection", collection),
            ("version", version),
            ("verdict", "major"),
            ("kind", "update"),
            ("author", "_superusers/su"),
            ("source", "api"),
            ("created", "2026-11-20 10:00:00.000Z"),
        ] {
            r.insert(k.into(), v.into());
        }
        r.insert("findings".into(), findings);
        r
    }

    #[test]
    fn markdown_lists_versions_newest_first_under_the_newest_name_and_escapes_text() {
        let rows = vec![
            row("c1", "posts", "1.0.0", json!([])),
            row(
                "c2",
                "articles",
                "2.0.0",
                json!([{"code": "collection-renamed", "level": "major", "message": "Renamed *posts*\n# x"}]),
            ),
        ];
        let text = markdown(&sections(&rows, None));
        let two = text.find("### 2.0.0").unwrap();
        let one = text.find("### 1.0.0").unwrap();
        assert!(two < one, "{text}");
        assert!(text.contains("## articles (pbc\\_1)"), "{text}");
        assert!(
            text.contains("`collection-renamed`: Renamed \\*posts\\* \\# x"),
            "{text}"
        );
        assert!(sections(&rows, Some("posts")).len() == 1);
        assert!(sections(&rows, Some("tags")).is_empty());
        assert!(Format::parse(Some("pdf")).is_err());
    }
}
