//! The floor of `keel bench search`: the same documents in SQLite's own FTS5 (the SQLite
//! that sqlx bundles, as Keel's records use), with nothing of Keel in between.
//!
//! A fresh database file, WAL with `synchronous=NORMAL` (as Keel's SQLite), and one table
//! `docs USING fts5(title, body, tokenize='porter unicode61')` (Porter stemming, as the
//! English stemmer of the other providers; no stopwords, like the embedded index). A batch
//! is one transaction of one `INSERT` per document (its rowid is the document number),
//! searchable once committed. A query is `… WHERE docs MATCH ? ORDER BY bm25(docs, 3.0, 1.0)
//! LIMIT ?` (title weighs 3, body 1, as the other providers are set), on a pool of read
//! connections, one per client. FTS5 has no typo tolerance: a `typo` query looks for the word
//! as typed.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::Row;

use super::corpus::Doc;

pub struct Fts5 {
    writer: SqlitePool,
    readers: SqlitePool,
}

fn options(path: &Path) -> anyhow::Result<SqliteConnectOptions> {
    let url = format!("sqlite://{}", path.display());
    Ok(SqliteConnectOptions::from_str(&url)
        .context("the FTS5 database's path")?
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(30)))
}

impl Fts5 {
    /// A fresh database `path` with the `docs` table, and `readers` read connections.
    pub async fn open(path: &Path, readers: u32) -> anyhow::Result<Fts5> {
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options(path)?.create_if_missing(true))
            .await
            .context("cannot create the FTS5 database")?;
        sqlx::query("CREATE VIRTUAL TABLE docs USING fts5(title, body, tokenize='porter unicode61')")
            .execute(&writer)
            .await
            .context("cannot create the FTS5 table (is FTS5 compiled into SQLite?)")?;
        let readers = SqlitePoolOptions::new()
            .max_connections(readers.max(1))
            .connect_with(options(path)?.read_only(true))
            .await
            .context("cannot open the FTS5 database for reading")?;
        Ok(Fts5 { writer, readers })
    }

    /// Inserts `docs` (number, document) in one transaction.
    pub async fn insert(&self, docs: &[(u64, Doc)]) -> anyhow::Result<()> {
        let mut tx = self.writer.begin().await?;
        for (i, doc) in docs {
            sqlx::query("INSERT INTO docs (rowid, title, body) VALUES (?, ?, ?)")
                .bind(i64::try_from(*i)?)
                .bind(doc.title.as_str())
                .bind(doc.body.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The best `limit` matches of `query` (FTS5 syntax), best first: how many there were.
    pub async fn search(&self, query: &str, limit: u32) -> anyhow::Result<usize> {
        let rows = sqlx::query("SELECT rowid FROM docs WHERE docs MATCH ? ORDER BY bm25(docs, 3.0, 1.0) LIMIT ?")
            .bind(query)
            .bind(limit)
            .fetch_all(&self.readers)
            .await
            .with_context(|| format!("the FTS5 query {query:?} failed"))?;
        for r in &rows {
            let _: i64 = r.try_get(0)?;
        }
        Ok(rows.len())
    }

    pub async fn close(self) {
        self.readers.close().await;
        self.writer.close().await;
    }
}
