//! Tokens of a signed-in record: refreshing one, and a superuser impersonating a record.

use keel_auth::token::{self, Claims, TokenKind};
use keel_auth::AuditEntry;
use keel_core::Error;
use keel_data::{Access, Record, RequestInfo};
use serde_json::Value;

use super::{auth_collection, caller_record, issue, same_collection, SignedIn};
use crate::caller::INVALID_TOKEN;
use crate::{App, Caller, Origin};

/// A new token and the current record for the caller's valid, refreshable auth token `raw`
/// of the collection `name_or_id` (impersonation tokens are not refreshable). `req` is the
/// request's context.
pub async fn refresh(
    app: &App,
    caller: &Caller,
    name_or_id: &str,
    raw: Option<&str>,
    req: RequestInfo,
    origin: &Origin,
) -> Result<SignedIn, Error> {
    let Some(auth) = caller.auth.as_ref() else {
        return Err(Error::Unauthorized(INVALID_TOKEN.into()));
    };
    if !same_collection(caller, name_or_id) {
        return Err(Error::Unauthorized(
            "The token belongs to another auth collection; sign in to this one.".into(),
        ));
    }
    let collection = auth_collection(app, name_or_id)?;
    let refreshable = raw.and_then(|raw| token::peek(raw).ok()).is_some_and(|c| c.refreshable);
    if !refreshable {
        return Err(Error::Forbidden(
            "This token cannot be refreshed; sign in again.".into(),
        ));
    }
    let record = caller_record(auth);
    let entry = AuditEntry::new("auth.refresh", true)
        .record(&collection.id, record.id())
        .actor(caller.actor())
        .origin(origin.ip.clone(), origin.user_agent.clone());
    let signed = issue(app, &collection, record, req).await?;
    app.identity.audit(entry).await;
    Ok(signed)
}

/// A superuser's non-refreshable auth token for the record `id` of the collection
/// `name_or_id`, `duration` seconds long (absent, null or 0: the collection's auth token
/// duration); audited.
pub async fn impersonate(
    app: &App,
    caller: &Caller,
    name_or_id: &str,
    id: &str,
    duration: Option<&Value>,
    origin: &Origin,
) -> Result<(String, Record), Error> {
    caller.require_superuser()?;
    let collection = auth_collection(app, name_or_id)?;
    let opts = collection.auth.as_ref().ok_or_else(Error::not_found)?;
    let duration = match duration {
        None | Some(Value::Null) => 0,
        Some(v) => v.as_i64().filter(|d| *d >= 0).ok_or_else(|| {
            Error::field(
                "duration",
                "validation_invalid_number",
                "Must be a whole number of seconds, 0 or more.",
            )
        })?,
    };
    let duration = if duration == 0 {
        opts.auth_token.duration
    } else {
        duration
    };
    let record = app
        .store
        .get_record(&collection, id, &RequestInfo::default(), Access::Superuser)
        .await?;
    let token_key = record.data.get("tokenKey").and_then(Value::as_str).unwrap_or("");
    let mut claims = Claims::new(TokenKind::Auth, record.id(), &collection.id, duration);
    claims.refreshable = false;
    let token = token::sign(&claims, &opts.auth_token.secret, token_key)?;
    app.identity
        .audit(
            AuditEntry::new("auth.impersonate", true)
                .record(&collection.id, record.id())
                .actor(caller.actor())
                .origin(origin.ip.clone(), origin.user_agent.clone())
                .detail("duration", duration),
        )
        .await;
    Ok((token, record))
}

/// Signs out every session of a record by rotating its `tokenKey` (`auth-revoke`): the
/// caller's own record when `asked` is empty or names it; a superuser may name any record of
/// the collection. Guests get a 401, other records a 403. Audited.
pub async fn revoke(app: &App, caller: &Caller, name_or_id: &str, asked: &str, origin: &Origin) -> Result<(), Error> {
    let collection = auth_collection(app, name_or_id)?;
    let asked = asked.trim();
    let own = caller
        .auth
        .as_ref()
        .filter(|_| same_collection(caller, name_or_id))
        .map(|a| a.id().to_string());
    let id = match (asked.is_empty(), own) {
        (true, Some(own)) => own,
        (false, Some(own)) if own == asked => own,
        (false, _) if caller.is_superuser() => asked.to_string(),
        (_, None) if caller.is_guest() => {
            return Err(Error::Unauthorized(
                "The request requires valid record authorization token.".into(),
            ))
        }
        _ => return Err(Error::Forbidden("Only superusers can sign out another record.".into())),
    };
    let mut data = serde_json::Map::new();
    data.insert("tokenKey".into(), Value::from(keel_core::id::new_secret()));
    app.store
        .update_record(&collection, &id, data, &RequestInfo::default(), Access::Superuser)
        .await?;
    app.identity
        .audit(
            AuditEntry::new("auth.revoke", true)
                .record(&collection.id, &id)
                .actor(caller.actor())
                .origin(origin.ip.clone(), origin.user_agent.clone()),
        )
        .await;
    Ok(())
}
