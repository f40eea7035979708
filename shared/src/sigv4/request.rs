//! What a signature covers, the wire names SigV4 uses, and the query-string helpers.

use http::HeaderMap;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The payload hash of a signer that leaves the body out of the signature.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// The only service a credential for this endpoint may be scoped to.
pub const SERVICE: &str = "kms";
pub const TERMINATOR: &str = "aws4_request";
/// The longest a presigned request may stay valid: SigV4's limit of a week.
pub const MAX_PRESIGN_EXPIRES: u32 = 604_800;

/// Header names (lower case, as `http` stores them).
pub mod header {
    pub const AUTHORIZATION: &str = "authorization";
    pub const X_AMZ_DATE: &str = "x-amz-date";
    pub const X_AMZ_SECURITY_TOKEN: &str = "x-amz-security-token";
    pub const X_AMZ_CONTENT_SHA256: &str = "x-amz-content-sha256";
}

/// Query parameters of the presigned form.
pub mod param {
    pub const ALGORITHM: &str = "X-Amz-Algorithm";
    pub const CREDENTIAL: &str = "X-Amz-Credential";
    pub const DATE: &str = "X-Amz-Date";
    pub const EXPIRES: &str = "X-Amz-Expires";
    pub const SIGNED_HEADERS: &str = "X-Amz-SignedHeaders";
    pub const SIGNATURE: &str = "X-Amz-Signature";
    pub const SECURITY_TOKEN: &str = "X-Amz-Security-Token";
}

/// A credential the verifier knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret<'a> {
    pub secret_access_key: &'a str,
    /// When set, requests must carry this `X-Amz-Security-Token`.
    pub session_token: Option<&'a str>,
}

/// The parts of a request a signature covers.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// The path as the client sent it (still percent-encoded).
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// A request whose signature checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub access_key_id: String,
    pub region: String,
}

pub fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Percent-decodes a query component (`+` stays `+`: SigV4 clients encode spaces as %20).
pub fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// SigV4's URI encoding: everything but unreserved characters.
const SIGV4_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// The same, keeping the path's slashes.
const SIGV4_ENCODE_PATH: &AsciiSet = &SIGV4_ENCODE.remove(b'/');

pub fn encode(s: &str, keep_slash: bool) -> String {
    let set = if keep_slash {
        SIGV4_ENCODE_PATH
    } else {
        SIGV4_ENCODE
    };
    utf8_percent_encode(s, set).to_string()
}

/// The decoded value of a query-string parameter (the first, if it repeats).
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query_pairs(query)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// Every `name=value` pair of a query string, decoded, in order.
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect()
}
