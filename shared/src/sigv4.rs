//! AWS Signature Version 4: the credential scope of a request (which names the region the
//! client talks to, `Credential=<key>/<date>/<region>/kms/aws4_request`), and verification of
//! a request's signature, in the Authorization header or presigned in the query string, with
//! AWS's errors for each way a request can fail it.

use aws_lc_rs::{constant_time, digest, hmac};
use http::HeaderMap;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::error::{ErrorCode, KmsError};

/// The parts of a SigV4 credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialScope<'a> {
    pub access_key_id: &'a str,
    pub date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
}

impl<'a> CredentialScope<'a> {
    /// Parses `<key>/<yyyymmdd>/<region>/<service>/aws4_request`.
    pub fn parse(credential: &'a str) -> Option<Self> {
        let mut it = credential.rsplitn(5, '/');
        let (terminator, service, region, date, key) =
            (it.next()?, it.next()?, it.next()?, it.next()?, it.next()?);
        (terminator == "aws4_request" && !key.is_empty() && !region.is_empty()).then_some(Self {
            access_key_id: key,
            date,
            region,
            service,
        })
    }

    /// The credential of an `Authorization: AWS4-HMAC-SHA256 Credential=..., ...` header.
    pub fn from_authorization(header: &'a str) -> Option<Self> {
        let params = header.strip_prefix("AWS4-HMAC-SHA256")?.trim_start();
        params
            .split(',')
            .map(str::trim)
            .find_map(|p| p.strip_prefix("Credential="))
            .and_then(Self::parse)
    }
}

