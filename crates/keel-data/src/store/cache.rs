//! The in-memory schema: every collection by id and by (case-insensitive) name, plus the
//! prepared SQL of the plain one-record read of each collection.

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
    /// Collection id → `SELECT t."id", … FROM "name" t WHERE t."id" = ?1 LIMIT 1`.
    get_sql: HashMap<String, Arc<str>>,
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
            let sql = format!(
                "SELECT {} FROM {} t WHERE t.\"id\" = {} LIMIT 1",
                super::rows::select_cols(c, "t", dialect),
                dialect.quote_ident(&c.name),
                dialect.placeholder(1)
            );
            s.get_sql.insert(c.id.clone(), Arc::from(sql));
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

    /// The cached one-record read of a collection, if `c` is the cached collection itself.
    pub fn get_sql(&self, c: &Collection) -> Option<Arc<str>> {
        let cached = self.by_id.get(&c.id)?;
        if !std::ptr::eq(&**cached, c) {
            return None;
        }
        self.get_sql.get(&c.id).cloned()
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
