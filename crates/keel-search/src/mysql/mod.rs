//! The MariaDB search provider (InnoDB `FULLTEXT`, `MATCH … AGAINST (… IN BOOLEAN MODE)`):
//! indexes as rows of two tables in the records' own database (see `tables.rs`), shared by
//! every Keel process on it.
//!
//! **One table for every index** (an `idx` column beside the document id), as on
//! PostgreSQL: making, emptying or dropping an index is DML, never DDL (which commits
//! whatever transaction is open on MySQL), so it can run inside a record write's
//! transaction. FULLTEXT indexes need fixed columns: a document's fields are grouped by
//! weight class into four columns (1–2, 3–4, 5–7, 8–10, as PostgreSQL's classes).
//!
//! Contract and what it cannot do:
//! - **matching**: every word and phrase must match (in any field), exclusions must not, the
//!   last word also as a prefix; **no stemming** ("running" does not find "runs") and **no
//!   typo tolerance**: both are `false` in the capabilities;
//! - **words InnoDB does not index**: shorter than `innodb_ft_min_token_size` (3 by default)
//!   or on its stopword list (`the`, `a`, `about`, …: 35 words by default) are never
//!   found, and are left out of queries (a search of only such words finds nothing);
//! - **ranking**: the weighted sum of each class column's `MATCH` score (InnoDB's TF-IDF,
//!   computed over the whole table, all indexes together), each class weighted by its
//!   largest field weight;
//! - matching is case- and accent-insensitive (`utf8mb4_unicode_ci`); highlights mark the
//!   words of the query as written (lowercase), the last one as a prefix;
//! - every write commits before it returns (each trait call is one transaction; `upsert_in`
//!   and `delete_in` write in the caller's, so the index commits with the records); InnoDB
//!   makes FULLTEXT changes visible at commit;
//! - `ensure` compares the stored settings under the engine's write lock: `Empty` when
//!   created or changed, else `InStep`, never `Unknown`.

mod query;
mod tables;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use keel_core::search::{
    Highlights, IndexState, QueryPart, SearchCapabilities, SearchDocument, SearchHit, SearchIndex, SearchQuery,
    SearchRequest, SearchResults, SearchSettings, MAX_HITS,
};
use keel_core::{Error, Result};
use keel_sql::{Engine, SqlBuf, Tx};
use serde_json::Value;

use crate::sql::{check_name, class_of, class_weights, named_settings, not_open, number, text, SqlIndex, Wanted};
use tables::{Tokens, COLUMNS, DOCS, INDEXES};

/// Rows per INSERT statement.
const CHUNK: usize = 100;

/// The MariaDB provider (see the module docs).
pub struct MysqlSearch {
    engine: Arc<dyn Engine>,
    tokens: Tokens,
}

impl MysqlSearch {
    /// The provider on `engine` (a MariaDB engine: the records' own), creating its tables
    /// when missing.
    pub async fn open(engine: Arc<dyn Engine>) -> Result<Arc<MysqlSearch>> {
        tables::create(&engine).await?;
        let tokens = tables::tokens(&engine).await?;
        Ok(Arc::new(MysqlSearch { engine, tokens }))
    }

    fn select_settings(&self, index: &str) -> SqlBuf {
        let mut buf = SqlBuf::new(self.engine.dialect());
        buf.push(&format!("SELECT settings FROM {INDEXES} WHERE name = "))
            .param(Value::String(index.to_string()));
        buf
    }

    async fn settings_in(&self, tx: &mut dyn Tx, index: &str) -> Result<Option<SearchSettings>> {
        let buf = self.select_settings(index);
        let rows = tx.fetch_all(&buf.text, &buf.params).await?;
        parse_settings(rows)
    }

    async fn settings(&self, index: &str) -> Result<SearchSettings> {
        let buf = self.select_settings(index);
        let rows = self.engine.fetch_all(&buf.text, &buf.params).await?;
        parse_settings(rows)?.ok_or_else(|| not_open(index))
    }

    async fn delete_rows(&self, tx: &mut dyn Tx, index: &str, settings_too: bool) -> Result<()> {
        let mut tables = vec![(DOCS, "idx")];
        if settings_too {
            tables.push((INDEXES, "name"));
        }
        for (t, col) in tables {
            let mut buf = SqlBuf::new(self.engine.dialect());
            buf.push(&format!("DELETE FROM {t} WHERE {col} = "))
                .param(Value::String(index.to_string()));
            tx.execute(&buf.text, &buf.params).await?;
        }
        Ok(())
    }

    /// The words of `query` a stored word is highlighted for.
    fn wanted(&self, query: &SearchQuery) -> Wanted {
        let mut w = Wanted::default();
        for part in &query.include {
            match part {
                QueryPart::Word { word, prefix, .. } => {
                    if *prefix {
                        w.prefixes.push(word.clone());
                    } else if self.tokens.indexed(word) {
                        w.exact.insert(word.clone());
                    }
                }
                QueryPart::Phrase(words) => w.exact.extend(words.iter().cloned()),
            }
        }
        w
    }
}

