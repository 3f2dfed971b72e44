//! Record values: applying submitted data (with `field+`/`+field`/`field-` modifiers) on top
//! of the current record, normalising each value to its field type and validating it like
//! PocketBase. Relation ids and unique emails are checked by the caller (they need the DB).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use keel_core::{FieldError, FieldErrors};
use regex::Regex;
use serde_json::{Number, Value};

use crate::schema::{Collection, DomainOptions, Field, FieldKind, RecordData, JSON_DEFAULT_MAX_SIZE, TEXT_DEFAULT_MAX};

/// The outcome of applying submitted data.
pub(crate) struct Prepared {
    /// Every field, normalised.
    pub data: RecordData,
    /// Relation ids to check: (field name, target collection id, ids).
    pub relations: Vec<(String, String, Vec<String>)>,
    pub errors: FieldErrors,
}

fn fe(code: &str, message: impl Into<String>) -> FieldError {
    FieldError::new(code, message)
}

/// A compiled user regex (cached; `None` when it does not compile).
fn user_regex(src: &str) -> Option<Regex> {
    static CACHE: OnceLock<Mutex<HashMap<String, Regex>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut map = match cache.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    if let Some(r) = map.get(src) {
        return Some(r.clone());
    }
    let r = Regex::new(src).ok()?;
    if map.len() > 1024 {
        map.clear();
    }
    map.insert(src.to_string(), r.clone());
    Some(r)
}

fn static_regex(cell: &'static OnceLock<Regex>, src: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(src).unwrap_or_else(|_| unreachable!("static regex")))
}

/// Applies `input` to `current` (or to a new record) for collection `c`.
pub(crate) fn prepare(c: &Collection, current: Option<&RecordData>, input: &RecordData, now: &str) -> Prepared {
    let creating = current.is_none();
    let mut data = match current {
        Some(cur) => cur.clone(),
        None => c.fields.iter().map(|f| (f.name.clone(), f.zero_value())).collect(),
    };
    let mut errors = FieldErrors::new();
    let mut relations = Vec::new();
    for f in &c.fields {
        let name = f.name.as_str();
        if let FieldKind::Autodate(o) = &f.kind {
            if (creating && o.on_create) || (!creating && o.on_update) {
                data.insert(f.name.clone(), Value::from(now));
            }
            continue;
        }
        if name == "id" && !creating {
            continue;
        }
        let mut v = data.get(name).cloned().unwrap_or_else(|| f.zero_value());
        let mut touched = false;
        // An empty password on update means "unchanged" (the hash is never sent back).
        let keep = !creating && matches!(f.kind, FieldKind::Password(_)) && input.get(name).is_some_and(is_zero);
        if let Some(x) = input.get(name).filter(|_| !keep) {
            v = x.clone();
            touched = true;
        }
        if !input.is_empty() && !matches!(f.kind, FieldKind::Password(_)) {
            for (key, op) in [
                (format!("+{name}"), Mod::Prepend),
                (format!("{name}+"), Mod::Append),
                (format!("{name}-"), Mod::Remove),
            ] {
                if let Some(x) = input.get(&key) {
                    v = apply_modifier(f, v, x, op);
                    touched = true;
                }
            }
        }
        if c.is_auth() && name == "tokenKey" {
            let rotate = !creating
                && input
                    .get("password")
                    .is_some_and(|p| p.as_str().is_some_and(|s| !s.is_empty()));
            if rotate || (creating && v.as_str().unwrap_or("").is_empty()) {
                v = Value::from(keel_core::id::new_secret());
            }
        }
        if name == "id" && v.as_str().unwrap_or("").is_empty() {
            v = Value::from(keel_core::id::new_id());
        }
        match normalize(f, v) {
            Ok(v) => {
                if let FieldKind::Relation(o) = &f.kind {
                    let ids = to_list(&v);
                    if (touched || creating) && !ids.is_empty() {
                        relations.push((f.name.clone(), o.collection_id.clone(), ids));
                    }
                }
                if f.required && is_zero(&v) {
                    errors.insert(f.name.clone(), fe("validation_required", "Cannot be blank."));
                }
                data.insert(f.name.clone(), v);
            }
            Err(e) => {
                errors.insert(f.name.clone(), e);
            }
        }
    }
    Prepared {
        data,
        relations,
        errors,
    }
}

#[derive(Clone, Copy)]
enum Mod {
    Prepend,
    Append,
    Remove,
}

