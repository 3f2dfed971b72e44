//! Backup names: what a caller may choose (`[a-z0-9_-]+\.zip`, as PocketBase), the generated
//! ones (`pb_backup_<app name>_<UTC time>.zip`, `@auto_pb_backup_…` for scheduled ones), and
//! which keys the API accepts in a path.

use chrono::{DateTime, Utc};
use keel_core::Error;

/// The prefix of the names of scheduled backups (PocketBase's).
pub const AUTO_PREFIX: &str = "@auto_pb_backup_";
/// The prefix of the names of backups made on request without a name.
pub const MANUAL_PREFIX: &str = "pb_backup_";

/// Checks a name a caller chose for a new backup (PocketBase's rules and codes).
pub fn validate_new(name: &str) -> Result<(), Error> {
    let len = name.chars().count();
    if !(1..=150).contains(&len) {
        return Err(Error::field(
            "name",
            "validation_length_out_of_range",
            "The length must be between 1 and 150.",
        ));
    }
    let ok = name.strip_suffix(".zip").is_some_and(|stem| {
        !stem.is_empty()
            && stem
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    });
    if ok {
        Ok(())
    } else {
        Err(Error::field(
            "name",
            "validation_match_invalid",
            "Must be in a valid format: lowercase letters, digits, _ and - followed by .zip (e.g. my_backup.zip).",
        ))
    }
}

/// Whether `key` may name a stored backup: one path segment, no `..`, no control characters.
pub fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 255
        && key != "."
        && key != ".."
        && !key.contains(['/', '\\'])
        && !key.chars().any(char::is_control)
}

/// A generated name: `prefix` + the app's name in snake case (at most 50 characters) + `_` +
/// `YYYYMMDDHHMMSS` (UTC) + `.zip`.
pub fn generate(prefix: &str, app_name: &str, now: DateTime<Utc>) -> String {
    let mut app: String = snake_case(app_name).chars().take(50).collect();
    if app.is_empty() {
        app = "keel".into();
    }
    format!("{prefix}{app}_{}.zip", now.format("%Y%m%d%H%M%S"))
}

/// `My App 2` → `my_app_2`: ASCII letters and digits kept (lowercased), word breaks (spaces,
/// punctuation, a lowercase-to-uppercase change) become one `_`.
fn snake_case(s: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() && prev_lower && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        } else {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            prev_lower = false;
        }
    }
    out.trim_end_matches('_').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn names_callers_may_choose() {
        for ok in ["a.zip", "my_backup-1.zip", "2026.zip"] {
            validate_new(ok).unwrap();
        }
        for bad in [
            "!test.zip",
            "A.zip",
            "a.tar",
            ".zip",
            "a b.zip",
            "@auto_x.zip",
            "a/b.zip",
        ] {
            let e = validate_new(bad).unwrap_err();
            let Error::BadRequest { fields, .. } = e else { panic!() };
            assert_eq!(fields["name"].code, "validation_match_invalid", "{bad}");
        }
        let long = format!("{}.zip", "a".repeat(150));
        let Error::BadRequest { fields, .. } = validate_new(&long).unwrap_err() else {
            panic!()
        };
        assert_eq!(fields["name"].code, "validation_length_out_of_range");
    }

    #[test]
    fn generated_names_follow_pocketbase() {
        let t = Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).unwrap();
        assert_eq!(generate(MANUAL_PREFIX, "Keel", t), "pb_backup_keel_20260304050607.zip");
        assert_eq!(
            generate(AUTO_PREFIX, "My App 2", t),
            "@auto_pb_backup_my_app_2_20260304050607.zip"
        );
        assert_eq!(
            generate(MANUAL_PREFIX, "myApp", t),
            "pb_backup_my_app_20260304050607.zip"
        );
        assert_eq!(generate(MANUAL_PREFIX, "!!!", t), "pb_backup_keel_20260304050607.zip");
    }

    #[test]
    fn keys_are_one_segment() {
        assert!(is_valid_key("@auto_pb_backup_x.zip"));
        for bad in ["", "..", "a/b.zip", "a\\b", "a\nb"] {
            assert!(!is_valid_key(bad), "{bad:?}");
        }
    }
}
