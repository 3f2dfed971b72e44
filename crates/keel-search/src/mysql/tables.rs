//! The provider's tables in the records' database, created when missing, and what the
//! server's FULLTEXT settings leave out of an index.
//!
//! - `keel_search_indexes (name, settings)`: one row per index, its settings as JSON;
//! - `keel_search_documents (idx, id, fields, a, b, c, d)`: the documents of every index;
//!   `fields` the stored text (JSON, for highlights), `a`…`d` the text of the fields of each
//!   weight class (`sql::class_of`: `d` the lowest), case- and accent-insensitive
//!   (`utf8mb4_unicode_ci`), each with a FULLTEXT index (its share of the score) and one
//!   FULLTEXT index over the four (the match).

use std::collections::HashSet;
use std::sync::Arc;

use keel_core::Result;
use keel_sql::Engine;
use serde_json::Value;

pub(super) const INDEXES: &str = "keel_search_indexes";
pub(super) const DOCS: &str = "keel_search_documents";
/// The class columns, lowest class first (as `sql::CLASSES`).
pub(super) const COLUMNS: [&str; 4] = ["d", "c", "b", "a"];

/// What InnoDB leaves out of a FULLTEXT index (and so what a query cannot ask for).
pub(super) struct Tokens {
    /// `innodb_ft_min_token_size`: shorter words are not indexed.
    pub(super) min_chars: usize,
    /// The default stopword list, when stopwords are on.
    pub(super) stopwords: HashSet<String>,
}

impl Tokens {
    /// Whether `word` is in the index (long enough, not a stopword).
    pub(super) fn indexed(&self, word: &str) -> bool {
        word.chars().count() >= self.min_chars && !self.stopwords.contains(word)
    }
}

fn number(row: Option<&keel_sql::Row>, column: &str) -> Option<i64> {
    match row?.get(column)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Reads the server's token settings.
pub(super) async fn tokens(engine: &Arc<dyn Engine>) -> Result<Tokens> {
    let rows = engine
        .fetch_all(
            "SELECT @@innodb_ft_min_token_size AS m, @@innodb_ft_enable_stopword AS e",
            &[],
        )
        .await?;
    let min_chars = number(rows.first(), "m").unwrap_or(3).max(1) as usize;
    let mut stopwords = HashSet::new();
    if number(rows.first(), "e").unwrap_or(1) != 0 {
        let rows = engine
            .fetch_all(
                "SELECT value AS w FROM information_schema.INNODB_FT_DEFAULT_STOPWORD",
                &[],
            )
            .await?;
        stopwords = rows
            .into_iter()
            .filter_map(|r| r.get("w")?.as_str().map(str::to_lowercase))
            .collect();
    }
    Ok(Tokens { min_chars, stopwords })
}

/// Creates the tables when missing (each statement commits on MySQL; all are idempotent).
pub(super) async fn create(engine: &Arc<dyn Engine>) -> Result<()> {
    let key = "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin";
    let words = "LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL";
    let statements = [
        format!(
            "CREATE TABLE IF NOT EXISTS {INDEXES} (name VARCHAR(64) {key} NOT NULL PRIMARY KEY, \
             settings LONGTEXT {key} NOT NULL) ENGINE=InnoDB"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {DOCS} (idx VARCHAR(64) {key} NOT NULL, id VARCHAR(255) {key} NOT NULL, \
             fields LONGTEXT {key} NOT NULL, a {words}, b {words}, c {words}, d {words}, \
             PRIMARY KEY (idx, id), FULLTEXT KEY {DOCS}_a (a), FULLTEXT KEY {DOCS}_b (b), \
             FULLTEXT KEY {DOCS}_c (c), FULLTEXT KEY {DOCS}_d (d), FULLTEXT KEY {DOCS}_all (a, b, c, d)) \
             ENGINE=InnoDB"
        ),
        format!("ALTER TABLE {DOCS} ADD COLUMN IF NOT EXISTS doc LONGTEXT {key} NULL"),
    ];
    let _schema = engine.lock_schema().await?;
    let mut tx = engine.begin_concurrent().await?;
    for s in &statements {
        tx.execute(s, &[]).await?;
    }
    tx.commit().await
}
