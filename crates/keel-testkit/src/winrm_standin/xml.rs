//! Just enough XML reading for the WinRM stand-in: elements by local name (any namespace
//! prefix), their attributes and text, entities decoded. WS-Management envelopes are flat
//! and regular; this is a test helper, not a parser for arbitrary XML.

/// Every element named `local` (any prefix): its start tag's attributes and its text.
pub(crate) fn elements(xml: &str, local: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(pos) = xml[at..].find('<') {
        let start = at + pos + 1;
        at = start;
        let Some(end) = xml[start..].find('>').map(|e| start + e) else {
            break;
        };
        let tag = &xml[start..end];
        if tag.starts_with('/') || tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        let name = tag.split(|c: char| c.is_whitespace() || c == '/').next().unwrap_or("");
        if name.rsplit(':').next() != Some(local) {
            continue;
        }
        let self_closing = tag.ends_with('/');
        let attrs = tag[name.len()..].trim_end_matches('/').to_string();
        let text = if self_closing {
            String::new()
        } else {
            let close = format!("</{name}>");
            match xml[end + 1..].find(&close) {
                Some(c) => unescape(&xml[end + 1..end + 1 + c]),
                None => String::new(),
            }
        };
        found.push((attrs, text));
        at = end;
    }
    found
}

/// The text of the first element named `local`.
pub(crate) fn text(xml: &str, local: &str) -> Option<String> {
    elements(xml, local)
        .into_iter()
        .next()
        .map(|(_, t)| t.trim().to_string())
}

/// The value of attribute `name` in a start tag's attribute text.
pub(crate) fn attr(attrs: &str, name: &str) -> Option<String> {
    let key = format!("{name}=\"");
    let mut at = 0;
    while let Some(pos) = attrs[at..].find(&key) {
        let begin = at + pos;
        let preceded_ok = begin == 0 || attrs[..begin].ends_with(char::is_whitespace);
        let value_at = begin + key.len();
        if preceded_ok {
            let end = attrs[value_at..].find('"')?;
            return Some(unescape(&attrs[value_at..value_at + end]));
        }
        at = value_at;
    }
    None
}

pub(crate) fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
