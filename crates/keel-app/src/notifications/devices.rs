//! Push devices (`_notificationDevices`): a user's Web Push subscriptions (`kind: webpush`,
//! `subscription` = `PushSubscription.toJSON()`) and FCM / APNs tokens (`kind: fcm|apns`,
//! `token`). Users add and remove their own; a provider's `Gone` answer removes one.

use keel_core::notify::Recipient;
use keel_core::{Error, Result};
use keel_data::system::NOTIFICATION_DEVICES as DEVICES;
use keel_data::Record;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{find, insert, lit, remove, str_of, Owner};
use crate::caller::Caller;
use crate::App;

/// A device as registered.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeviceInput {
    #[serde(default)]
    pub kind: String,
    pub token: Option<String>,
    pub subscription: Option<Value>,
}

/// Which device to remove: by id or by token / endpoint.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeviceRef {
    pub id: Option<String>,
    pub token: Option<String>,
}

/// Registers a device for the caller (the same token twice is one device).
pub async fn add(app: &App, caller: &Caller, input: DeviceInput) -> Result<Record> {
    let owner = Owner::of(caller)?;
    let token = match input.kind.as_str() {
        "fcm" | "apns" => input
            .token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::field("token", "validation_required", "An FCM or APNs device needs its token."))?,
        "webpush" => {
            let s = input.subscription.as_ref();
            let endpoint = s.and_then(|s| s.get("endpoint")).and_then(Value::as_str);
            let keys = s.and_then(|s| s.get("keys"));
            let has_keys = ["p256dh", "auth"]
                .iter()
                .all(|k| keys.and_then(|v| v.get(k)).and_then(Value::as_str).is_some());
            match endpoint {
                Some(e) if has_keys && e.starts_with("https://") => e.to_string(),
                _ => {
                    return Err(Error::field(
                        "subscription",
                        "validation_invalid_subscription",
                        "A web push subscription is {endpoint: \"https://…\", keys: {p256dh, auth}}.",
                    ))
                }
            }
        }
        _ => {
            return Err(Error::field(
                "kind",
                "validation_invalid_kind",
                "kind is webpush, fcm or apns.",
            ))
        }
    };
    let filter = format!("{} && token = {}", owner.filter(), lit(&token));
    if let Some(existing) = find(app, DEVICES, &filter).await?.into_iter().next() {
        return Ok(existing);
    }
    insert(
        app,
        DEVICES,
        json!({"collectionRef": owner.collection, "recordRef": owner.record, "kind": input.kind,
               "token": token, "subscription": input.subscription}),
    )
    .await
}

/// Removes one of the caller's devices (404 when they have no such device).
pub async fn delete(app: &App, caller: &Caller, which: DeviceRef) -> Result<()> {
    let owner = Owner::of(caller)?;
    let filter = match (&which.id, &which.token) {
        (Some(id), _) => format!("{} && id = {}", owner.filter(), lit(id)),
        (None, Some(t)) => format!("{} && token = {}", owner.filter(), lit(t)),
        _ => {
            return Err(Error::field(
                "id",
                "validation_required",
                "Give the device's id or token.",
            ))
        }
    };
    let rows = find(app, DEVICES, &filter).await?;
    if rows.is_empty() {
        return Err(Error::NotFound("No such device.".into()));
    }
    for r in rows {
        remove(app, DEVICES, r.id()).await?;
    }
    Ok(())
}

/// The push recipients of `owner`, with each device's id.
pub async fn recipients(app: &App, owner: &Owner) -> Result<Vec<(String, Recipient)>> {
    let mut out = Vec::new();
    for r in find(app, DEVICES, &owner.filter()).await? {
        let to = if str_of(&r.data, "kind") == "webpush" {
            let s = r.data.get("subscription").cloned().unwrap_or(Value::Null);
            let key = |k: &str| s["keys"][k].as_str().unwrap_or_default().to_string();
            Recipient::WebPush {
                endpoint: s["endpoint"].as_str().unwrap_or_default().to_string(),
                p256dh: key("p256dh"),
                auth: key("auth"),
            }
        } else {
            Recipient::Device {
                token: str_of(&r.data, "token").to_string(),
            }
        };
        out.push((r.id().to_string(), to));
    }
    Ok(out)
}

/// Drops the device `id` after a provider said it is gone.
pub async fn gone(app: &App, id: &str) -> Result<()> {
    match remove(app, DEVICES, id).await {
        Ok(()) | Err(Error::NotFound(_)) => Ok(()),
        Err(e) => Err(e),
    }
}
