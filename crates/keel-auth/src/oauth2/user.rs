//! Each provider's user JSON mapped to one [`OAuth2User`].
//!
//! `is_email_verified` is true only where the provider says so (`email_verified`, Discord's
//! `verified`, GitHub's `/user/emails`); Microsoft, GitLab and Facebook do not say.

use serde_json::Value;

use super::providers::Kind;
use super::OAuth2User;

/// `raw[key]` as text: strings as they are, numbers (GitHub and GitLab ids) in decimal.
fn text(raw: &Value, key: &str) -> String {
    match raw.get(key) {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// `raw[key]` as a flag: `true` or `"true"` (Apple sends strings).
fn flag(raw: &Value, key: &str) -> bool {
    match raw.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

pub(crate) fn map(kind: Kind, raw: Value) -> OAuth2User {
    let mut u = OAuth2User {
        id: text(&raw, "id"),
        email: text(&raw, "email"),
        ..OAuth2User::default()
    };
    match kind {
        Kind::Google | Kind::Oidc | Kind::Linkedin | Kind::Apple => {
            u.id = text(&raw, "sub");
            u.name = text(&raw, "name");
            u.username = text(&raw, "preferred_username");
            u.avatar_url = text(&raw, "picture");
            u.is_email_verified = flag(&raw, "email_verified");
        }
        Kind::Discord => {
            u.username = text(&raw, "username");
            u.name = Some(text(&raw, "global_name"))
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| u.username.clone());
            let avatar = text(&raw, "avatar");
            if !avatar.is_empty() {
                u.avatar_url = format!("https://cdn.discordapp.com/avatars/{}/{avatar}.png", u.id);
            }
            u.is_email_verified = flag(&raw, "verified");
        }
        Kind::Facebook => {
            u.name = text(&raw, "name");
            u.avatar_url = raw
                .pointer("/picture/data/url")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
        }
        Kind::Gitlab => {
            u.name = text(&raw, "name");
            u.username = text(&raw, "username");
            u.avatar_url = text(&raw, "avatar_url");
        }
        Kind::Microsoft => {
            u.name = text(&raw, "displayName");
            u.email = text(&raw, "mail");
        }
        Kind::Github => return github(raw, None),
    }
    u.raw = raw;
    u
}

/// GitHub's `/user`, with `/user/emails` (when readable) for the email and whether it is verified:
/// the profile's email if listed as verified, else the primary verified one.
pub(crate) fn github(raw: Value, emails: Option<&Value>) -> OAuth2User {
    let listed: Vec<(String, bool, bool)> = emails
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|e| (text(e, "email"), flag(e, "primary"), flag(e, "verified")))
                .collect()
        })
        .unwrap_or_default();
    let mut email = text(&raw, "email");
    let verified = if email.is_empty() {
        match listed.iter().find(|(_, primary, verified)| *primary && *verified) {
            Some((e, _, _)) => {
                email = e.clone();
                true
            }
            None => false,
        }
    } else {
        listed
            .iter()
            .any(|(e, _, verified)| *verified && e.eq_ignore_ascii_case(&email))
    };
    OAuth2User {
        id: text(&raw, "id"),
        name: text(&raw, "name"),
        username: text(&raw, "login"),
        email,
        avatar_url: text(&raw, "avatar_url"),
        is_email_verified: verified,
        raw,
        ..OAuth2User::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapped(kind: Kind, raw: Value) -> (String, String, String, String, String, bool) {
        let u = map(kind, raw);
        (u.id, u.name, u.username, u.email, u.avatar_url, u.is_email_verified)
    }

    fn t(
        id: &str,
        name: &str,
        user: &str,
        email: &str,
        avatar: &str,
        verified: bool,
    ) -> (String, String, String, String, String, bool) {
        let s = |v: &str| v.to_string();
        (s(id), s(name), s(user), s(email), s(avatar), verified)
    }

    #[test]
    fn google_and_oidc_read_the_standard_claims() {
        let raw = json!({"sub": "1", "name": "Ada", "preferred_username": "ada", "email": "a@x.io",
            "email_verified": true, "picture": "https://p/a.png"});
        let want = t("1", "Ada", "ada", "a@x.io", "https://p/a.png", true);
        assert_eq!(mapped(Kind::Google, raw.clone()), want);
        assert_eq!(mapped(Kind::Oidc, raw.clone()), want);
        assert_eq!(mapped(Kind::Linkedin, raw), want);
    }

    #[test]
    fn apple_reads_the_id_token_claims_with_string_flags() {
        let raw = json!({"sub": "000.abc", "email": "x@privaterelay.appleid.com", "email_verified": "true"});
        assert_eq!(
            mapped(Kind::Apple, raw),
            t("000.abc", "", "", "x@privaterelay.appleid.com", "", true)
        );
    }

    #[test]
    fn discord_builds_the_avatar_url() {
        let raw = json!({"id": "80351110224678912", "username": "nelly", "global_name": "Nelly",
            "email": "n@d.com", "verified": true, "avatar": "8342729096ea3675442027381ff50dfe"});
        let avatar = "https://cdn.discordapp.com/avatars/80351110224678912/8342729096ea3675442027381ff50dfe.png";
        assert_eq!(
            mapped(Kind::Discord, raw),
            t("80351110224678912", "Nelly", "nelly", "n@d.com", avatar, true)
        );
    }

    #[test]
    fn facebook_gitlab_microsoft_do_not_claim_verification() {
        let fb = json!({"id": "10", "name": "Fay", "email": "f@b.com", "picture": {"data": {"url": "https://fb/p"}}});
        assert_eq!(
            mapped(Kind::Facebook, fb),
            t("10", "Fay", "", "f@b.com", "https://fb/p", false)
        );
        let gl = json!({"id": 42, "name": "Gil", "username": "gil", "email": "g@l.com", "avatar_url": "https://gl/a"});
        assert_eq!(
            mapped(Kind::Gitlab, gl),
            t("42", "Gil", "gil", "g@l.com", "https://gl/a", false)
        );
        let ms = json!({"id": "b-1", "displayName": "Mo", "mail": "mo@corp.com", "userPrincipalName": "mo@corp.com"});
        assert_eq!(
            mapped(Kind::Microsoft, ms),
            t("b-1", "Mo", "", "mo@corp.com", "", false)
        );
    }

    #[test]
    fn github_takes_the_primary_verified_email_when_the_profile_has_none() {
        let raw = json!({"id": 7, "login": "octo", "name": "Octo", "email": null, "avatar_url": "https://gh/a"});
        let emails = json!([{"email": "old@x.io", "primary": false, "verified": true},
            {"email": "main@x.io", "primary": true, "verified": true}]);
        let u = github(raw.clone(), Some(&emails));
        assert_eq!(
            (
                u.id.as_str(),
                u.username.as_str(),
                u.email.as_str(),
                u.is_email_verified
            ),
            ("7", "octo", "main@x.io", true)
        );
        let u = github(raw, None);
        assert_eq!((u.email.as_str(), u.is_email_verified), ("", false));
        let public = json!({"id": 7, "login": "octo", "email": "pub@x.io"});
        assert!(!github(public.clone(), None).is_email_verified);
        let listed = json!([{"email": "pub@x.io", "primary": false, "verified": true}]);
        assert!(github(public, Some(&listed)).is_email_verified);
    }
}
