//! Notification templates (minijinja): a subject, a text body and an HTML body, each a
//! minijinja source rendered with the message's data. Undefined variables are errors
//! (strict), so a template that names a value the sender did not give fails with a
//! [`RenderError`] naming the part (`subject`, `text`, `html`) and the line, instead of
//! sending a message with a hole in it. Only the HTML part auto-escapes.
//!
//! Locales: a template has variants per locale (`""` is the default); [`pick_locale`]
//! chooses `de-AT`, else `de`, else the default.

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The sources of one template variant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Source {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// A rendered message: empty parts are `None` (subject, html) or empty (text).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rendered {
    pub subject: Option<String>,
    pub text: String,
    pub html: Option<String>,
}

/// Why a template did not render: which part, on which line, and minijinja's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError {
    /// `subject`, `text` or `html`.
    pub field: &'static str,
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for RenderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{} line {line}: {}", self.field, self.message),
            None => write!(f, "{}: {}", self.field, self.message),
        }
    }
}

/// Renders the three parts of `source` with `data` (a JSON object).
pub fn render(source: &Source, data: &Value) -> Result<Rendered, RenderError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|name| {
        if name == "html" {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    let one = |field: &'static str, src: &str| -> Result<String, RenderError> {
        let err = |e: minijinja::Error| RenderError {
            field,
            line: e.line(),
            message: e.detail().map(str::to_string).unwrap_or_else(|| e.kind().to_string()),
        };
        let tpl = env.template_from_named_str(field, src).map_err(err)?;
        tpl.render(data).map_err(err)
    };
    let subject = one("subject", &source.subject)?;
    let text = one("text", &source.text)?;
    let html = one("html", &source.html)?;
    Ok(Rendered {
        subject: (!subject.is_empty()).then(|| subject.replace(['\r', '\n'], " ")),
        text,
        html: (!html.is_empty()).then_some(html),
    })
}

/// Checks that every part of `source` compiles (syntax only; values are checked at render).
pub fn check(source: &Source) -> Result<(), RenderError> {
    let env = Environment::new();
    for (field, src) in [
        ("subject", &source.subject),
        ("text", &source.text),
        ("html", &source.html),
    ] {
        env.template_from_named_str(field, src).map_err(|e| RenderError {
            field,
            line: e.line(),
            message: e.detail().map(str::to_string).unwrap_or_else(|| e.kind().to_string()),
        })?;
    }
    Ok(())
}

/// The best of `available` locales for `wanted`: exact (case-insensitive), then its
/// language (`de` for `de-AT`), then the default `""`; `None` if none of those exists.
pub fn pick_locale<'a>(available: &[&'a str], wanted: Option<&str>) -> Option<&'a str> {
    let find = |l: &str| available.iter().copied().find(|a| a.eq_ignore_ascii_case(l));
    if let Some(w) = wanted.filter(|w| !w.is_empty()) {
        if let Some(a) = find(w) {
            return Some(a);
        }
        let lang = w.split(['-', '_']).next().unwrap_or(w);
        if let Some(a) = find(lang) {
            return Some(a);
        }
    }
    find("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn src(subject: &str, text: &str, html: &str) -> Source {
        Source {
            subject: subject.into(),
            text: text.into(),
            html: html.into(),
        }
    }

    #[test]
    fn renders_every_part_and_escapes_only_html() {
        let s = src(
            "Hi {{ name }}",
            "Build {{ build.id }} {{ status }}",
            "<p>{{ name }}</p>",
        );
        let r = render(&s, &json!({"name": "<Ann>", "build": {"id": 7}, "status": "ok"})).unwrap();
        assert_eq!(r.subject.as_deref(), Some("Hi <Ann>"));
        assert_eq!(r.text, "Build 7 ok");
        assert_eq!(r.html.as_deref(), Some("<p>&lt;Ann&gt;</p>"));
    }

    #[test]
    fn an_undefined_value_names_the_part_and_line() {
        let s = src("ok", "line one\n{{ missing }}", "");
        let e = render(&s, &json!({})).unwrap_err();
        assert_eq!(e.field, "text");
        assert_eq!(e.line, Some(2));
        let e = render(&src("{% if %}", "", ""), &json!({})).unwrap_err();
        assert_eq!(e.field, "subject");
    }

    #[test]
    fn locale_falls_back_to_language_then_default() {
        let all = ["", "de", "fr-CA"];
        assert_eq!(pick_locale(&all, Some("de-AT")), Some("de"));
        assert_eq!(pick_locale(&all, Some("fr-ca")), Some("fr-CA"));
        assert_eq!(pick_locale(&all, Some("es")), Some(""));
        assert_eq!(pick_locale(&all, None), Some(""));
        assert_eq!(pick_locale(&["de"], Some("en")), None);
    }
}
