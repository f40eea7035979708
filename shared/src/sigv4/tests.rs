//! The verifier against botocore's signatures, each way a request fails it, and each failure's
//! text as AWS words it.

use http::{HeaderMap, HeaderValue};

use super::canonical::{push_trimmed, sha256_hex};
use super::request::{ALGORITHM, UNSIGNED_PAYLOAD, decode, encode};
use super::*;
use crate::error::{ErrorCode, KmsError};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
// Signed by botocore 1.43 (SigV4Auth, kms, us-east-1) at 2026-11-24T06:53:51Z.
const BOTOCORE_SIGNATURE: &str = "0ced9aee5e9186be05c3b7b930e80d1aeaf2f099e25f535ed0778b51d00c6cb3";
const BODY: &[u8] = br#"{"KeyId":"alias/x"}"#;
const SIGNED_AT: i64 = 1_795_503_231;
const BOTOCORE_SIGNED_HEADERS: &str = "content-type;host;x-amz-date;x-amz-target";
const PRESIGNED: &str = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20261124%2Fus-east-1%2Fkms%2Faws4_request&X-Amz-Date=20261124T065351Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=00";

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
    format!(
        "{ALGORITHM} Credential={credential}, SignedHeaders={signed_headers}, Signature={signature}"
    )
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

fn known(k: &str) -> Option<Secret<'static>> {
    (k == "AKIDEXAMPLE").then_some(Secret {
        secret_access_key: SECRET,
        session_token: None,
    })
}

fn check(h: &HeaderMap, body: &[u8], now: i64) -> Result<Verified, SigV4Error> {
    authenticate(&post(h, body), now, known)
}

