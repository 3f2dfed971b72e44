//! A plain-text rendering of an HTML body, for the text alternative of an email.

/// Strips tags, drops `<style>`/`<script>`/`<head>` content, turns block ends and `<br>`
/// into line breaks, decodes the common entities and collapses runs of spaces. Links keep
/// their text only; the HTML alternative carries the target.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    let mut skip_until: Option<&str> = None;
    while let Some(lt) = rest.find('<') {
        if skip_until.is_none() {
            out.push_str(&rest[..lt]);
        }
        let after = &rest[lt + 1..];
        let Some(gt) = after.find('>') else {
            if skip_until.is_none() {
                out.push_str(&rest[lt..]);
            }
            rest = "";
            break;
        };
        let tag = after[..gt].trim().to_ascii_lowercase();
        rest = &after[gt + 1..];
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        if let Some(end) = skip_until {
            if tag.starts_with('/') && name == end {
                skip_until = None;
            }
            continue;
        }
        match name.as_str() {
            "style" | "script" | "head" | "title" if !tag.starts_with('/') => {
                skip_until = Some(match name.as_str() {
                    "style" => "style",
                    "script" => "script",
                    "head" => "head",
                    _ => "title",
                });
            }
            "br" | "p" | "div" | "tr" | "li" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                out.push('\n');
            }
            _ => {}
        }
    }
    if skip_until.is_none() {
        out.push_str(rest);
    }
    tidy(&decode_entities(&out))
}

fn decode_entities(s: &str) -> String {
    s.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

/// Collapses spaces inside lines and blank-line runs to one blank line; trims the ends.
fn tidy(s: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    for line in s.lines() {
        let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.is_empty() && lines.last().is_none_or(|l| l.is_empty()) {
            continue;
        }
        lines.push(line);
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines.join("\n")
}

/// Plain text as a minimal HTML part: escaped, one paragraph, line breaks kept.
pub fn text_as_html(text: &str) -> String {
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    format!("<p>{}</p>", escaped.replace('\n', "<br>\n"))
}

#[cfg(test)]
mod tests {
    use super::html_to_text;

    #[test]
    fn tags_go_and_blocks_break_lines() {
        let html = "<html><head><style>p{color:red}</style></head><body>\
            <p>Hello,</p>\n  <p>Click <a href=\"x\">Verify</a> &amp; go.<br/>Thanks</p></body></html>";
        assert_eq!(html_to_text(html), "Hello,\n\nClick Verify & go.\nThanks");
    }

    #[test]
    fn text_without_tags_is_kept() {
        assert_eq!(html_to_text("just 1 < 2"), "just 1 < 2");
    }
}
