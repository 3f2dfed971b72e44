//! A client's subscriptions: `{clientId, subscriptions}` replaces them and binds the caller's
//! credential to the client (another record, key or a guest later gets a 403). A request for
//! a client held by another process is handed over through the event bus (`super::handover`).

use keel_core::error::{FieldError, FieldErrors};
use keel_core::Error;
use serde_json::{Map, Value};

use super::handover::{self, Reply, Request};
use super::{Client, Subscription};
use crate::{App, Caller};

/// Longest accepted client id and subscription string, and most subscriptions per client.
const MAX_CLIENT_ID: usize = 255;
const MAX_SUBSCRIPTION: usize = 2500;
const MAX_SUBSCRIPTIONS: usize = 1000;

/// Replaces the subscriptions of the client `form.clientId` with `form.subscriptions`, for
/// `caller` (who presented `credential`, the raw token or API key, if any).
pub async fn set_subscriptions(
    app: &App,
    caller: &Caller,
    credential: Option<&str>,
    form: &Map<String, Value>,
) -> Result<(), Error> {
    let (client_id, subscriptions) = check(form)?;
    if let Some(client) = app.realtime.client(client_id) {
        return bind(&client, caller, subscriptions);
    }
    let request = Request::Subscribe {
        credential: credential.map(str::to_string),
        form: form.clone(),
    };
    match handover::ask(app, client_id, request).await {
        Some(Reply::Subscribed) => Ok(()),
        Some(Reply::Forbidden) => Err(mismatch()),
        _ => Err(Error::NotFound("Missing or invalid client id.".into())),
    }
}

/// Binds `caller` to `client` (held by this process) and sets its `subscriptions`.
pub(super) fn bind(client: &Client, caller: &Caller, subscriptions: Vec<Subscription>) -> Result<(), Error> {
    client.bind_auth(caller).map_err(|_| mismatch())?;
    client.set_subscriptions(subscriptions);
    Ok(())
}

fn mismatch() -> Error {
    Error::Forbidden("The current and the previous request authorization don't match.".into())
}

/// The client id and the parsed subscriptions of `form`, or the 400 naming what is wrong.
pub(super) fn check(form: &Map<String, Value>) -> Result<(&str, Vec<Subscription>), Error> {
    let client_id = form.get("clientId").and_then(Value::as_str).unwrap_or("");
    let mut errors = FieldErrors::new();
    if client_id.is_empty() {
        errors.insert(
            "clientId".into(),
            FieldError::new("validation_required", "Cannot be blank."),
        );
    } else if client_id.len() > MAX_CLIENT_ID {
        errors.insert(
            "clientId".into(),
            FieldError::new(
                "validation_length_too_long",
                format!("The length must be no more than {MAX_CLIENT_ID}."),
            ),
        );
    }
    let subscriptions = match parse_subscriptions(form.get("subscriptions")) {
        Ok(s) => s,
        Err(e) => {
            errors.insert("subscriptions".into(), e);
            Vec::new()
        }
    };
    if !errors.is_empty() {
        return Err(Error::fields(errors));
    }
    Ok((client_id, subscriptions))
}

/// `subscriptions`: absent, null or an array of strings (duplicates kept once).
fn parse_subscriptions(v: Option<&Value>) -> Result<Vec<Subscription>, FieldError> {
    let items = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) if s.is_empty() => return Ok(Vec::new()),
        // A URL-encoded form carries one subscription as a plain string.
        Some(one @ Value::String(_)) => vec![one],
        Some(Value::Array(a)) => a.iter().collect(),
        Some(_) => return Err(FieldError::new("validation_invalid_type", "Must be a list of strings.")),
    };
    if items.len() > MAX_SUBSCRIPTIONS {
        return Err(FieldError::new(
            "validation_length_too_long",
            format!("There must be no more than {MAX_SUBSCRIPTIONS} subscriptions."),
        ));
    }
    let mut out: Vec<Subscription> = Vec::with_capacity(items.len());
    for item in items {
        let raw = item
            .as_str()
            .ok_or_else(|| FieldError::new("validation_invalid_type", "Must be a list of strings."))?;
        if raw.len() > MAX_SUBSCRIPTION {
            return Err(FieldError::new(
                "validation_length_too_long",
                format!("Each subscription must be no more than {MAX_SUBSCRIPTION} characters."),
            ));
        }
        let sub = Subscription::parse(raw).ok_or_else(|| {
            FieldError::new(
                "validation_invalid_value",
                "A subscription cannot be blank or hold line breaks.",
            )
        })?;
        if !out.iter().any(|s| s.raw == sub.raw) {
            out.push(sub);
        }
    }
    Ok(out)
}
