//! Any Authorization header, date, query string and body: the verifier answers an error or a
//! verified identity, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::sigv4::{CredentialScope, Secret, SignedRequest, verify};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(4, '\n');
    let auth = parts.next().unwrap_or("");
    let date = parts.next().unwrap_or("");
    let query = parts.next();
    let body = parts.next().unwrap_or("").as_bytes();
    let _ = CredentialScope::from_authorization(auth);
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_str(auth) {
        headers.insert("authorization", v);
    }
    if let Ok(v) = http::HeaderValue::from_str(date) {
        headers.insert("x-amz-date", v);
    }
    headers.insert("host", http::HeaderValue::from_static("localhost"));
    let req = SignedRequest { method: "POST", path: "/", query, headers: &headers, body };
    let _ = verify(&req, 1_795_503_231, |_| {
        Some(Secret { secret_access_key: "test", session_token: None })
    });
});
