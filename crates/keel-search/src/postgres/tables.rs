//! The provider's tables in the records' schema, created when missing, and whether
//! `pg_trgm` (typo tolerance) is there.
//!
//! - `keel_search_indexes (name, settings)`: one row per index, its settings as JSON;
//! - `keel_search_documents (idx, id, fields, vec)`: the documents of every index, keyed by
//!   index name and id; `fields` the stored text (JSON object, for highlights), `vec` the
//!   weighted `tsvector`, under a GIN index; `doc` a free-standing index's stored document
//!   and attributes (JSON `{"source", "attributes"}`; null for records);
//! - `keel_search_terms (idx, term)`: every lexeme an index's documents gave (never pruned
//!   on delete: a stale term only costs a candidate that matches nothing), under a trigram
//!   GIN index, where typo candidates are looked up. Only with `pg_trgm`.

use std::sync::Arc;

use keel_core::Result;
use keel_sql::Engine;

pub(super) const INDEXES: &str = "keel_search_indexes";
pub(super) const DOCS: &str = "keel_search_documents";
pub(super) const TERMS: &str = "keel_search_terms";

/// Creates `pg_trgm` if it can; returns the schema it lives in, or `None` (no typo
/// tolerance) when it is neither there nor creatable.
async fn trigram_schema(engine: &Arc<dyn Engine>) -> Option<String> {
    let find = "SELECT n.nspname AS schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace \
                WHERE e.extname = 'pg_trgm'";
    let found = |rows: Vec<keel_sql::Row>| {
        rows.into_iter()
            .next()
            .and_then(|r| r.get("schema").and_then(|v| v.as_str()).map(String::from))
    };
    if let Some(s) = engine.fetch_all(find, &[]).await.ok().and_then(found) {
        return Some(s);
    }
    let created = async {
        // In `public` when it exists: an extension created in the first schema of the
        // search path would go with that schema when it is dropped, leaving every other
        // schema's search without it.
        let mut tx = engine.begin().await?;
        tx.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public", &[])
            .await?;
        tx.commit().await
    }
    .await;
    let created = match created {
        Ok(()) => Ok(()),
        Err(_) => {
            async {
                let mut tx = engine.begin().await?;
                tx.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm", &[]).await?;
                tx.commit().await
            }
            .await
        }
    };
    if let Err(e) = created {
        tracing::warn!(error = %e, "cannot create the pg_trgm extension: PostgreSQL search works without typo tolerance");
    }
    engine.fetch_all(find, &[]).await.ok().and_then(found)
}

/// Creates the tables (serialized with other processes by the engine's write lock);
/// returns the quoted schema of `pg_trgm` when typos are supported.
pub(super) async fn create(engine: &Arc<dyn Engine>) -> Result<Option<String>> {
    let d = engine.dialect();
    let trgm = trigram_schema(engine).await.map(|s| d.quote_ident(&s));
    let mut statements = vec![
        format!("CREATE TABLE IF NOT EXISTS {INDEXES} (name TEXT PRIMARY KEY NOT NULL, settings TEXT NOT NULL)"),
        format!(
            "CREATE TABLE IF NOT EXISTS {DOCS} (idx TEXT NOT NULL, id TEXT NOT NULL, fields TEXT NOT NULL, \
             vec tsvector NOT NULL, PRIMARY KEY (idx, id))"
        ),
        format!("ALTER TABLE {DOCS} ADD COLUMN IF NOT EXISTS doc TEXT"),
        format!("CREATE INDEX IF NOT EXISTS {DOCS}_vec ON {DOCS} USING gin (vec)"),
        format!("CREATE TABLE IF NOT EXISTS {TERMS} (idx TEXT NOT NULL, term TEXT NOT NULL, PRIMARY KEY (idx, term))"),
    ];
    if let Some(schema) = &trgm {
        statements.push(format!(
            "CREATE INDEX IF NOT EXISTS {TERMS}_trgm ON {TERMS} USING gin (term {schema}.gin_trgm_ops)"
        ));
    }
    let mut tx = engine.begin().await?;
    for s in &statements {
        tx.execute(s, &[]).await?;
    }
    tx.commit().await?;
    Ok(trgm)
}
