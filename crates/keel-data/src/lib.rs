//! Collections, records, the filter and rule language and schema changes, over an SQL
//! engine from `keel-sql` (its `Dialect` keeps engine-specific SQL out of this crate).
#![forbid(unsafe_code)]

pub mod auth_defaults;
pub mod filter;
pub mod request;
pub mod schema;
pub mod store;
pub mod system;

pub use request::{Access, AuthRecord, RequestInfo, RequestMap, SchemaActor};
pub use schema::{Collection, CollectionType, Field, FieldKind, RecordData};
pub use store::probe::{index_shape, IndexShape, Probe};
pub use store::{
    field_errors, view_mentions, AuditVerification, BatchOp, ChangeRecorder, CollectionChange, Expanded, ListParams,
    Page, Record, Recorded, RowMark, Store, HISTORY_STATES,
};
