//! The one SQL layer: the `Engine`/`Tx` contract every SQL-backed service runs on, the
//! `Dialect` that decides every type, quote and statement shape that differs between
//! engines, `SqlBuf` (SQL text with bound parameters), and one engine per database.
#![forbid(unsafe_code)]

pub mod engine;
pub mod mysql;
pub mod postgres;
pub mod sqlite;

pub use engine::{
    empty_row, ColumnType, Dialect, Engine, PoolStats, Row, SchemaLock, SqlBuf, Tx, ValueType, INSERTION_ORDER_COLUMN,
};
