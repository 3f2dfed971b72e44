//! AWS Signature Version 4 for one request with a body (what SES needs), after
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html>, checked
//! against the `get-vanilla` and `post-vanilla` cases of AWS's published SigV4 test suite.
//!
//! Small on purpose: no query string (SES's send call has none), header values trimmed, the
//! path used as the URL parser normalised it. `aws-sigv4` would pull the smithy runtime in.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The keys that sign.
pub struct Credentials<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
}

/// What is signed: the method, the path, the host (with `:port` when not the default), the
/// headers to sign besides `host` and `x-amz-date`, and the body.
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub host: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

/// The headers to send: `x-amz-date` and `authorization`.
pub struct Signed {
    pub amz_date: String,
    pub authorization: String,
}

pub fn sign(creds: &Credentials<'_>, region: &str, service: &str, req: &Request<'_>, at: DateTime<Utc>) -> Signed {
    let amz_date = at.format("%Y%m%dT%H%M%SZ").to_string();
    let date = at.format("%Y%m%d").to_string();
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    headers.push(("host".into(), req.host.to_string()));
    headers.push(("x-amz-date".into(), amz_date.clone()));
    headers.sort();
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed_headers = headers.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(";");
    let path = if req.path.is_empty() { "/" } else { req.path };
    let canonical = format!(
        "{}\n{}\n\n{}\n{}\n{}",
        req.method,
        path,
        canonical_headers,
        signed_headers,
        hex(&Sha256::digest(req.body))
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let k_date = hmac(format!("AWS4{}", creds.secret_access_key).as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    let k_signing = hmac(&k_service, b"aws4_request");
    let signature = hex(&hmac(&k_signing, to_sign.as_bytes()));
    Signed {
        amz_date,
        authorization: format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            creds.access_key_id
        ),
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return Vec::new(),
    };
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const CREDS: Credentials<'static> = Credentials {
        access_key_id: "AKIDEXAMPLE",
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    };

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2015, 8, 30, 12, 36, 0).unwrap()
    }

    // AWS SigV4 test suite, `get-vanilla`: GET / with Host and X-Amz-Date only.
    #[test]
    fn the_aws_get_vanilla_vector() {
        let req = Request {
            method: "GET",
            path: "/",
            host: "example.amazonaws.com",
            headers: &[],
            body: b"",
        };
        let s = sign(&CREDS, "us-east-1", "service", &req, at());
        assert_eq!(s.amz_date, "20150830T123600Z");
        assert_eq!(
            s.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    // AWS SigV4 test suite, `post-vanilla`: POST / with Host and X-Amz-Date only.
    #[test]
    fn the_aws_post_vanilla_vector() {
        let req = Request {
            method: "POST",
            path: "/",
            host: "example.amazonaws.com",
            headers: &[],
            body: b"",
        };
        let s = sign(&CREDS, "us-east-1", "service", &req, at());
        assert!(
            s.authorization
                .ends_with("Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
            "{}",
            s.authorization
        );
    }
}
