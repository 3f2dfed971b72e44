//! Notification templates (`_notificationTemplates`, `notifications:manage`): a name, a
//! locale (`""` = the default), a channel (`""` = every channel), and minijinja sources for
//! the subject, text and HTML. A send picks, for each channel, the variant of the channel
//! (else the any-channel one) in the best locale (`de-AT` → `de` → default).

use keel_core::notify::Channel;
use keel_core::{Error, Result};
use keel_data::system::NOTIFICATION_TEMPLATES as TEMPLATES;
use keel_data::Record;
use keel_notify::render::{self, RenderError, Rendered, Source};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{find, get, insert, lit, not_found, patch, remove, str_of};
use crate::authz::{authorize, Permission};
use crate::caller::Caller;
use crate::App;

/// A template as created or changed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateInput {
    pub name: Option<String>,
    pub locale: Option<String>,
    pub channel: Option<String>,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
}

/// What a preview renders: a stored template by name, or sources given inline.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PreviewInput {
    pub template: Option<String>,
    pub source: Option<Source>,
    #[serde(default)]
    pub data: Value,
    pub locale: Option<String>,
    pub channel: Option<Channel>,
}

/// 403 unless `caller` may manage templates.
pub fn may_manage(caller: &Caller) -> Result<()> {
    authorize(caller, Permission::NotificationsManage)
}

/// A render error as a 400 naming the template part (`subject`, `text`, `html`) and line.
pub fn render_error(prefix: &str, e: &RenderError) -> Error {
    Error::field(
        format!("{prefix}{}", e.field),
        "validation_invalid_template",
        e.to_string(),
    )
}

fn validate(input: &TemplateInput, creating: bool) -> Result<()> {
    if creating && input.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
        return Err(Error::field("name", "validation_required", "A template needs a name."));
    }
    if let Some(c) = input.channel.as_deref().filter(|c| !c.is_empty()) {
        serde_json::from_value::<Channel>(json!(c)).map_err(|_| {
            Error::field(
                "channel",
                "validation_invalid_channel",
                format!("Unknown channel {c:?}: use email, sms, chat, push or inapp."),
            )
        })?;
    }
    let source = Source {
        subject: input.subject.clone().unwrap_or_default(),
        text: input.text.clone().unwrap_or_default(),
        html: input.html.clone().unwrap_or_default(),
    };
    render::check(&source).map_err(|e| render_error("", &e))
}

/// Every template.
pub async fn list(app: &App, caller: &Caller) -> Result<Vec<Record>> {
    may_manage(caller)?;
    find(app, TEMPLATES, "").await
}

/// The template `id`.
pub async fn view(app: &App, caller: &Caller, id: &str) -> Result<Record> {
    may_manage(caller)?;
    get(app, TEMPLATES, id).await?.ok_or_else(|| not_found("template", id))
}

/// Creates a template (a 400 naming the part whose source does not compile).
pub async fn create(app: &App, caller: &Caller, input: TemplateInput) -> Result<Record> {
    may_manage(caller)?;
    validate(&input, true)?;
    let exists = find(
        app,
        TEMPLATES,
        &format!(
            "name = {} && locale = {} && channel = {}",
            lit(input.name.as_deref().unwrap_or_default()),
            lit(input.locale.as_deref().unwrap_or_default()),
            lit(input.channel.as_deref().unwrap_or_default())
        ),
    )
    .await?;
    if !exists.is_empty() {
        return Err(Error::field(
            "name",
            "validation_not_unique",
            "A template with this name, locale and channel exists.",
        ));
    }
    insert(
        app,
        TEMPLATES,
        json!({
            "name": input.name.unwrap_or_default().trim(),
            "locale": input.locale.unwrap_or_default(),
            "channel": input.channel.unwrap_or_default(),
            "subject": input.subject.unwrap_or_default(),
            "text": input.text.unwrap_or_default(),
            "html": input.html.unwrap_or_default(),
        }),
    )
    .await
}

/// Changes the given fields of the template `id`.
pub async fn update(app: &App, caller: &Caller, id: &str, input: TemplateInput) -> Result<Record> {
    let before = view(app, caller, id).await?;
    let merged = TemplateInput {
        name: input.name.clone().or_else(|| Some(str_of(&before.data, "name").into())),
        locale: input.locale.clone(),
        channel: input.channel.clone(),
        subject: input
            .subject
            .clone()
            .or_else(|| Some(str_of(&before.data, "subject").into())),
        text: input.text.clone().or_else(|| Some(str_of(&before.data, "text").into())),
        html: input.html.clone().or_else(|| Some(str_of(&before.data, "html").into())),
    };
    validate(&merged, false)?;
    let mut set = serde_json::Map::new();
    for (k, v) in [
        ("name", input.name),
        ("locale", input.locale),
        ("channel", input.channel),
        ("subject", input.subject),
        ("text", input.text),
        ("html", input.html),
    ] {
        if let Some(v) = v {
            set.insert(k.into(), Value::String(v));
        }
    }
    patch(app, TEMPLATES, id, Value::Object(set)).await
}

/// Deletes the template `id`.
pub async fn delete(app: &App, caller: &Caller, id: &str) -> Result<()> {
    view(app, caller, id).await?;
    remove(app, TEMPLATES, id).await
}

/// The source of template `name` for `channel` in the best locale for `locale`, or `None`
/// when no variant fits.
pub async fn resolve(app: &App, name: &str, channel: Channel, locale: Option<&str>) -> Result<Option<Source>> {
    let rows = find(app, TEMPLATES, &format!("name = {}", lit(name))).await?;
    for ch in [channel.as_str(), ""] {
        let of_channel: Vec<&Record> = rows.iter().filter(|r| str_of(&r.data, "channel") == ch).collect();
        let locales: Vec<&str> = of_channel.iter().map(|r| str_of(&r.data, "locale")).collect();
        if let Some(best) = render::pick_locale(&locales, locale) {
            if let Some(r) = of_channel.iter().find(|r| str_of(&r.data, "locale") == best) {
                return Ok(Some(Source {
                    subject: str_of(&r.data, "subject").into(),
                    text: str_of(&r.data, "text").into(),
                    html: str_of(&r.data, "html").into(),
                }));
            }
        }
    }
    Ok(None)
}

/// Renders a stored template (by name) or inline sources with `data`, as a send would.
pub async fn preview(app: &App, caller: &Caller, input: PreviewInput) -> Result<Rendered> {
    may_manage(caller)?;
    let data = if input.data.is_null() { json!({}) } else { input.data };
    let (source, prefix) = match (input.template, input.source) {
        (Some(name), None) => {
            let channel = input.channel.unwrap_or(Channel::Email);
            let s = resolve(app, &name, channel, input.locale.as_deref())
                .await?
                .ok_or_else(|| {
                    Error::field(
                        "template",
                        "validation_unknown_template",
                        format!("No template {name:?}."),
                    )
                })?;
            (s, "")
        }
        (None, Some(s)) => (s, "source."),
        _ => {
            return Err(Error::field(
                "template",
                "validation_required",
                "Give either `template` (a name) or `source` ({subject, text, html}).",
            ))
        }
    };
    render::render(&source, &data).map_err(|e| render_error(prefix, &e))
}
