//! The sidecar and the endpoint see each request the same way: fed the same random
//! Authorization headers and presigned queries (repeated parameters, both forms, odd Regions,
//! known and unknown keys, real signatures and tampered ones), either the sidecar refuses, or
//! the endpoint behind it acts as exactly the principal, account and Region the sidecar
//! decided, and the endpoint run alone reads the same Region or refuses too.

use bytes::Bytes;
use http::Request;
use proptest::prelude::*;

use super::config::SidecarConfig;
use super::{Sidecar, Verdict};
use crate::config::Door;
use crate::domain::arn::Scope;
use crate::endpoint::Endpoint;
use crate::protocol::wire::TARGET_HEADER;
use crate::service::testkit;
use crate::sigv4::{self, SignedRequest};

const KEYS: [&str; 3] = ["test", "AKIAALICE", "AKIAUNKNOWN"];
const REGIONS: [&str; 6] = [
    "us-east-1",
    "eu-west-1",
    "ap-nowhere-9",
    "cn-north-1",
    "not a region",
    "",
];

#[derive(Debug, Clone)]
enum Form {
    /// Authorization header items, in this order (some repeated, some missing).
    Header(Vec<String>),
    /// Presigned query parameters, in this order.
    Query(Vec<(String, String)>),
    /// Both at once.
    Both(Vec<String>, Vec<(String, String)>),
    /// Signed for real by `sign` for this key and Region, then maybe a credential put in front.
    Signed {
        key: usize,
        region: usize,
        front: Option<(usize, usize)>,
    },
}

fn credential(key: usize, region: usize) -> String {
    format!(
        "{}/20261124/{}/kms/aws4_request",
        KEYS[key], REGIONS[region]
    )
}

/// How often a parameter appears: mostly once, sometimes not or twice.
fn times() -> impl Strategy<Value = usize> {
    prop_oneof![1 => Just(0usize), 6 => Just(1usize), 1 => Just(2usize)]
}

/// Authorization header items: each parameter some number of times, in a shuffled order.
fn header_items() -> impl Strategy<Value = Vec<String>> {
    (
        prop::collection::vec((0..KEYS.len(), 0..REGIONS.len()), 0..3),
        times(),
        times(),
        any::<bool>(),
    )
        .prop_flat_map(|(credentials, signed, signatures, junk)| {
            let mut items: Vec<String> = credentials
                .into_iter()
                .map(|(k, r)| format!("Credential={}", credential(k, r)))
                .collect();
            items.extend(std::iter::repeat_n(
                "SignedHeaders=host;x-amz-date".to_string(),
                signed,
            ));
            items.extend(std::iter::repeat_n("Signature=00".to_string(), signatures));
            if junk {
                items.push("Junk=1".to_string());
            }
            Just(items).prop_shuffle()
        })
}

fn query_item() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        (0..KEYS.len(), 0..REGIONS.len())
            .prop_map(|(k, r)| ("X-Amz-Credential".to_string(), credential(k, r))),
        Just((
            "X-Amz-Algorithm".to_string(),
            "AWS4-HMAC-SHA256".to_string()
        )),
        Just(("X-Amz-Date".to_string(), "20261124T065351Z".to_string())),
        prop_oneof![Just("60"), Just("604800"), Just("604801"), Just("x")]
            .prop_map(|e| ("X-Amz-Expires".to_string(), e.to_string())),
        Just(("X-Amz-SignedHeaders".to_string(), "host".to_string())),
        Just(("X-Amz-Signature".to_string(), "00".to_string())),
    ]
}

fn form() -> impl Strategy<Value = Form> {
    prop_oneof![
        header_items().prop_map(Form::Header),
        prop::collection::vec(query_item(), 0..8).prop_map(Form::Query),
        (header_items(), prop::collection::vec(query_item(), 1..4))
            .prop_map(|(h, q)| Form::Both(h, q)),
        (
            0..KEYS.len(),
            0..REGIONS.len(),
            prop::option::of((0..KEYS.len(), 0..REGIONS.len()))
        )
            .prop_map(|(key, region, front)| Form::Signed { key, region, front }),
    ]
}

fn query_string(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace('/', "%2F").replace(' ', "%20")))
        .collect::<Vec<_>>()
        .join("&")
}

