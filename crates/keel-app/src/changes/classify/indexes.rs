//! Indexes: a unique index added refuses writes that collide (major, with the duplicate
//! groups counted on the data); other indexes only change speed (patch); a unique index
//! removed accepts more (minor). Indexes are matched by name; their columns are compared as
//! field ids, so a renamed field or collection does not read as a changed index.

use keel_data::{index_shape, Collection, IndexShape, Probe};

use crate::changes::finding::{Finding, Level};

struct Index {
    name: String,
    unique: bool,
    /// The columns as field ids (a column no field has keeps its name).
    key: Option<Vec<String>>,
    partial: bool,
    /// The indexed columns as named in the collection it belongs to.
    columns: Option<Vec<String>>,
    sql: String,
}

fn read(c: &Collection) -> Vec<Index> {
    c.indexes
        .iter()
        .map(|sql| match index_shape(sql) {
            Some(IndexShape {
                unique,
                name,
                columns,
                partial,
            }) => Index {
                name: name.to_lowercase(),
                unique,
                key: columns.as_ref().map(|cols| {
                    cols.iter()
                        .map(|n| c.field(n).map_or_else(|| n.clone(), |f| f.id.clone()))
                        .collect()
                }),
                partial,
                columns,
                sql: sql.clone(),
            },
            None => Index {
                name: sql.to_lowercase(),
                unique: false,
                key: None,
                partial: false,
                columns: None,
                sql: sql.clone(),
            },
        })
        .collect()
}

fn same_def(o: &Index, n: &Index) -> bool {
    o.unique == n.unique
        && o.partial == n.partial
        && match (&o.key, &n.key) {
            (Some(a), Some(b)) => a == b,
            _ => o.sql.split_whitespace().eq(n.sql.split_whitespace()),
        }
}

pub(super) fn compare(b: &Collection, a: &Collection, out: &mut Vec<Finding>) {
    let (old, new) = (read(b), read(a));
    let c = &a.name;
    for n in &new {
        let o = old.iter().find(|o| o.name == n.name);
        if o.is_some_and(|o| same_def(o, n)) {
            continue;
        }
        if n.unique && !o.is_some_and(|o| o.unique && o.key == n.key) {
            let cols = n
                .columns
                .as_ref()
                .map_or_else(|| "an expression".to_string(), |c| c.join(", "));
            let mut f = Finding::new(
                "unique-index-added",
                Level::Major,
                n.name.clone(),
                format!("Unique index {} on {cols} of {c}: writes that repeat a value now fail, and the change fails to apply while existing records share values.", n.name),
            );
            // Count duplicates only for plain columns that exist now (a column added in the
            // same change has no data yet), over the whole table.
            let current: Option<Vec<String>> = n.key.as_ref().and_then(|ids| {
                ids.iter()
                    .map(|id| b.fields.iter().find(|f| &f.id == id).map(|f| f.name.clone()))
                    .collect()
            });
            if let (Some(columns), false) = (current, n.partial) {
                f = f.probe(Probe::Duplicates { columns });
            }
            out.push(f);
        } else if o.is_some() {
            out.push(Finding::new(
                "index-changed",
                Level::Patch,
                n.name.clone(),
                format!("Index {} of {c} changes (speed only).", n.name),
            ));
        } else {
            out.push(Finding::new(
                "index-added",
                Level::Patch,
                n.name.clone(),
                format!("Index {} is added to {c} (speed only).", n.name),
            ));
        }
    }
    for o in &old {
        let n = new.iter().find(|n| n.name == o.name);
        if n.is_some() {
            if o.unique && n.is_some_and(|n| !n.unique) {
                out.push(unique_removed(c, o));
            }
            continue;
        }
        if o.unique {
            out.push(unique_removed(c, o));
        } else {
            out.push(Finding::new(
                "index-removed",
                Level::Patch,
                o.name.clone(),
                format!("Index {} of {c} is removed (speed only).", o.name),
            ));
        }
    }
}

fn unique_removed(c: &str, o: &Index) -> Finding {
    Finding::new(
        "unique-index-removed",
        Level::Minor,
        o.name.clone(),
        format!(
            "Unique index {} of {c} is removed: repeated values are accepted now.",
            o.name
        ),
    )
}