fn apply_modifier(f: &Field, current: Value, x: &Value, op: Mod) -> Value {
    if let FieldKind::Number(_) = f.kind {
        let (Some(a), Some(b)) = (as_f64(&current), as_f64(x)) else {
            return x.clone();
        };
        return match op {
            Mod::Remove => num(a - b),
            _ => num(a + b),
        };
    }
    let mut list = to_list(&current);
    let given = to_list(x);
    match op {
        Mod::Append => list.extend(given.into_iter().filter(|g| !list.contains(g)).collect::<Vec<_>>()),
        Mod::Prepend => {
            let mut front: Vec<String> = given.into_iter().filter(|g| !list.contains(g)).collect();
            front.append(&mut list);
            list = front;
        }
        Mod::Remove => list.retain(|v| !given.contains(v)),
    }
    Value::Array(list.into_iter().map(Value::String).collect())
}

/// A multi-valued input as strings: arrays element-wise, `""`/null as empty, a scalar as one.
pub(crate) fn to_list(v: &Value) -> Vec<String> {
    match v {
        Value::Null => vec![],
        Value::String(s) if s.is_empty() => vec![],
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|x| match x {
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                Value::String(_) | Value::Null => None,
                other => Some(other.to_string()),
            })
            .collect(),
        other => vec![other.to_string()],
    }
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) if s.trim().is_empty() => Some(0.0),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::Null => Some(0.0),
        _ => None,
    }
}

fn num(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        Value::from(x as i64)
    } else {
        Number::from_f64(x).map(Value::Number).unwrap_or(Value::Null)
    }
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Bool(b) => !b,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

fn to_text(v: Value) -> Result<String, FieldError> {
    match v {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(fe("validation_invalid_value", "Must be a string.")),
    }
}

