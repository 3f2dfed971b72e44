//! Change events that services publish after a write is durable.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What happened to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
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
/// whoever delivers it must strip what the receiver may not see. It crosses processes as
/// JSON on the bus topic [`RecordEvent::topic`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordEvent {
    pub action: RecordAction,
    pub collection_id: String,
    pub collection_name: String,
    pub record: Map<String, Value>,
}

impl RecordEvent {
    /// The bus topic of the events of one collection (`records.<collectionId>`).
    pub fn topic(&self) -> String {
        format!("{RECORDS_TOPIC}{}", self.collection_id)
    }
}

/// The prefix of the bus topics carrying committed record changes.
pub const RECORDS_TOPIC: &str = "records.";