/// What `read` gives back of a request's credential, unverified: from its Authorization header
/// or, failing that, its presigned query (`X-Amz-Credential`).
pub fn with_credential<T>(
    headers: &HeaderMap,
    query: Option<&str>,
    read: impl Fn(&CredentialScope) -> T,
) -> Option<T> {
    header(headers, "authorization")
        .and_then(CredentialScope::from_authorization)
        .map(|c| read(&c))
        .or_else(|| {
            let presigned = query_param(query, "X-Amz-Credential")?;
            CredentialScope::parse(&presigned).map(|c| read(&c))
        })
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

/// How far a request's time may be from the verifier's clock.
pub const MAX_SKEW_SECONDS: i64 = 300;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The payload hash of a signer that leaves the body out of the signature.
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

fn invalid_signature() -> KmsError {
    KmsError::new(
        ErrorCode::InvalidSignature,
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
    )
}

pub fn unrecognized_client() -> KmsError {
    KmsError::new(
        ErrorCode::UnrecognizedClient,
        "The security token included in the request is invalid.",
    )
}

fn incomplete(message: String) -> KmsError {
    KmsError::new(ErrorCode::IncompleteSignature, message)
}

/// The signature fields of a request, from either form.
struct Signature<'a> {
    credential: String,
    signed_headers: Vec<String>,
    signature: String,
    amz_date: String,
    /// `X-Amz-Expires` of a presigned request; `None` for the Authorization header form.
    expires: Option<i64>,
    security_token: Option<std::borrow::Cow<'a, str>>,
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Percent-decodes a query component (`+` stays `+`: SigV4 clients encode spaces as %20).
fn decode(s: &str) -> String {
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

fn encode(s: &str, keep_slash: bool) -> String {
    let set = if keep_slash {
        SIGV4_ENCODE_PATH
    } else {
        SIGV4_ENCODE
    };
    utf8_percent_encode(s, set).to_string()
}

/// The decoded value of a query-string parameter.
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query_pairs(query)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
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

impl<'a> Signature<'a> {
    fn read(req: &'a SignedRequest) -> Result<Signature<'a>, KmsError> {
        if let Some(auth) = header(req.headers, "authorization") {
            return Self::from_header(auth, req.headers);
        }
        let query = query_pairs(req.query);
        let q = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        if q("X-Amz-Signature").is_none() && q("X-Amz-Algorithm").is_none() {
            return Err(KmsError::new(
                ErrorCode::MissingAuthenticationToken,
                "Missing Authentication Token",
            ));
        }
        let required = |name: &str| {
            q(name).ok_or_else(|| {
                incomplete(format!(
                    "AWS query-string parameters must include '{name}'. Re-examine the query-string parameters."
                ))
            })
        };
        if required("X-Amz-Algorithm")? != ALGORITHM {
            return Err(incomplete(
                "X-Amz-Algorithm only supports 'AWS4-HMAC-SHA256'".into(),
            ));
        }
        let amz_date = required("X-Amz-Date")?;
        let expires = required("X-Amz-Expires")?
            .parse::<u32>()
            .map_err(|_| incomplete("X-Amz-Expires must be a whole number of seconds.".into()))?;
        let sig = Signature {
            credential: required("X-Amz-Credential")?,
            signed_headers: required("X-Amz-SignedHeaders")?
                .split(';')
                .map(str::to_string)
                .collect(),
            signature: required("X-Amz-Signature")?,
            amz_date,
            expires: Some(expires.into()),
            security_token: q("X-Amz-Security-Token").map(Into::into),
        };
        Ok(sig)
    }

    fn from_header(auth: &'a str, headers: &'a HeaderMap) -> Result<Signature<'a>, KmsError> {
        // Another scheme has none of the parameters, and is refused for missing them.
        let params = auth.strip_prefix(ALGORITHM).unwrap_or("");
        let mut credential = None;
        let mut signed = None;
        let mut signature = None;
        for part in params.split(',').map(str::trim) {
            if let Some(v) = part.strip_prefix("Credential=") {
                credential = Some(v.to_string());
            } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
                signed = Some(v.split(';').map(str::to_string).collect::<Vec<_>>());
            } else if let Some(v) = part.strip_prefix("Signature=") {
                signature = Some(v.to_string());
            }
        }
        let mut missing = Vec::new();
        for (name, present) in [
            ("Credential", credential.is_some()),
            ("Signature", signature.is_some()),
            ("SignedHeaders", signed.is_some()),
        ] {
            if !present {
                missing.push(format!("Authorization header requires '{name}' parameter."));
            }
        }
        let amz_date = header(headers, "x-amz-date");
        if amz_date.is_none() {
            missing.push(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
                    .into(),
            );
        }
        if !missing.is_empty() {
            return Err(incomplete(format!(
                "{} Authorization={auth}",
                missing.join(" ")
            )));
        }
        Ok(Signature {
            credential: credential.expect("checked"),
            signed_headers: signed.expect("checked"),
            signature: signature.expect("checked"),
            amz_date: amz_date.expect("checked").to_string(),
            expires: None,
            security_token: header(headers, "x-amz-security-token").map(Into::into),
        })
    }
}

/// `X-Amz-Date`'s ISO 8601 basic form, `20261124T100000Z`.
const AMZ_DATE: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");

fn parse_amz_date(s: &str) -> Option<i64> {
    time::PrimitiveDateTime::parse(s, AMZ_DATE)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

/// `epoch` (seconds) in `X-Amz-Date` form.
pub fn format_amz_date(epoch: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(epoch)
        .ok()
        .and_then(|t| t.format(AMZ_DATE).ok())
        .unwrap_or_default()
}

/// Verifies a request's SigV4 signature at `now` (epoch seconds), for service `kms`.
/// `lookup` finds the secret of an access key id.
pub fn verify<'s>(
    req: &SignedRequest,
    now: i64,
    lookup: impl Fn(&str) -> Option<Secret<'s>>,
) -> Result<Verified, KmsError> {
    let sig = Signature::read(req)?;
    let scope = CredentialScope::parse(&sig.credential).ok_or_else(|| {
        incomplete(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{}'",
            sig.credential
        ))
    })?;
    let secret = lookup(scope.access_key_id).ok_or_else(unrecognized_client)?;
    if secret.session_token != sig.security_token.as_deref() {
        return Err(unrecognized_client());
    }
    if scope.service != "kms" {
        return Err(KmsError::new(
            ErrorCode::InvalidSignature,
            "Credential should be scoped to correct service: 'kms'. ",
        ));
    }
    let signed_at = parse_amz_date(&sig.amz_date).ok_or_else(invalid_signature)?;
    if !sig.amz_date.starts_with(scope.date) {
        return Err(KmsError::new(
            ErrorCode::InvalidSignature,
            format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{}'.",
                scope.date,
                &sig.amz_date[..8.min(sig.amz_date.len())],
                sig.amz_date
            ),
        ));
    }
    if let Some(expires) = sig.expires {
        if now > signed_at + expires || signed_at > now + MAX_SKEW_SECONDS {
            return Err(KmsError::new(
                ErrorCode::AccessDenied,
                "Request has expired",
            ));
        }
    } else {
        if signed_at < now - MAX_SKEW_SECONDS {
            return Err(KmsError::new(
                ErrorCode::InvalidSignature,
                format!(
                    "Signature expired: {} is now earlier than {} ({} - 5 min.)",
                    sig.amz_date,
                    format_amz_date(now - MAX_SKEW_SECONDS),
                    format_amz_date(now)
                ),
            ));
        }
        if signed_at > now + MAX_SKEW_SECONDS {
            return Err(KmsError::new(
                ErrorCode::InvalidSignature,
                format!(
                    "Signature not yet current: {} is still later than {} ({} + 5 min.)",
                    sig.amz_date,
                    format_amz_date(now + MAX_SKEW_SECONDS),
                    format_amz_date(now)
                ),
            ));
        }
    }
    if !sig.signed_headers.iter().any(|h| h == "host") {
        return Err(invalid_signature());
    }

    // The hash of the body as received, never a hash the request claims: an unsigned
    // `x-amz-content-sha256` naming the signed body's hash would otherwise let another body
    // through under the same signature. A signer may leave the payload out on purpose.
    let unsigned = sig.expires.is_some()
        || header(req.headers, "x-amz-content-sha256") == Some(UNSIGNED_PAYLOAD);
    let payload_hashes = [
        Some(sha256_hex(req.body)),
        unsigned.then(|| UNSIGNED_PAYLOAD.to_string()),
    ];
    let given = sig.signature.to_ascii_lowercase();
    for payload_hash in payload_hashes.into_iter().flatten() {
        let canonical = canonical_request(req, &sig, &payload_hash);
        let expected = signature(secret.secret_access_key, &scope, &sig.amz_date, &canonical);
        if constant_time::verify_slices_are_equal(expected.as_bytes(), given.as_bytes()).is_ok() {
            return Ok(Verified {
                access_key_id: scope.access_key_id.to_string(),
                region: scope.region.to_string(),
            });
        }
    }
    Err(invalid_signature())
}

