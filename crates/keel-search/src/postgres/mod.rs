//! The PostgreSQL search provider: indexes as rows of three tables in the records' own
//! schema (see `tables.rs`), shared by every Keel process on that database.
//!
//! **One table for every index** (an `idx` column beside the document id), not one per
//! index: making, emptying or dropping an index is a `DELETE`/`INSERT`, never DDL, so it
//! runs inside any transaction (a record write's too) and needs no schema change per
//! collection; the primary key `(idx, id)` keeps each index's rows together, and the GIN
//! index on `vec` serves every index (a search filters on `idx` and `vec @@ query`).
//!
//! Contract and crash behaviour:
//! - a document is a row: its fields' text (JSON, for highlights) and a `tsvector` of each
//!   field, `setweight(to_tsvector(cfg, field), class)` concatenated with a separator
//!   lexeme between fields, so a phrase never matches across two fields;
//! - **weights** 1..10 map onto PostgreSQL's four classes: 1–2 → D, 3–4 → C, 5–7 → B,
//!   8–10 → A (`sql::class_of`); each class ranks with the largest weight of its fields
//!   (`ts_rank` with those four weights): weights in one class rank alike;
//! - **language** → the text-search configuration of the same name (`english`, `simple`, …:
//!   every [`Language`](keel_core::search::Language) exists in PostgreSQL); its stopwords
//!   (`the`, `a`, … in English) are not indexed and drop out of queries;
//! - **typos** with `pg_trgm` (created when missing if the role may; otherwise
//!   `typo_tolerance` is false and a warning says why at start): see `query.rs`;
//! - every write commits before it returns (each trait call is one transaction; `upsert_in`
//!   and `delete_in` write in the caller's, so the index commits with the records);
//! - `ensure` compares the stored settings under the engine's write lock: `Empty` when
//!   created or changed (documents removed), else `InStep`. Never `Unknown`: what is
//!   committed is there after any crash or restart.

mod highlights;
mod query;
mod tables;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use keel_core::search::{
    Highlights, IndexState, SearchCapabilities, SearchDocument, SearchHit, SearchIndex, SearchQuery, SearchRequest,
    SearchResults, SearchSettings, MAX_HITS,
};
use keel_core::{Error, Result};
use keel_sql::{Engine, SqlBuf, Tx};
use serde_json::Value;

use crate::sql::{
    check_name, class_of, class_weights, docs_json, named_settings, not_open, number, text, SqlIndex, CLASSES,
};
use tables::{DOCS, INDEXES, TERMS};

/// The PostgreSQL provider (see the module docs).
pub struct PostgresSearch {
    engine: Arc<dyn Engine>,
    /// The quoted schema of `pg_trgm`, when typos are supported.
    trgm: Option<String>,
}

impl PostgresSearch {
    /// The provider on `engine` (a PostgreSQL engine: the records' own), creating its tables
    /// when missing.
    pub async fn open(engine: Arc<dyn Engine>) -> Result<Arc<PostgresSearch>> {
        let trgm = tables::create(&engine).await?;
        Ok(Arc::new(PostgresSearch { engine, trgm }))
    }

    async fn settings_in(&self, tx: &mut dyn Tx, index: &str) -> Result<Option<SearchSettings>> {
        let mut buf = SqlBuf::new(self.engine.dialect());
        buf.push(&format!("SELECT settings FROM {INDEXES} WHERE name = "))
            .param(Value::String(index.to_string()));
        let rows = tx.fetch_all(&buf.text, &buf.params).await?;
        rows.first()
            .map(|r| text(r, "settings"))
            .transpose()?
            .map(|s| serde_json::from_str(&s).map_err(Error::wrap))
            .transpose()
    }

    async fn settings(&self, index: &str) -> Result<SearchSettings> {
        let mut buf = SqlBuf::new(self.engine.dialect());
        buf.push(&format!("SELECT settings FROM {INDEXES} WHERE name = "))
            .param(Value::String(index.to_string()));
        let rows = self.engine.fetch_all(&buf.text, &buf.params).await?;
        let s = rows.first().map(|r| text(r, "settings")).transpose()?;
        let s = s.ok_or_else(|| not_open(index))?;
        serde_json::from_str(&s).map_err(Error::wrap)
    }

