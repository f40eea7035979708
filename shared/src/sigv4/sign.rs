//! The Authorization header an SDK would send, for tests and benches that need a request the
//! verifier accepts without a Python or CLI client.

use super::canonical::{canonical_request, sha256_hex};
use super::key::signature;
use super::parse::{CredentialScope, Form};
use super::request::{ALGORITHM, SERVICE, SignedRequest, header, header_str};

/// Signs over all of the request's headers (which must include `host` and `x-amz-date`).
pub fn sign(req: &SignedRequest, access_key_id: &str, secret: &str, region: &str) -> String {
    let mut names: Vec<String> = req.headers.keys().map(|k| k.as_str().to_string()).collect();
    names.sort();
    names.dedup();
    let amz_date = header_str(req.headers, header::X_AMZ_DATE).unwrap_or_default();
    let date = &amz_date[..8.min(amz_date.len())];
    let canonical = canonical_request(req, &names, Form::Header, &sha256_hex(req.body));
    let scope = CredentialScope {
        access_key_id: access_key_id.to_string(),
        date: date.to_string(),
        region: region.to_string(),
        service: SERVICE.to_string(),
    };
    format!(
        "{ALGORITHM} Credential={access_key_id}/{date}/{region}/{SERVICE}/aws4_request, SignedHeaders={}, Signature={}",
        names.join(";"),
        signature(secret, &scope, amz_date, &canonical)
    )
}