fn parse_settings(rows: Vec<keel_sql::Row>) -> Result<Option<SearchSettings>> {
    rows.first()
        .map(|r| text(r, "settings"))
        .transpose()?
        .map(|s| serde_json::from_str(&s).map_err(Error::wrap))
        .transpose()
}

/// A document's text per class column (fields of one class joined by a line break), lowest
/// class first.
fn class_texts(settings: &SearchSettings, fields: &BTreeMap<String, String>) -> [String; 4] {
    let mut out: [Vec<&str>; 4] = Default::default();
    for (name, &weight) in &settings.fields {
        if let Some(t) = fields.get(name) {
            out[class_of(weight)].push(t);
        }
    }
    out.map(|v| v.join("\n"))
}

#[async_trait]
impl SqlIndex for MysqlSearch {
    async fn upsert_in(
        &self,
        tx: &mut dyn Tx,
        index: &str,
        settings: &SearchSettings,
        docs: Vec<SearchDocument>,
    ) -> Result<()> {
        check_name(index)?;
        // One per id (the last wins), in id order (rows locked in the same order everywhere).
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
        let rows: Vec<(String, (BTreeMap<String, String>, Option<String>))> = by_id.into_iter().collect();
        for chunk in rows.chunks(CHUNK) {
            let mut buf = SqlBuf::new(self.engine.dialect());
            buf.push(&format!(
                "INSERT INTO {DOCS} (idx, id, fields, doc, d, c, b, a) VALUES "
            ));
            for (i, (id, (fields, stored))) in chunk.iter().enumerate() {
                if i > 0 {
                    buf.push(", ");
                }
                buf.push("(")
                    .param(Value::String(index.to_string()))
                    .push(", ")
                    .param(Value::String(id.clone()))
                    .push(", ")
                    .param(Value::String(serde_json::to_string(fields).map_err(Error::wrap)?))
                    .push(", ")
                    .param(stored.clone().map_or(Value::Null, Value::String));
                for t in class_texts(settings, fields) {
                    buf.push(", ").param(Value::String(t));
                }
                buf.push(")");
            }
            let update = self
                .engine
                .dialect()
                .upsert("id", &["fields", "doc", "d", "c", "b", "a"]);
            buf.push(" ").push(&update);
            tx.execute(&buf.text, &buf.params).await?;
        }
        Ok(())
    }

