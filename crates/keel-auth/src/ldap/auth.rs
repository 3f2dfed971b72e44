//! The sign-in conversation with the directory.

use super::roles::{dedup_groups, map_roles};
use super::{LdapConfig, LdapError, LdapUser};
use ldap3::{ldap_escape, Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry, SearchOptions};
use std::future::Future;
use std::time::Duration;

/// The longest username tried against the directory (in characters).
const MAX_USERNAME_CHARS: usize = 256;

/// LDAP result codes this module tells apart (RFC 4511, appendix A).
const RC_SUCCESS: u32 = 0;
const RC_SIZE_LIMIT_EXCEEDED: u32 = 4;
const RC_REFERRAL: u32 = 10;
const RC_NO_SUCH_OBJECT: u32 = 32;
const RC_INVALID_CREDENTIALS: u32 = 49;
const RC_UNWILLING_TO_PERFORM: u32 = 53;

/// Signs `username` in with `password` against the directory `cfg` describes.
///
/// Steps: connect (within `timeoutSecs`), StartTLS if asked, bind as the service account,
/// search `baseDn` with `userFilter` (`{username}` replaced by the username escaped per
/// RFC 4515, so `*`, `(`, `)`, `\` and NUL match only themselves), require exactly one entry,
/// bind as that entry's DN with `password`, then read the e-mail, name and groups (from
/// `groupAttribute`, or with `groupSearch` as the service account) and map groups to roles.
/// The connection is always unbound.
///
/// An empty password, an empty username, a username longer than 256 characters or holding
/// NUL, an unknown user and a wrong password all give [`LdapError::InvalidCredentials`]; the
/// first four are refused before any connection (an empty password would otherwise be an
/// "unauthenticated bind", which some servers, Active Directory among them, accept).
pub async fn authenticate(cfg: &LdapConfig, username: &str, password: &str) -> Result<LdapUser, LdapError> {
    validate(cfg)?;
    if username.is_empty()
        || username.chars().count() > MAX_USERNAME_CHARS
        || username.contains('\0')
        || password.is_empty()
    {
        return Err(LdapError::InvalidCredentials);
    }
    let timeout = Duration::from_secs(cfg.timeout_secs);
    let mut ldap = connect(cfg, timeout).await?;
    let result = sign_in(&mut ldap, cfg, username, password, timeout).await;
    // Best effort: the server may already have closed the connection.
    let _ = tokio::time::timeout(timeout, ldap.unbind()).await;
    result
}

/// Refuses a configuration that cannot work, saying which key to fix.
fn validate(cfg: &LdapConfig) -> Result<(), LdapError> {
    let bad = |msg: &str| Err(LdapError::Config(msg.to_string()));
    let url = cfg.url.trim().to_ascii_lowercase();
    let ldaps = url.starts_with("ldaps://");
    if !ldaps && !url.starts_with("ldap://") {
        return bad("url must start with ldap:// or ldaps://");
    }
    if ldaps && cfg.start_tls {
        return bad("startTls applies to ldap:// URLs; an ldaps:// URL is already TLS");
    }
    if cfg.base_dn.trim().is_empty() {
        return bad("baseDn is empty: set the DN under which users are searched");
    }
    if !cfg.user_filter.contains("{username}") {
        return bad("userFilter must contain {username}, e.g. (&(objectClass=person)(uid={username}))");
    }
    if !cfg.bind_dn.is_empty() && cfg.bind_password.is_empty() {
        return bad("bindPassword is empty: the service account needs its password");
    }
    if cfg.bind_dn.is_empty() && !cfg.bind_password.is_empty() {
        return bad("bindPassword is set but bindDn is empty");
    }
    if cfg.timeout_secs == 0 {
        return bad("timeoutSecs must be at least 1");
    }
    if let Some(gs) = &cfg.group_search {
        if !gs.group_filter.contains("{dn}") {
            return bad("groupSearch.groupFilter must contain {dn}, e.g. (&(objectClass=groupOfNames)(member={dn}))");
        }
    }
    Ok(())
}

