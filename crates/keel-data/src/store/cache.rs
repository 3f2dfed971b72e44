//! The in-memory schema: every collection by id and by (case-insensitive) name, plus the
//! SQL of each collection's plain reads.

use std::collections::HashMap;
use std::sync::Arc;

use crate::filter::SchemaLookup;
use crate::schema::Collection;
use keel_sql::Dialect;

/// One immutable snapshot of all collections. Replaced wholesale on every change.
#[derive(Default)]
pub(crate) struct Schema {
    /// Ordered by creation.
    pub list: Vec<Arc<Collection>>,
    by_id: HashMap<String, Arc<Collection>>,
    by_name: HashMap<String, Arc<Collection>>,
    /// Collection id → the SQL of its plain reads.
    reads: HashMap<String, Reads>,
}

/// The SQL text every read of one collection starts from, written once per schema.
pub(crate) struct Reads {
    /// `SELECT t."id", … FROM "name" t WHERE t."id" = ?1 LIMIT 1`.
    pub get: Arc<str>,
    /// `t."id", t."created", …`: every column, in schema order (`rows::select_cols` with `t`).
    pub cols: Arc<str>,
}

impl Schema {
    pub fn build(list: Vec<Arc<Collection>>, dialect: &dyn Dialect) -> Schema {
        let mut s = Schema {
            list,
            ..Default::default()
        };
        for c in &s.list {
            s.by_id.insert(c.id.clone(), c.clone());
            s.by_name.insert(c.name.to_lowercase(), c.clone());
            let cols = super::rows::select_cols(c, "t", dialect);
            let get = format!(
                "SELECT {cols} FROM {} t WHERE t.\"id\" = {} LIMIT 1",
                dialect.quote_ident(&c.name),
                dialect.placeholder(1)
            );
            let reads = Reads {
                get: Arc::from(get),
                cols: Arc::from(cols),
            };
            s.reads.insert(c.id.clone(), reads);
        }
        s
    }

    /// A collection by id, then by name (case-insensitively).
    pub fn get(&self, name_or_id: &str) -> Option<Arc<Collection>> {
        if let Some(c) = self.by_id.get(name_or_id) {
            return Some(c.clone());
        }
        if let Some(c) = self.by_name.get(name_or_id) {
            return Some(c.clone());
        }
        self.by_name.get(&name_or_id.to_lowercase()).cloned()
    }

    /// The cached reads of a collection, if `c` is the cached collection itself.
    pub fn reads(&self, c: &Collection) -> Option<&Reads> {
        let cached = self.by_id.get(&c.id)?;
        if !std::ptr::eq(&**cached, c) {
            return None;
        }
        self.reads.get(&c.id)
    }
}

impl SchemaLookup for Schema {
    fn collection(&self, name_or_id: &str) -> Option<Arc<Collection>> {
        self.get(name_or_id)
    }
}

/// The schema with one collection replaced or added (validating a collection being saved).
pub(crate) struct Overlay<'a> {
    pub base: &'a Schema,
    pub extra: Arc<Collection>,
}

impl SchemaLookup for Overlay<'_> {
    fn collection(&self, name_or_id: &str) -> Option<Arc<Collection>> {
        if self.extra.id == name_or_id || self.extra.name.eq_ignore_ascii_case(name_or_id) {
            return Some(self.extra.clone());
        }
        let found = self.base.get(name_or_id)?;
        if found.id == self.extra.id {
            // The old version of the collection being saved (renamed): not visible by its old name.
            return None;
        }
        Some(found)
    }
}
