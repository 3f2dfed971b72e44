//! LDAP sign-in against a real OpenLDAP `slapd` (see `keel_testkit::ldap_server`).

use keel_auth::ldap::{authenticate, LdapConfig, LdapError};
use keel_testkit::ldap_server::{LdapServer, ServerOptions, ALICE, BOB, STAR, TWIN_ONE};
use serde_json::{json, Value};
use std::time::Duration;

/// The server's config with the keys of `extra` set on top.
fn config(server: &LdapServer, extra: Value) -> LdapConfig {
    let mut cfg = server.config_json();
    if let (Some(cfg), Some(extra)) = (cfg.as_object_mut(), extra.as_object()) {
        cfg.extend(extra.clone());
    }
    serde_json::from_value(cfg).expect("a valid LDAP config")
}

fn roles() -> Value {
    json!({
        "cn=ADMINS, ou=Groups, dc=keel, dc=test": ["admin", "editor"],
        "Admins": ["editor"],
        "staff": ["staff"],
        "stars": ["star"],
    })
}

#[tokio::test]
async fn alice_signs_in_with_her_email_name_groups_and_roles() {
    let Some(server) = LdapServer::start() else { return };
    let cfg = config(&server, json!({ "groupRoles": roles() }));
    let alice = authenticate(&cfg, ALICE.uid, ALICE.password)
        .await
        .expect("alice signs in");
    assert_eq!(alice.dn, server.user_dn("alice"));
    assert_eq!(alice.username, "alice");
    assert_eq!(alice.email.as_deref(), Some(ALICE.email));
    assert_eq!(alice.name.as_deref(), Some(ALICE.name));
    assert_eq!(alice.groups, [server.group_dn("admins")]);
    assert_eq!(
        alice.roles,
        ["admin", "editor"],
        "DN and CN keys both apply, deduplicated and sorted"
    );

    let bob = authenticate(&cfg, BOB.uid, BOB.password).await.expect("bob signs in");
    assert_eq!(bob.groups, [server.group_dn("staff")]);
    assert_eq!(bob.roles, ["staff"]);

    let no_roles = config(&server, json!({}));
    let alice = authenticate(&no_roles, ALICE.uid, ALICE.password)
        .await
        .expect("alice signs in");
    assert!(alice.roles.is_empty(), "no groupRoles, no roles: {:?}", alice.roles);
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_error() {
    let Some(server) = LdapServer::start() else { return };
    let cfg = config(&server, json!({}));
    let wrong = authenticate(&cfg, ALICE.uid, "not-her-password").await;
    let someone_elses = authenticate(&cfg, ALICE.uid, BOB.password).await;
    let unknown = authenticate(&cfg, "nobody", ALICE.password).await;
    assert_eq!(wrong, Err(LdapError::InvalidCredentials));
    assert_eq!(someone_elses, Err(LdapError::InvalidCredentials));
    assert_eq!(unknown, Err(LdapError::InvalidCredentials));
    let message = LdapError::InvalidCredentials.to_string();
    assert!(
        !message.contains("alice") && !message.contains("password\""),
        "{message}"
    );
}

#[tokio::test]
async fn an_empty_password_is_refused_although_the_server_accepts_unauthenticated_binds() {
    let Some(server) = LdapServer::start() else { return };
    // The danger being guarded against: this server, like Active Directory, says "success"
    // to a bind with a DN and no password.
    let (conn, mut raw) = ldap3::LdapConnAsync::new(&server.url).await.expect("connect");
    tokio::spawn(conn.drive());
    let bind = raw
        .simple_bind(&server.user_dn("alice"), "")
        .await
        .expect("bind answered");
    assert_eq!(bind.rc, 0, "the test server should accept unauthenticated binds");
    raw.unbind().await.expect("unbind");

    let cfg = config(&server, json!({}));
    assert_eq!(
        authenticate(&cfg, ALICE.uid, "").await,
        Err(LdapError::InvalidCredentials)
    );
    assert_eq!(
        authenticate(&cfg, "", ALICE.password).await,
        Err(LdapError::InvalidCredentials)
    );
}

#[tokio::test]
async fn filter_injection_signs_nobody_in() {
    let Some(server) = LdapServer::start() else { return };
    let cfg = config(&server, json!({}));
    let attempts = [
        ("*", ALICE.password),
        ("alice)(uid=*", ALICE.password),
        ("*)(|(uid=*", ALICE.password),
        ("alice*", ALICE.password),
        ("*)(objectClass=*", ALICE.password),
        ("twin-*", TWIN_ONE.password),
        ("alice\0", ALICE.password),
        (r"alice\29", ALICE.password),
    ];
    for (username, password) in attempts {
        let got = authenticate(&cfg, username, password).await;
        assert_eq!(
            got,
            Err(LdapError::InvalidCredentials),
            "username {username:?} must match no entry"
        );
    }
}

#[tokio::test]
async fn a_uid_with_a_literal_star_signs_in_and_matches_only_itself() {
    let Some(server) = LdapServer::start() else { return };
    let cfg = config(&server, json!({ "groupRoles": roles() }));
    let star = authenticate(&cfg, STAR.uid, STAR.password)
        .await
        .expect("st*r signs in");
    assert_eq!(star.dn, server.user_dn("st*r"));
    assert_eq!(star.email.as_deref(), Some(STAR.email));
    assert_eq!(star.roles, ["star"]);
    assert_eq!(
        authenticate(&cfg, "st*", STAR.password).await,
        Err(LdapError::InvalidCredentials)
    );
}

#[tokio::test]
async fn a_filter_matching_two_users_is_refused_even_with_a_right_password() {
    let Some(server) = LdapServer::start() else { return };
    let by_surname = config(
        &server,
        json!({ "userFilter": "(&(objectClass=person)(sn={username}))" }),
    );
    assert_eq!(
        authenticate(&by_surname, "Twin", TWIN_ONE.password).await,
        Err(LdapError::Ambiguous)
    );
    // Every `{username}` is replaced: sign in by uid or by e-mail.
    let uid_or_mail = config(&server, json!({ "userFilter": "(|(uid={username})(mail={username}))" }));
    let alice = authenticate(&uid_or_mail, ALICE.email, ALICE.password)
        .await
        .expect("alice by e-mail");
    assert_eq!(alice.dn, server.user_dn("alice"));
    assert_eq!(alice.username, ALICE.email);
}

#[tokio::test]
async fn a_wrong_service_account_is_a_server_problem_not_invalid_credentials() {
    let Some(server) = LdapServer::start() else { return };
    for cfg in [
        config(&server, json!({ "bindPassword": "wrong-service-secret" })),
        config(&server, json!({ "bindDn": "cn=ghost,dc=keel,dc=test" })),
    ] {
        match authenticate(&cfg, ALICE.uid, ALICE.password).await {
            Err(LdapError::Unavailable(msg)) => {
                assert!(msg.contains("service account"), "{msg}");
                assert!(
                    !msg.contains("wrong-service-secret") && !msg.contains(ALICE.password),
                    "{msg}"
                );
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn group_search_maps_roles_on_a_server_without_member_of() {
    let Some(server) = LdapServer::start_with(ServerOptions {
        memberof: false,
        tls: false,
    }) else {
        return;
    };
    assert!(!server.memberof);
    let attribute_only = config(&server, json!({ "groupRoles": roles() }));
    let alice = authenticate(&attribute_only, ALICE.uid, ALICE.password)
        .await
        .expect("alice signs in");
    assert!(
        alice.groups.is_empty(),
        "no memberOf on this server: {:?}",
        alice.groups
    );

    let search = config(
        &server,
        json!({ "groupRoles": roles(), "groupSearch": { "groupBaseDn": server.groups_base_dn() } }),
    );
    let alice = authenticate(&search, ALICE.uid, ALICE.password)
        .await
        .expect("alice signs in");
    assert_eq!(alice.groups, [server.group_dn("admins")]);
    assert_eq!(alice.roles, ["admin", "editor"]);
    // The user's DN is escaped in the group filter: `uid=st*r,…` is not a wildcard.
    let star = authenticate(&search, STAR.uid, STAR.password)
        .await
        .expect("st*r signs in");
    assert_eq!(star.groups, [server.group_dn("stars")]);
    assert_eq!(star.roles, ["star"]);
    // groupBaseDn defaults to baseDn.
    let default_base = config(&server, json!({ "groupSearch": {} }));
    let bob = authenticate(&default_base, BOB.uid, BOB.password)
        .await
        .expect("bob signs in");
    assert_eq!(bob.groups, [server.group_dn("staff")]);
}

#[tokio::test]
async fn tls_connections_sign_in_and_an_untrusted_certificate_is_refused() {
    let tls = ServerOptions {
        tls: true,
        ..ServerOptions::default()
    };
    let Some(server) = LdapServer::start_with(tls) else {
        return;
    };
    let ldaps = server.ldaps_url.clone().expect("an ldaps:// listener");
    let start_tls = config(&server, json!({ "startTls": true, "insecureSkipVerify": true }));
    let alice = authenticate(&start_tls, ALICE.uid, ALICE.password)
        .await
        .expect("alice over StartTLS");
    assert_eq!(alice.email.as_deref(), Some(ALICE.email));
    let over_ldaps = config(&server, json!({ "url": ldaps, "insecureSkipVerify": true }));
    let bob = authenticate(&over_ldaps, BOB.uid, BOB.password)
        .await
        .expect("bob over LDAPS");
    assert_eq!(bob.dn, server.user_dn("bob"));
    assert_eq!(
        authenticate(&over_ldaps, BOB.uid, ALICE.password).await,
        Err(LdapError::InvalidCredentials)
    );
    // The server allows simple binds only over TLS, and its certificate is self-signed.
    for (cfg, why) in [
        (config(&server, json!({})), "confidentiality required"),
        (config(&server, json!({ "startTls": true })), "certificate"),
        (config(&server, json!({ "url": ldaps })), "certificate"),
    ] {
        match authenticate(&cfg, ALICE.uid, ALICE.password).await {
            Err(LdapError::Unavailable(msg)) => assert!(msg.contains(why), "{msg}"),
            other => panic!("expected Unavailable ({why}), got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_configured_ca_certificate_is_trusted_and_a_bad_one_is_named() {
    let tls = ServerOptions {
        tls: true,
        ..ServerOptions::default()
    };
    let Some(server) = LdapServer::start_with(tls) else {
        return;
    };
    let ldaps = server.ldaps_url.clone().expect("an ldaps:// listener");
    let pem = server.ca_cert_pem().expect("the server's certificate");
    // Verified against the configured certificate, not skipped.
    for cfg in [
        config(&server, json!({ "startTls": true, "caCert": pem })),
        config(&server, json!({ "url": ldaps, "caCert": pem })),
    ] {
        let alice = authenticate(&cfg, ALICE.uid, ALICE.password)
            .await
            .expect("alice over TLS with caCert");
        assert_eq!(alice.email.as_deref(), Some(ALICE.email));
    }
    for bad in [
        "not a certificate",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    ] {
        let cfg = config(&server, json!({ "url": ldaps, "caCert": bad }));
        match authenticate(&cfg, ALICE.uid, ALICE.password).await {
            Err(LdapError::Config(msg)) => assert!(msg.contains("caCert"), "{msg}"),
            other => panic!("expected a caCert configuration error, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_within_the_timeout() {
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    // A server that accepts the connection (the kernel does) but never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_port = silent.local_addr().expect("addr").port();
    for port in [closed_port, silent_port] {
        let cfg: LdapConfig = serde_json::from_value(json!({
            "url": format!("ldap://127.0.0.1:{port}"),
            "baseDn": "dc=keel,dc=test",
            "timeoutSecs": 1,
        }))
        .expect("config");
        let got = tokio::time::timeout(Duration::from_secs(10), authenticate(&cfg, "alice", "pw"))
            .await
            .expect("authenticate gives up by itself");
        assert!(matches!(got, Err(LdapError::Unavailable(_))), "port {port}: {got:?}");
    }
    drop(silent);
}

#[tokio::test]
async fn unusable_input_and_config_are_refused_before_connecting() {
    let cfg: LdapConfig = serde_json::from_value(json!({
        "url": "ldap://127.0.0.1:1", "baseDn": "dc=keel,dc=test", "timeoutSecs": 1,
    }))
    .expect("config");
    // Refused up front: these never reach the (closed) port, so never become Unavailable.
    for username in ["a".repeat(257), "al\0ice".to_string(), String::new()] {
        assert_eq!(
            authenticate(&cfg, &username, "pw").await,
            Err(LdapError::InvalidCredentials)
        );
    }
    assert_eq!(
        authenticate(&cfg, "alice", "").await,
        Err(LdapError::InvalidCredentials)
    );
    let broken = [
        json!({ "url": "http://127.0.0.1:1" }),
        json!({ "baseDn": "" }),
        json!({ "userFilter": "(uid=alice)" }),
        json!({ "bindDn": "cn=svc,dc=keel,dc=test" }),
        json!({ "startTls": true, "url": "ldaps://127.0.0.1:1" }),
        json!({ "groupSearch": { "groupFilter": "(objectClass=groupOfNames)" } }),
    ];
    for change in broken {
        let mut value = serde_json::to_value(&cfg).expect("to json");
        if let (Some(v), Some(c)) = (value.as_object_mut(), change.as_object()) {
            v.extend(c.clone());
        }
        let bad: LdapConfig = serde_json::from_value(value).expect("config");
        let got = authenticate(&bad, "alice", "pw").await;
        assert!(matches!(got, Err(LdapError::Config(_))), "{change}: {got:?}");
    }
}

#[test]
fn config_defaults_and_debug_hides_the_bind_password() {
    let cfg: LdapConfig = serde_json::from_value(json!({ "bindPassword": "s3cret-value" })).expect("config");
    assert_eq!(cfg.user_filter, "(&(objectClass=person)(uid={username}))");
    assert_eq!(
        (cfg.email_attribute.as_str(), cfg.name_attribute.as_str()),
        ("mail", "cn")
    );
    assert_eq!(cfg.group_attribute, "memberOf");
    assert_eq!(cfg.timeout_secs, 5);
    assert!(!cfg.start_tls && !cfg.insecure_skip_verify && cfg.group_search.is_none());
    let shown = format!("{cfg:?}");
    assert!(!shown.contains("s3cret-value"), "{shown}");
}