/// Makes sure rustls has a process-wide crypto provider: ldap3 builds its TLS config from
/// the default, which rustls cannot pick on its own when the binary links more than one
/// provider (another crate may bring `ring`). Installing twice is a no-op.
pub fn ensure_tls_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// A TLS client trusting exactly the certificates in `pem` (`caCert`).
fn tls_config(pem: &str) -> Result<std::sync::Arc<rustls::ClientConfig>, LdapError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let bad = |why: String| LdapError::Config(format!("caCert: {why}; give the PEM of the CA certificate(s)"));
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.trim().as_bytes()) {
        let cert = cert.map_err(|e| bad(format!("not valid PEM ({e})")))?;
        roots
            .add(cert)
            .map_err(|e| bad(format!("a certificate cannot be used ({e})")))?;
    }
    if roots.is_empty() {
        return Err(bad("no CERTIFICATE block found".into()));
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| LdapError::Unavailable(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(std::sync::Arc::new(config))
}

async fn connect(cfg: &LdapConfig, timeout: Duration) -> Result<Ldap, LdapError> {
    ensure_tls_provider();
    let mut settings = LdapConnSettings::new()
        .set_conn_timeout(timeout)
        .set_starttls(cfg.start_tls)
        .set_no_tls_verify(cfg.insecure_skip_verify);
    if !cfg.insecure_skip_verify && !cfg.ca_cert.trim().is_empty() {
        settings = settings.set_config(tls_config(&cfg.ca_cert)?);
    }
    let (conn, ldap) = step(
        timeout,
        "connecting",
        LdapConnAsync::with_settings(settings, cfg.url.trim()),
    )
    .await?;
    tokio::spawn(async move {
        // The connection ends with an error when the server hangs up; nothing to do then.
        let _ = conn.drive().await;
    });
    Ok(ldap)
}

async fn sign_in(
    ldap: &mut Ldap,
    cfg: &LdapConfig,
    username: &str,
    password: &str,
    timeout: Duration,
) -> Result<LdapUser, LdapError> {
    service_bind(ldap, cfg, timeout).await?;
    let entry = find_user(ldap, cfg, username, timeout).await?;
    if entry.dn.trim().is_empty() {
        return Err(LdapError::InvalidCredentials);
    }
    let bound = step(timeout, "binding as the user", ldap.simple_bind(&entry.dn, password)).await?;
    match bound.rc {
        RC_SUCCESS => {}
        RC_INVALID_CREDENTIALS | RC_UNWILLING_TO_PERFORM => return Err(LdapError::InvalidCredentials),
        _ => return Err(LdapError::Unavailable(format!("binding as the user failed: {bound}"))),
    }
    let groups = match &cfg.group_search {
        Some(gs) => {
            // The user may not be allowed to read groups: search them as the service account.
            service_bind(ldap, cfg, timeout).await?;
            let base = if gs.group_base_dn.trim().is_empty() {
                &cfg.base_dn
            } else {
                &gs.group_base_dn
            };
            let filter = gs.group_filter.replace("{dn}", &ldap_escape(entry.dn.as_str()));
            let (entries, rc) = search(ldap, base, &filter, vec!["1.1"], 0, timeout, "group search").await?;
            if rc != RC_SUCCESS && rc != RC_REFERRAL {
                return Err(LdapError::Unavailable(format!(
                    "group search failed with result code {rc}"
                )));
            }
            entries.into_iter().map(|e| e.dn).collect()
        }
        None => values(&entry, &cfg.group_attribute).to_vec(),
    };
    let groups = dedup_groups(groups);
    let roles = map_roles(&groups, &cfg.group_roles);
    Ok(LdapUser {
        username: username.to_string(),
        email: values(&entry, &cfg.email_attribute).first().cloned(),
        name: values(&entry, &cfg.name_attribute).first().cloned(),
        dn: entry.dn,
        groups,
        roles,
    })
}

/// Binds as the service account, or stays (or becomes) anonymous when `bindDn` is empty.
async fn service_bind(ldap: &mut Ldap, cfg: &LdapConfig, timeout: Duration) -> Result<(), LdapError> {
    let res = step(
        timeout,
        "binding as the service account",
        ldap.simple_bind(&cfg.bind_dn, &cfg.bind_password),
    )
    .await?;
    if res.rc != RC_SUCCESS {
        return Err(LdapError::Unavailable(format!(
            "the service account bind was refused ({res}); check bindDn and bindPassword"
        )));
    }
    Ok(())
}

/// The one entry `userFilter` selects for `username`.
async fn find_user(
    ldap: &mut Ldap,
    cfg: &LdapConfig,
    username: &str,
    timeout: Duration,
) -> Result<SearchEntry, LdapError> {
    let filter = cfg.user_filter.replace("{username}", &ldap_escape(username));
    let attrs: Vec<&str> = [&cfg.email_attribute, &cfg.name_attribute]
        .into_iter()
        .chain(cfg.group_search.is_none().then_some(&cfg.group_attribute))
        .map(|a| a.trim())
        .filter(|a| !a.is_empty())
        .collect();
    // Two entries are enough to know the filter is ambiguous.
    let (mut entries, rc) = search(ldap, &cfg.base_dn, &filter, attrs, 2, timeout, "user search").await?;
    match rc {
        RC_SUCCESS | RC_REFERRAL => {}
        RC_SIZE_LIMIT_EXCEEDED => return Err(LdapError::Ambiguous),
        RC_NO_SUCH_OBJECT => {
            return Err(LdapError::Config(format!(
                "baseDn {:?} does not exist on the server",
                cfg.base_dn
            )))
        }
        _ => {
            return Err(LdapError::Unavailable(format!(
                "user search failed with result code {rc}"
            )))
        }
    }
    match entries.len() {
        0 => Err(LdapError::InvalidCredentials),
        1 => entries.pop().ok_or(LdapError::InvalidCredentials),
        _ => Err(LdapError::Ambiguous),
    }
}

/// A subtree search returning its entries (referrals left out) and the result code.
#[allow(clippy::too_many_arguments)]
async fn search(
    ldap: &mut Ldap,
    base: &str,
    filter: &str,
    attrs: Vec<&str>,
    size_limit: i32,
    timeout: Duration,
    what: &str,
) -> Result<(Vec<SearchEntry>, u32), LdapError> {
    let ldap = ldap.with_search_options(SearchOptions::new().sizelimit(size_limit));
    let res = step(timeout, what, ldap.search(base, Scope::Subtree, filter, attrs)).await?;
    let entries = res
        .0
        .into_iter()
        .filter(|e| !e.is_ref())
        .map(SearchEntry::construct)
        .collect();
    Ok((entries, res.1.rc))
}

/// The values of attribute `name` (compared case-insensitively, as LDAP does).
fn values<'a>(entry: &'a SearchEntry, name: &str) -> &'a [String] {
    let name = name.trim();
    entry
        .attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map_or(&[], |(_, v)| v.as_slice())
}

/// Runs one step of the conversation within `timeout`, turning its failure into an [`LdapError`].
async fn step<T>(
    timeout: Duration,
    what: &str,
    fut: impl Future<Output = ldap3::result::Result<T>>,
) -> Result<T, LdapError> {
    match tokio::time::timeout(timeout, fut).await {
        Err(_) => Err(LdapError::Unavailable(format!(
            "{what} timed out after {}s",
            timeout.as_secs()
        ))),
        Ok(Err(ldap3::LdapError::FilterParsing)) => Err(LdapError::Config(format!(
            "{what}: the filter is not a valid LDAP filter (check userFilter / groupFilter)"
        ))),
        Ok(Err(e @ (ldap3::LdapError::UrlParsing { .. } | ldap3::LdapError::UnknownScheme(_)))) => {
            Err(LdapError::Config(format!("url: {e}")))
        }
        Ok(Err(e)) => Err(LdapError::Unavailable(format!("{what}: {e}"))),
        Ok(Ok(v)) => Ok(v),
    }
}
