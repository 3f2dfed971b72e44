//! The SES stand-in's side of AWS Signature Version 4: parses `Authorization`, rebuilds the
//! canonical request from the request as received (the headers `SignedHeaders` lists, the
//! body's hash) and recomputes the signature from the same keys, as AWS does. Written apart
//! from keel-notify's signer so that one checks the other; checked against AWS's published
//! `get-vanilla` test vector.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::notify_standins::Recorded;

/// Checks `r`'s SigV4 signature for `akid`/`secret` in `region`/`service`; the reason when wrong.
pub fn verify(r: &Recorded, akid: &str, secret: &str, region: &str, service: &str) -> Result<(), String> {
    let auth = r.header("authorization").ok_or("no Authorization header")?;
    let rest = auth
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or("Authorization is not AWS4-HMAC-SHA256")?;
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=').ok_or("malformed Authorization")?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed_headers = Some(v),
            "Signature" => signature = Some(v),
            _ => return Err(format!("unknown Authorization part {k}")),
        }
    }
    let (credential, signed_headers, signature) = match (credential, signed_headers, signature) {
        (Some(c), Some(h), Some(s)) => (c, h, s),
        _ => return Err("Authorization lacks Credential, SignedHeaders or Signature".into()),
    };
    let scope_parts: Vec<&str> = credential.split('/').collect();
    if scope_parts.len() != 5 || scope_parts[4] != "aws4_request" {
        return Err("malformed Credential".into());
    }
    if scope_parts[0] != akid {
        return Err("The security token included in the request is invalid (unknown access key)".into());
    }
    if scope_parts[2] != region || scope_parts[3] != service {
        return Err(format!("Credential should be scoped to {region}/{service}"));
    }
    let amz_date = r.header("x-amz-date").ok_or("no X-Amz-Date header")?;
    if !amz_date.starts_with(scope_parts[1]) || amz_date.len() != 16 {
        return Err("X-Amz-Date does not match the Credential's date".into());
    }
    let names: Vec<&str> = signed_headers.split(';').collect();
    if !names.contains(&"host") || !names.contains(&"x-amz-date") {
        return Err("SignedHeaders must include host and x-amz-date".into());
    }
    let mut canonical_headers = String::new();
    for name in &names {
        let value = r
            .header(name)
            .ok_or_else(|| format!("signed header {name} is missing"))?;
        canonical_headers.push_str(&format!("{name}:{}\n", value.trim()));
    }
    let canonical = [
        r.method.as_str(),
        r.path.as_str(),
        r.query.as_deref().unwrap_or(""),
        &canonical_headers,
        signed_headers,
        &hex(&Sha256::digest(&r.body)),
    ]
    .join("\n");
    let scope = scope_parts[1..].join("/");
    let expected = signature_of(secret, scope_parts[1], region, service, amz_date, &scope, &canonical);
    if expected != signature {
        return Err("The request signature we calculated does not match the signature you provided.".into());
    }
    Ok(())
}

fn signature_of(
    secret: &str,
    date: &str,
    region: &str,
    service: &str,
    amz_date: &str,
    scope: &str,
    canonical: &str,
) -> String {
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let mut key = mac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    for part in [region, service, "aws4_request"] {
        key = mac(&key, part.as_bytes());
    }
    hex(&mac(&key, string_to_sign.as_bytes()))
}

fn mac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_aws_get_vanilla_vector_and_refuses_a_changed_one() {
        let mut r = Recorded {
            method: "GET".into(),
            path: "/".into(),
            query: None,
            headers: vec![
                ("host".into(), "example.amazonaws.com".into()),
                ("x-amz-date".into(), "20150830T123600Z".into()),
                (
                    "authorization".into(),
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                     SignedHeaders=host;x-amz-date, \
                     Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
                        .into(),
                ),
            ],
            body: Vec::new(),
        };
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        verify(&r, "AKIDEXAMPLE", secret, "us-east-1", "service").unwrap();
        assert!(verify(&r, "AKIDEXAMPLE", "other", "us-east-1", "service").is_err());
        r.body = b"x".to_vec();
        assert!(verify(&r, "AKIDEXAMPLE", secret, "us-east-1", "service").is_err());
    }
}
