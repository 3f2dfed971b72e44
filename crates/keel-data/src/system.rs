//! The identity system collections every data dir has (migration `0003_identity`), in the
//! shape PocketBase gives `_externalAuths`, `_mfas` and `_otps`, plus Keel's own `_roles`,
//! `_roleAssignments`, `_apiKeys`, `_totp` and `_audit`. They are ordinary collections (the
//! records API lists and filters them for superusers) marked `system`, so they cannot be
//! renamed or deleted; `keel-auth` reads and writes them.

use crate::schema::{
    Collection, CollectionType, DateOptions, EmptyOptions, Field, FieldKind, JsonOptions, NumberOptions, TextOptions,
};

/// `_externalAuths`: an OAuth2 identity (provider + providerId) linked to an auth record.
pub const EXTERNAL_AUTHS: &str = "_externalAuths";
/// `_mfas`: a first factor passed, waiting for the second (its id is the `mfaId`).
pub const MFAS: &str = "_mfas";
/// `_otps`: a one-time password sent by email (hashed), single use.
pub const OTPS: &str = "_otps";
/// `_roles`: built-in and custom roles, each a list of permission strings.
pub const ROLES: &str = "_roles";
/// `_roleAssignments`: which auth record holds which role.
pub const ROLE_ASSIGNMENTS: &str = "_roleAssignments";
/// `_apiKeys`: service-account keys (hashed secret, roles, expiry, last use, revocation).
pub const API_KEYS: &str = "_apiKeys";
/// `_totp`: an auth record's TOTP secret and hashed recovery codes.
pub const TOTP: &str = "_totp";
/// `_audit`: the append-only, hash-chained audit trail (chained by migration `0005_audit_chain`;
/// see `store/audit.rs`).
pub const AUDIT: &str = "_audit";
/// `_authOrigins`: the devices (IP and user agent fingerprints) a record signed in from,
/// for `authAlert` emails (migration `0004_auth_origins`).
pub const AUTH_ORIGINS: &str = "_authOrigins";

/// The system collections whose rows belong to one auth record (`collectionRef`,
/// `recordRef`): removed with the record, or with its whole collection. `_audit` is not
/// among them: the trail outlives who it names.
pub const OWNED_BY_RECORD: &[&str] = &[
    EXTERNAL_AUTHS,
    MFAS,
    OTPS,
    ROLE_ASSIGNMENTS,
    TOTP,
    AUTH_ORIGINS,
    NOTIFICATION_SUBSCRIPTIONS,
    NOTIFICATION_PREFERENCES,
    NOTIFICATION_DEVICES,
];

fn text(name: &str, required: bool) -> Field {
    let mut f = Field::new(name, FieldKind::Text(TextOptions::default()));
    f.required = required;
    f
}

fn hidden_text(name: &str) -> Field {
    let mut f = text(name, false);
    f.hidden = true;
    f
}

fn json(name: &str) -> Field {
    Field::new(name, FieldKind::Json(JsonOptions::default()))
}

fn boolean(name: &str) -> Field {
    Field::new(name, FieldKind::Bool(EmptyOptions::default()))
}

fn date(name: &str) -> Field {
    Field::new(name, FieldKind::Date(DateOptions::default()))
}

fn number(name: &str) -> Field {
    Field::new(
        name,
        FieldKind::Number(NumberOptions {
            only_int: true,
            ..Default::default()
        }),
    )
}

/// A system base collection `name` with `fields`, `indexes` (`{t}` = the quoted table) and
/// every rule null (superusers only) unless `owner_rules`: the owning record may list, view
/// and delete its rows (as PocketBase does for `_externalAuths` and `_mfas`).
fn collection(name: &str, id: &str, fields: Vec<Field>, indexes: &[&str], owner_rules: bool) -> Collection {
    let mut c = Collection::blank(name, CollectionType::Base);
    c.id = id.into();
    c.system = true;
    let at = c.fields.len() - 2;
    c.fields.splice(at..at, fields);
    let table = format!("\"{name}\"");
    c.indexes = indexes.iter().map(|i| i.replace("{t}", &table)).collect();
    if owner_rules {
        let owner = Some(
            "@request.auth.id != '' && recordRef = @request.auth.id && collectionRef = @request.auth.collectionId"
                .to_string(),
        );
        c.list_rule = owner.clone();
        c.view_rule = owner.clone();
        c.delete_rule = owner;
    }
    c
}