/// The hex signature of a canonical request: the string to sign, under the key derived from
/// the secret and the credential scope.
fn signature(secret: &str, scope: &CredentialScope, amz_date: &str, canonical: &str) -> String {
    let to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{}/{}/{}/aws4_request\n{}",
        scope.date,
        scope.region,
        scope.service,
        sha256_hex(canonical.as_bytes())
    );
    let tag = SIGNING_KEY.with_borrow_mut(|cached| {
        let fresh = cached.as_ref().is_none_or(|c| {
            (
                c.secret.as_str(),
                c.date.as_str(),
                c.region.as_str(),
                c.service.as_str(),
            ) != (secret, scope.date, scope.region, scope.service)
        });
        if fresh {
            *cached = Some(SigningKey::derive(secret, scope));
        }
        let key = &cached.as_ref().expect("derived").key;
        hmac::sign(key, to_sign.as_bytes())
    });
    hex::encode(tag)
}

/// A key derived from a secret and a credential scope, which stays the same all day: SDKs
/// sign many requests with one credential, and deriving it takes four HMACs.
struct SigningKey {
    secret: String,
    date: String,
    region: String,
    service: String,
    key: hmac::Key,
}

impl SigningKey {
    fn derive(secret: &str, scope: &CredentialScope) -> Self {
        let mac = |key: &[u8], data: &str| {
            hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
        };
        let k = mac(format!("AWS4{secret}").as_bytes(), scope.date);
        let k = mac(k.as_ref(), scope.region);
        let k = mac(k.as_ref(), scope.service);
        let k = mac(k.as_ref(), "aws4_request");
        Self {
            secret: secret.to_string(),
            date: scope.date.to_string(),
            region: scope.region.to_string(),
            service: scope.service.to_string(),
            key: hmac::Key::new(hmac::HMAC_SHA256, k.as_ref()),
        }
    }
}

