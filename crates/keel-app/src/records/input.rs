//! What a caller submits for a record write, as plain structs: the data and the uploaded
//! files (an entry point parses its own wire format into them).

use bytes::Bytes;
use serde_json::{Map, Value};

/// One uploaded file part.
#[derive(Debug, Clone)]
pub struct Upload {
    /// The form key (`avatar`, `documents+`, `requests.0.avatar`).
    pub key: String,
    /// The client's file name.
    pub file_name: String,
    /// The part's declared content type, if any.
    pub content_type: Option<String>,
    pub data: Bytes,
}

/// A submitted body: the plain data and the uploaded files.
#[derive(Debug, Default)]
pub struct Submitted {
    pub data: Map<String, Value>,
    pub uploads: Vec<Upload>,
}

/// The field a body key addresses, without its `+`/`-` modifier.
pub fn base_key(key: &str) -> &str {
    key.strip_prefix('+')
        .or_else(|| key.strip_suffix('+'))
        .or_else(|| key.strip_suffix('-'))
        .unwrap_or(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modifiers_address_their_field() {
        assert_eq!(base_key("files+"), "files");
        assert_eq!(base_key("+files"), "files");
        assert_eq!(base_key("files-"), "files");
        assert_eq!(base_key("files"), "files");
    }
}
