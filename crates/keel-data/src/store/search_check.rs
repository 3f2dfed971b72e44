//! Checking a collection's search option (`search`, docs/search.md) before it is saved:
//! every named field exists and holds text a caller may read (text, editor, email, url,
//! select; not hidden, not encrypted, not an auth collection's `email`, whose visibility is
//! per record), weights are integers 1..=10, the language is known. Errors name
//! `search.fields.<name>` or `search.language`.

use keel_core::search::{Language, MAX_WEIGHT};
use keel_core::{FieldError, FieldErrors};

use crate::schema::{Collection, FieldKind};

fn err(code: &str, message: impl Into<String>) -> FieldError {
    FieldError::new(code, message)
}

/// Adds the search option's errors to `errs`; normalises an absent language to `english`.
pub(crate) fn check(c: &mut Collection, errs: &mut FieldErrors) {
    let Some(opt) = c.search.as_ref() else { return };
    if c.is_view() {
        errs.insert(
            "search".into(),
            err(
                "validation_search_view",
                "View collections cannot be searchable: make the base collection searchable.",
            ),
        );
        return;
    }
    if opt.fields.is_empty() {
        errs.insert(
            "search.fields".into(),
            err(
                "validation_required",
                "Name at least one field to search, e.g. {\"title\": 3, \"body\": 1}.",
            ),
        );
    }
    for (name, weight) in &opt.fields {
        let key = format!("search.fields.{name}");
        let Some(f) = c.field(name) else {
            errs.insert(
                key,
                err(
                    "validation_unknown_field",
                    format!("The collection has no field {name:?}."),
                ),
            );
            continue;
        };
        let text = matches!(
            f.kind,
            FieldKind::Text(_) | FieldKind::Editor(_) | FieldKind::Email(_) | FieldKind::Url(_) | FieldKind::Select(_)
        );
        let problem = if !text {
            Some("Only text, editor, email, url and select fields can be searchable.")
        } else if f.hidden {
            Some("A hidden field cannot be searchable: its words would tell what it holds.")
        } else if f.is_encrypted() {
            Some("An encrypted field cannot be searchable: the index would hold its plaintext.")
        } else if c.is_auth() && name == "email" {
            Some("An auth collection's email cannot be searchable: whether it is visible is decided per record.")
        } else {
            None
        };
        if let Some(p) = problem {
            errs.insert(key, err("validation_invalid_search_field", p));
        } else if !weight
            .as_u64()
            .is_some_and(|w| (1..=u64::from(MAX_WEIGHT)).contains(&w))
        {
            errs.insert(
                key,
                err(
                    "validation_invalid_weight",
                    format!("The weight must be an integer from 1 to {MAX_WEIGHT}."),
                ),
            );
        }
    }
    match opt.language.as_deref() {
        None => {}
        Some(l) if Language::parse(l).is_some() => {}
        Some(_) => {
            let known: Vec<String> = Language::ALL.iter().map(|l| l.name()).collect();
            errs.insert(
                "search.language".into(),
                err(
                    "validation_invalid_language",
                    format!("Unknown language: use one of {}.", known.join(", ")),
                ),
            );
        }
    }
    if let Some(opt) = c.search.as_mut() {
        opt.language.get_or_insert_with(|| Language::English.name());
    }
}
