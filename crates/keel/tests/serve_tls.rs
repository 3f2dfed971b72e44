//! `keel serve --https`: TLS with the operator's certificate, HTTP/2 by ALPN (HTTP/1.1 for
//! clients that ask for it), the errors of a missing or wrong key; and `keel completion`.

mod common;

use std::process::Stdio;

use common::{keel_command, KeelProcess};

fn certificate() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let openssl = keel_testkit::tls::find_program("openssl").expect("openssl is needed for the TLS tests");
    keel_testkit::tls::self_signed_certificate(&openssl, dir.path()).unwrap();
    dir
}

fn client(cert: &std::path::Path, http1: bool) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(cert).unwrap()).unwrap();
    let b = reqwest::Client::builder().add_root_certificate(ca);
    let b = if http1 { b.http1_only() } else { b };
    b.build().unwrap()
}

#[tokio::test]
async fn https_serves_http2_and_http1_with_the_given_certificate() {
    let certs = certificate();
    let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    let data = tempfile::tempdir().unwrap();
    let keel = KeelProcess::serve_args(
        data,
        &[
            "--https",
            "127.0.0.1:0",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
        &[],
    );
    assert!(keel.url().starts_with("https://127.0.0.1:"), "{}", keel.url());

    let r = client(&cert, false)
        .get(format!("{}/api/health", keel.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.version(), reqwest::Version::HTTP_2, "ALPN picks HTTP/2");

    let r = client(&cert, true)
        .get(format!("{}/api/collections", keel.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_11);
    assert_eq!(r.status(), 401, "the API answers over HTTP/1.1 too");

    // Plain HTTP on the TLS port gets no answer from the API.
    let plain = keel.url().replace("https://", "http://");
    let r = reqwest::Client::new().get(format!("{plain}/api/health")).send().await;
    assert!(r.is_err() || r.unwrap().status() != 200);
}

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = keel_command(dir.path())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn https_without_a_key_or_with_a_bad_one_is_refused_naming_the_flag() {
    let (code, _, err) = run(&["serve", "--https", "127.0.0.1:0"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--https needs --tls-cert FILE and --tls-key FILE"),
        "{err}"
    );

    let certs = certificate();
    let cert = certs.path().join("cert.pem");
    let (code, _, err) = run(&[
        "serve",
        "--https",
        "127.0.0.1:0",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        cert.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--tls-key"), "{err}");

    let (code, _, err) = run(&["serve", "--tls-cert", cert.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("add --https ADDR"), "{err}");
}

#[test]
fn completion_prints_a_script_for_each_shell() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef keel"),
        ("fish", "complete -c keel"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let (code, out, err) = run(&["completion", shell]);
        assert_eq!(code, Some(0), "{shell}: {err}");
        assert!(out.contains(marker), "{shell}: {out}");
        assert!(
            out.contains("serve") && out.contains("superuser"),
            "{shell} completes subcommands"
        );
    }
    let (code, _, err) = run(&["completion", "tcsh"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("possible values"), "{err}");
}
