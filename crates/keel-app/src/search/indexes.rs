//! Free-standing search indexes (`/api/search/indexes`, docs/search.md): documents an
//! application sends itself, with text fields searched as records are, and filterable
//! attributes for filters and facet counts.
//!
//! - Permissions: `search:read` lists and searches, `search:write` adds and deletes
//!   documents, `search:manage` creates, changes and deletes indexes.
//! - **Where they live**: in the search provider, beside the collections' indexes, under the
//!   provider index name `ix-<name>` ([`PREFIX`]): collections' indexes are named by
//!   collection id (`[a-z0-9_]`, never a `-`), so the two never collide. The settings live with
//!   the index in the provider (the embedded provider's `settings.json`), so what
//!   `GET /api/search/indexes` lists is what the provider holds; there is no second copy to
//!   keep in step.
//! - Providers without [`keel_core::search::SearchCapabilities::documents`] (PostgreSQL,
//!   MariaDB today) refuse every call with a 400 saying so.

use std::collections::BTreeMap;
use std::sync::Arc;

use keel_core::search::{
    documents_unsupported, Filter, Language, SearchDocument, SearchIndex, SearchRequest, SearchSettings, MAX_WEIGHT,
};
use keel_core::{Error, Result};
use serde_json::{json, Map, Value};

use crate::authz::{authorize, Permission};
use crate::caller::Caller;
use crate::App;

/// The provider index name of a free-standing index is this prefix and its name.
pub const PREFIX: &str = "ix-";
/// The longest index name.
pub const MAX_NAME: usize = 60;
/// The most documents one request may add.
pub const MAX_DOCUMENTS: usize = 1000;
/// The most text fields, and the most filterable attributes, of an index.
pub const MAX_FIELDS: usize = 32;
/// The most facets one search may count.
pub const MAX_FACETS: usize = 10;

fn bad(field: &str, message: impl Into<String>) -> Error {
    Error::field(field, "validation_invalid_value", message)
}

fn valid_attr(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') && name != "id"
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 100
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

/// The provider index of `name`; a 400 naming `name` when it is not 1 to 60 letters,
/// digits, `_` or `-`.
fn provider_name(name: &str) -> Result<String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !ok {
        return Err(bad(
            "name",
            format!("An index name is 1 to {MAX_NAME} letters, digits, _ or -."),
        ));
    }
    Ok(format!("{PREFIX}{name}"))
}

fn provider(app: &App) -> Result<&Arc<dyn SearchIndex>> {
    let p = app.search.provider("index")?;
    if !p.capabilities().documents {
        return Err(documents_unsupported());
    }
    Ok(p)
}

/// The settings of `input` (`{"fields": {"title": 3}, "language": "english", "filterable":
/// ["category"]}`); a 400 naming the offending key.
pub fn parse_settings(input: &Value) -> Result<SearchSettings> {
    let Some(obj) = input.as_object() else {
        return Err(bad(
            "fields",
            "Send the settings as a JSON object: {\"fields\": {\"title\": 1}}.",
        ));
    };
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "fields" | "language" | "filterable"))
    {
        return Err(bad(
            k,
            format!("Unknown setting {k:?}: use fields, language and filterable."),
        ));
    }
    let mut fields = BTreeMap::new();
    let Some(given) = obj.get("fields").and_then(Value::as_object).filter(|f| !f.is_empty()) else {
        return Err(bad(
            "fields",
            "Name the text fields with their weights: \"fields\": {\"title\": 3, \"body\": 1}.",
        ));
    };
    if given.len() > MAX_FIELDS {
        return Err(bad("fields", format!("At most {MAX_FIELDS} text fields.")));
    }
    for (name, w) in given {
        if !valid_attr(name) {
            return Err(bad(
                &format!("fields.{name}"),
                "A field name is 1 to 64 letters, digits or _ (and not id).",
            ));
        }
        match w.as_u64() {
            Some(w @ 1..) if w <= u64::from(MAX_WEIGHT) => fields.insert(name.clone(), w as u32),
            _ => {
                return Err(bad(
                    &format!("fields.{name}"),
                    format!("A weight is an integer from 1 to {MAX_WEIGHT}."),
                ))
            }
        };
    }
    let language = match obj.get("language") {
        None | Some(Value::Null) => Language::default(),
        Some(v) => v.as_str().and_then(Language::parse).ok_or_else(|| {
            let known: Vec<String> = Language::ALL.iter().map(|l| l.name()).collect();
            bad(
                "language",
                format!("Unknown language: use one of {}.", known.join(", ")),
            )
        })?,
    };
    let mut filterable: Vec<String> = Vec::new();
    match obj.get("filterable") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                match item.as_str().filter(|n| valid_attr(n)) {
                    Some(n) if !filterable.iter().any(|f| f == n) => filterable.push(n.to_string()),
                    Some(_) => {}
                    None => {
                        return Err(bad(
                            "filterable",
                            "Filterable attributes are names of 1 to 64 letters, digits or _ (and not id).",
                        ))
                    }
                }
            }
        }
        Some(_) => return Err(bad("filterable", "filterable is an array of attribute names.")),
    }
    if filterable.len() > MAX_FIELDS {
        return Err(bad(
            "filterable",
            format!("At most {MAX_FIELDS} filterable attributes."),
        ));
    }
    Ok(SearchSettings {
        fields,
        language,
        filterable,
    })
}

