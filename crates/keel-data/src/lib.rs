//! Collections, records, the filter and rule language and schema changes, over an SQL
//! engine (SQLite today; the engine trait keeps SQLite-only SQL inside `sqlite.rs`).
#![forbid(unsafe_code)]

pub mod engine;
pub mod filter;
pub mod request;
pub mod schema;
pub mod sqlite;
pub mod store;
pub mod system;

pub use engine::{Dialect, Engine, PoolStats, Row, SqlBuf, Tx};
pub use request::{Access, AuthRecord, RequestInfo, SchemaActor};
pub use schema::{Collection, CollectionType, Field, FieldKind, RecordData};
pub use store::{AuditVerification, BatchOp, Expanded, ListParams, Page, Record, Store};
