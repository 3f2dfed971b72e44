//! Collections and fields: the schema model, its JSON shape (PocketBase's) and the
//! built-in collections of a fresh data dir.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The id PocketBase gives `_superusers`; the JS SDK's `authStore.isSuperuser` checks for it.
pub const SUPERUSERS_ID: &str = "pbc_3142635823";
pub const SUPERUSERS: &str = "_superusers";
pub const USERS_ID: &str = "_pb_users_auth_";

/// The OAuth2 provider names an auth collection's `oauth2.providers[].name` may use (keel-auth
/// implements each; a collection naming another is refused with a 400).
pub const OAUTH2_PROVIDERS: &[&str] = &[
    "apple",
    "discord",
    "facebook",
    "github",
    "gitlab",
    "google",
    "linkedin",
    "microsoft",
    "oidc",
    "oidc2",
    "oidc3",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CollectionType {
    #[default]
    Base,
    Auth,
    /// Read-only records computed by an SQL `SELECT` (`viewQuery`); see `store/view.rs`.
    View,
}

/// A collection as stored and as the Collections API shows it (PocketBase's JSON shape).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Collection {
    #[serde(default)]
    pub id: String,
    pub name: String,
    #[serde(rename = "type", default)]
    pub kind: CollectionType,
    #[serde(default)]
    pub system: bool,
    #[serde(default)]
    pub fields: Vec<Field>,
    #[serde(default)]
    pub indexes: Vec<String>,
    #[serde(default)]
    pub list_rule: Option<String>,
    #[serde(default)]
    pub view_rule: Option<String>,
    #[serde(default)]
    pub create_rule: Option<String>,
    #[serde(default)]
    pub update_rule: Option<String>,
    #[serde(default)]
    pub delete_rule: Option<String>,
    /// Auth collections only; `None` on base collections.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthOptions>,
    /// View collections only: the `SELECT` whose rows are the records (in the engine's own
    /// SQL); `None` on other collections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view_query: Option<String>,
    /// Keel's full-text search option (`{"fields": {"title": 3}, "language": "english"}`,
    /// docs/search.md); `None` when the collection is not searchable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<SearchOption>,
    #[serde(default)]
    pub created: String,
    #[serde(default)]
    pub updated: String,
}

/// A collection's search option as written: field name → weight, and a language. Checked
/// when the collection is saved (`store/search_check.rs`); [`SearchOption::settings`] is the
/// index's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchOption {
    #[serde(default)]
    pub fields: serde_json::Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

impl SearchOption {
    /// The index settings of a checked option (weights that are not integers count as 1).
    pub fn settings(&self) -> keel_core::search::SearchSettings {
        keel_core::search::SearchSettings {
            fields: self
                .fields
                .iter()
                .map(|(k, v)| (k.clone(), v.as_u64().map_or(1, |w| w as u32)))
                .collect(),
            language: self
                .language
                .as_deref()
                .and_then(keel_core::search::Language::parse)
                .unwrap_or_default(),
            filterable: Vec::new(),
        }
    }
}

/// Options of an auth collection, flattened into the collection's JSON like PocketBase's.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AuthOptions {
    /// Extra rule checked on every authentication (`null` = none).
    pub auth_rule: Option<String>,
    /// Who may manage other records' email/password (`null` = superusers only).
    pub manage_rule: Option<String>,
    pub password_auth: PasswordAuth,
    pub auth_token: TokenConfig,
    pub password_reset_token: TokenConfig,
    pub email_change_token: TokenConfig,
    pub verification_token: TokenConfig,
    pub file_token: TokenConfig,
    pub oauth2: Value,
    pub mfa: Value,
    pub otp: Value,
    pub auth_alert: Value,
    /// The email of `request-verification`; `None` (JSON `null`) or an empty subject/body
    /// means the server's default.
    pub verification_template: Option<MailTemplate>,
    /// The email of `request-password-reset`; defaults like `verification_template`.
    pub reset_password_template: Option<MailTemplate>,
    /// The email of `request-email-change`; defaults like `verification_template`.
    pub confirm_email_change_template: Option<MailTemplate>,
    /// Keel's LDAP / Active Directory sign-in (`auth-with-ldap`): `{"enabled": bool}` plus
    /// keel-auth's `LdapConfig` keys. `bindPassword` is stored but never shown.
    pub ldap: Value,
}

/// An email template of an auth collection (`{subject, body}`, PocketBase's shape). The body
/// is HTML with placeholders (`{APP_NAME}`, `{TOKEN}`, …) that the server fills in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MailTemplate {
    pub subject: String,
    pub body: String,
}

