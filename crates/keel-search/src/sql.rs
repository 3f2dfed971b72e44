//! What the providers that keep their index in the records' own SQL database (`postgres`,
//! `mysql`) share: [`SqlIndex`], writes inside a transaction the caller holds (the record
//! write's own, so the index commits or rolls back with the records), the mapping of
//! weights onto four classes, and the words of a text for highlights.

use std::collections::BTreeMap;

use async_trait::async_trait;
use keel_core::search::{SearchDocument, SearchIndex, SearchSettings, MAX_WEIGHT};
use keel_core::{Error, Result};
use keel_sql::Tx;
use serde_json::Value;

/// A search provider whose index lives in an SQL database: besides the [`SearchIndex`]
/// calls (each in a transaction of its own), it writes inside a transaction of the same
/// engine the caller holds.
#[async_trait]
pub trait SqlIndex: SearchIndex {
    /// Adds or replaces `docs` in `index` (built with `settings`) inside `tx`.
    async fn upsert_in(
        &self,
        tx: &mut dyn Tx,
        index: &str,
        settings: &SearchSettings,
        docs: Vec<SearchDocument>,
    ) -> Result<()>;

    /// Removes the documents `ids` of `index` inside `tx`.
    async fn delete_in(&self, tx: &mut dyn Tx, index: &str, ids: &[String]) -> Result<()>;
}

/// PostgreSQL's four weight classes, lowest first.
pub(crate) const CLASSES: [char; 4] = ['D', 'C', 'B', 'A'];

/// The class (0 = D … 3 = A) of a weight: 1–2 → D, 3–4 → C, 5–7 → B, 8–10 → A.
pub(crate) fn class_of(weight: u32) -> usize {
    match weight.min(MAX_WEIGHT) {
        0..=2 => 0,
        3..=4 => 1,
        5..=7 => 2,
        _ => 3,
    }
}

/// Each class's weight for ranking, lowest class first: the largest weight of the index's
/// fields in that class, over [`MAX_WEIGHT`] (a class without fields: its lowest weight).
pub(crate) fn class_weights(settings: &SearchSettings) -> [f32; 4] {
    let mut w: [f32; 4] = [1.0, 3.0, 5.0, 8.0];
    let mut seen = [false; 4];
    for &weight in settings.fields.values() {
        let c = class_of(weight);
        let weight = weight.clamp(1, MAX_WEIGHT) as f32;
        w[c] = if seen[c] { w[c].max(weight) } else { weight };
        seen[c] = true;
    }
    w.map(|x| x / MAX_WEIGHT as f32)
}

/// `docs` with one document per id (the last one wins), sorted by id (so concurrent
/// writers lock rows in the same order), as the JSON array the statements read:
/// `[{"id": …, "f": {field: text}, "d": stored}]`, only the fields of `settings`; `d` the
/// stored source and attributes (`crate::documents::stored`), `null` for a record.
pub(crate) fn docs_json(settings: &SearchSettings, docs: Vec<SearchDocument>) -> Value {
    let mut by_id: BTreeMap<String, (BTreeMap<String, String>, Option<String>)> = BTreeMap::new();
    for d in docs {
        let stored = crate::documents::stored(&d);
        let fields = d
            .fields
            .into_iter()
            .filter(|(k, _)| settings.fields.contains_key(k))
            .collect();
        by_id.insert(d.id, (fields, stored));
    }
    Value::Array(
        by_id
            .into_iter()
            .map(|(id, (f, d))| serde_json::json!({"id": id, "f": f, "d": d}))
            .collect(),
    )
}