fn check_query(q: &str, now: i64) -> Result<Verified, SigV4Error> {
    let h = HeaderMap::new();
    let req = SignedRequest {
        method: "POST",
        path: "/",
        query: Some(q),
        headers: &h,
        body: BODY,
    };
    authenticate(&req, now, |_| {
        Some(Secret {
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
    assert_eq!(AmzDate("20261124T065351Z".into()).epoch(), Some(SIGNED_AT));
}

#[test]
fn refuses_changes() {
    let good = headers(BOTOCORE_SIGNATURE, "20261124T065351Z");
    // A changed body byte, header, or signature.
    assert_eq!(
        check(&good, br#"{"KeyId":"alias/y"}"#, SIGNED_AT),
        Err(SigV4Error::SignatureMismatch)
    );
    let mut h = good.clone();
    h.insert("x-amz-target", "TrentService.DeleteKey".parse().unwrap());
    assert_eq!(
        check(&h, BODY, SIGNED_AT),
        Err(SigV4Error::SignatureMismatch)
    );
    let mut flipped = BOTOCORE_SIGNATURE.to_string();
    flipped.replace_range(0..1, "1");
    assert_eq!(
        check(&headers(&flipped, "20261124T065351Z"), BODY, SIGNED_AT),
        Err(SigV4Error::SignatureMismatch)
    );
    // A changed body with an unsigned x-amz-content-sha256 naming the signed body's hash.
    let mut h = good.clone();
    h.insert("x-amz-content-sha256", sha256_hex(BODY).parse().unwrap());
    assert!(check(&h, BODY, SIGNED_AT).is_ok());
    assert_eq!(
        check(&h, br#"{"KeyId":"alias/y"}"#, SIGNED_AT),
        Err(SigV4Error::SignatureMismatch)
    );
    // Nor can an unsigned header declare the payload unsigned.
    h.insert("x-amz-content-sha256", UNSIGNED_PAYLOAD.parse().unwrap());
    assert_eq!(
        check(&h, br#"{"KeyId":"alias/y"}"#, SIGNED_AT),
        Err(SigV4Error::SignatureMismatch)
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
        check(&h, BODY, SIGNED_AT),
        Err(SigV4Error::UnknownAccessKey)
    );
}

#[test]
fn clock_skew() {
    let h = headers(BOTOCORE_SIGNATURE, "20261124T065351Z");
    assert!(check(&h, BODY, SIGNED_AT + 300).is_ok());
    let amz_date = "20261124T065351Z".to_string();
    assert_eq!(
        check(&h, BODY, SIGNED_AT + 301),
        Err(SigV4Error::Expired {
            amz_date: amz_date.clone(),
            now: SIGNED_AT + 301
        })
    );
    assert_eq!(
        check(&h, BODY, SIGNED_AT - 301),
        Err(SigV4Error::NotYetCurrent {
            amz_date,
            now: SIGNED_AT - 301
        })
    );
}

#[test]
fn missing_and_incomplete() {
    assert_eq!(
        check(&HeaderMap::new(), BODY, SIGNED_AT),
        Err(SigV4Error::MissingToken)
    );
    let mut h = HeaderMap::new();
    let only_credential =
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261124/us-east-1/kms/aws4_request";
    h.insert("authorization", only_credential.parse().unwrap());
    assert_eq!(
        check(&h, BODY, SIGNED_AT),
        Err(SigV4Error::MissingHeaderParts {
            missing: vec![
                HeaderPart::Signature,
                HeaderPart::SignedHeaders,
                HeaderPart::Date
            ],
            authorization: only_credential.into()
        })
    );
}

/// The Region-confusion attack: a second `Credential=` in front of the signed one. Before,
/// the verifier took the last and the endpoint the first; now the header is malformed.
#[test]
fn a_parameter_given_twice_is_malformed() {
    let mut h = headers(BOTOCORE_SIGNATURE, "20261124T065351Z");
    let two = format!(
        "{ALGORITHM} Credential=AKIDEXAMPLE/20261124/eu-west-1/kms/aws4_request, Credential=AKIDEXAMPLE/20261124/us-east-1/kms/aws4_request, SignedHeaders={BOTOCORE_SIGNED_HEADERS}, Signature={BOTOCORE_SIGNATURE}"
    );
    h.insert("authorization", two.parse().unwrap());
    assert_eq!(
        parse(&h, None),
        Err(SigV4Error::DuplicateHeaderPart {
            part: HeaderPart::Credential,
            authorization: two
        })
    );
    for part in ["SignedHeaders=host", "Signature=00"] {
        let mut h = headers(BOTOCORE_SIGNATURE, "20261124T065351Z");
        let value = format!("{}, {part}", h["authorization"].to_str().unwrap());
        h.insert("authorization", value.parse().unwrap());
        assert!(
            matches!(parse(&h, None), Err(SigV4Error::DuplicateHeaderPart { .. })),
            "{part}"
        );
    }
    // Two Authorization headers, or two dates.
    let mut h = headers(BOTOCORE_SIGNATURE, "20261124T065351Z");
    h.append(
        "authorization",
        authorization(
            "AKIDEXAMPLE/20261124/eu-west-1/kms/aws4_request",
            "host",
            "00",
        ),
    );
    assert!(matches!(
        parse(&h, None),
        Err(SigV4Error::DuplicateHeaderPart { .. })
    ));
    let mut h = headers(BOTOCORE_SIGNATURE, "20261124T065351Z");
    h.append("x-amz-date", "20261124T065352Z".parse().unwrap());
    assert!(matches!(
        parse(&h, None),
        Err(SigV4Error::DuplicateHeaderPart {
            part: HeaderPart::Date,
            ..
        })
    ));
    // A presigned parameter twice, and both forms at once.
    let twice = format!(
        "{PRESIGNED}&X-Amz-Credential=AKIDEXAMPLE%2F20261124%2Feu-west-1%2Fkms%2Faws4_request"
    );
    assert_eq!(
        parse(&HeaderMap::new(), Some(&twice)),
        Err(SigV4Error::DuplicateQueryParam("X-Amz-Credential"))
    );
    let h = headers(BOTOCORE_SIGNATURE, "20261124T065351Z");
    assert_eq!(
        parse(
            &h,
            Some("X-Amz-Credential=AKIDEXAMPLE%2F20261124%2Feu-west-1%2Fkms%2Faws4_request")
        ),
        Err(SigV4Error::BothForms)
    );
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
        authenticate(&req, SIGNED_AT, with(Some("tok")))
            .unwrap()
            .region,
        "eu-west-1"
    );
    assert_eq!(
        authenticate(&req, SIGNED_AT, with(Some("other"))),
        Err(SigV4Error::SessionTokenMismatch)
    );
    assert_eq!(
        authenticate(&req, SIGNED_AT, with(None)),
        Err(SigV4Error::SessionTokenMismatch)
    );
}

#[test]
fn presigned_errors() {
    // Past X-Amz-Expires.
    assert_eq!(
        check_query(PRESIGNED, SIGNED_AT + 61),
        Err(SigV4Error::PresignExpired)
    );
    // Within it, a wrong signature.
    assert_eq!(
        check_query(PRESIGNED, SIGNED_AT + 59),
        Err(SigV4Error::SignatureMismatch)
    );
    assert_eq!(
        check_query(
            &PRESIGNED.replace("X-Amz-Credential", "X-Amz-Cred"),
            SIGNED_AT
        ),
        Err(SigV4Error::MissingQueryParam("X-Amz-Credential"))
    );
    assert_eq!(
        check_query(
            &PRESIGNED.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"),
            SIGNED_AT
        ),
        Err(SigV4Error::UnsupportedAlgorithm)
    );
    assert_eq!(
        query_param(Some(PRESIGNED), "X-Amz-Credential").as_deref(),
        Some("AKIDEXAMPLE/20261124/us-east-1/kms/aws4_request")
    );
    // SigV4 caps a presigned request's life at a week.
    let week = PRESIGNED.replace("X-Amz-Expires=60", "X-Amz-Expires=604800");
    assert_eq!(
        parse(&HeaderMap::new(), Some(&week)).unwrap().unwrap().form,
        Form::Presigned { expires: 604_800 }
    );
    assert_eq!(
        check_query(
            &PRESIGNED.replace("X-Amz-Expires=60", "X-Amz-Expires=604801"),
            SIGNED_AT
        ),
        Err(SigV4Error::ExpiresTooLong)
    );
    assert_eq!(
        check_query(
            &PRESIGNED.replace("X-Amz-Expires=60", "X-Amz-Expires=-1"),
            SIGNED_AT
        ),
        Err(SigV4Error::ExpiresNotANumber)
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
        assert!(authenticate(&req, SIGNED_AT, with_secret(SECRET)).is_ok());
        assert_eq!(
            authenticate(&req, SIGNED_AT, with_secret("another secret")),
            Err(SigV4Error::SignatureMismatch)
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
        check(&other_region, BODY, SIGNED_AT),
        Err(SigV4Error::SignatureMismatch)
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
fn credential_of_either_form() {
    let h = headers(BOTOCORE_SIGNATURE, "20261124T065351Z");
    let a = parse(&h, None).unwrap().unwrap();
    assert_eq!(a.form, Form::Header);
    assert_eq!(
        a.scope,
        CredentialScope {
            access_key_id: "AKIDEXAMPLE".into(),
            date: "20261124".into(),
            region: "us-east-1".into(),
            service: "kms".into()
        }
    );
    let q = parse(&HeaderMap::new(), Some(PRESIGNED)).unwrap().unwrap();
    assert_eq!(q.form, Form::Presigned { expires: 60 });
    assert_eq!(q.scope, a.scope);
    assert_eq!(parse(&HeaderMap::new(), Some("a=1")), Ok(None));
    // Another scheme is refused for missing every parameter.
    let mut bearer = HeaderMap::new();
    bearer.insert("authorization", "Bearer x".parse().unwrap());
    assert!(matches!(
        parse(&bearer, None),
        Err(SigV4Error::MissingHeaderParts { missing, .. }) if missing.len() == 4
    ));
    assert_eq!(
        CredentialScope::parse("a/b/c"),
        Err(SigV4Error::MalformedCredential("a/b/c".into()))
    );
    // A slash in the access key makes six elements.
    assert_eq!(
        CredentialScope::parse("a/x/20261124/us-east-1/kms/aws4_request"),
        Err(SigV4Error::MalformedCredential(
            "a/x/20261124/us-east-1/kms/aws4_request".into()
        ))
    );
    assert_eq!(
        CredentialScope::parse("a/20261124/us-east-1/kms/aws4_reques"),
        Err(SigV4Error::BadTerminator("aws4_reques".into()))
    );
}

/// Each failure's code and text, one case per variant.
#[test]
fn every_error_as_aws_words_it() {
    let now = SIGNED_AT;
    let cases: Vec<(SigV4Error, ErrorCode, String)> = vec![
        (SigV4Error::MissingToken, ErrorCode::MissingAuthenticationToken, "Missing Authentication Token".into()),
        (
            SigV4Error::MissingHeaderParts { missing: vec![HeaderPart::Signature, HeaderPart::Date], authorization: "AWS4-HMAC-SHA256 Credential=a".into() },
            ErrorCode::IncompleteSignature,
            "Authorization header requires 'Signature' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=AWS4-HMAC-SHA256 Credential=a".into(),
        ),
        (
            SigV4Error::DuplicateHeaderPart { part: HeaderPart::Credential, authorization: "X".into() },
            ErrorCode::IncompleteSignature,
            "Authorization header has more than one 'Credential' parameter. Authorization=X".into(),
        ),
        (
            SigV4Error::MissingQueryParam("X-Amz-Date"),
            ErrorCode::IncompleteSignature,
            "AWS query-string parameters must include 'X-Amz-Date'. Re-examine the query-string parameters.".into(),
        ),
        (
            SigV4Error::DuplicateQueryParam("X-Amz-Date"),
            ErrorCode::IncompleteSignature,
            "AWS query-string parameter 'X-Amz-Date' is given more than once. Re-examine the query-string parameters.".into(),
        ),
        (
            SigV4Error::BothForms,
            ErrorCode::IncompleteSignature,
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified".into(),
        ),
        (SigV4Error::UnsupportedAlgorithm, ErrorCode::IncompleteSignature, "X-Amz-Algorithm only supports 'AWS4-HMAC-SHA256'".into()),
        (SigV4Error::ExpiresNotANumber, ErrorCode::IncompleteSignature, "X-Amz-Expires must be a whole number of seconds.".into()),
        (SigV4Error::ExpiresTooLong, ErrorCode::IncompleteSignature, "X-Amz-Expires must be less than a week (in seconds) that is 604800".into()),
        (
            SigV4Error::MalformedCredential("a/b".into()),
            ErrorCode::IncompleteSignature,
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got 'a/b'".into(),
        ),
        (
            SigV4Error::BadTerminator("x".into()),
            ErrorCode::IncompleteSignature,
            "Credential should be scoped with a valid terminator: 'aws4_request', not 'x'.".into(),
        ),
        (SigV4Error::UnknownAccessKey, ErrorCode::UnrecognizedClient, "The security token included in the request is invalid.".into()),
        (SigV4Error::SessionTokenMismatch, ErrorCode::UnrecognizedClient, "The security token included in the request is invalid.".into()),
        (SigV4Error::WrongService, ErrorCode::InvalidSignature, "Credential should be scoped to correct service: 'kms'. ".into()),
        (
            SigV4Error::DateMismatch { scope_date: "20261123".into(), amz_date: "20261124T065351Z".into() },
            ErrorCode::InvalidSignature,
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20261123' != '20261124', from '20261124T065351Z'.".into(),
        ),
        (
            SigV4Error::Expired { amz_date: "20261124T065351Z".into(), now: now + 301 },
            ErrorCode::InvalidSignature,
            "Signature expired: 20261124T065351Z is now earlier than 20261124T065352Z (20261124T065852Z - 5 min.)".into(),
        ),
        (
            SigV4Error::NotYetCurrent { amz_date: "20261124T065351Z".into(), now: now - 301 },
            ErrorCode::InvalidSignature,
            "Signature not yet current: 20261124T065351Z is still later than 20261124T065350Z (20261124T064850Z + 5 min.)".into(),
        ),
        (SigV4Error::PresignExpired, ErrorCode::AccessDenied, "Request has expired".into()),
    ];
    let mismatch = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
    let mut cases = cases;
    for e in [
        SigV4Error::UnreadableDate,
        SigV4Error::HostNotSigned,
        SigV4Error::SignatureMismatch,
    ] {
        cases.push((e, ErrorCode::InvalidSignature, mismatch.into()));
    }
    for (e, code, message) in cases {
        let k = KmsError::from(e.clone());
        assert_eq!(
            (k.code, k.message()),
            (code, Some(message.as_str())),
            "{e:?}"
        );
    }
}