/// Every identity system collection, in creation order.
pub fn identity_collections() -> Vec<Collection> {
    let owner = || vec![text("collectionRef", true), text("recordRef", true)];
    vec![
        collection(
            EXTERNAL_AUTHS,
            "pbc_2281828961",
            [owner(), vec![text("provider", true), text("providerId", true)]].concat(),
            &[
                "CREATE UNIQUE INDEX idx_externalAuths_provider ON {t} (\"collectionRef\", \"provider\", \"providerId\")",
                "CREATE INDEX idx_externalAuths_record ON {t} (\"collectionRef\", \"recordRef\")",
            ],
            true,
        ),
        collection(
            MFAS,
            "pbc_2279338944",
            [owner(), vec![text("method", true)]].concat(),
            &["CREATE INDEX idx_mfas_record ON {t} (\"collectionRef\", \"recordRef\")"],
            true,
        ),
        collection(
            OTPS,
            "pbc_1638494021",
            [owner(), vec![hidden_text("password"), text("sentTo", false)]].concat(),
            &["CREATE INDEX idx_otps_record ON {t} (\"collectionRef\", \"recordRef\")"],
            false,
        ),
        collection(
            ROLES,
            "keel_roles00001",
            vec![text("name", true), text("description", false), json("permissions"), boolean("builtin")],
            &["CREATE UNIQUE INDEX idx_roles_name ON {t} (\"name\")"],
            false,
        ),
        collection(
            ROLE_ASSIGNMENTS,
            "keel_roleassign",
            [owner(), vec![text("role", true)]].concat(),
            &["CREATE UNIQUE INDEX idx_roleAssignments ON {t} (\"collectionRef\", \"recordRef\", \"role\")"],
            false,
        ),
        collection(
            API_KEYS,
            "keel_apikeys001",
            vec![
                text("name", true),
                hidden_text("hash"),
                json("roles"),
                date("expires"),
                date("lastUsed"),
                boolean("revoked"),
                text("createdBy", false),
            ],
            &[],
            false,
        ),
        collection(
            TOTP,
            "keel_totp000001",
            [
                owner(),
                vec![hidden_text("seed"), boolean("enabled"), number("lastStep"), {
                    let mut f = json("recoveryCodes");
                    f.hidden = true;
                    f
                }],
            ]
            .concat(),
            &["CREATE UNIQUE INDEX idx_totp_record ON {t} (\"collectionRef\", \"recordRef\")"],
            false,
        ),
        collection(
            AUDIT,
            "keel_audit00001",
            vec![
                text("event", true),
                boolean("success"),
                text("actor", false),
                text("collectionRef", false),
                text("recordRef", false),
                text("identity", false),
                text("ip", false),
                text("userAgent", false),
                json("details"),
            ],
            &[
                "CREATE INDEX idx_audit_created ON {t} (\"created\")",
                "CREATE INDEX idx_audit_event ON {t} (\"event\")",
            ],
            false,
        ),
    ]
}

/// `_authOrigins`, as PocketBase has it (created by migration `0004_auth_origins`).
pub fn auth_origins_collection() -> Collection {
    collection(
        AUTH_ORIGINS,
        "pbc_4275539003",
        vec![
            text("collectionRef", true),
            text("recordRef", true),
            text("fingerprint", true),
        ],
        &["CREATE UNIQUE INDEX idx_authOrigins_unique ON {t} (\"collectionRef\", \"recordRef\", \"fingerprint\")"],
        true,
    )
}

/// The fields migration `0005_audit_chain` adds to `_audit`: `seq` (1, 2, 3, … in append
/// order), `prevHash` (the previous entry's `hash`) and `hash` (SHA-256 over the entry's
/// content and `prevHash`).
pub fn audit_chain_fields() -> Vec<Field> {
    vec![number("seq"), text("prevHash", false), text("hash", false)]
}