    async fn delete_in(&self, tx: &mut dyn Tx, index: &str, ids: &[String]) -> Result<()> {
        check_name(index)?;
        for chunk in ids.chunks(CHUNK) {
            let mut buf = SqlBuf::new(self.engine.dialect());
            buf.push(&format!("DELETE FROM {DOCS} WHERE idx = "))
                .param(Value::String(index.to_string()))
                .push(" AND id IN (");
            for (i, id) in chunk.iter().enumerate() {
                if i > 0 {
                    buf.push(", ");
                }
                buf.param(Value::String(id.clone()));
            }
            buf.push(")");
            tx.execute(&buf.text, &buf.params).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl SearchIndex for MysqlSearch {
    fn capabilities(&self) -> SearchCapabilities {
        SearchCapabilities {
            shared: true,
            stemming: false,
            prefix: true,
            typo_tolerance: false,
            phrases: true,
            highlights: true,
            documents: true,
        }
    }

    async fn ensure(&self, index: &str, settings: &SearchSettings) -> Result<IndexState> {
        check_name(index)?;
        let mut tx = self.engine.begin().await?;
        if self.settings_in(tx.as_mut(), index).await?.as_ref() == Some(settings) {
            tx.commit().await?;
            return Ok(IndexState::InStep);
        }
        self.delete_rows(tx.as_mut(), index, true).await?;
        let mut buf = SqlBuf::new(self.engine.dialect());
        buf.push(&format!("INSERT INTO {INDEXES} (name, settings) VALUES ("))
            .param(Value::String(index.to_string()))
            .push(", ")
            .param(Value::String(serde_json::to_string(settings).map_err(Error::wrap)?))
            .push(")");
        tx.execute(&buf.text, &buf.params).await?;
        tx.commit().await?;
        Ok(IndexState::Empty)
    }

    async fn drop_index(&self, index: &str) -> Result<()> {
        check_name(index)?;
        let mut tx = self.engine.begin_concurrent().await?;
        self.delete_rows(tx.as_mut(), index, true).await?;
        tx.commit().await
    }

    async fn clear(&self, index: &str) -> Result<()> {
        check_name(index)?;
        let mut tx = self.engine.begin_concurrent().await?;
        self.delete_rows(tx.as_mut(), index, false).await?;
        tx.commit().await
    }

    async fn upsert(&self, index: &str, docs: Vec<SearchDocument>) -> Result<()> {
        check_name(index)?;
        let mut tx = self.engine.begin_concurrent().await?;
        let settings = self
            .settings_in(tx.as_mut(), index)
            .await?
            .ok_or_else(|| not_open(index))?;
        self.upsert_in(tx.as_mut(), index, &settings, docs).await?;
        tx.commit().await
    }

    async fn delete(&self, index: &str, ids: &[String]) -> Result<()> {
        let mut tx = self.engine.begin_concurrent().await?;
        self.delete_in(tx.as_mut(), index, ids).await?;
        tx.commit().await
    }

    async fn search(&self, index: &str, query: &SearchQuery, limit: usize) -> Result<Vec<SearchHit>> {
        check_name(index)?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let settings = self.settings(index).await?;
        let Some((must, rank)) = query::boolean(query, &self.tokens) else {
            return Ok(Vec::new());
        };
        let weights = class_weights(&settings);
        let mut used = [false; 4];
        for &w in settings.fields.values() {
            used[class_of(w)] = true;
        }
        let mut buf = SqlBuf::new(self.engine.dialect());
        let rank = buf.bind(Value::String(rank));
        let score: Vec<String> = (0..4)
            .filter(|&c| used[c])
            .map(|c| {
                format!(
                    "{} * MATCH({}) AGAINST ({rank} IN BOOLEAN MODE)",
                    weights[c], COLUMNS[c]
                )
            })
            .collect();
        let score = if score.is_empty() {
            "0".to_string()
        } else {
            score.join(" + ")
        };
        buf.push(&format!("SELECT id, {score} AS score FROM {DOCS} WHERE idx = "))
            .param(Value::String(index.to_string()))
            .push(" AND MATCH(a, b, c, d) AGAINST (")
            .param(Value::String(must))
            .push(" IN BOOLEAN MODE) ORDER BY score DESC, id LIMIT ")
            .param(Value::from(limit.min(MAX_HITS) as u64));
        let rows = self.engine.fetch_all(&buf.text, &buf.params).await?;
        rows.iter()
            .map(|r| {
                Ok(SearchHit {
                    id: text(r, "id")?,
                    score: number(r, "score") as f32,
                })
            })
            .collect()
    }

    async fn highlights(&self, index: &str, query: &SearchQuery, ids: &[String]) -> Result<Vec<(String, Highlights)>> {
        check_name(index)?;
        let mut found: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for chunk in ids.chunks(CHUNK) {
            let mut buf = SqlBuf::new(self.engine.dialect());
            buf.push(&format!("SELECT id, fields FROM {DOCS} WHERE idx = "))
                .param(Value::String(index.to_string()))
                .push(" AND id IN (");
            for (i, id) in chunk.iter().enumerate() {
                if i > 0 {
                    buf.push(", ");
                }
                buf.param(Value::String(id.clone()));
            }
            buf.push(")");
            for r in self.engine.fetch_all(&buf.text, &buf.params).await? {
                let fields = serde_json::from_str(&text(&r, "fields")?).map_err(Error::wrap)?;
                found.insert(text(&r, "id")?, fields);
            }
        }
        let wanted = self.wanted(query);
        Ok(ids
            .iter()
            .filter_map(|id| found.remove(id).map(|f| (id.clone(), f)))
            .map(|(id, fields)| {
                let marks = wanted.highlight(&fields, |w| Some(w.to_string()));
                (id, marks)
            })
            .collect())
    }

    async fn query(&self, index: &str, request: &SearchRequest) -> Result<SearchResults> {
        check_name(index)?;
        let doc = |r: &keel_sql::Row| r.get("doc").and_then(Value::as_str).map(String::from);
        let candidates = if request.query.is_empty() {
            let mut buf = SqlBuf::new(self.engine.dialect());
            buf.push(&format!("SELECT id, doc FROM {DOCS} WHERE idx = "))
                .param(Value::String(index.to_string()))
                .push(" ORDER BY id LIMIT ")
                .param(Value::from(MAX_HITS as u64));
            let rows = self.engine.fetch_all(&buf.text, &buf.params).await?;
            rows.iter()
                .map(|r| Ok((text(r, "id")?, 0.0, doc(r))))
                .collect::<Result<Vec<_>>>()?
        } else {
            let hits = self.search(index, &request.query, MAX_HITS).await?;
            let mut docs: BTreeMap<String, Option<String>> = BTreeMap::new();
            for chunk in hits.chunks(1000) {
                let mut buf = SqlBuf::new(self.engine.dialect());
                buf.push(&format!("SELECT id, doc FROM {DOCS} WHERE idx = "))
                    .param(Value::String(index.to_string()))
                    .push(" AND id IN (");
                for (i, h) in chunk.iter().enumerate() {
                    if i > 0 {
                        buf.push(", ");
                    }
                    buf.param(Value::String(h.id.clone()));
                }
                buf.push(")");
                for r in &self.engine.fetch_all(&buf.text, &buf.params).await? {
                    docs.insert(text(r, "id")?, doc(r));
                }
            }
            hits.into_iter()
                .filter_map(|h| docs.remove(&h.id).map(|d| (h.id, h.score, d)))
                .collect()
        };
        Ok(crate::documents::select(candidates, request))
    }

    async fn indexes(&self, prefix: &str) -> Result<Vec<(String, SearchSettings)>> {
        let rows = self
            .engine
            .fetch_all(&format!("SELECT name, settings FROM {INDEXES}"), &[])
            .await?;
        named_settings(&rows, prefix)
    }

    async fn close(&self) -> Result<()> {
        Ok(())
    }
}