thread_local! {
    /// The last signing key this thread derived.
    static SIGNING_KEY: std::cell::RefCell<Option<SigningKey>> = const { std::cell::RefCell::new(None) };
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, data))
}

/// A header value as SigV4 canonicalizes it: trimmed, inner runs of whitespace made one space.
fn push_trimmed(out: &mut String, value: &str) {
    for (i, word) in value.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
}

fn canonical_request(req: &SignedRequest, sig: &Signature, payload_hash: &str) -> String {
    let path = if req.path.is_empty() { "/" } else { req.path };
    let mut query: Vec<(String, String)> = query_pairs(req.query)
        .into_iter()
        .filter(|(k, _)| !(sig.expires.is_some() && k == "X-Amz-Signature"))
        .map(|(k, v)| (encode(&k, false), encode(&v, false)))
        .collect();
    query.sort();
    let query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut headers = String::new();
    for name in &sig.signed_headers {
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
        sig.signed_headers.join(";")
    )
}

/// The Authorization header an SDK would send for a request: signed over all its headers
/// (which must include `host` and `x-amz-date`). For tests and benches that need a request
/// the verifier accepts without a Python or CLI client.
pub fn sign(req: &SignedRequest, access_key_id: &str, secret: &str, region: &str) -> String {
    let mut names: Vec<String> = req.headers.keys().map(|k| k.as_str().to_string()).collect();
    names.sort();
    names.dedup();
    let amz_date = header(req.headers, "x-amz-date")
        .unwrap_or_default()
        .to_string();
    let date = amz_date[..8.min(amz_date.len())].to_string();
    let sig = Signature {
        credential: String::new(),
        signed_headers: names.clone(),
        signature: String::new(),
        amz_date: amz_date.clone(),
        expires: None,
        security_token: None,
    };
    let canonical = canonical_request(req, &sig, &sha256_hex(req.body));
    let scope = CredentialScope {
        access_key_id,
        date: &date,
        region,
        service: "kms",
    };
    format!(
        "{ALGORITHM} Credential={access_key_id}/{date}/{region}/kms/aws4_request, SignedHeaders={}, Signature={}",
        names.join(";"),
        signature(secret, &scope, &amz_date, &canonical)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    // Signed by botocore 1.43 (SigV4Auth, kms, us-east-1) at 2026-11-24T06:53:51Z.
    const BOTOCORE_SIGNATURE: &str =
        "0ced9aee5e9186be05c3b7b930e80d1aeaf2f099e25f535ed0778b51d00c6cb3";
    const BODY: &[u8] = br#"{"KeyId":"alias/x"}"#;
    const SIGNED_AT: i64 = 1_795_503_231;
    const BOTOCORE_SIGNED_HEADERS: &str = "content-type;host;x-amz-date;x-amz-target";

    fn headers(signature: &str, date: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            "content-type",
            "application/x-amz-json-1.1".parse().unwrap(),
        );
        h.insert("x-amz-target", "TrentService.DescribeKey".parse().unwrap());
        h.insert("host", "127.0.0.1:4599".parse().unwrap());
        h.insert("x-amz-date", date.parse().unwrap());
        h.insert("content-length", "19".parse().unwrap());
        h.insert(
            "authorization",
            authorization(
                "AKIDEXAMPLE/20261124/us-east-1/kms/aws4_request",
                BOTOCORE_SIGNED_HEADERS,
                signature,
            ),
        );
        h
    }

    /// An Authorization header of the SigV4 form.
    fn authorization(credential: &str, signed_headers: &str, signature: &str) -> HeaderValue {
        format!("{ALGORITHM} Credential={credential}, SignedHeaders={signed_headers}, Signature={signature}")
            .parse()
            .unwrap()
    }

    /// A POST to `/` with these headers and body, no query.
    fn post<'a>(headers: &'a HeaderMap, body: &'a [u8]) -> SignedRequest<'a> {
        SignedRequest {
            method: "POST",
            path: "/",
            query: None,
            headers,
            body,
        }
    }

    fn check(h: &HeaderMap, body: &[u8], now: i64) -> Result<Verified, KmsError> {
        let req = post(h, body);
        verify(&req, now, |k| {
            (k == "AKIDEXAMPLE").then_some(Secret {
                secret_access_key: SECRET,
                session_token: None,
            })
        })
    }

    #[test]
    fn accepts_what_botocore_signed() {
        let h = headers(BOTOCORE_SIGNATURE, "20261124T065351Z");
        assert_eq!(
            check(&h, BODY, SIGNED_AT + 200).unwrap(),
            Verified {
                access_key_id: "AKIDEXAMPLE".into(),
                region: "us-east-1".into()
            }
        );
        assert_eq!(
            check(&h, BODY, SIGNED_AT + 200).unwrap(),
            check(&h, BODY, SIGNED_AT + 200).unwrap()
        );
        assert_eq!(parse_amz_date("20261124T065351Z"), Some(SIGNED_AT));
    }

    #[test]
    fn refuses_changes() {
        let good = headers(BOTOCORE_SIGNATURE, "20261124T065351Z");
        let code = |r: Result<Verified, KmsError>| r.unwrap_err().code;
        // A changed body byte, header, or signature.
        assert_eq!(
            code(check(&good, br#"{"KeyId":"alias/y"}"#, SIGNED_AT)),
            ErrorCode::InvalidSignature
        );
        let mut h = good.clone();
        h.insert("x-amz-target", "TrentService.DeleteKey".parse().unwrap());
        assert_eq!(
            code(check(&h, BODY, SIGNED_AT)),
            ErrorCode::InvalidSignature
        );
        let mut flipped = BOTOCORE_SIGNATURE.to_string();
        flipped.replace_range(0..1, "1");
        let e = check(&headers(&flipped, "20261124T065351Z"), BODY, SIGNED_AT).unwrap_err();
        assert_eq!(e, invalid_signature());
        // A changed body with an unsigned x-amz-content-sha256 naming the signed body's hash.
        let mut h = good.clone();
        h.insert("x-amz-content-sha256", sha256_hex(BODY).parse().unwrap());
        assert!(check(&h, BODY, SIGNED_AT).is_ok());
        assert_eq!(
            check(&h, br#"{"KeyId":"alias/y"}"#, SIGNED_AT).unwrap_err(),
            invalid_signature()
        );
        // Nor can an unsigned header declare the payload unsigned.
        h.insert("x-amz-content-sha256", UNSIGNED_PAYLOAD.parse().unwrap());
        assert_eq!(
            check(&h, br#"{"KeyId":"alias/y"}"#, SIGNED_AT).unwrap_err(),
            invalid_signature()
        );
        // An unsigned header may change.
        let mut h = good.clone();
        h.insert("user-agent", "x".parse().unwrap());
        assert!(check(&h, BODY, SIGNED_AT).is_ok());
        // Unknown key.
        let mut h = good.clone();
        h.insert(
            "authorization",
            authorization(
                "AKIDOTHER/20261124/us-east-1/kms/aws4_request",
                "host;x-amz-date",
                BOTOCORE_SIGNATURE,
            ),
        );
        assert_eq!(
            check(&h, BODY, SIGNED_AT).unwrap_err(),
            unrecognized_client()
        );
    }

    #[test]
    fn clock_skew() {
        let h = headers(BOTOCORE_SIGNATURE, "20261124T065351Z");
        assert!(check(&h, BODY, SIGNED_AT + 300).is_ok());
        let e = check(&h, BODY, SIGNED_AT + 301).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidSignature);
        assert_eq!(
            e.message(),
            Some(
                "Signature expired: 20261124T065351Z is now earlier than 20261124T065352Z (20261124T065852Z - 5 min.)"
            )
        );
        let e = check(&h, BODY, SIGNED_AT - 301).unwrap_err();
        assert_eq!(
            e.message(),
            Some(
                "Signature not yet current: 20261124T065351Z is still later than 20261124T065350Z (20261124T064850Z + 5 min.)"
            )
        );
    }

    #[test]
    fn missing_and_incomplete() {
        let e = check(&HeaderMap::new(), BODY, SIGNED_AT).unwrap_err();
        assert_eq!(e.code, ErrorCode::MissingAuthenticationToken);
        assert_eq!(e.message(), Some("Missing Authentication Token"));
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261124/us-east-1/kms/aws4_request"
                .parse()
                .unwrap(),
        );
        let e = check(&h, BODY, SIGNED_AT).unwrap_err();
        assert_eq!(e.code, ErrorCode::IncompleteSignature);
        assert!(e.message().unwrap().starts_with("Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter."), "{e:?}");
    }

    #[test]
    fn session_tokens_and_own_signatures() {
        let mut h = HeaderMap::new();
        h.insert("host", "localhost".parse().unwrap());
        h.insert("x-amz-date", "20261124T065351Z".parse().unwrap());
        h.insert("x-amz-security-token", "tok".parse().unwrap());
        let req = post(&h, BODY);
        let auth = sign(&req, "ASIA1", "s", "eu-west-1");
        h.insert("authorization", auth.parse().unwrap());
        let req = post(&h, BODY);
        let with = |token| {
            move |k: &str| {
                (k == "ASIA1").then_some(Secret {
                    secret_access_key: "s",
                    session_token: token,
                })
            }
        };
        assert_eq!(
            verify(&req, SIGNED_AT, with(Some("tok"))).unwrap().region,
            "eu-west-1"
        );
        assert_eq!(
            verify(&req, SIGNED_AT, with(Some("other"))).unwrap_err(),
            unrecognized_client()
        );
        assert_eq!(
            verify(&req, SIGNED_AT, with(None)).unwrap_err(),
            unrecognized_client()
        );
    }

    #[test]
    fn presigned_errors() {
        let h = HeaderMap::new();
        let check_query = |q: &str, now: i64| {
            let req = SignedRequest {
                method: "POST",
                path: "/",
                query: Some(q),
                headers: &h,
                body: BODY,
            };
            verify(&req, now, |_| {
                Some(Secret {
                    secret_access_key: SECRET,
                    session_token: None,
                })
            })
            .unwrap_err()
        };
        let full = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20261124%2Fus-east-1%2Fkms%2Faws4_request&X-Amz-Date=20261124T065351Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=00";
        // Past X-Amz-Expires.
        let e = check_query(full, SIGNED_AT + 61);
        assert_eq!(
            (e.code, e.message()),
            (ErrorCode::AccessDenied, Some("Request has expired"))
        );
        // Within it, a wrong signature.
        assert_eq!(check_query(full, SIGNED_AT + 59), invalid_signature());
        let e = check_query(&full.replace("X-Amz-Credential", "X-Amz-Cred"), SIGNED_AT);
        assert_eq!(e.code, ErrorCode::IncompleteSignature);
        assert_eq!(
            e.message(),
            Some(
                "AWS query-string parameters must include 'X-Amz-Credential'. Re-examine the query-string parameters."
            )
        );
        let e = check_query(
            &full.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"),
            SIGNED_AT,
        );
        assert_eq!(
            e.message(),
            Some("X-Amz-Algorithm only supports 'AWS4-HMAC-SHA256'")
        );
        assert_eq!(
            query_param(Some(full), "X-Amz-Credential").as_deref(),
            Some("AKIDEXAMPLE/20261124/us-east-1/kms/aws4_request")
        );
    }

    #[test]
    fn the_reused_signing_key_is_the_one_for_the_secret_and_scope_at_hand() {
        // One thread, alternating secrets and scopes: each verification derives or reuses the
        // key of its own secret and scope, never the previous one.
        let good = headers(BOTOCORE_SIGNATURE, "20261124T065351Z");
        let req = post(&good, BODY);
        let with_secret = |secret: &'static str| {
            move |k: &str| {
                (k == "AKIDEXAMPLE").then_some(Secret {
                    secret_access_key: secret,
                    session_token: None,
                })
            }
        };
        for _ in 0..2 {
            assert!(verify(&req, SIGNED_AT, with_secret(SECRET)).is_ok());
            assert_eq!(
                verify(&req, SIGNED_AT, with_secret("another secret")).unwrap_err(),
                invalid_signature()
            );
        }
        let mut other_region = good.clone();
        other_region.insert(
            "authorization",
            authorization(
                "AKIDEXAMPLE/20261124/eu-west-1/kms/aws4_request",
                BOTOCORE_SIGNED_HEADERS,
                BOTOCORE_SIGNATURE,
            ),
        );
        assert_eq!(
            check(&other_region, BODY, SIGNED_AT).unwrap_err(),
            invalid_signature()
        );
        assert!(check(&good, BODY, SIGNED_AT).is_ok());
        // Right after that key was cached, requests signed with the same secret for another
        // region, and on another day, are accepted: a key reused across scopes would refuse them.
        for (date, now, region) in [
            ("20261124T065351Z", SIGNED_AT, "eu-west-1"),
            ("20261125T065351Z", SIGNED_AT + 86_400, "us-east-1"),
        ] {
            let mut h = HeaderMap::new();
            h.insert("host", "127.0.0.1:4599".parse().unwrap());
            h.insert("x-amz-date", date.parse().unwrap());
            let unsigned = post(&h, BODY);
            let auth = sign(&unsigned, "AKIDEXAMPLE", SECRET, region);
            h.insert("authorization", auth.parse().unwrap());
            assert!(check(&good, BODY, SIGNED_AT).is_ok());
            assert_eq!(check(&h, BODY, now).unwrap().region, region);
        }
    }

    #[test]
    fn header_values_are_trimmed_and_inner_whitespace_folded() {
        let mut out = String::new();
        push_trimmed(&mut out, "  a   b\tc  ");
        push_trimmed(&mut out, "|");
        push_trimmed(&mut out, "plain");
        assert_eq!(out, "a b c|plain");
    }

    #[test]
    fn canonical_encoding() {
        assert_eq!(encode("a b/c~", true), "a%20b/c~");
        assert_eq!(encode("a/b", false), "a%2Fb");
        assert_eq!(decode("a%2Fb%20c"), "a/b c");
    }

    #[test]
    fn credential_from_header() {
        let h = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/cn-north-1/kms/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=abc";
        let c = CredentialScope::from_authorization(h).unwrap();
        assert_eq!(
            c,
            CredentialScope {
                access_key_id: "AKIDEXAMPLE",
                date: "20261123",
                region: "cn-north-1",
                service: "kms"
            }
        );
        assert!(CredentialScope::from_authorization("Bearer x").is_none());
        assert!(CredentialScope::from_authorization("AWS4-HMAC-SHA256 Credential=a/b/c").is_none());
    }

    #[test]
    fn credential_of_either_form() {
        let region = |h: &HeaderMap, q| with_credential(h, q, |c| c.region.to_string());
        let presigned =
            Some("X-Amz-Credential=AKIDEXAMPLE%2F20261124%2Feu-west-1%2Fkms%2Faws4_request");
        let signed = headers(BOTOCORE_SIGNATURE, "20261124T065351Z");
        assert_eq!(region(&signed, None).as_deref(), Some("us-east-1"));
        // The header first; the query when the header has no credential.
        assert_eq!(region(&signed, presigned).as_deref(), Some("us-east-1"));
        let mut bearer = HeaderMap::new();
        bearer.insert("authorization", "Bearer x".parse().unwrap());
        assert_eq!(region(&bearer, presigned).as_deref(), Some("eu-west-1"));
        assert_eq!(
            region(&HeaderMap::new(), presigned).as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(region(&bearer, None), None);
        assert_eq!(
            region(&HeaderMap::new(), Some("X-Amz-Credential=a%2Fb")),
            None
        );
    }
}
