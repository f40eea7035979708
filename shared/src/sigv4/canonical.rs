//! The canonical request: what both sides hash and sign.

use aws_lc_rs::digest;

use super::parse::Form;
use super::request::{SignedRequest, encode, param, query_pairs};

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, data))
}

/// A header value as SigV4 canonicalizes it: trimmed, inner runs of whitespace made one space.
pub fn push_trimmed(out: &mut String, value: &str) {
    for (i, word) in value.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
}

/// The canonical request over `signed_headers` (lower case, sorted as the signer sent them).
/// A presigned request's own `X-Amz-Signature` is not part of what it signs.
pub fn canonical_request(
    req: &SignedRequest,
    signed_headers: &[String],
    form: Form,
    payload_hash: &str,
) -> String {
    let path = if req.path.is_empty() { "/" } else { req.path };
    let presigned = matches!(form, Form::Presigned { .. });
    let mut query: Vec<(String, String)> = query_pairs(req.query)
        .into_iter()
        .filter(|(k, _)| !(presigned && k == param::SIGNATURE))
        .map(|(k, v)| (encode(&k, false), encode(&v, false)))
        .collect();
    query.sort();
    let query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut headers = String::new();
    for name in signed_headers {
        headers.push_str(name);
        headers.push(':');
        for (i, v) in req.headers.get_all(name.as_str()).iter().enumerate() {
            if i > 0 {
                headers.push(',');
            }
            push_trimmed(&mut headers, &String::from_utf8_lossy(v.as_bytes()));
        }
        headers.push('\n');
    }
    format!(
        "{}\n{}\n{query}\n{headers}\n{}\n{payload_hash}",
        req.method,
        encode(path, true),
        signed_headers.join(";")
    )
}
