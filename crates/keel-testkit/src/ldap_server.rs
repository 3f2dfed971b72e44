//! A real OpenLDAP `slapd` for tests: its own config, database and port in a fresh temp dir,
//! seeded with a service account, users and groups, killed when the [`LdapServer`] drops.
//!
//! Needs the Debian packages `slapd` and `ldap-utils` (the packaged instance is never used
//! and need not run). Without them [`LdapServer::start`] prints one line and returns `None`,
//! or panics when `KEEL_TEST_REQUIRE_ENGINES=1`.
//!
//! The seeded directory under `dc=keel,dc=test`: `ou=people` holds [`ALICE`] (group
//! `admins`), [`BOB`] (`staff`), [`STAR`] (uid `st*r`, group `stars`) and [`TWIN_ONE`] /
//! [`TWIN_TWO`] (both match `twin-*` and share a surname and password); `ou=groups` holds
//! the groups as `groupOfNames`; `ou=services` holds the service account. Like Active
//! Directory, the server accepts unauthenticated binds (a DN with an empty password), so a
//! client that forgets to refuse empty passwords would let anyone in.

mod seed;

pub use seed::{SeedUser, ALICE, BOB, STAR, TWIN_ONE, TWIN_TWO, USERS};

use crate::env::engines_required;
use crate::tls::find_program;
use seed::{module_dir, seed_ldif, set_private, slapd_conf, write, Conf};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How to start the server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Load the `memberof` overlay, so user entries carry `memberOf` (default true).
    /// Off, groups can only be found with a group search.
    pub memberof: bool,
    /// Also listen with TLS (a self-signed certificate made with `openssl`): StartTLS on
    /// [`LdapServer::url`] and LDAPS on [`LdapServer::ldaps_url`] (default false).
    pub tls: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            memberof: true,
            tls: false,
        }
    }
}

/// A running `slapd` on `127.0.0.1` and an ephemeral port; killed on drop.
pub struct LdapServer {
    /// `ldap://127.0.0.1:PORT/`.
    pub url: String,
    /// `dc=keel,dc=test`.
    pub base_dn: String,
    /// The service account's DN (may search everything, write nothing).
    pub bind_dn: String,
    /// The service account's password (random per server).
    pub bind_password: String,
    /// The root DN (may write anything).
    pub root_dn: String,
    /// The root DN's password (random per server).
    pub root_password: String,
    /// Whether the `memberof` overlay is loaded (user entries carry `memberOf`).
    pub memberof: bool,
    /// `ldaps://127.0.0.1:PORT/` when started with [`ServerOptions::tls`].
    pub ldaps_url: Option<String>,
    child: Child,
    dir: tempfile::TempDir,
}

impl LdapServer {
    /// Starts a seeded server with the `memberof` overlay; `None` (after one line saying so)
    /// if `slapd` or `ldap-utils` is not installed. Panics if it is installed but fails.
    pub fn start() -> Option<LdapServer> {
        Self::start_with(ServerOptions::default())
    }

    /// [`start`](Self::start) with `options`.
    pub fn start_with(options: ServerOptions) -> Option<LdapServer> {
        let Some(slapd) = find_program("slapd") else {
            return not_installed("slapd is not installed");
        };
        let Some(ldapadd) = find_program("ldapadd") else {
            return not_installed("ldapadd is not installed (Debian package ldap-utils)");
        };
        let openssl = match options.tls {
            true => match find_program("openssl") {
                Some(openssl) => Some(openssl),
                None => return not_installed("openssl is not installed (needed for the TLS listener)"),
            },
            false => None,
        };
        match Self::launch(&slapd, &ldapadd, openssl.as_deref(), &options) {
            Ok(server) => Some(server),
            Err(e) => panic!("could not start slapd for the LDAP tests: {e}"),
        }
    }

    /// The DN of seeded user `uid`.
    /// The PEM of the server's self-signed TLS certificate (`caCert` to trust it), when
    /// started with [`ServerOptions::tls`].
    pub fn ca_cert_pem(&self) -> Option<String> {
        self.ldaps_url.as_ref()?;
        std::fs::read_to_string(self.dir.path().join("cert.pem")).ok()
    }

    pub fn user_dn(&self, uid: &str) -> String {
        format!("uid={uid},ou=people,{}", self.base_dn)
    }

    /// The DN of seeded group `cn`.
    pub fn group_dn(&self, cn: &str) -> String {
        format!("cn={cn},ou=groups,{}", self.base_dn)
    }

    /// The DN under which the groups are (`ou=groups,…`).
    pub fn groups_base_dn(&self) -> String {
        format!("ou=groups,{}", self.base_dn)
    }

    /// An LDAP config for this server in Keel's JSON shape (`url`, `bindDn`, `bindPassword`,
    /// `baseDn`, `timeoutSecs`); other keys are left to their defaults.
    pub fn config_json(&self) -> serde_json::Value {
        serde_json::json!({
            "url": self.url,
            "bindDn": self.bind_dn,
            "bindPassword": self.bind_password,
            "baseDn": self.base_dn,
            "timeoutSecs": 5,
        })
    }

