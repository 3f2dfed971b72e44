//! What a change touches that others may depend on: the collection deleted or renamed, and
//! its fields removed, renamed or retyped (matched by id, else by name, as the classifier
//! matches them).

use keel_data::{Collection, Field};

/// How a field changes.
#[derive(Debug, Clone, PartialEq)]
pub enum How {
    Removed,
    Renamed(String),
    /// Another type, or one value becoming several (or several one).
    Retyped {
        from: String,
        to: String,
    },
}

/// A touched field, by its name before the change.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldTouch {
    pub name: String,
    pub how: How,
}

/// What a change from `before` touches.
#[derive(Debug, Clone)]
pub struct Touched {
    /// The collection as it was.
    pub before: Collection,
    /// Its name after the change; `None` when it is deleted.
    pub new_name: Option<String>,
    pub fields: Vec<FieldTouch>,
    /// The collection's index statements after the change (none when it is deleted).
    pub after_indexes: Vec<String>,
}

fn shape(f: &Field) -> String {
    let name = f.kind.type_name();
    if f.is_multiple() {
        format!("{name} (several values)")
    } else {
        name.to_string()
    }
}

impl Touched {
    /// What changes from `before` to `after`; `None` for a new collection (nothing depends on
    /// it yet).
    pub fn of(before: Option<&Collection>, after: Option<&Collection>) -> Option<Touched> {
        let before = before?;
        let Some(after) = after else {
            return Some(Touched {
                before: before.clone(),
                new_name: None,
                fields: Vec::new(),
                after_indexes: Vec::new(),
            });
        };
        let mut fields = Vec::new();
        for f in &before.fields {
            let now = after
                .fields
                .iter()
                .find(|a| !f.id.is_empty() && a.id == f.id)
                .or_else(|| after.fields.iter().find(|a| f.id.is_empty() && a.name == f.name));
            let how = match now {
                None => How::Removed,
                Some(a) if a.name != f.name => How::Renamed(a.name.clone()),
                Some(a) if shape(a) != shape(f) => How::Retyped {
                    from: shape(f),
                    to: shape(a),
                },
                Some(_) => continue,
            };
            fields.push(FieldTouch {
                name: f.name.clone(),
                how,
            });
        }
        Some(Touched {
            before: before.clone(),
            new_name: Some(after.name.clone()),
            fields,
            after_indexes: after.indexes.clone(),
        })
    }

    pub fn id(&self) -> &str {
        &self.before.id
    }

    pub fn name(&self) -> &str {
        &self.before.name
    }

    pub fn deleted(&self) -> bool {
        self.new_name.is_none()
    }

    pub fn renamed(&self) -> bool {
        self.new_name.as_deref().is_some_and(|n| n != self.before.name)
    }

    /// Whether nothing others depend on changes.
    pub fn is_empty(&self) -> bool {
        !self.deleted() && !self.renamed() && self.fields.is_empty()
    }

    /// The touched field named `name` (as it was called before).
    pub fn field(&self, name: &str) -> Option<&FieldTouch> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// `posts.title (removed)`, `posts (deleted)`, …: what of the change a dependent meets.
    pub fn describe(&self, field: Option<&str>) -> String {
        match field.and_then(|f| self.field(f)) {
            Some(f) => {
                let how = match &f.how {
                    How::Removed => "removed".to_string(),
                    How::Renamed(to) => format!("renamed to {to}"),
                    How::Retyped { from, to } => format!("its type changes from {from} to {to}"),
                };
                format!("{}.{} ({how})", self.name(), f.name)
            }
            None => match &self.new_name {
                None => format!("{} (deleted)", self.name()),
                Some(n) if n != self.name() => format!("{} (renamed to {n})", self.name()),
                Some(_) => self.name().to_string(),
            },
        }
    }

    /// The subject a dependent names: `posts.title` or `posts`.
    pub fn subject(&self, field: Option<&str>) -> String {
        match field {
            Some(f) => format!("{}.{f}", self.name()),
            None => self.name().to_string(),
        }
    }
}

/// An index statement with its spacing and case made irrelevant, to tell whether a change
/// keeps it unchanged.
pub fn same_index(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    norm(a) == norm(b)
}
