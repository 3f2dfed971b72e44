//! Roles and permission strings. A permission is `service:action` (`jobs:enqueue`,
//! `cache:read`, `vault:reveal`, `collections:manage`); `service:*` holds every action of a
//! service, `*:action` that action of every service, and `*` everything.
//!
//! Notifications: `notifications:send`, `notifications:manage` (templates, topics, rules,
//! everyone's preferences), `notifications:read` (every notification's history).
//!
//! Ops: `ops:read` (runbooks, runs, logs), `ops:run` (launch, cancel, rerun), `ops:approve`
//! (approval steps of others' runs), `ops:manage` (runbooks).

/// The roles every data dir has: name, description, permissions. They cannot be changed or
/// deleted; custom roles sit beside them.
pub const BUILTIN_ROLES: &[(&str, &str, &[&str])] = &[
    ("admin", "Everything on every platform service.", &["*"]),
    (
        "operator",
        "Runs the platform: jobs, queues, schedules and the cache; reads collections, the audit trail and the metrics.",
        &[
            "jobs:*",
            "queues:*",
            "schedules:*",
            "cache:*",
            "collections:read",
            "audit:read",
            "metrics:read",
        ],
    ),
    ("viewer", "Reads every platform service, changes nothing.", &["*:read"]),
];

/// Whether `name` is a built-in role.
pub fn is_builtin_role(name: &str) -> bool {
    BUILTIN_ROLES.iter().any(|(n, _, _)| *n == name)
}

fn valid_part(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && s.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Whether `p` is a well-formed permission string (see the module docs).
pub fn is_valid_permission(p: &str) -> bool {
    if p == "*" {
        return true;
    }
    match p.split_once(':') {
        Some((service, action)) => {
            (service == "*" || valid_part(service))
                && (action == "*" || valid_part(action))
                && !(service == "*" && action == "*")
        }
        None => false,
    }
}

/// Whether `name` is a well-formed role name: lowercase letters, digits, `_` and `-`,
/// starting with a letter, at most 64 characters.
pub fn is_valid_role_name(name: &str) -> bool {
    valid_part(name)
}

/// Whether the permissions `held` grant `wanted` (a concrete `service:action`).
pub fn grants<S: AsRef<str>>(held: &[S], wanted: &str) -> bool {
    let Some((service, action)) = wanted.split_once(':') else {
        return false;
    };
    held.iter().any(|h| {
        let h = h.as_ref();
        if h == "*" || h == wanted {
            return true;
        }
        match h.split_once(':') {
            Some((s, "*")) => s == service,
            Some(("*", a)) => a == action,
            _ => false,
        }
    })
}

/// Whether the permissions `held` include all of `wanted`, a permission string that may be a
/// wildcard: `*` only by `*`, `jobs:*` by `*` or `jobs:*`, `*:read` by `*` or `*:read`, and a
/// concrete `service:action` as [`grants`] decides. This is what a caller must hold to hand
/// `wanted` on (to a role, a role member or an API key).
pub fn covers<S: AsRef<str>>(held: &[S], wanted: &str) -> bool {
    let has = |p: &str| held.iter().any(|h| h.as_ref() == p);
    if has("*") || has(wanted) {
        return true;
    }
    match wanted.split_once(':') {
        Some(("*", _)) | Some((_, "*")) | None => false,
        Some(_) => grants(held, wanted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_grant_what_they_name_and_nothing_else() {
        assert!(grants(&["*"], "vault:reveal"));
        assert!(grants(&["jobs:*"], "jobs:enqueue"));
        assert!(!grants(&["jobs:*"], "jobsx:enqueue"));
        assert!(grants(&["*:read"], "cache:read"));
        assert!(!grants(&["*:read"], "cache:write"));
        assert!(grants(&["cache:read"], "cache:read"));
        assert!(!grants(&["cache:read"], "cache:readx"));
        assert!(!grants::<&str>(&[], "cache:read"));
        assert!(!grants(&["*"], "not-a-permission"));
    }

    #[test]
    fn only_an_equal_or_wider_holding_covers_a_wildcard() {
        assert!(covers(&["*"], "*"));
        assert!(!covers(&["jobs:*", "*:read"], "*"));
        assert!(covers(&["jobs:*"], "jobs:*") && covers(&["*"], "jobs:*"));
        assert!(!covers(&["jobs:read", "jobs:admin"], "jobs:*"));
        assert!(!covers(&["jobs:*"], "*:read"));
        assert!(covers(&["*:read"], "*:read"));
        assert!(covers(&["*:read"], "cache:read") && covers(&["cache:*"], "cache:write"));
        assert!(!covers(&["cache:read"], "cache:write"));
        assert!(!covers::<&str>(&[], "cache:read"));
    }

    #[test]
    fn permission_and_role_names_are_checked() {
        for ok in ["*", "jobs:*", "*:read", "vault:reveal", "my-svc:do_it"] {
            assert!(is_valid_permission(ok), "{ok}");
        }
        for bad in [
            "",
            "jobs",
            "*:*",
            "Jobs:read",
            "jobs:",
            ":read",
            "a:b:c",
            "jobs:re ad",
            "1x:read",
        ] {
            assert!(!is_valid_permission(bad), "{bad}");
        }
        assert!(is_valid_role_name("editor"));
        assert!(!is_valid_role_name("Editor"));
        assert!(!is_valid_role_name(""));
        assert!(is_builtin_role("viewer") && !is_builtin_role("editor"));
    }
}
