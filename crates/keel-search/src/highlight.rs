//! Highlight snippets from a field's text and the byte spans of its matched words: the
//! matches wrapped in `<mark>…</mark>`, everything else HTML-escaped, a long text cut to a
//! window around its first match with `…` where it was cut. Shared by every provider that
//! computes highlights itself.

/// The longest snippet, in characters of text (marks and escapes not counted).
pub const SNIPPET_CHARS: usize = 200;
/// How much text a snippet shows before its first match, in characters.
const LEAD_CHARS: usize = 40;

fn escape(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
}

/// The byte index `n` characters before `at` (or 0).
fn back_chars(text: &str, at: usize, n: usize) -> usize {
    text[..at]
        .char_indices()
        .rev()
        .nth(n.saturating_sub(1))
        .map_or(0, |(i, _)| i)
}

/// The byte index `n` characters after `from` (or the end).
fn forward_chars(text: &str, from: usize, n: usize) -> usize {
    text[from..].char_indices().nth(n).map_or(text.len(), |(i, _)| from + i)
}

/// The snippet of `text` with `spans` (byte ranges on char boundaries, sorted, not
/// overlapping) marked; `None` when nothing matched.
pub fn snippet(text: &str, spans: &[(usize, usize)]) -> Option<String> {
    let first = spans.first()?;
    let start = if text[..first.0].chars().count() > LEAD_CHARS {
        back_chars(text, first.0, LEAD_CHARS)
    } else {
        0
    };
    let end = forward_chars(text, start, SNIPPET_CHARS);
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    let mut at = start;
    for &(from, to) in spans {
        if from < at || to > end || from >= to {
            continue;
        }
        escape(&mut out, &text[at..from]);
        out.push_str("<mark>");
        escape(&mut out, &text[from..to]);
        out.push_str("</mark>");
        at = to;
    }
    escape(&mut out, &text[at..end]);
    if end < text.len() {
        out.push('…');
    }
    Some(out)
}

/// Whether `a` and `b` are at most one edit apart (insert, delete, substitute, or swap of
/// two neighbours), compared by characters.
pub fn within_one_edit(a: &str, b: &str) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a == b {
        return true;
    }
    let (short, long) = if a.len() <= b.len() { (&a, &b) } else { (&b, &a) };
    if long.len() - short.len() > 1 {
        return false;
    }
    let p = short.iter().zip(long.iter()).take_while(|(x, y)| x == y).count();
    if short.len() == long.len() {
        let rest = |from: usize| short[from..] == long[from..];
        rest(p + 1) || (p + 1 < short.len() && short[p] == long[p + 1] && short[p + 1] == long[p] && rest(p + 2))
    } else {
        short[p..] == long[p + 1..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_and_escapes() {
        let s = snippet("the <quick> fox", &[(5, 10)]).unwrap();
        assert_eq!(s, "the &lt;<mark>quick</mark>&gt; fox");
        assert_eq!(snippet("nothing", &[]), None);
        let long = format!("{} needle {}", "a ".repeat(100), "b ".repeat(200));
        let at = long.find("needle").unwrap();
        let s = snippet(&long, &[(at, at + 6)]).unwrap();
        assert!(
            s.starts_with('…') && s.ends_with('…') && s.contains("<mark>needle</mark>"),
            "{s}"
        );
    }

    #[test]
    fn one_edit() {
        for (a, b) in [
            ("quick", "quikc"),
            ("brown", "brwon"),
            ("brown", "brow"),
            ("brown", "browns"),
            ("fox", "fix"),
        ] {
            assert!(within_one_edit(a, b), "{a} {b}");
        }
        for (a, b) in [("quick", "qiukc"), ("brown", "bro"), ("fox", "dog")] {
            assert!(!within_one_edit(a, b), "{a} {b}");
        }
    }
}