/// The index keeping `seq` unique (migration `0005_audit_chain`).
pub const AUDIT_SEQ_INDEX: &str = "CREATE UNIQUE INDEX idx_audit_seq ON \"_audit\" (\"seq\")";

/// `_notifications`: one row per notification and recipient, the history and the in-app inbox
/// (migration `0008_notifications`); the recipient lists and views their own.
pub const NOTIFICATIONS: &str = "_notifications";
/// `_notificationDeliveries`: one row per notification and channel: status, attempts, errors.
pub const NOTIFICATION_DELIVERIES: &str = "_notificationDeliveries";
/// `_notificationTemplates`: minijinja templates per name, locale and channel.
pub const NOTIFICATION_TEMPLATES: &str = "_notificationTemplates";
/// `_notificationTopics`: what users subscribe to, with an optional digest window.
pub const NOTIFICATION_TOPICS: &str = "_notificationTopics";
/// `_notificationSubscriptions`: which auth record follows which topic.
pub const NOTIFICATION_SUBSCRIPTIONS: &str = "_notificationSubscriptions";
/// `_notificationPreferences`: an auth record's time zone, quiet hours, per-topic channels.
pub const NOTIFICATION_PREFERENCES: &str = "_notificationPreferences";
/// `_notificationRules`: event → notification rules, with escalation.
pub const NOTIFICATION_RULES: &str = "_notificationRules";
/// `_notificationDevices`: an auth record's push subscriptions and device tokens.
pub const NOTIFICATION_DEVICES: &str = "_notificationDevices";

/// The notifications service's system collections (migration `0008_notifications`).
pub fn notification_collections() -> Vec<Collection> {
    let owner = || vec![text("collectionRef", false), text("recordRef", false)];
    let mut inbox = collection(
        NOTIFICATIONS,
        "keel_notif00001",
        [
            owner(),
            vec![
                text("address", false),
                text("topic", false),
                text("template", false),
                text("subject", false),
                text("body", false),
                json("content"),
                json("data"),
                json("channels"),
                boolean("critical"),
                boolean("ackRequired"),
                json("escalation"),
                date("readAt"),
                date("ackedAt"),
                text("status", false),
                text("source", false),
            ],
        ]
        .concat(),
        &[
            "CREATE INDEX idx_notifications_record ON {t} (\"collectionRef\", \"recordRef\")",
            "CREATE INDEX idx_notifications_source ON {t} (\"source\")",
        ],
        true,
    );
    // The recipient reads their own; marking read and acknowledging go through the API.
    inbox.delete_rule = None;
    vec![
        inbox,
        collection(
            NOTIFICATION_DELIVERIES,
            "keel_notifdel01",
            vec![
                text("notification", true),
                text("channel", true),
                text("provider", false),
                json("recipient"),
                text("status", true),
                text("error", false),
                text("providerId", false),
                number("attempts"),
                json("log"),
                date("dueAt"),
                text("digestKey", false),
            ],
            &[
                "CREATE INDEX idx_notificationDeliveries_notification ON {t} (\"notification\")",
                "CREATE INDEX idx_notificationDeliveries_digest ON {t} (\"digestKey\")",
            ],
            false,
        ),
        collection(
            NOTIFICATION_TEMPLATES,
            "keel_notiftpl01",
            vec![
                text("name", true),
                text("locale", false),
                text("channel", false),
                text("subject", false),
                text("text", false),
                text("html", false),
            ],
            &["CREATE UNIQUE INDEX idx_notificationTemplates ON {t} (\"name\", \"locale\", \"channel\")"],
            false,
        ),
        collection(
            NOTIFICATION_TOPICS,
            "keel_notiftop01",
            vec![text("name", true), text("description", false), number("digestSecs")],
            &["CREATE UNIQUE INDEX idx_notificationTopics_name ON {t} (\"name\")"],
            false,
        ),
        collection(
            NOTIFICATION_SUBSCRIPTIONS,
            "keel_notifsub01",
            [vec![text("topic", true)], owner()].concat(),
            &["CREATE UNIQUE INDEX idx_notificationSubscriptions ON {t} (\"topic\", \"collectionRef\", \"recordRef\")"],
            false,
        ),
        collection(
            NOTIFICATION_PREFERENCES,
            "keel_notifpref1",
            [
                owner(),
                vec![text("timezone", false), text("quietStart", false), text("quietEnd", false), json("topics")],
            ]
            .concat(),
            &["CREATE UNIQUE INDEX idx_notificationPreferences ON {t} (\"collectionRef\", \"recordRef\")"],
            false,
        ),
        collection(
            NOTIFICATION_RULES,
            "keel_notifrul01",
            vec![
                text("event", true),
                text("collection", false),
                text("filter", false),
                text("template", false),
                text("subject", false),
                text("body", false),
                json("recipients"),
                json("channels"),
                json("escalation"),
                boolean("ackRequired"),
                boolean("critical"),
                boolean("active"),
            ],
            &[],
            false,
        ),
        collection(
            NOTIFICATION_DEVICES,
            "keel_notifdev01",
            [owner(), vec![text("kind", true), text("token", false), json("subscription")]].concat(),
            &["CREATE INDEX idx_notificationDevices_record ON {t} (\"collectionRef\", \"recordRef\")"],
            false,
        ),
    ]
}