/// The settings of the indexes of `rows` (`name`, `settings`) whose name starts with `prefix`.
pub(crate) fn named_settings(rows: &[keel_sql::Row], prefix: &str) -> Result<Vec<(String, SearchSettings)>> {
    let mut out = Vec::new();
    for r in rows {
        let name = text(r, "name")?;
        if name.starts_with(prefix) {
            let settings = serde_json::from_str(&text(r, "settings")?).map_err(Error::wrap)?;
            out.push((name, settings));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The byte spans of the words of `text` (runs of letters and digits, as the query syntax
/// reads words), with each word lowercased.
pub(crate) fn words(text: &str) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in text.char_indices().chain(std::iter::once((text.len(), ' '))) {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, i, text[s..i].to_lowercase()));
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// A text column of a row, or an internal error naming it.
pub(crate) fn text(row: &keel_sql::Row, column: &str) -> Result<String> {
    match row.get(column) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Null) | None => Err(Error::internal(format!("search index: {column} is missing"))),
        Some(other) => Ok(other.to_string()),
    }
}

/// A number column of a row (0 when absent).
pub(crate) fn number(row: &keel_sql::Row, column: &str) -> f64 {
    match row.get(column) {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        Some(Value::String(s)) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// The bad-name error every provider gives.
pub(crate) fn check_name(name: &str) -> Result<()> {
    if keel_core::search::valid_index_name(name) {
        Ok(())
    } else {
        Err(Error::field(
            "index",
            "validation_invalid_name",
            "An index name is 1 to 64 letters, digits, _ or -.",
        ))
    }
}

/// The error of a write to an index no `ensure` created.
pub(crate) fn not_open(name: &str) -> Error {
    Error::NotFound(format!("The search index {name:?} does not exist."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_core::search::Language;

    #[test]
    fn weights_map_onto_four_classes() {
        assert_eq!([1, 2, 3, 4, 5, 7, 8, 10].map(class_of), [0, 0, 1, 1, 2, 2, 3, 3]);
        let s = SearchSettings {
            fields: BTreeMap::from([("title".into(), 4), ("sub".into(), 3), ("body".into(), 1)]),
            language: Language::English,
            filterable: Vec::new(),
        };
        assert_eq!(class_weights(&s), [0.1, 0.4, 0.5, 0.8]);
    }

    #[test]
    fn words_and_their_spans() {
        let w = words("The <b>Quick</b> e-mail");
        let got: Vec<&str> = w.iter().map(|(_, _, s)| s.as_str()).collect();
        assert_eq!(got, ["the", "b", "quick", "b", "e", "mail"]);
        assert_eq!(&"The <b>Quick</b> e-mail"[w[2].0..w[2].1], "Quick");
    }
}

/// What a word of a stored text must be to be highlighted for a query: one of its words'
/// stems, a prefix of the raw word (the last word of the query), or within one edit of a
/// typo-tolerant word's stem.
#[derive(Default)]
pub(crate) struct Wanted {
    pub(crate) exact: std::collections::HashSet<String>,
    pub(crate) prefixes: Vec<String>,
    pub(crate) fuzzy: Vec<String>,
}

impl Wanted {
    pub(crate) fn matches(&self, stem: &str, raw: &str) -> bool {
        self.exact.contains(stem)
            || self
                .prefixes
                .iter()
                .any(|p| stem.starts_with(p.as_str()) || raw.starts_with(p.as_str()))
            || self.fuzzy.iter().any(|f| crate::highlight::within_one_edit(f, stem))
    }

    /// The highlights of `fields` (field → stored text), each word's stem given by `stem`
    /// (`None`: a word the language ignores).
    pub(crate) fn highlight(
        &self,
        fields: &BTreeMap<String, String>,
        stem: impl Fn(&str) -> Option<String>,
    ) -> keel_core::search::Highlights {
        let mut marks = keel_core::search::Highlights::new();
        for (name, text) in fields {
            let spans: Vec<(usize, usize)> = words(text)
                .into_iter()
                .filter(|(_, _, raw)| stem(raw).is_some_and(|s| self.matches(&s, raw)))
                .map(|(from, to, _)| (from, to))
                .collect();
            if let Some(s) = crate::highlight::snippet(text, &spans) {
                marks.insert(name.clone(), s);
            }
        }
        marks
    }
}
