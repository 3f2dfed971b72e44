//! The files a test server starts from: the seeded directory, its `slapd.conf`, its TLS certificate.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A seeded user.
#[derive(Debug, Clone, Copy)]
pub struct SeedUser {
    /// The `uid` (the login name).
    pub uid: &'static str,
    /// The user's password.
    pub password: &'static str,
    /// The `mail` attribute.
    pub email: &'static str,
    /// The `cn` attribute.
    pub name: &'static str,
    /// The `sn` attribute.
    pub surname: &'static str,
    /// The CN of the one group (under `ou=groups`) the user is a member of.
    pub group: &'static str,
}

/// Alice, in group `admins`.
pub const ALICE: SeedUser = user(
    "alice",
    "alice-pw-1",
    "alice@keel.test",
    "Alice Liddell",
    "Liddell",
    "admins",
);
/// Bob, in group `staff`.
pub const BOB: SeedUser = user("bob", "bob-pw-2", "bob@keel.test", "Bob Builder", "Builder", "staff");
/// A user whose uid contains a literal `*`, in group `stars`.
pub const STAR: SeedUser = user("st*r", "star-pw-3", "star@keel.test", "Star Person", "Person", "stars");
/// One of two users matched by `twin-*` (same surname and password as [`TWIN_TWO`]).
pub const TWIN_ONE: SeedUser = user("twin-one", "twin-pw-4", "twin1@keel.test", "Twin One", "Twin", "staff");
/// The other user matched by `twin-*`.
pub const TWIN_TWO: SeedUser = user("twin-two", "twin-pw-4", "twin2@keel.test", "Twin Two", "Twin", "staff");
/// Every seeded user.
pub const USERS: [SeedUser; 5] = [ALICE, BOB, STAR, TWIN_ONE, TWIN_TWO];

const fn user(
    uid: &'static str,
    password: &'static str,
    email: &'static str,
    name: &'static str,
    surname: &'static str,
    group: &'static str,
) -> SeedUser {
    SeedUser {
        uid,
        password,
        email,
        name,
        surname,
        group,
    }
}

/// What the generated `slapd.conf` depends on.
pub(super) struct Conf<'a> {
    /// The server's temp dir (database in `db/`, certificate in `cert.pem` / `key.pem`).
    pub dir: &'a Path,
    /// Where slapd's modules are, if it has loadable modules.
    pub modules: Option<&'a Path>,
    pub memberof: bool,
    pub tls: bool,
    pub base_dn: &'a str,
    pub root_dn: &'a str,
    pub root_password: &'a str,
    pub service_dn: &'a str,
}

/// The `slapd.conf` for a server in `conf.dir`: schemas, an `mdb` database in `db/`, ACLs.
pub(super) fn slapd_conf(conf: &Conf<'_>) -> Result<String, String> {
    let Conf {
        dir,
        modules,
        memberof,
        tls,
        base_dn,
        root_dn,
        root_password,
        service_dn,
    } = *conf;
    let schema = ["/etc/ldap/schema", "/etc/openldap/schema"]
        .into_iter()
        .find(|d| Path::new(d).join("core.schema").exists())
        .ok_or("no OpenLDAP schema directory (/etc/ldap/schema) found")?;
    let mut c = String::new();
    for s in ["core", "cosine", "inetorgperson", "nis"] {
        let _ = writeln!(c, "include {schema}/{s}.schema");
    }
    let d = dir.display();
    let _ = writeln!(c, "pidfile {d}/slapd.pid\nargsfile {d}/slapd.args");
    if tls {
        // Simple binds only over TLS, so a client that skipped StartTLS is refused.
        let _ = writeln!(
            c,
            "TLSCertificateFile {d}/cert.pem\nTLSCertificateKeyFile {d}/key.pem\nsecurity simple_bind=128"
        );
    }
    // Like Active Directory: a DN with an empty password binds (as anonymous).
    c.push_str("allow bind_anon_dn\n");
    if let Some(m) = modules {
        let _ = writeln!(c, "modulepath {}\nmoduleload back_mdb", m.display());
        if memberof {
            c.push_str("moduleload memberof\n");
        }
    }
    let _ = writeln!(
        c,
        "database mdb\nmaxsize 16777216\ndbnosync\nsuffix \"{base_dn}\"\nrootdn \"{root_dn}\"\nrootpw {root_password}\ndirectory {d}/db"
    );
    if memberof {
        c.push_str("overlay memberof\n");
    }
    let _ = writeln!(
        c,
        "access to attrs=userPassword by self write by anonymous auth by * none\n\
         access to * by dn.exact=\"{service_dn}\" read by users read by * none"
    );
    Ok(c)
}

/// The entries the server starts with (added with `ldapadd`, so the overlays see them).
pub(super) fn seed_ldif(base_dn: &str, service_dn: &str, service_password: &str) -> String {
    let mut l = format!("dn: {base_dn}\nobjectClass: dcObject\nobjectClass: organization\no: Keel\ndc: keel\n\n");
    for ou in ["people", "groups", "services"] {
        let _ = writeln!(l, "dn: ou={ou},{base_dn}\nobjectClass: organizationalUnit\nou: {ou}\n");
    }
    let _ = writeln!(
        l,
        "dn: {service_dn}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n\
         cn: keel-service\nuserPassword: {service_password}\n"
    );
    for u in USERS {
        let _ = writeln!(
            l,
            "dn: uid={},ou=people,{base_dn}\nobjectClass: inetOrgPerson\nuid: {}\ncn: {}\nsn: {}\nmail: {}\nuserPassword: {}\n",
            u.uid, u.uid, u.name, u.surname, u.email, u.password
        );
    }
    // Groups after users, so the memberof overlay can point the users back at them.
    for group in ["admins", "staff", "stars"] {
        let _ = writeln!(
            l,
            "dn: cn={group},ou=groups,{base_dn}\nobjectClass: groupOfNames\ncn: {group}"
        );
        for u in USERS.iter().filter(|u| u.group == group) {
            let _ = writeln!(l, "member: uid={},ou=people,{base_dn}", u.uid);
        }
        l.push('\n');
    }
    l
}

/// Where the distribution keeps slapd's loadable modules, if it builds them as modules.
pub(super) fn module_dir() -> Option<PathBuf> {
    [
        "/usr/lib/ldap",
        "/usr/lib64/openldap",
        "/usr/lib/openldap",
        "/usr/libexec/openldap",
    ]
    .map(PathBuf::from)
    .into_iter()
    .find(|d| d.join("back_mdb.so").exists())
}

/// Only the owner may read `path` (ldap-utils warn about a readable password file).
pub(super) fn set_private(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("chmod {}: {e}", path.display()))
}

/// Writes `text` to `dir/name`.
pub(super) fn write(dir: &Path, name: &str, text: &str) -> Result<(), String> {
    std::fs::write(dir.join(name), text).map_err(|e| format!("writing {name}: {e}"))
}