/// `_webhooks`: webhook endpoints (migration `0007_webhooks`): where to POST which events,
/// signed with `secret` (and `previousSecret` until `previousSecretUntil` after a rotation).
pub const WEBHOOKS: &str = "_webhooks";
/// `_webhookDeliveries`: one row per delivery attempt (insert-only), newest first per endpoint.
pub const WEBHOOK_DELIVERIES: &str = "_webhookDeliveries";

/// The webhook system collections (migration `0007_webhooks`).
pub fn webhook_collections() -> Vec<Collection> {
    let hidden = |name: &str| hidden_text(name);
    vec![
        collection(
            WEBHOOKS,
            "keel_webhooks01",
            vec![
                text("url", true),
                json("events"),
                text("collection", false),
                text("filter", false),
                json("headers"),
                boolean("active"),
                text("description", false),
                hidden("secret"),
                hidden("previousSecret"),
                date("previousSecretUntil"),
                date("disabledAt"),
                text("disabledReason", false),
                date("failingSince"),
            ],
            &[],
            false,
        ),
        collection(
            WEBHOOK_DELIVERIES,
            "keel_webhookdel",
            vec![
                text("webhook", true),
                text("messageId", true),
                text("eventType", false),
                json("payload"),
                number("attempt"),
                text("status", true),
                number("httpStatus"),
                number("durationMs"),
                text("response", false),
                text("error", false),
                date("nextAttemptAt"),
            ],
            &[
                "CREATE INDEX idx_webhookDeliveries_webhook ON {t} (\"webhook\", \"created\")",
                "CREATE INDEX idx_webhookDeliveries_message ON {t} (\"messageId\")",
            ],
            false,
        ),
    ]
}

/// The API that owns the system collection `name`, for the collections a Keel service writes
/// through its own endpoints (which check their input, sign, encrypt or audit): the records
/// API and batch refuse writes to them, a superuser's included, naming this API. Reading them
/// as records stays open to superusers.
pub fn managed_by(name: &str) -> Option<&'static str> {
    match name {
        WEBHOOKS | WEBHOOK_DELIVERIES => Some("/api/webhooks"),
        NOTIFICATIONS
        | NOTIFICATION_DELIVERIES
        | NOTIFICATION_TEMPLATES
        | NOTIFICATION_TOPICS
        | NOTIFICATION_SUBSCRIPTIONS
        | NOTIFICATION_PREFERENCES
        | NOTIFICATION_RULES
        | NOTIFICATION_DEVICES => Some("/api/notifications"),
        OPS_TARGETS | OPS_RUNBOOKS | OPS_RUNBOOK_VERSIONS | OPS_RUNS | OPS_RUN_STEPS | OPS_RUN_LOGS | OPS_APPROVALS => {
            Some("/api/ops")
        }
        VAULT_SECRETS => Some("/api/vault/secrets"),
        _ => None,
    }
}

