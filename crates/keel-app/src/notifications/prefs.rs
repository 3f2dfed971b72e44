//! Preferences (`_notificationPreferences`): per user, a time zone, quiet hours
//! (`{start, end}` as `HH:MM` in that zone) and per-topic channel opt-outs
//! (`{"builds": {"email": false}}`). Users read and change their own;
//! `notifications:manage` everyone's.

use keel_core::notify::Channel;
use keel_core::{Error, Result};
use keel_data::system::NOTIFICATION_PREFERENCES as PREFERENCES;
use keel_notify::prefs::QuietHours;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{find, insert, may_act_for, patch, str_of, Owner};
use crate::caller::Caller;
use crate::App;

/// A change to preferences: each given part replaces the stored one.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrefsInput {
    pub timezone: Option<String>,
    /// `{start, end}`; `null` clears quiet hours.
    #[serde(default, deserialize_with = "some")]
    pub quiet_hours: Option<Option<Window>>,
    pub topics: Option<Map<String, Value>>,
}

fn some<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> std::result::Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub start: String,
    pub end: String,
}

/// One user's preferences, as the service uses them.
#[derive(Debug, Clone, Default)]
pub struct Prefs {
    pub timezone: String,
    pub quiet: Option<QuietHours>,
    pub topics: Map<String, Value>,
}

impl Prefs {
    /// Whether the user opted out of `channel` for `topic`.
    pub fn opted_out(&self, topic: &str, channel: Channel) -> bool {
        !topic.is_empty() && self.topics.get(topic).and_then(|t| t.get(channel.as_str())) == Some(&Value::Bool(false))
    }

    /// The API's JSON.
    pub fn to_json(&self, owner: &Owner) -> Value {
        json!({
            "collectionRef": owner.collection,
            "recordRef": owner.record,
            "timezone": self.timezone,
            "quietHours": self.quiet.map(|q| json!({"start": q.start.format("%H:%M").to_string(), "end": q.end.format("%H:%M").to_string()})),
            "topics": self.topics,
        })
    }
}

async fn row(app: &App, owner: &Owner) -> Result<Option<keel_data::Record>> {
    Ok(find(app, PREFERENCES, &owner.filter()).await?.into_iter().next())
}

/// The preferences of `owner` (defaults when none are stored).
pub async fn load(app: &App, owner: &Owner) -> Result<Prefs> {
    let Some(r) = row(app, owner).await? else {
        return Ok(Prefs::default());
    };
    let timezone = str_of(&r.data, "timezone").to_string();
    let zone = if timezone.is_empty() { "UTC" } else { &timezone };
    let (start, end) = (str_of(&r.data, "quietStart"), str_of(&r.data, "quietEnd"));
    let quiet = if start.is_empty() || end.is_empty() {
        None
    } else {
        QuietHours::parse(zone, start, end).ok()
    };
    let topics = r
        .data
        .get("topics")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    Ok(Prefs {
        timezone,
        quiet,
        topics,
    })
}

/// The preferences of `owner`, for the caller (themself, or `notifications:manage`).
pub async fn view(app: &App, caller: &Caller, owner: &Owner) -> Result<Value> {
    may_act_for(caller, owner)?;
    Ok(load(app, owner).await?.to_json(owner))
}

/// Changes the preferences of `owner`; a bad zone, time or topic map is a 400 naming it.
pub async fn update(app: &App, caller: &Caller, owner: &Owner, input: PrefsInput) -> Result<Value> {
    may_act_for(caller, owner)?;
    let mut set = Map::new();
    if let Some(tz) = &input.timezone {
        if !tz.is_empty() {
            keel_notify::prefs::parse_zone(tz)
                .map_err(|m| Error::field("timezone", "validation_invalid_timezone", m))?;
        }
        set.insert("timezone".into(), json!(tz));
    }
    match &input.quiet_hours {
        Some(Some(w)) => {
            keel_notify::prefs::parse_time(&w.start)
                .map_err(|m| Error::field("quietHours.start", "validation_invalid_time", m))?;
            keel_notify::prefs::parse_time(&w.end)
                .map_err(|m| Error::field("quietHours.end", "validation_invalid_time", m))?;
            set.insert("quietStart".into(), json!(w.start));
            set.insert("quietEnd".into(), json!(w.end));
        }
        Some(None) => {
            set.insert("quietStart".into(), json!(""));
            set.insert("quietEnd".into(), json!(""));
        }
        None => {}
    }
    if let Some(topics) = &input.topics {
        for (topic, channels) in topics {
            let ok = channels.as_object().is_some_and(|m| {
                m.iter()
                    .all(|(c, v)| v.is_boolean() && serde_json::from_value::<Channel>(json!(c)).is_ok())
            });
            if !ok {
                return Err(Error::field(
                    "topics",
                    "validation_invalid_topics",
                    format!("topics.{topic} must map channel names (email, sms, chat, push, inapp) to true or false."),
                ));
            }
        }
        set.insert("topics".into(), Value::Object(topics.clone()));
    }
    match row(app, owner).await? {
        Some(r) => {
            patch(app, PREFERENCES, r.id(), Value::Object(set)).await?;
        }
        None => {
            set.insert("collectionRef".into(), json!(owner.collection));
            set.insert("recordRef".into(), json!(owner.record));
            insert(app, PREFERENCES, Value::Object(set)).await?;
        }
    }
    Ok(load(app, owner).await?.to_json(owner))
}