    async fn delete_rows(&self, tx: &mut dyn Tx, index: &str, tables: &[&str]) -> Result<()> {
        for t in tables {
            let mut buf = SqlBuf::new(self.engine.dialect());
            let col = if *t == INDEXES { "name" } else { "idx" };
            buf.push(&format!("DELETE FROM {t} WHERE {col} = "))
                .param(Value::String(index.to_string()));
            tx.execute(&buf.text, &buf.params).await?;
        }
        Ok(())
    }
}

/// The `tsvector` of a document `e` (a `json` element `{"id", "f"}`) under `settings`.
fn vector(buf: &mut SqlBuf, cfg: &str, settings: &SearchSettings) -> String {
    let parts: Vec<String> = settings
        .fields
        .iter()
        .map(|(name, &weight)| {
            let name = buf.bind(Value::String(name.clone()));
            let class = CLASSES[class_of(weight)];
            format!("setweight(to_tsvector({cfg}, coalesce(e->'f'->>{name}, '')), '{class}')")
        })
        .collect();
    if parts.is_empty() {
        return "''::tsvector".into();
    }
    // A lexeme no query can ask for, one position between fields.
    parts.join(" || '''-'':1'::tsvector || ")
}

#[async_trait]
impl SqlIndex for PostgresSearch {
    async fn upsert_in(
        &self,
        tx: &mut dyn Tx,
        index: &str,
        settings: &SearchSettings,
        docs: Vec<SearchDocument>,
    ) -> Result<()> {
        check_name(index)?;
        if docs.is_empty() {
            return Ok(());
        }
        let mut buf = SqlBuf::new(self.engine.dialect());
        let idx = buf.bind(Value::String(index.to_string()));
        let list = buf.bind(docs_json(settings, docs));
        let cfg = buf.bind(Value::String(settings.language.name()));
        let cfg = format!("{cfg}::regconfig");
        let vec = vector(&mut buf, &cfg, settings);
        let upsert = format!(
            "INSERT INTO {DOCS} (idx, id, fields, vec, doc) \
             SELECT {idx}, e->>'id', (e->'f')::text, {vec}, e->>'d' FROM json_array_elements({list}::json) AS e \
             ON CONFLICT (idx, id) DO UPDATE SET fields = excluded.fields, vec = excluded.vec, doc = excluded.doc"
        );
        let sql = if self.trgm.is_some() {
            format!(
                "WITH up AS ({upsert} RETURNING vec) \
                 INSERT INTO {TERMS} (idx, term) \
                 SELECT DISTINCT {idx}, t FROM up, unnest(tsvector_to_array(up.vec)) AS t WHERE t <> '-' \
                 ORDER BY 2 ON CONFLICT DO NOTHING"
            )
        } else {
            upsert
        };
        buf.push(&sql);
        tx.execute(&buf.text, &buf.params).await?;
        Ok(())
    }

    async fn delete_in(&self, tx: &mut dyn Tx, index: &str, ids: &[String]) -> Result<()> {
        check_name(index)?;
        if ids.is_empty() {
            return Ok(());
        }
        let mut buf = SqlBuf::new(self.engine.dialect());
        buf.push(&format!("DELETE FROM {DOCS} WHERE idx = "))
            .param(Value::String(index.to_string()))
            .push(" AND id IN (SELECT json_array_elements_text(")
            .param(Value::Array(ids.iter().cloned().map(Value::String).collect()))
            .push("::json))");
        tx.execute(&buf.text, &buf.params).await?;
        Ok(())
    }
}