/// One field's submitted value in its stored shape, or why it is refused.
fn normalize(f: &Field, v: Value) -> Result<Value, FieldError> {
    match &f.kind {
        FieldKind::Text(o) => {
            let s = to_text(v)?;
            if !s.is_empty() {
                let n = s.chars().count() as i64;
                let max = if o.max > 0 { o.max } else { TEXT_DEFAULT_MAX };
                if o.min > 0 && n < o.min {
                    return Err(fe(
                        "validation_min_text_constraint",
                        format!("Must be at least {} character(s).", o.min),
                    )
                    .with_params(serde_json::json!({ "min": o.min })));
                }
                if n > max {
                    return Err(fe(
                        "validation_max_text_constraint",
                        format!("Must be no more than {max} character(s)."),
                    )
                    .with_params(serde_json::json!({ "max": max })));
                }
                if !o.pattern.is_empty() && !user_regex(&o.pattern).is_some_and(|r| r.is_match(&s)) {
                    return Err(fe("validation_invalid_format", "Invalid value format."));
                }
            }
            Ok(Value::String(s))
        }
        FieldKind::Password(_) => Ok(Value::String(to_text(v)?)),
        FieldKind::Editor(o) => {
            let s = to_text(v)?;
            if o.max_size > 0 && s.len() as i64 > o.max_size {
                return Err(fe(
                    "validation_content_size_limit",
                    format!("The maximum allowed content size is {} bytes.", o.max_size),
                )
                .with_params(serde_json::json!({ "maxSize": o.max_size })));
            }
            Ok(Value::String(s))
        }
        FieldKind::Number(o) => {
            let x = as_f64(&v).ok_or_else(|| fe("validation_invalid_number", "Must be a valid number."))?;
            if !x.is_finite() {
                return Err(fe("validation_invalid_number", "Must be a valid number."));
            }
            if o.only_int && x.fract() != 0.0 {
                return Err(fe("validation_only_int_constraint", "Decimal numbers are not allowed."));
            }
            if o.min.is_some_and(|m| x < m) {
                let min = o.min.unwrap_or_default();
                return Err(fe(
                    "validation_min_number_constraint",
                    format!("Must be greater or equal than {min}."),
                )
                .with_params(serde_json::json!({ "min": num(min) })));
            }
            if o.max.is_some_and(|m| x > m) {
                let max = o.max.unwrap_or_default();
                return Err(fe(
                    "validation_max_number_constraint",
                    format!("Must be less or equal than {max}."),
                )
                .with_params(serde_json::json!({ "max": num(max) })));
            }
            Ok(num(x))
        }
        FieldKind::Bool(_) => match v {
            Value::Bool(b) => Ok(Value::Bool(b)),
            Value::Null => Ok(Value::Bool(false)),
            Value::Number(n) => Ok(Value::Bool(n.as_f64().is_some_and(|x| x != 0.0))),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "on" => Ok(Value::Bool(true)),
                "false" | "0" | "" | "off" => Ok(Value::Bool(false)),
                _ => Err(fe("validation_invalid_bool", "Must be a boolean.")),
            },
            _ => Err(fe("validation_invalid_bool", "Must be a boolean.")),
        },
        FieldKind::Email(o) => {
            static EMAIL: OnceLock<Regex> = OnceLock::new();
            let s = to_text(v)?.trim().to_string();
            if s.is_empty() {
                return Ok(Value::String(s));
            }
            if s.len() > 255 || !static_regex(&EMAIL, r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$").is_match(&s) {
                return Err(fe("validation_is_email", "Must be a valid email address."));
            }
            let domain = s.rsplit('@').next().unwrap_or("");
            check_domain(o, domain, "validation_email_domain_not_allowed")?;
            Ok(Value::String(s))
        }
        FieldKind::Url(o) => {
            static URL: OnceLock<Regex> = OnceLock::new();
            let s = to_text(v)?.trim().to_string();
            if s.is_empty() {
                return Ok(Value::String(s));
            }
            let Some(caps) = static_regex(
                &URL,
                r"^[a-zA-Z][a-zA-Z0-9+.\-]*://(?:[^@/\s]*@)?([^/?#:\s]+)(?::\d+)?(?:[/?#]\S*)?$",
            )
            .captures(&s) else {
                return Err(fe("validation_invalid_url", "Must be a valid url."));
            };
            let host = caps.get(1).map(|m| m.as_str()).unwrap_or("");
            check_domain(o, host, "validation_url_domain_not_allowed")?;
            Ok(Value::String(s))
        }
        FieldKind::Date(o) => {
            let s = to_text(v)?;
            if s.trim().is_empty() {
                return Ok(Value::String(String::new()));
            }
            let t = keel_core::time::parse(&s).ok_or_else(|| fe("validation_invalid_date", "Must be a valid date."))?;
            if let Some(min) = keel_core::time::parse(&o.min) {
                if t < min {
                    return Err(fe(
                        "validation_min_date_constraint",
                        format!("Must be after {}.", o.min),
                    ));
                }
            }
            if let Some(max) = keel_core::time::parse(&o.max) {
                if t > max {
                    return Err(fe(
                        "validation_max_date_constraint",
                        format!("Must be before {}.", o.max),
                    ));
                }
            }
            Ok(Value::String(keel_core::time::format(t)))
        }
        FieldKind::Autodate(_) => Ok(v),
        FieldKind::Select(o) => {
            let list = dedupe(to_list(&v));
            if let Some(bad) = list.iter().find(|x| !o.values.contains(x)) {
                return Err(fe("validation_invalid_value", format!("Invalid value {bad}."))
                    .with_params(serde_json::json!({ "value": bad })));
            }
            multi_or_single(f, list, o.max_select)
        }
        FieldKind::Relation(o) => {
            let list = dedupe(to_list(&v));
            if o.min_select > 0 && !list.is_empty() && (list.len() as i64) < o.min_select {
                return Err(fe(
                    "validation_not_enough_values",
                    format!("Select at least {}.", o.min_select),
                ));
            }
            multi_or_single(f, list, o.max_select)
        }
        FieldKind::File(o) => multi_or_single(f, dedupe(to_list(&v)), o.max_select),
        FieldKind::Json(o) => {
            let v = match v {
                Value::String(s) => serde_json::from_str(&s).unwrap_or(Value::String(s)),
                other => other,
            };
            let max = if o.max_size > 0 {
                o.max_size
            } else {
                JSON_DEFAULT_MAX_SIZE
            };
            if v.to_string().len() as i64 > max {
                return Err(fe(
                    "validation_json_size_limit",
                    format!("The maximum allowed JSON size is {max} bytes."),
                )
                .with_params(serde_json::json!({ "maxSize": max })));
            }
            Ok(v)
        }
    }
}

fn dedupe(list: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for x in list {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    out
}

fn multi_or_single(f: &Field, list: Vec<String>, max_select: i64) -> Result<Value, FieldError> {
    if f.is_multiple() {
        if list.len() as i64 > max_select {
            return Err(fe(
                "validation_too_many_values",
                format!("Select no more than {max_select}."),
            ));
        }
        return Ok(Value::Array(list.into_iter().map(Value::String).collect()));
    }
    Ok(Value::String(list.into_iter().last().unwrap_or_default()))
}

fn check_domain(o: &DomainOptions, domain: &str, code: &str) -> Result<(), FieldError> {
    let domain = domain.to_ascii_lowercase();
    if !o.only_domains.is_empty() && !o.only_domains.iter().any(|d| d.eq_ignore_ascii_case(&domain)) {
        return Err(fe(code, "The domain is not allowed."));
    }
    if o.except_domains.iter().any(|d| d.eq_ignore_ascii_case(&domain)) {
        return Err(fe(code, "The domain is not allowed."));
    }
    Ok(())
}
