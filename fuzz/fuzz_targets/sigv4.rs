//! Any Authorization header, date, query string and body: the one SigV4 parser and the
//! verifier answer an error or a result, never panic; and what the parser reads is what the
//! verifier verified (same access key, same Region), so no two readers can disagree.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::sigv4::{Secret, SignedRequest, authenticate, parse};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(4, '\n');
    let auth = parts.next().unwrap_or("");
    let date = parts.next().unwrap_or("");
    let query = parts.next();
    let body = parts.next().unwrap_or("").as_bytes();
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_str(auth) {
        headers.insert("authorization", v);
    }
    if let Ok(v) = http::HeaderValue::from_str(date) {
        headers.insert("x-amz-date", v);
    }
    headers.insert("host", http::HeaderValue::from_static("localhost"));
    let parsed = parse(&headers, query);
    let req = SignedRequest { method: "POST", path: "/", query, headers: &headers, body };
    let verified = authenticate(&req, 1_795_503_231, |_| {
        Some(Secret { secret_access_key: "test", session_token: None })
    });
    if let Ok(v) = verified {
        let a = parsed.expect("verified, so parsed").expect("verified, so signed");
        assert_eq!((v.access_key_id, v.region), (a.scope.access_key_id, a.scope.region));
    }
});