/// A CreateKey request in the given form, signed at `now`.
fn request(form: &Form, now: i64) -> Request<Bytes> {
    let body = Bytes::from_static(b"{}");
    let mut req = Request::post("/")
        .header("host", "localhost")
        .header("x-amz-date", sigv4::format_amz_date(now))
        .header(TARGET_HEADER, "TrentService.CreateKey")
        .body(body.clone())
        .unwrap();
    let header = |items: &[String]| format!("AWS4-HMAC-SHA256 {}", items.join(", "));
    match form {
        Form::Header(items) => {
            req.headers_mut()
                .insert("authorization", header(items).parse().unwrap());
        }
        Form::Query(pairs) => {
            *req.uri_mut() = format!("/?{}", query_string(pairs)).parse().unwrap()
        }
        Form::Both(items, pairs) => {
            req.headers_mut()
                .insert("authorization", header(items).parse().unwrap());
            *req.uri_mut() = format!("/?{}", query_string(pairs)).parse().unwrap();
        }
        Form::Signed { key, region, front } => {
            let secret = if *key == 1 { "alice-secret" } else { "test" };
            let auth = sigv4::sign(
                &SignedRequest {
                    method: "POST",
                    path: "/",
                    query: None,
                    headers: req.headers(),
                    body: &body,
                },
                KEYS[*key],
                secret,
                REGIONS[*region],
            );
            let auth = match front {
                Some((k, r)) => auth.replacen(
                    "Credential=",
                    &format!("Credential={}, Credential=", credential(*k, *r)),
                    1,
                ),
                None => auth,
            };
            req.headers_mut()
                .insert("authorization", auth.parse().unwrap());
        }
    }
    req
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]
    #[test]
    fn sidecar_and_endpoint_agree_or_refuse(form in form(), verify in any::<bool>()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let kms = testkit::kms();
        let config = SidecarConfig::from_json(
            &format!(r#"{{"verify_signatures": {verify},
                "credentials": [{{"access_key_id": "AKIAALICE", "secret_access_key": "alice-secret", "principal": "arn:aws:iam::444455556666:user/alice"}}]}}"#),
            "111122223333",
            "us-east-1",
        )
        .unwrap();
        let sidecar = Sidecar::new(config, kms.store.clone());
        let scope = Scope::new("111122223333", "us-east-1");
        let behind = Endpoint::new(kms.clone(), scope.clone(), false, Door::Sidecar);
        let alone = Endpoint::new(kms, scope, false, Door::Open);
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let raw = request(&form, now);

        let verdict = rt.block_on(sidecar.check(&raw, None)).verdict;
        let alone_ctx = alone.request_context(raw.headers(), raw.uri().query());
        match verdict {
            Verdict::Forward(decided) => {
                let mut forwarded = raw.clone();
                decided.apply(forwarded.headers_mut());
                let ctx = behind
                    .request_context(forwarded.headers(), forwarded.uri().query())
                    .expect("a forwarded request carries the decision");
                prop_assert_eq!(ctx.caller.arn.as_str(), decided.caller.to_str().unwrap());
                prop_assert_eq!(ctx.scope.region.as_str(), decided.region.to_str().unwrap());
                prop_assert_eq!(&ctx.scope.account, &ctx.caller.account);
                // The endpoint run alone reads the same Region from the same request.
                let alone_ctx = alone_ctx.expect("what the sidecar parsed, the endpoint parses");
                prop_assert_eq!(alone_ctx.scope.region, ctx.scope.region);
                // A request the sidecar forwards never had two credentials.
                if let Form::Signed { front, .. } = form {
                    prop_assert!(front.is_none());
                }
            }
            Verdict::Refuse(e) => {
                // Refused for its signature's form: the endpoint alone refuses it the same way.
                let form_error = matches!(
                    e.code,
                    crate::ErrorCode::IncompleteSignature
                );
                if form_error {
                    prop_assert_eq!(alone_ctx.unwrap_err(), e);
                }
                // Nothing reaches the endpoint behind the sidecar without a decision.
                prop_assert!(behind.request_context(raw.headers(), raw.uri().query()).is_err());
            }
            Verdict::Page => prop_assert!(false, "a KMS call is no page"),
        }
    }
}
