//! Full-text search providers behind keel-core's `SearchIndex` contract: `embedded` (tantivy,
//! an index per name under a directory of the data dir).
#![forbid(unsafe_code)]

#[cfg(feature = "embedded")]
pub mod embedded;
pub mod highlight;
