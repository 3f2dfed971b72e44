//! PocketBase's filter and rule language: parsing into an AST and compiling to
//! parameterised SQL. User input never becomes SQL text: literals are bound
//! parameters and identifiers are checked against the schema before being quoted.
//!
//! OWNED BY THE FILTER WORK: `ast.rs`, `lexer.rs`, `parser.rs`, `compile.rs`, `compare.rs`,
//! `resolve.rs` (and tests).
//!
//! Semantics where PocketBase leaves room (see `compare.rs` and `resolve.rs` for details):
//! - `null` and the zero value of a field's type (`""`, `0`, `false`) are alike for `=`/`!=`.
//! - For a guest every `@request.auth.*` equals `null`/`""` constants (so
//!   `@request.auth.id = ""` holds) but never equals or is like a stored value: unlike
//!   PocketBase, `author = @request.auth.id` is false for a guest even where `author` is empty.
//! - A multi-valued operand (multiple select/relation/file, a relation path through a
//!   multiple relation or a back-relation, a JSON array from `@request.*`) is the set of its
//!   elements; an empty set counts as one `null` element. `?op` holds when at least one
//!   element matches, a plain `op` (and `:each`) when every element matches.
//! - `@collection.<name>[:alias]` is an `EXISTS` over that table; comparisons sharing the
//!   same name/alias inside one `&&` chain are about the same row.
//!
//! What an expression may reach depends on who wrote it ([`Origin`]). A collection rule is
//! written by a superuser and reaches everything. A caller's filter reaches only what the
//! caller could read directly, unless the caller skips the rules of the collection concerned
//! ([`RequestInfo::skips_rules`]):
//! - `@collection.X` is refused with a 403 ("Only superusers can filter by @collection.");
//! - a forward relation hop (`owner.email`, `@request.auth.org.title`) only reaches target
//!   rows the target's `viewRule` lets the caller see, a back-relation (`posts_via_owner`)
//!   rows its `listRule` lets the caller see; a `null` rule (superusers only), or a system
//!   collection (a name starting with `_`), makes the hop reach no row (as if the relation
//!   were empty), the way `expand` leaves such a relation out;
//! - hidden fields are refused (400);
//! - the `email` of an auth collection takes part only for rows whose `emailVisibility` is
//!   true or that are the caller's own: a comparison naming the email of such a row is false
//!   (as in PocketBase); through a multi-valued path the invisible rows are left out of the set.

pub mod ast;
mod compare;
mod compile;
/// Test support for the fuzz target (`fuzz/`): not for production code.
#[doc(hidden)]
pub mod fuzzing;
mod lexer;
mod parser;
mod resolve;

#[cfg(test)]
mod tests_access;
#[cfg(test)]
mod tests_parse;
#[cfg(test)]
mod tests_sql;
#[cfg(test)]
mod tests_sql_cases;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::request::RequestInfo;
use crate::schema::Collection;
use keel_sql::SqlBuf;

pub use parser::{MAX_COMPARISONS, MAX_DEPTH, MAX_LEN};

/// Finds collections by name or id (for relations and `@collection.*`).
pub trait SchemaLookup: Send + Sync {
    fn collection(&self, name_or_id: &str) -> Option<Arc<Collection>>;
}

/// Who wrote an expression, which decides what it may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A collection rule (`listRule`, …), written by a superuser: trusted, reaches anything.
    Rule,
    /// A caller's `filter` (list, count, realtime `options.filter`): reaches only what the
    /// caller could read directly (see the module docs).
    Filter,
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
    /// Who wrote the expression.
    pub origin: Origin,
}

/// Parses and compiles `src` into one SQL boolean condition over `ctx.alias`, binding every
/// literal into `buf`. An empty (or all-whitespace) expression compiles to `1=1`.
/// Errors are 400s whose field is `field` (`filter`, `listRule`, …) and whose message says
/// where the expression went wrong.
pub fn compile_expr(src: &str, field: &str, ctx: &CompileCtx<'_>, buf: &mut SqlBuf) -> keel_core::Result<String> {
    let expr = parser::parse_expr(src, field)?;
    compile(&expr, field, ctx, buf)
}

/// Parses an expression (errors name the field `filter`). Cache the result and compile it
/// per request with [`compile`].
pub fn parse(src: &str) -> keel_core::Result<ast::Expr> {
    parser::parse_expr(src, "filter")
}

/// Parses an expression; errors name `field` (`listRule`, …).
pub fn parse_for(src: &str, field: &str) -> keel_core::Result<ast::Expr> {
    parser::parse_expr(src, field)
}

/// Compiles a parsed expression into one SQL boolean condition over `ctx.alias`, binding
/// every value into `buf`. Errors (unknown or hidden field, bad modifier, …) are 400s on `field`.
pub fn compile(expr: &ast::Expr, field: &str, ctx: &CompileCtx<'_>, buf: &mut SqlBuf) -> keel_core::Result<String> {
    compile::Compiler::new(ctx, buf, field).run(expr)
}

/// The 403 a caller's filter naming `@collection` gets (PocketBase's message).
pub(crate) fn collection_forbidden() -> keel_core::Error {
    keel_core::Error::Forbidden("Only superusers can filter by @collection.".into())
}

/// The 400 every parse or compile problem becomes.
pub(crate) fn invalid(field: &str, pos: usize, what: &str) -> keel_core::Error {
    keel_core::Error::field(
        field,
        "validation_invalid_filter",
        format!("Invalid filter at position {pos}: {what}"),
    )
}
