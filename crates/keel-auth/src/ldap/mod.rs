//! Sign-in against an LDAP directory or Active Directory: bind with a service account, find
//! the user with a filter (the username escaped per RFC 4515), bind as that user with the
//! password, read the e-mail, name and groups, and map groups to role names.
//!
//! Only [`authenticate`] talks to the directory; the HTTP route and the record it creates
//! live elsewhere. **Every way a sign-in can be wrong for the user's part (unknown user,
//! wrong or empty password) is one error, [`LdapError::InvalidCredentials`]**, so a caller
//! cannot tell which; faults of the directory or of the configuration are other variants.

mod auth;
mod roles;

pub use auth::{authenticate, ensure_tls_provider};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// How to reach the directory and find a user in it (`ldap` settings of an auth collection).
///
/// JSON keys are camelCase; every key has a default, so `{}` deserializes (but is not
/// usable until `url` and `baseDn` are set).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LdapConfig {
    /// The server: `ldap://host:389` or `ldaps://host:636`.
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS before any bind.
    pub start_tls: bool,
    /// The service account's DN; empty means an anonymous search.
    pub bind_dn: String,
    /// The service account's password (never shown by `Debug`).
    pub bind_password: String,
    /// Where users are searched (whole subtree).
    pub base_dn: String,
    /// The user search filter; `{username}` is replaced by the escaped username.
    /// Default `(&(objectClass=person)(uid={username}))`; Active Directory: `(sAMAccountName={username})`.
    pub user_filter: String,
    /// The attribute holding the user's e-mail address (default `mail`).
    pub email_attribute: String,
    /// The attribute holding the user's display name (default `cn`).
    pub name_attribute: String,
    /// The attribute of the user entry listing the DNs of the user's groups (default `memberOf`).
    /// Not used when [`group_search`](Self::group_search) is set.
    pub group_attribute: String,
    /// Find groups with a search instead, for servers without `memberOf`.
    pub group_search: Option<GroupSearch>,
    /// Group → role names. A key with `=` is a group DN (compared case-insensitively, spaces
    /// around `,` and `=` ignored); a key without is a group CN (the value of the DN's first
    /// `cn=` component, case-insensitive).
    pub group_roles: BTreeMap<String, Vec<String>>,
    /// Limit for connecting and for each operation, in seconds (default 5).
    pub timeout_secs: u64,
    /// Accept any TLS certificate (tests and lab setups only).
    pub insecure_skip_verify: bool,
    /// PEM of the certificate(s) to trust for `ldaps://` and StartTLS instead of the
    /// system's roots: a company CA, or a directory's self-signed certificate. Empty: the
    /// system's roots.
    pub ca_cert: String,
}

impl Default for LdapConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            start_tls: false,
            bind_dn: String::new(),
            bind_password: String::new(),
            base_dn: String::new(),
            user_filter: "(&(objectClass=person)(uid={username}))".into(),
            email_attribute: "mail".into(),
            name_attribute: "cn".into(),
            group_attribute: "memberOf".into(),
            group_search: None,
            group_roles: BTreeMap::new(),
            timeout_secs: 5,
            insecure_skip_verify: false,
            ca_cert: String::new(),
        }
    }
}

impl fmt::Debug for LdapConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let password = if self.bind_password.is_empty() { "" } else { "<hidden>" };
        f.debug_struct("LdapConfig")
            .field("url", &self.url)
            .field("start_tls", &self.start_tls)
            .field("bind_dn", &self.bind_dn)
            .field("bind_password", &password)
            .field("base_dn", &self.base_dn)
            .field("user_filter", &self.user_filter)
            .field("email_attribute", &self.email_attribute)
            .field("name_attribute", &self.name_attribute)
            .field("group_attribute", &self.group_attribute)
            .field("group_search", &self.group_search)
            .field("group_roles", &self.group_roles)
            .field("timeout_secs", &self.timeout_secs)
            .field("insecure_skip_verify", &self.insecure_skip_verify)
            .field("ca_cert", &(!self.ca_cert.trim().is_empty()))
            .finish()
    }
}

/// Find a user's groups by searching for groups that name the user as a member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GroupSearch {
    /// Where groups are searched (whole subtree); empty means the config's `baseDn`.
    pub group_base_dn: String,
    /// The group filter; `{dn}` is replaced by the user's escaped DN.
    /// Default `(&(objectClass=groupOfNames)(member={dn}))`.
    pub group_filter: String,
}

impl Default for GroupSearch {
    fn default() -> Self {
        Self {
            group_base_dn: String::new(),
            group_filter: "(&(objectClass=groupOfNames)(member={dn}))".into(),
        }
    }
}

/// A user the directory vouched for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LdapUser {
    /// The user's entry DN, as the server returned it.
    pub dn: String,
    /// The username as the caller gave it.
    pub username: String,
    /// The first value of the e-mail attribute, if any.
    pub email: Option<String>,
    /// The first value of the name attribute, if any.
    pub name: Option<String>,
    /// The DNs of the user's groups, as the server returned them (duplicates removed).
    pub groups: Vec<String>,
    /// The role names the groups map to: deduplicated and sorted.
    pub roles: Vec<String>,
}

/// Why a sign-in did not succeed. No message contains a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LdapError {
    /// Unknown user, wrong password, empty password or unusable username: the one answer a
    /// caller gets for all of them.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// The user filter matched more than one entry; nobody is signed in. Make the filter
    /// match one attribute that is unique (`uid`, `sAMAccountName`).
    #[error("the LDAP user filter matched more than one entry; make it select a unique attribute")]
    Ambiguous,
    /// The configuration cannot work (what to fix is in the message).
    #[error("LDAP configuration: {0}")]
    Config(String),
    /// The directory could not be used: connecting, TLS, a timeout, the service account's
    /// bind or a search failed.
    #[error("LDAP server unavailable: {0}")]
    Unavailable(String),
}
