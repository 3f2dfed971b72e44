//! The seeded directory and the `slapd.conf` that serves it.

use std::fmt::Write as _;
use std::path::Path;

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

/// The `slapd.conf` for a server in `dir`: schemas, `mdb` database in `dir/db`, ACLs.
pub(super) fn slapd_conf(
    dir: &Path,
    modules: Option<&Path>,
    memberof: bool,
    base_dn: &str,
    root_dn: &str,
    root_password: &str,
    service_dn: &str,
) -> Result<String, String> {
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
