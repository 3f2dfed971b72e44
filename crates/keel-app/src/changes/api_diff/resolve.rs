//! Local `$ref`s (`#/components/schemas/Pet`): followed through chains, at most
//! [`MAX_HOPS`] deep, so a cycle of references ends instead of looping. A reference that
//! does not resolve (remote, or missing) stays as the `$ref` object itself.

use serde_json::Value;

const MAX_HOPS: usize = 32;

/// The `$ref` of `v`, if it is a reference object.
pub(super) fn ref_of(v: &Value) -> Option<&str> {
    v.get("$ref").and_then(Value::as_str)
}

/// `v` with local references followed in `root`.
pub(super) fn resolve<'a>(root: &'a Value, v: &'a Value) -> &'a Value {
    let mut cur = v;
    for _ in 0..MAX_HOPS {
        let Some(r) = ref_of(cur) else { return cur };
        let Some(target) = r.strip_prefix('#').and_then(|p| pointer(root, p)) else {
            return cur;
        };
        cur = target;
    }
    cur
}

/// A JSON pointer lookup that decodes `~1` and `~0` and percent-escapes in segments.
fn pointer<'a>(root: &'a Value, p: &str) -> Option<&'a Value> {
    if p.is_empty() {
        return Some(root);
    }
    let mut cur = root;
    for seg in p.strip_prefix('/')?.split('/') {
        let seg = percent_decode(seg).replace("~1", "/").replace("~0", "~");
        cur = match cur {
            Value::Object(m) => m.get(&seg)?,
            Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}
