//! What one batch request addresses: its action, collection, record id and query string,
//! parsed from `{"method": "POST", "url": "/api/collections/posts/records?expand=a"}`.

use keel_core::Error;

/// The action of one batch request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Upsert,
    Update,
    Delete,
}

/// A parsed batch request target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub action: Action,
    pub collection: String,
    pub id: Option<String>,
    /// The raw query string (`expand`, `fields`).
    pub query: String,
}

fn unsupported(method: &str, url: &str) -> Error {
    Error::bad_request(format!(
        "Unsupported batch request {method} {url}: use POST or PUT /api/collections/{{collection}}/records, \
         or PATCH or DELETE /api/collections/{{collection}}/records/{{id}}."
    ))
}

/// Decodes `%XX` escapes (invalid escapes are kept as they are).
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Parses a batch request's method and URL.
pub fn parse(method: &str, url: &str) -> Result<Target, Error> {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let (collection, id) = match segs.as_slice() {
        ["", "api", "collections", c, "records"] if !c.is_empty() => (percent_decode(c), None),
        ["", "api", "collections", c, "records", id] if !c.is_empty() && !id.is_empty() => {
            (percent_decode(c), Some(percent_decode(id)))
        }
        _ => return Err(unsupported(method, url)),
    };
    let action = match (method.to_ascii_uppercase().as_str(), id.is_some()) {
        ("POST", false) => Action::Create,
        ("PUT", false) => Action::Upsert,
        ("PATCH", true) => Action::Update,
        ("DELETE", true) => Action::Delete,
        _ => return Err(unsupported(method, url)),
    };
    Ok(Target {
        action,
        collection,
        id,
        query: query.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        let t = parse("post", "/api/collections/posts/records?expand=a").unwrap();
        assert_eq!(
            (t.action, t.collection.as_str(), t.id, t.query.as_str()),
            (Action::Create, "posts", None, "expand=a")
        );
        let t = parse("PATCH", "/api/collections/my%20posts/records/abc").unwrap();
        assert_eq!(
            (t.action, t.collection.as_str(), t.id.as_deref()),
            (Action::Update, "my posts", Some("abc"))
        );
        assert_eq!(
            parse("PUT", "/api/collections/p/records").unwrap().action,
            Action::Upsert
        );
        assert_eq!(
            parse("DELETE", "/api/collections/p/records/x").unwrap().action,
            Action::Delete
        );
        for (m, u) in [
            ("GET", "/api/collections/p/records"),
            ("DELETE", "/api/collections/p/records"),
            ("POST", "/api/x"),
        ] {
            assert!(parse(m, u).is_err(), "{m} {u}");
        }
        assert_eq!(percent_decode("a%2Fb%zz%"), "a/b%zz%");
    }
}