/// `_opsRunbooks`: a runbook's current definition and version number.
pub const OPS_RUNBOOKS: &str = "_opsRunbooks";
/// `_opsRunbookVersions`: every version of every runbook, kept readable.
pub const OPS_RUNBOOK_VERSIONS: &str = "_opsRunbookVersions";
/// `_opsRuns`: one row per run: the runbook version, parameters, state, who and when.
pub const OPS_RUNS: &str = "_opsRuns";
/// `_opsRunSteps`: one row per step, target and `forEach` item of a run.
pub const OPS_RUN_STEPS: &str = "_opsRunSteps";
/// `_opsRunLogs`: a run's output in chunks, numbered by `seq` (the log's cursor).
pub const OPS_RUN_LOGS: &str = "_opsRunLogs";
/// `_opsTargets`: the hosts runs reach: address, port, transport, credential (a vault
/// secret), SSH host key, tags.
pub const OPS_TARGETS: &str = "_opsTargets";
/// `_opsApprovals`: the decisions on a run's approval steps.
pub const OPS_APPROVALS: &str = "_opsApprovals";

/// A text field holding up to `max` characters.
fn long_text(name: &str, max: i64) -> Field {
    Field::new(
        name,
        FieldKind::Text(TextOptions {
            max,
            ..TextOptions::default()
        }),
    )
}

/// The ops service's system collections (migration `0010_ops`).
pub fn ops_collections() -> Vec<Collection> {
    const OUTPUT: i64 = 1_048_576;
    vec![
        collection(
            OPS_TARGETS,
            "keel_opstarget1",
            vec![
                text("name", true),
                text("address", false),
                number("port"),
                text("transport", true),
                text("os", false),
                json("tags"),
                text("credential", false),
                text("hostKey", false),
                boolean("trustOnFirstUse"),
                json("winrm"),
                long_text("description", 10_000),
            ],
            &["CREATE UNIQUE INDEX idx_opsTargets_name ON {t} (\"name\")"],
            false,
        ),
        collection(
            OPS_RUNBOOKS,
            "keel_opsrunbook",
            vec![
                text("name", true),
                long_text("description", 10_000),
                number("version"),
                json("definition"),
                text("createdBy", false),
                text("updatedBy", false),
            ],
            &["CREATE UNIQUE INDEX idx_opsRunbooks_name ON {t} (\"name\")"],
            false,
        ),
        collection(
            OPS_RUNBOOK_VERSIONS,
            "keel_opsrbvers1",
            vec![
                text("runbook", true),
                number("version"),
                json("definition"),
                text("author", false),
            ],
            &["CREATE UNIQUE INDEX idx_opsRunbookVersions_rv ON {t} (\"runbook\", \"version\")"],
            false,
        ),
        collection(
            OPS_RUNS,
            "keel_opsruns001",
            vec![
                text("runbook", true),
                text("runbookName", false),
                number("version"),
                json("params"),
                text("state", true),
                text("startedBy", false),
                date("startedAt"),
                date("endedAt"),
                long_text("error", 10_000),
                text("parent", false),
                text("rerunOf", false),
                text("job", false),
                number("logSeq"),
                number("logBytes"),
            ],
            &[
                "CREATE INDEX idx_opsRuns_runbook ON {t} (\"runbook\", \"created\")",
                "CREATE INDEX idx_opsRuns_state ON {t} (\"state\")",
            ],
            false,
        ),
        collection(
            OPS_RUN_STEPS,
            "keel_opsrunstep",
            vec![
                text("run", true),
                text("step", true),
                text("target", false),
                number("item"),
                text("state", true),
                number("exitCode"),
                number("attempts"),
                date("startedAt"),
                date("endedAt"),
                long_text("stdout", OUTPUT),
                long_text("stderr", OUTPUT),
                json("outputs"),
                long_text("error", 10_000),
            ],
            &["CREATE INDEX idx_opsRunSteps_run ON {t} (\"run\")"],
            false,
        ),
        collection(
            OPS_RUN_LOGS,
            "keel_opsrunlogs",
            vec![
                text("run", true),
                number("seq"),
                text("step", false),
                text("target", false),
                text("stream", false),
                long_text("text", OUTPUT),
            ],
            &["CREATE UNIQUE INDEX idx_opsRunLogs_seq ON {t} (\"run\", \"seq\")"],
            false,
        ),
        collection(
            OPS_APPROVALS,
            "keel_opsapprove",
            vec![
                text("run", true),
                text("step", true),
                text("user", true),
                text("decision", true),
                long_text("comment", 2_000),
            ],
            &["CREATE UNIQUE INDEX idx_opsApprovals_vote ON {t} (\"run\", \"step\", \"user\")"],
            false,
        ),
    ]
}

