//! Full-text search providers behind keel-core's `SearchIndex` contract: `embedded` (tantivy,
//! an index per name under a directory of the data dir), `postgres` (`tsvector` rows in the
//! records' PostgreSQL schema) and `mysql` (MariaDB `FULLTEXT` rows in the records' database),
//! the last two shared by every process and written inside the records' transactions
//! (`sql::SqlIndex`).
#![forbid(unsafe_code)]

mod documents;
#[cfg(feature = "embedded")]
pub mod embedded;
pub mod highlight;
pub mod mysql;
pub mod postgres;
pub mod sql;
