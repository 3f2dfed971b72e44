//! PocketBase's filter and rule language: parsing into an AST and compiling to
//! parameterised SQL. User input never becomes SQL text: literals are bound
//! parameters and identifiers are checked against the schema before being quoted.
//!
//! OWNED BY THE FILTER WORK: `ast.rs`, `lexer.rs`, `parser.rs`, `compile.rs` (and tests).

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::engine::SqlBuf;
use crate::request::RequestInfo;
use crate::schema::Collection;

/// Finds collections by name or id (for relations and `@collection.*`).
pub trait SchemaLookup: Send + Sync {
    fn collection(&self, name_or_id: &str) -> Option<Arc<Collection>>;
}

/// Where an expression is compiled.
pub struct CompileCtx<'a> {
    /// The collection the expression is about.
    pub collection: &'a Collection,
    /// The SQL alias of that collection's table in the surrounding query (e.g. `t`).
    pub alias: &'a str,
    pub schema: &'a dyn SchemaLookup,
    pub request: &'a RequestInfo,
    /// The instant `@now`, `@todayStart`, … are computed from.
    pub now: DateTime<Utc>,
}
