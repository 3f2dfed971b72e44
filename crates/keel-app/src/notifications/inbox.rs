//! The history and the in-app inbox: `_notifications` rows. A recipient lists, views, marks
//! read and acknowledges their own (the collection's list rule); `notifications:read` lists
//! and views everyone's. Another user's notification is a 404.

use keel_core::{Error, Result};
use keel_data::system::{NOTIFICATIONS, NOTIFICATION_DELIVERIES as DELIVERIES};
use keel_data::{Access, ListParams, Page, Record, RequestInfo};
use serde_json::{json, Value};

use super::send::delivery_json;
use super::{col, find, lit, not_found, patch, Owner};
use crate::authz::{authorize, Permission};
use crate::caller::{Caller, INVALID_TOKEN};
use crate::App;

/// Whether the caller reads everyone's notifications.
fn reads_all(caller: &Caller) -> bool {
    authorize(caller, Permission::NotificationsRead).is_ok()
}

/// 401 for guests.
pub fn may_read(caller: &Caller) -> Result<()> {
    if caller.is_guest() {
        return Err(Error::Unauthorized(INVALID_TOKEN.into()));
    }
    Ok(())
}

/// A page of the caller's notifications (everyone's with `notifications:read`), newest
/// first unless `params` sorts.
pub async fn list(app: &App, caller: &Caller, params: &ListParams, req: &RequestInfo) -> Result<Page<Record>> {
    may_read(caller)?;
    let c = col(app, NOTIFICATIONS)?;
    let mut params = params.clone();
    if params.sort.is_none() {
        params.sort = Some("-created".into());
    }
    let rule = c.list_rule.clone().unwrap_or_default();
    let access = if reads_all(caller) {
        Access::Superuser
    } else {
        Access::Rule(&rule)
    };
    app.store.list_records(&c, &params, req, access).await
}

/// The notification `id` if the caller may see it (404 otherwise).
pub async fn view(app: &App, caller: &Caller, id: &str, req: &RequestInfo) -> Result<Record> {
    may_read(caller)?;
    let c = col(app, NOTIFICATIONS)?;
    let rule = c.view_rule.clone().unwrap_or_default();
    let access = if reads_all(caller) {
        Access::Superuser
    } else {
        Access::Rule(&rule)
    };
    match app.store.get_record(&c, id, req, access).await {
        Err(Error::NotFound(_)) => Err(not_found("notification", id)),
        other => other,
    }
}

/// The caller's own notification `id` (404 for anyone else's: only the recipient reads or
/// acknowledges).
async fn own(app: &App, caller: &Caller, id: &str, req: &RequestInfo) -> Result<Record> {
    let n = view(app, caller, id, req).await?;
    if Owner::of(caller).ok() != Some(Owner::of_row(&n)) {
        return Err(not_found("notification", id));
    }
    Ok(n)
}

/// Marks the caller's notification read (once: the first time stays).
pub async fn read(app: &App, caller: &Caller, id: &str, req: &RequestInfo) -> Result<Record> {
    let n = own(app, caller, id, req).await?;
    if n.data
        .get("readAt")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
    {
        return Ok(n);
    }
    let now = keel_core::time::format(app.notifications.now());
    patch(app, NOTIFICATIONS, id, json!({"readAt": now})).await
}

/// Acknowledges the caller's notification (which also marks it read); stops its escalation.
pub async fn ack(app: &App, caller: &Caller, id: &str, req: &RequestInfo) -> Result<Record> {
    let n = own(app, caller, id, req).await?;
    if n.data
        .get("ackedAt")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
    {
        return Ok(n);
    }
    let now = keel_core::time::format(app.notifications.now());
    let mut set = json!({"ackedAt": now});
    if n.data.get("readAt").and_then(Value::as_str).is_none_or(str::is_empty) {
        set["readAt"] = json!(now);
    }
    patch(app, NOTIFICATIONS, id, set).await
}

/// The deliveries of a notification the caller may see.
pub async fn deliveries(app: &App, caller: &Caller, id: &str, req: &RequestInfo) -> Result<Vec<Value>> {
    view(app, caller, id, req).await?;
    Ok(find(app, DELIVERIES, &format!("notification = {}", lit(id)))
        .await?
        .iter()
        .map(delivery_json)
        .collect())
}