fn settings_json(name: &str, s: &SearchSettings) -> Value {
    json!({"name": name, "fields": s.fields, "language": s.language, "filterable": s.filterable})
}

/// The settings of the index `name` (opened in the provider if it was not); a 404 when absent.
async fn open(p: &Arc<dyn SearchIndex>, name: &str) -> Result<(String, SearchSettings)> {
    let full = provider_name(name)?;
    let found = p.indexes(&full).await?.into_iter().find(|(n, _)| *n == full);
    let Some((_, settings)) = found else {
        return Err(Error::NotFound(format!("There is no search index {name:?}.")));
    };
    p.ensure(&full, &settings).await?;
    Ok((full, settings))
}

/// Every free-standing index with its settings (`search:read`).
pub async fn list(app: &App, caller: &Caller) -> Result<Value> {
    authorize(caller, Permission::SearchRead)?;
    let p = provider(app)?;
    let items: Vec<Value> = p
        .indexes(PREFIX)
        .await?
        .iter()
        .filter_map(|(full, s)| Some(settings_json(full.strip_prefix(PREFIX)?, s)))
        .collect();
    Ok(json!({"items": items}))
}

/// Creates the index `name`, or changes its settings (`search:manage`). Changed settings
/// empty it (its documents must be sent again); the same settings keep it as it is.
pub async fn put(app: &App, caller: &Caller, name: &str, input: &Value) -> Result<Value> {
    authorize(caller, Permission::SearchManage)?;
    let full = provider_name(name)?;
    let settings = parse_settings(input)?;
    let p = provider(app)?;
    p.ensure(&full, &settings).await?;
    Ok(settings_json(name, &settings))
}

/// Deletes the index `name` and its documents (`search:manage`); a 404 when absent.
pub async fn delete(app: &App, caller: &Caller, name: &str) -> Result<()> {
    authorize(caller, Permission::SearchManage)?;
    let p = provider(app)?;
    let (full, _) = open(p, name).await?;
    p.drop_index(&full).await
}

fn document(settings: &SearchSettings, v: &Value, at: &str) -> Result<SearchDocument> {
    let key = |k: &str| {
        if at.is_empty() {
            k.to_string()
        } else {
            format!("{at}.{k}")
        }
    };
    let Some(obj) = v.as_object() else {
        return Err(bad(&key("id"), "A document is a JSON object with an \"id\"."));
    };
    let Some(id) = obj.get("id").and_then(Value::as_str).filter(|id| valid_id(id)) else {
        return Err(bad(
            &key("id"),
            "A document needs an \"id\": 1 to 100 letters, digits, _, -, . or :.",
        ));
    };
    let mut doc = SearchDocument {
        id: id.to_string(),
        source: Some(Value::Object(obj.clone())),
        ..Default::default()
    };
    for name in settings.fields.keys() {
        match obj.get(name) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => {
                doc.fields.insert(name.clone(), s.clone());
            }
            Some(_) => return Err(bad(&key(name), format!("{name} is a text field: send a string."))),
        }
    }
    for name in &settings.filterable {
        let scalar = |v: &Value| matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_));
        let values = match obj.get(name) {
            None | Some(Value::Null) => continue,
            Some(Value::Array(items)) if items.iter().all(scalar) => items.clone(),
            Some(v) if scalar(v) => vec![v.clone()],
            Some(_) => {
                return Err(bad(
                    &key(name),
                    format!("{name} is filterable: send a string, a number, a bool, or an array of them."),
                ))
            }
        };
        doc.attributes.insert(name.clone(), values);
    }
    Ok(doc)
}