#[async_trait]
impl SearchIndex for PostgresSearch {
    fn capabilities(&self) -> SearchCapabilities {
        SearchCapabilities {
            shared: true,
            stemming: true,
            prefix: true,
            typo_tolerance: self.trgm.is_some(),
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
        self.delete_rows(tx.as_mut(), index, &[DOCS, TERMS, INDEXES]).await?;
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
        self.delete_rows(tx.as_mut(), index, &[DOCS, TERMS, INDEXES]).await?;
        tx.commit().await
    }

    async fn clear(&self, index: &str) -> Result<()> {
        check_name(index)?;
        let mut tx = self.engine.begin_concurrent().await?;
        self.delete_rows(tx.as_mut(), index, &[DOCS, TERMS]).await?;
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
        if query.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let settings = self.settings(index).await?;
        let language = settings.language.name();
        let typos = match &self.trgm {
            Some(trgm) => query::typo_candidates(&self.engine, trgm, index, &language, query).await?,
            None => Default::default(),
        };
        let mut buf = SqlBuf::new(self.engine.dialect());
        let cfg = format!("{}::regconfig", buf.bind(Value::String(language)));
        let q = query::tsquery(&mut buf, &cfg, query, &typos);
        let w = class_weights(&settings).map(|x| x.to_string()).join(",");
        let weights = buf.bind(Value::String(format!("{{{w}}}")));
        let idx = buf.bind(Value::String(index.to_string()));
        let limit = buf.bind(Value::from(limit.min(MAX_HITS) as u64));
        buf.push(&format!(
            "SELECT d.id AS id, ts_rank({weights}::float4[], d.vec, q.q) AS score \
             FROM {DOCS} d, (SELECT {q} AS q) AS q \
             WHERE d.idx = {idx} AND d.vec @@ q.q ORDER BY score DESC, d.id LIMIT {limit}"
        ));
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
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let settings = self.settings(index).await?;
        let mut buf = SqlBuf::new(self.engine.dialect());
        buf.push(&format!("SELECT id, fields FROM {DOCS} WHERE idx = "))
            .param(Value::String(index.to_string()))
            .push(" AND id IN (SELECT json_array_elements_text(")
            .param(Value::Array(ids.iter().cloned().map(Value::String).collect()))
            .push("::json))");
        let rows = self.engine.fetch_all(&buf.text, &buf.params).await?;
        let mut found: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for r in &rows {
            let fields = serde_json::from_str(&text(r, "fields")?).map_err(Error::wrap)?;
            found.insert(text(r, "id")?, fields);
        }
        let docs: Vec<(String, BTreeMap<String, String>)> = ids
            .iter()
            .filter_map(|id| found.remove(id).map(|f| (id.clone(), f)))
            .collect();
        let typos = self.trgm.is_some();
        highlights::mark(&self.engine, &settings, query, docs, typos).await
    }

    async fn query(&self, index: &str, request: &SearchRequest) -> Result<SearchResults> {
        check_name(index)?;
        let mut buf = SqlBuf::new(self.engine.dialect());
        let ranked = if request.query.is_empty() {
            buf.push(&format!("SELECT id, doc FROM {DOCS} WHERE idx = "))
                .param(Value::String(index.to_string()))
                .push(" ORDER BY id LIMIT ")
                .param(Value::from(MAX_HITS as u64));
            None
        } else {
            let hits = self.search(index, &request.query, MAX_HITS).await?;
            let ids: Vec<Value> = hits.iter().map(|h| Value::String(h.id.clone())).collect();
            buf.push(&format!("SELECT id, doc FROM {DOCS} WHERE idx = "))
                .param(Value::String(index.to_string()))
                .push(" AND id IN (SELECT json_array_elements_text(")
                .param(Value::Array(ids))
                .push("::json))");
            Some(hits)
        };
        let rows = self.engine.fetch_all(&buf.text, &buf.params).await?;
        let doc = |r: &keel_sql::Row| r.get("doc").and_then(Value::as_str).map(String::from);
        let candidates = match ranked {
            None => rows
                .iter()
                .map(|r| Ok((text(r, "id")?, 0.0, doc(r))))
                .collect::<Result<Vec<_>>>()?,
            Some(hits) => {
                let mut docs: BTreeMap<String, Option<String>> = BTreeMap::new();
                for r in &rows {
                    docs.insert(text(r, "id")?, doc(r));
                }
                hits.into_iter()
                    .filter_map(|h| docs.remove(&h.id).map(|d| (h.id, h.score, d)))
                    .collect()
            }
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
