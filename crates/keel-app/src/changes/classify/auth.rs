//! Auth options of auth collections: what signs users out, what stops a way of signing in,
//! what adds a step. A token's lifetime is written into the token when it is issued, so a
//! shorter duration only shortens new sessions; a new signing secret ends every session.

use keel_data::schema::{AuthOptions, TokenConfig};
use keel_data::Collection;
use serde_json::Value;

use super::rules;
use crate::changes::finding::{Finding, Level};

pub(super) fn compare(b: &Collection, a: &Collection, out: &mut Vec<Finding>) {
    // Only auth collections carry auth options (a base collection parsed from JSON may hold
    // defaults with fresh secrets: they mean nothing).
    if !b.is_auth() || !a.is_auth() {
        return;
    }
    let (Some(o), Some(n)) = (&b.auth, &a.auth) else { return };
    let c = &a.name;
    tokens(c, o, n, out);
    out.extend(rules::finding(c, "authRule", &o.auth_rule, &n.auth_rule));
    out.extend(rules::finding(c, "manageRule", &o.manage_rule, &n.manage_rule));
    let mut method = |name: &str, was: bool, is: bool| {
        if was && !is {
            out.push(Finding::new(
                "auth-method-disabled",
                Level::Major,
                name.to_string(),
                format!("Sign-in with {name} is turned off on {c}: users who sign in that way are locked out."),
            ));
        } else if !was && is {
            out.push(Finding::new(
                "auth-method-enabled",
                Level::Minor,
                name.to_string(),
                format!("Sign-in with {name} is turned on for {c}."),
            ));
        }
    };
    let on = |v: &Value| v.get("enabled").and_then(Value::as_bool).unwrap_or(false);
    method("password", o.password_auth.enabled, n.password_auth.enabled);
    method("OAuth2", on(&o.oauth2), on(&n.oauth2));
    method("OTP", on(&o.otp), on(&n.otp));
    method("LDAP", on(&o.ldap), on(&n.ldap));
    if o.password_auth.enabled && n.password_auth.enabled {
        for f in o
            .password_auth
            .identity_fields
            .iter()
            .filter(|f| !n.password_auth.identity_fields.contains(f))
        {
            out.push(Finding::new(
                "auth-identity-field-removed",
                Level::Major,
                f.clone(),
                format!("Users of {c} can no longer sign in with their {f} and password."),
            ));
        }
    }
    if on(&o.oauth2) && on(&n.oauth2) {
        let names = |v: &Value| -> Vec<String> {
            v.get("providers")
                .and_then(Value::as_array)
                .map(|l| {
                    l.iter()
                        .filter_map(|p| p.get("name")?.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let (was, is) = (names(&o.oauth2), names(&n.oauth2));
        for p in was.iter().filter(|p| !is.contains(p)) {
            out.push(Finding::new(
                "auth-method-disabled",
                Level::Major,
                p.clone(),
                format!("OAuth2 provider {p} is removed from {c}: its users are locked out."),
            ));
        }
        for p in is.iter().filter(|p| !was.contains(p)) {
            out.push(Finding::new(
                "auth-method-enabled",
                Level::Minor,
                p.clone(),
                format!("OAuth2 provider {p} is added to {c}."),
            ));
        }
    }
    match (on(&o.mfa), on(&n.mfa)) {
        (false, true) => out.push(Finding::new(
            "auth-mfa-required",
            Level::Major,
            "mfa",
            format!("Multi-factor sign-in is turned on for {c}: a first sign-in now answers 401 with an mfaId and clients must do a second step."),
        )),
        (true, false) => out.push(Finding::new(
            "auth-mfa-removed",
            Level::Minor,
            "mfa",
            format!("Multi-factor sign-in is turned off for {c}."),
        )),
        _ => {}
    }
}

fn tokens(c: &str, o: &AuthOptions, n: &AuthOptions, out: &mut Vec<Finding>) {
    let rotated =
        |a: &TokenConfig, b: &TokenConfig| !a.secret.is_empty() && !b.secret.is_empty() && a.secret != b.secret;
    if rotated(&o.auth_token, &n.auth_token) {
        out.push(Finding::new(
            "auth-signs-users-out",
            Level::Major,
            "authToken",
            format!("The auth token secret of {c} is replaced: every signed-in user of {c} is signed out."),
        ));
    }
    if n.auth_token.duration < o.auth_token.duration {
        out.push(Finding::new(
            "auth-token-duration-lowered",
            Level::Minor,
            "authToken",
            format!(
                "Sessions of {c} last {} s instead of {} s (tokens issued before keep their expiry).",
                n.auth_token.duration, o.auth_token.duration
            ),
        ));
    } else if n.auth_token.duration > o.auth_token.duration {
        out.push(Finding::new(
            "auth-token-duration-raised",
            Level::Patch,
            "authToken",
            format!(
                "Sessions of {c} last {} s instead of {} s.",
                n.auth_token.duration, o.auth_token.duration
            ),
        ));
    }
    let links = [
        ("verificationToken", &o.verification_token, &n.verification_token),
        ("passwordResetToken", &o.password_reset_token, &n.password_reset_token),
        ("emailChangeToken", &o.email_change_token, &n.email_change_token),
        ("fileToken", &o.file_token, &n.file_token),
    ];
    for (name, a, b) in links {
        if rotated(a, b) {
            out.push(Finding::new(
                "auth-pending-tokens-invalidated",
                Level::Minor,
                name,
                format!(
                    "The {name} secret of {c} is replaced: links and tokens of that kind issued before stop working."
                ),
            ));
        }
    }
}
