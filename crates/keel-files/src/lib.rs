//! File storage on `object_store`: the local-disk `FileStore` provider (`LocalFileStore`).
#![forbid(unsafe_code)]

pub mod local;

pub use local::LocalFileStore;
