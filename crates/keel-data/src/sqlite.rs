//! The SQLite engine: WAL mode, one writer connection, a pool of readers.
//!
//! OWNED BY THE STORE WORK.
