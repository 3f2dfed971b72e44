//! Change events that services publish after a write is durable.

use serde_json::{Map, Value};

/// What happened to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordAction {
    Create,
    Update,
    Delete,
}

impl RecordAction {
    /// The action's name in realtime messages (`create`, `update`, `delete`).
    pub fn as_str(self) -> &'static str {
        match self {
            RecordAction::Create => "create",
            RecordAction::Update => "update",
            RecordAction::Delete => "delete",
        }
    }
}

/// A committed record change. `record` holds every stored column (hidden ones too):
/// whoever delivers it must strip what the receiver may not see.
#[derive(Debug, Clone)]
pub struct RecordEvent {
    pub action: RecordAction,
    pub collection_id: String,
    pub collection_name: String,
    pub record: Map<String, Value>,
}