    fn launch(
        slapd: &Path,
        ldapadd: &Path,
        openssl: Option<&Path>,
        options: &ServerOptions,
    ) -> Result<LdapServer, String> {
        let dir = tempfile::Builder::new()
            .prefix("keel-slapd-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let base_dn = "dc=keel,dc=test".to_string();
        let root_dn = format!("cn=root,{base_dn}");
        let root_password = crate::random_name();
        let bind_dn = format!("cn=keel-service,ou=services,{base_dn}");
        let bind_password = crate::random_name();
        let modules = module_dir();
        let memberof = options.memberof && modules.as_ref().is_some_and(|m| m.join("memberof.so").exists());
        if options.memberof && !memberof {
            println!("note: the slapd memberof overlay is not installed; memberOf will be missing");
        }
        if let Some(openssl) = openssl {
            crate::tls::self_signed_certificate(openssl, dir.path())?;
        }
        let conf = slapd_conf(&Conf {
            dir: dir.path(),
            modules: modules.as_deref(),
            memberof,
            tls: openssl.is_some(),
            base_dn: &base_dn,
            root_dn: &root_dn,
            root_password: &root_password,
            service_dn: &bind_dn,
        })?;
        write(dir.path(), "slapd.conf", &conf)?;
        write(dir.path(), "root.pw", &root_password)?;
        write(dir.path(), "seed.ldif", &seed_ldif(&base_dn, &bind_dn, &bind_password))?;
        std::fs::create_dir(dir.path().join("db")).map_err(|e| format!("creating the db dir: {e}"))?;

        set_private(&dir.path().join("root.pw"))?;
        let ldapwhoami = find_program("ldapwhoami").ok_or("ldapwhoami is not installed (ldap-utils)")?;
        let mut dir = dir;
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port()?;
            let url = format!("ldap://127.0.0.1:{port}/");
            let ldaps_url = match openssl {
                Some(_) => Some(format!("ldaps://127.0.0.1:{}/", free_port()?)),
                None => None,
            };
            let listeners = [Some(&url), ldaps_url.as_ref()].into_iter().flatten().cloned();
            let listeners = listeners.collect::<Vec<_>>().join(" ");
            let log = std::fs::File::create(dir.path().join("slapd.log")).map_err(|e| e.to_string())?;
            let child = Command::new(slapd)
                .args(["-d", "0", "-h", &listeners, "-f"])
                .arg(dir.path().join("slapd.conf"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().map_err(|e| e.to_string())?)
                .stderr(log)
                .spawn()
                .map_err(|e| format!("running {}: {e}", slapd.display()))?;
            let mut server = LdapServer {
                url,
                base_dn: base_dn.clone(),
                bind_dn: bind_dn.clone(),
                bind_password: bind_password.clone(),
                root_dn: root_dn.clone(),
                root_password: root_password.clone(),
                memberof,
                ldaps_url,
                child,
                dir,
            };
            match server.wait_ready(&ldapwhoami) {
                Ok(()) => {
                    server.seed(ldapadd)?;
                    return Ok(server);
                }
                Err(Retry::Port(e)) => last_error = e,
                Err(Retry::No(e)) => return Err(e),
            }
            // Dropping `server` would delete the temp dir: take it back for the next try.
            let _ = server.child.kill();
            let _ = server.child.wait();
            dir = std::mem::replace(&mut server.dir, tempfile::tempdir().map_err(|e| e.to_string())?);
        }
        Err(format!("no free port after 5 tries: {last_error}"))
    }

    /// Polls a root bind until it succeeds, slapd exits, or 15 s pass.
    fn wait_ready(&mut self, ldapwhoami: &Path) -> Result<(), Retry> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = self.log();
                let e = format!("slapd exited ({status}): {log}");
                return Err(if log.contains("Address already in use") {
                    Retry::Port(e)
                } else {
                    Retry::No(e)
                });
            }
            let probe = self.client(ldapwhoami).args(["-o", "nettimeout=2"]).output();
            if probe.is_ok_and(|o| o.status.success()) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Retry::No(format!("slapd did not answer within 15 s: {}", self.log())));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn seed(&self, ldapadd: &Path) -> Result<(), String> {
        let out = self
            .client(ldapadd)
            .arg("-f")
            .arg(self.dir.path().join("seed.ldif"))
            .output()
            .map_err(|e| format!("running ldapadd: {e}"))?;
        if !out.status.success() {
            return Err(format!("seeding failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(())
    }

    /// An ldap-utils command bound as the root DN (over StartTLS when TLS is on).
    fn client(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(["-x", "-H", &self.url, "-D", &self.root_dn, "-y"]);
        cmd.arg(self.dir.path().join("root.pw"));
        if self.ldaps_url.is_some() {
            cmd.arg("-ZZ").env("LDAPTLS_REQCERT", "never");
        }
        cmd
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("slapd.log")).unwrap_or_default()
    }
}

impl Drop for LdapServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

enum Retry {
    /// The port was taken between choosing it and slapd binding it.
    Port(String),
    No(String),
}

fn not_installed(what: &str) -> Option<LdapServer> {
    if engines_required() {
        panic!("{what} but KEEL_TEST_REQUIRE_ENGINES=1: install the Debian packages slapd and ldap-utils");
    }
    println!("skipped: {what}");
    None
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("finding a free port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}