/// `_vaultSecrets`: the vault's secrets (migration `0009_vault`): name (unique), type,
/// description, the sealed data (`sealed`, hidden: envelope-encrypted by `keel-vault`, never
/// plaintext), the id of the master key that wrapped its data key (`keyId`), who created and
/// last changed it, and its last use (`lastUsedAt`, `lastUsedBy`: a run id or `reveal`).
/// Written only through the vault service: the records API refuses writes to it.
pub const VAULT_SECRETS: &str = "_vaultSecrets";

/// The vault's system collection (migration `0009_vault`).
pub fn vault_collections() -> Vec<Collection> {
    vec![collection(
        VAULT_SECRETS,
        "keel_vaultsec01",
        vec![
            text("name", true),
            text("type", true),
            text("description", false),
            hidden_text("sealed"),
            text("keyId", false),
            text("createdBy", false),
            text("updatedBy", false),
            date("lastUsedAt"),
            text("lastUsedBy", false),
        ],
        &[
            "CREATE UNIQUE INDEX idx_vaultSecrets_name ON {t} (\"name\")",
            "CREATE INDEX idx_vaultSecrets_keyId ON {t} (\"keyId\")",
        ],
        false,
    )]
}

/// `_changes`: the history of collection changes (migration `0011_changes`), one row per
/// committed create, update (rename included) or delete of a collection, written in the
/// change's own transaction (`store/changelog.rs`). Append-only: record writes are refused
/// whoever asks. `state` is `applied` for every change recorded so far, so proposals and
/// reviews can add states later without moving data.
pub const CHANGES: &str = "_changes";

/// Largest `before`/`after`/`findings`/`diff` value a change keeps (bytes of JSON).
pub const CHANGE_JSON_MAX: i64 = 16 * 1024 * 1024;

/// The change history's system collection (migration `0011_changes`).
pub fn change_collections() -> Vec<Collection> {
    let big_json = |name: &str| {
        Field::new(
            name,
            FieldKind::Json(JsonOptions {
                max_size: CHANGE_JSON_MAX,
            }),
        )
    };
    vec![collection(
        CHANGES,
        "keel_changes001",
        vec![
            number("seq"),
            text("collectionRef", true),
            text("collection", true),
            boolean("system"),
            text("kind", true),
            text("source", false),
            text("author", false),
            text("state", true),
            text("verdict", true),
            text("version", true),
            text("previousVersion", false),
            big_json("findings"),
            big_json("diff"),
            big_json("before"),
            big_json("after"),
        ],
        &[
            "CREATE UNIQUE INDEX idx_changes_seq ON {t} (\"seq\")",
            "CREATE INDEX idx_changes_collection ON {t} (\"collectionRef\", \"seq\")",
        ],
        false,
    )]
}

/// `_changes.apiVerdict` and `apiFindings` (migration `0013_change_api`): the verdict and
/// findings of the diff of the collection's records API (its OpenAPI document before and
/// after the change), beside the schema's.
pub fn change_api_fields() -> Vec<Field> {
    vec![
        text("apiVerdict", false),
        Field::new(
            "apiFindings",
            FieldKind::Json(JsonOptions {
                max_size: CHANGE_JSON_MAX,
            }),
        ),
    ]
}

/// `_changes.review` (migration `0012_change_reviews`): a proposal's review — when it was
/// submitted, its approvals, a rejection's reason, who applied or rolled it back, its comments.
pub fn change_review_fields() -> Vec<Field> {
    vec![Field::new(
        "review",
        FieldKind::Json(JsonOptions {
            max_size: CHANGE_JSON_MAX,
        }),
    )]
}