/// Adds or replaces documents (one JSON object or an array of them, each with an `id`) in the
/// index `name` (`search:write`); answers how many.
pub async fn add_documents(app: &App, caller: &Caller, name: &str, body: &Value) -> Result<Value> {
    authorize(caller, Permission::SearchWrite)?;
    let p = provider(app)?;
    let (full, settings) = open(p, name).await?;
    let docs = match body {
        Value::Array(items) => {
            if items.is_empty() || items.len() > MAX_DOCUMENTS {
                return Err(bad(
                    "documents",
                    format!("Send 1 to {MAX_DOCUMENTS} documents at a time."),
                ));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, v)| document(&settings, v, &i.to_string()))
                .collect::<Result<Vec<_>>>()?
        }
        v => vec![document(&settings, v, "")?],
    };
    let n = docs.len();
    p.upsert(&full, docs).await?;
    // These documents exist nowhere else: durable before they are acknowledged.
    p.sync(&full).await?;
    Ok(json!({"indexed": n}))
}

/// Deletes the document `id` of the index `name` (`search:write`); an absent id is no error.
pub async fn delete_document(app: &App, caller: &Caller, name: &str, id: &str) -> Result<()> {
    authorize(caller, Permission::SearchWrite)?;
    let p = provider(app)?;
    let (full, _) = open(p, name).await?;
    p.delete(&full, &[id.to_string()]).await?;
    p.sync(&full).await
}

/// A search of a free-standing index.
#[derive(Debug, Clone, Default)]
pub struct IndexSearch {
    pub q: String,
    pub filter: String,
    /// Filterable attributes, comma-separated.
    pub facets: String,
    pub page: u64,
    pub per_page: u64,
}

/// Searches the index `name` (`search:read`): `{page, perPage, totalItems, totalPages,
/// items: [{id, score, document}], facets: {attribute: {value: count}}}`.
pub async fn search(app: &App, caller: &Caller, name: &str, s: &IndexSearch) -> Result<Value> {
    authorize(caller, Permission::SearchRead)?;
    let p = provider(app)?;
    let (full, settings) = open(p, name).await?;
    let query = super::across::query_named(&s.q, "q")?;
    let filter = Filter::parse(&s.filter, &settings.filterable)?;
    let mut facets: Vec<String> = Vec::new();
    for f in s.facets.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        if !settings.filterable.iter().any(|a| a == f) {
            return Err(bad(
                "facets",
                format!("{f:?} is not filterable: facets count the index's filterable attributes."),
            ));
        }
        if !facets.iter().any(|x| x == f) {
            facets.push(f.to_string());
        }
    }
    if facets.len() > MAX_FACETS {
        return Err(bad("facets", format!("At most {MAX_FACETS} facets.")));
    }
    let per_page = s.per_page.max(1);
    let page = s.page.max(1);
    let request = SearchRequest {
        query,
        filter,
        facets: facets.clone(),
        offset: usize::try_from((page - 1).saturating_mul(per_page)).unwrap_or(usize::MAX),
        limit: per_page as usize,
    };
    let r = p.query(&full, &request).await?;
    let items: Vec<Value> = r
        .hits
        .into_iter()
        .map(|h| json!({"id": h.id, "score": h.score, "document": h.document}))
        .collect();
    let mut facet_out = Map::new();
    for f in facets {
        facet_out.insert(f.clone(), json!(r.facets.get(&f).cloned().unwrap_or_default()));
    }
    let total = r.total as u64;
    Ok(json!({
        "page": page,
        "perPage": per_page,
        "totalItems": total,
        "totalPages": total.div_ceil(per_page),
        "items": items,
        "facets": facet_out,
    }))
}
