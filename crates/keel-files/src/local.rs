//! The local-disk provider: files under one directory, through
//! `object_store::local::LocalFileSystem`. A put writes a staged file beside its target and
//! renames it into place (fsync on), so a reader sees the old or the new file, never a mix,
//! and a crash leaves at most a stray staged file, never a half-written one under its key.

use std::path::Path;
use std::sync::Arc;

use keel_core::{Error, Result};
use object_store::local::LocalFileSystem;

use crate::ObjectFileStore;

/// Opens (creating it when missing) the directory `root` as a file store.
pub fn open(root: &Path) -> Result<ObjectFileStore> {
    std::fs::create_dir_all(root)
        .map_err(|e| Error::internal(format!("cannot create file store dir {}: {e}", root.display())))?;
    let inner = LocalFileSystem::new_with_prefix(root)
        .map_err(|e| Error::internal(format!("cannot open file store dir {}: {e}", root.display())))?
        .with_automatic_cleanup(true)
        .with_fsync(true);
    Ok(ObjectFileStore::new("local", Arc::new(inner)))
}