impl Default for AuthOptions {
    /// PocketBase 0.40's defaults for a new auth collection.
    fn default() -> Self {
        use crate::auth_defaults as d;
        let mail = |m: &d::DefaultMail| MailTemplate {
            subject: m.subject.into(),
            body: m.body.into(),
        };
        let mail_json = |m: &d::DefaultMail| serde_json::json!({"subject": m.subject, "body": m.body});
        Self {
            auth_rule: Some(String::new()),
            manage_rule: None,
            password_auth: PasswordAuth::default(),
            auth_token: TokenConfig::new(432_000),
            password_reset_token: TokenConfig::new(1_800),
            email_change_token: TokenConfig::new(1_800),
            verification_token: TokenConfig::new(86_400),
            file_token: TokenConfig::new(180),
            oauth2: serde_json::json!({
                "enabled": false,
                "providers": [],
                "mappedFields": {"id": "", "name": "", "username": "", "avatarURL": ""},
            }),
            mfa: serde_json::json!({"enabled": false, "duration": 600, "rule": ""}),
            otp: serde_json::json!({"enabled": false, "duration": 180, "length": 8, "emailTemplate": mail_json(&d::OTP)}),
            auth_alert: serde_json::json!({"enabled": true, "emailTemplate": mail_json(&d::AUTH_ALERT)}),
            verification_template: Some(mail(&d::VERIFICATION)),
            reset_password_template: Some(mail(&d::RESET_PASSWORD)),
            confirm_email_change_template: Some(mail(&d::CONFIRM_EMAIL_CHANGE)),
            ldap: serde_json::json!({"enabled": false}),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PasswordAuth {
    pub enabled: bool,
    pub identity_fields: Vec<String>,
}

impl Default for PasswordAuth {
    fn default() -> Self {
        Self {
            enabled: true,
            identity_fields: vec!["email".into()],
        }
    }
}

/// A token kind's lifetime and signing secret. The secret is stored with the collection
/// but never shown: `Collection::public_json` strips it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TokenConfig {
    /// Seconds a token stays valid.
    pub duration: i64,
    pub secret: String,
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self::new(604_800)
    }
}

impl TokenConfig {
    pub fn new(duration: i64) -> Self {
        Self {
            duration,
            secret: keel_core::id::new_secret(),
        }
    }
}

/// One field of a collection. Common attributes plus the type-specific options,
/// flattened into one JSON object with a `type` tag like PocketBase's.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Field {
    #[serde(default)]
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub system: bool,
    #[serde(default)]
    pub hidden: bool,
    #[serde(default)]
    pub presentable: bool,
    #[serde(default)]
    pub required: bool,
    /// A hint shown under the field in forms (PocketBase 0.40's `help`).
    #[serde(default)]
    pub help: String,
    #[serde(flatten)]
    pub kind: FieldKind,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum FieldKind {
    Text(TextOptions),
    Number(NumberOptions),
    Bool(EmptyOptions),
    Email(DomainOptions),
    Url(DomainOptions),
    Date(DateOptions),
    Autodate(AutodateOptions),
    Select(SelectOptions),
    Json(JsonOptions),
    Relation(RelationOptions),
    File(FileOptions),
    Password(PasswordOptions),
    Editor(EditorOptions),
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EmptyOptions {}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TextOptions {
    /// Minimum length in characters (0 = none).
    pub min: i64,
    /// Maximum length in characters (0 = the default cap of 5000).
    pub max: i64,
    /// A regular expression the value must match ("" = none).
    pub pattern: String,
    /// Regex-like pattern for generated values (used by `id`: `[a-z0-9]{15}`).
    pub autogenerate_pattern: String,
    pub primary_key: bool,
    /// Stored sealed by the vault's keys (a Keel extension; see `docs/vault.md`): returned
    /// opened, never filterable, sortable or uniquely indexed.
    pub encrypted: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NumberOptions {
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub only_int: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DomainOptions {
    pub except_domains: Vec<String>,
    pub only_domains: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DateOptions {
    pub min: String,
    pub max: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AutodateOptions {
    pub on_create: bool,
    pub on_update: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SelectOptions {
    pub values: Vec<String>,
    /// 0 or 1 = a single value; more = an array of at most that many.
    pub max_select: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JsonOptions {
    /// Largest accepted JSON in bytes (0 = the default of 1 MiB).
    pub max_size: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RelationOptions {
    pub collection_id: String,
    pub cascade_delete: bool,
    pub min_select: i64,
    /// 0 or 1 = a single id; more = an array of at most that many.
    pub max_select: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FileOptions {
    /// 0 or 1 = a single file; more = an array of at most that many.
    pub max_select: i64,
    /// Largest accepted file in bytes (0 = the default of 5 MiB).
    pub max_size: i64,
    /// Accepted MIME types (empty = any).
    pub mime_types: Vec<String>,
    pub thumbs: Vec<String>,
    /// Protected files need a file token (`/api/files/token`).
    pub protected: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PasswordOptions {
    pub min: i64,
    pub max: i64,
    pub pattern: String,
    pub cost: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EditorOptions {
    pub max_size: i64,
    /// PocketBase spells it `convertURLs`; Keel once wrote `convertUrls` and still reads it.
    #[serde(rename = "convertURLs", alias = "convertUrls")]
    pub convert_urls: bool,
}

/// Default cap of a text field when `max` is 0.
pub const TEXT_DEFAULT_MAX: i64 = 5000;
/// Default cap of a file field when `maxSize` is 0.
pub const FILE_DEFAULT_MAX_SIZE: i64 = 5 * 1024 * 1024;
/// Default cap of a json field when `maxSize` is 0.
pub const JSON_DEFAULT_MAX_SIZE: i64 = 1024 * 1024;

impl FieldKind {
    /// The PocketBase type name (`text`, `number`, …).
    pub fn type_name(&self) -> &'static str {
        match self {
            FieldKind::Text(_) => "text",
            FieldKind::Number(_) => "number",
            FieldKind::Bool(_) => "bool",
            FieldKind::Email(_) => "email",
            FieldKind::Url(_) => "url",
            FieldKind::Date(_) => "date",
            FieldKind::Autodate(_) => "autodate",
            FieldKind::Select(_) => "select",
            FieldKind::Json(_) => "json",
            FieldKind::Relation(_) => "relation",
            FieldKind::File(_) => "file",
            FieldKind::Password(_) => "password",
            FieldKind::Editor(_) => "editor",
        }
    }
}

impl Field {
    pub fn new(name: &str, kind: FieldKind) -> Self {
        Field {
            id: format!(
                "{}{}",
                kind.type_name(),
                keel_core::id::random_string(10, keel_core::id::ID_ALPHABET)
            ),
            name: name.into(),
            system: false,
            hidden: false,
            presentable: false,
            required: false,
            help: String::new(),
            kind,
        }
    }

    /// Whether the value is stored sealed (`"encrypted": true` on a text field).
    pub fn is_encrypted(&self) -> bool {
        matches!(&self.kind, FieldKind::Text(o) if o.encrypted)
    }

    /// Whether the stored value is an array (multi select, relation or file).
    pub fn is_multiple(&self) -> bool {
        match &self.kind {
            FieldKind::Select(o) => o.max_select > 1,
            FieldKind::Relation(o) => o.max_select > 1,
            FieldKind::File(o) => o.max_select > 1,
            _ => false,
        }
    }

    /// The value a record gets when nothing was given.
    pub fn zero_value(&self) -> Value {
        if self.is_multiple() {
            return Value::Array(vec![]);
        }
        match &self.kind {
            FieldKind::Number(_) => Value::from(0),
            FieldKind::Bool(_) => Value::Bool(false),
            FieldKind::Json(_) => Value::Null,
            _ => Value::String(String::new()),
        }
    }
}

impl Collection {
    pub fn is_auth(&self) -> bool {
        self.kind == CollectionType::Auth
    }

    /// Whether the records are the rows of a `SELECT` (read-only).
    pub fn is_view(&self) -> bool {
        self.kind == CollectionType::View
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Parses a collection's stored JSON. Only auth collections keep auth options and only
    /// views a `viewQuery`: serde fills the flattened `auth` of any collection with defaults,
    /// which would otherwise show a base collection with an auth collection's keys.
    pub fn from_stored_json(json: &str) -> serde_json::Result<Collection> {
        let mut c: Collection = serde_json::from_str(json)?;
        c.keep_own_options();
        Ok(c)
    }

    /// Drops the options of other collection types (auth options of a base or view
    /// collection, a `viewQuery` of a non-view) and adds this type's when missing.
    pub fn keep_own_options(&mut self) {
        if self.kind == CollectionType::Auth {
            if self.auth.is_none() {
                self.auth = Some(AuthOptions::default());
            }
        } else {
            self.auth = None;
        }
        if self.kind == CollectionType::View {
            self.view_query.get_or_insert_with(String::new);
        } else {
            self.view_query = None;
        }
    }

    /// The collection as the API shows it, to everyone, superusers included: token secrets,
    /// the LDAP `bindPassword` and OAuth2 `clientSecret`s are removed (write-only: an update
    /// that leaves them out keeps the stored ones).
    pub fn public_json(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(obj) = v.as_object_mut() {
            for key in [
                "authToken",
                "passwordResetToken",
                "emailChangeToken",
                "verificationToken",
                "fileToken",
            ] {
                if let Some(Value::Object(t)) = obj.get_mut(key) {
                    t.remove("secret");
                }
            }
            if let Some(Value::Object(ldap)) = obj.get_mut("ldap") {
                ldap.remove("bindPassword");
            }
            if let Some(Value::Array(providers)) = obj.get_mut("oauth2").and_then(|o| o.get_mut("providers")) {
                for p in providers.iter_mut().filter_map(Value::as_object_mut) {
                    p.remove("clientSecret");
                }
            }
            // PocketBase lists an auth collection's unique indexes first in `indexes`.
            let shown = auth_index_statements(self);
            if !shown.is_empty() {
                if let Some(Value::Array(list)) = obj.get_mut("indexes") {
                    let mut all: Vec<Value> = shown.into_iter().map(Value::String).collect();
                    all.append(list);
                    *list = all;
                }
            }
            // PocketBase's autodate fields have neither `required` nor `help`.
            if let Some(Value::Array(fields)) = obj.get_mut("fields") {
                for f in fields.iter_mut().filter_map(Value::as_object_mut) {
                    if f.get("type").and_then(Value::as_str) == Some("autodate") {
                        f.remove("required");
                        f.remove("help");
                    }
                }
            }
        }
        v
    }

    /// The fields every collection of this type must have, in PocketBase's order.
    pub fn system_fields(kind: CollectionType) -> Vec<Field> {
        let mut id = Field::new(
            "id",
            FieldKind::Text(TextOptions {
                min: 15,
                max: 15,
                pattern: "^[a-z0-9]+$".into(),
                autogenerate_pattern: "[a-z0-9]{15}".into(),
                primary_key: true,
                encrypted: false,
            }),
        );
        id.id = "text3208210256".into();
        id.system = true;
        id.required = true;
        let mut fields = vec![id];
        if kind == CollectionType::Auth {
            let mut password = Field::new(
                "password",
                FieldKind::Password(PasswordOptions {
                    min: 8,
                    max: 0,
                    pattern: String::new(),
                    cost: 0,
                }),
            );
            password.id = "password901924565".into();
            password.system = true;
            password.hidden = true;
            password.required = true;
            let mut token_key = Field::new(
                "tokenKey",
                FieldKind::Text(TextOptions {
                    min: 30,
                    max: 60,
                    autogenerate_pattern: "[a-zA-Z0-9]{50}".into(),
                    ..Default::default()
                }),
            );
            token_key.id = "text2504183744".into();
            token_key.system = true;
            token_key.hidden = true;
            token_key.required = true;
            let mut email = Field::new("email", FieldKind::Email(DomainOptions::default()));
            email.id = "email3885137012".into();
            email.system = true;
            email.required = true;
            let mut ev = Field::new("emailVisibility", FieldKind::Bool(EmptyOptions {}));
            ev.id = "bool1547992806".into();
            ev.system = true;
            let mut verified = Field::new("verified", FieldKind::Bool(EmptyOptions {}));
            verified.id = "bool256245529".into();
            verified.system = true;
            fields.extend([password, token_key, email, ev, verified]);
        }
        fields
    }

    /// `created`/`updated` autodate fields that new collections get unless the request names them.
    pub fn timestamp_fields() -> Vec<Field> {
        let mut created = Field::new(
            "created",
            FieldKind::Autodate(AutodateOptions {
                on_create: true,
                on_update: false,
            }),
        );
        created.id = "autodate2990389176".into();
        let mut updated = Field::new(
            "updated",
            FieldKind::Autodate(AutodateOptions {
                on_create: true,
                on_update: true,
            }),
        );
        updated.id = "autodate3332085495".into();
        vec![created, updated]
    }

    /// A new collection of `kind` named `name`: its system fields and `created`/`updated`,
    /// every rule `null` (superusers only), default auth options for auth collections.
    /// A view's fields come from its query: none until it is saved.
    pub fn blank(name: &str, kind: CollectionType) -> Collection {
        let mut fields = Vec::new();
        if kind != CollectionType::View {
            fields = Collection::system_fields(kind);
            fields.extend(Collection::timestamp_fields());
        }
        let now = keel_core::time::now();
        Collection {
            id: String::new(),
            name: name.into(),
            kind,
            system: false,
            fields,
            indexes: vec![],
            list_rule: None,
            view_rule: None,
            create_rule: None,
            update_rule: None,
            delete_rule: None,
            auth: (kind == CollectionType::Auth).then(AuthOptions::default),
            view_query: (kind == CollectionType::View).then(String::new),
            search: None,
            created: now.clone(),
            updated: now,
        }
    }

    /// The `_superusers` collection of a fresh data dir.
    pub fn default_superusers() -> Collection {
        let mut c = Collection::blank(SUPERUSERS, CollectionType::Auth);
        c.id = SUPERUSERS_ID.into();
        c.system = true;
        c.auth = Some(AuthOptions {
            auth_token: TokenConfig::new(86_400),
            ..AuthOptions::default()
        });
        c
    }

    /// The `users` collection of a fresh data dir, with PocketBase's default rules.
    pub fn default_users() -> Collection {
        let mut name = Field::new(
            "name",
            FieldKind::Text(TextOptions {
                max: 255,
                ..Default::default()
            }),
        );
        name.id = "text1579384326".into();
        let mut avatar = Field::new(
            "avatar",
            FieldKind::File(FileOptions {
                max_select: 1,
                max_size: 0,
                mime_types: vec![
                    "image/jpeg".into(),
                    "image/png".into(),
                    "image/svg+xml".into(),
                    "image/gif".into(),
                    "image/webp".into(),
                ],
                thumbs: vec![],
                protected: false,
            }),
        );
        avatar.id = "file376926767".into();
        let mut c = Collection::blank("users", CollectionType::Auth);
        c.id = USERS_ID.into();
        // Custom fields go before the timestamps, as in PocketBase.
        let at = c.fields.len() - 2;
        c.fields.splice(at..at, [name, avatar]);
        let owner = Some("id = @request.auth.id".to_string());
        c.list_rule = owner.clone();
        c.view_rule = owner.clone();
        c.create_rule = Some(String::new());
        c.update_rule = owner.clone();
        c.delete_rule = owner;
        c
    }
}

/// An auth collection's unique indexes on `tokenKey` and `email`, as PocketBase writes them in
/// the collection's `indexes` (Keel creates them itself, case-insensitively on `email`, in
/// each engine's way; they are shown, never stored in `indexes`).
pub fn auth_index_statements(c: &Collection) -> Vec<String> {
    if !c.is_auth() {
        return vec![];
    }
    vec![
        format!(
            "CREATE UNIQUE INDEX `idx_tokenKey_{}` ON `{}` (`tokenKey`)",
            c.id, c.name
        ),
        format!(
            "CREATE UNIQUE INDEX `idx_email_{}` ON `{}` (`email`) WHERE `email` != ''",
            c.id, c.name
        ),
    ]
}

/// A record: every stored column by field name (hidden ones too). Callers that answer a
/// client strip hidden fields; see `keel-server`'s record serializer.
pub type RecordData = Map<String, Value>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_json_is_flat_with_type_tag() {
        let f = Field::new(
            "title",
            FieldKind::Text(TextOptions {
                max: 10,
                ..Default::default()
            }),
        );
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v["type"], "text");
        assert_eq!(v["max"], 10);
        let back: Field =
            serde_json::from_value(serde_json::json!({"name":"n","type":"number","onlyInt":true})).unwrap();
        assert!(matches!(
            back.kind,
            FieldKind::Number(NumberOptions { only_int: true, .. })
        ));
        assert!(serde_json::from_value::<Field>(serde_json::json!({"name":"n","type":"nope"})).is_err());
    }

    #[test]
    fn secrets_are_not_serialized() {
        let c = Collection::default_users();
        let v = c.public_json();
        assert_eq!(v["type"], "auth");
        assert!(v["authToken"]["duration"].is_number());
        assert!(v["authToken"].get("secret").is_none());
        assert_eq!(v["ldap"], serde_json::json!({"enabled": false}));
        assert!(v["passwordAuth"]["enabled"].as_bool().unwrap());

        let mut c = Collection::default_users();
        if let Some(a) = c.auth.as_mut() {
            a.ldap = serde_json::json!({"enabled": true, "url": "ldap://d", "bindPassword": "hunter2"});
        }
        let v = c.public_json();
        assert_eq!(v["ldap"]["url"], "ldap://d");
        assert!(v["ldap"].get("bindPassword").is_none());
        assert!(!v.to_string().contains("hunter2"));
    }
}
