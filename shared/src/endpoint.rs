//! The HTTP endpoint, independent of how requests arrive: the plain HTTP server and the Lambda
//! front door (API Gateway / Function URL events) both hand it an `http::Request<Bytes>`.
//!
//! `POST` with `X-Amz-Target: TrentService.<Op>` is a KMS call. Under `/_kms_mock/` are the
//! mock's own pages: `health`, `pool` (wrapping-key pool metrics) and, when the debug API is
//! enabled, `clock` (read or move the mock's clock).

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use serde::Deserialize;

use crate::config::Door;
use crate::domain::arn::{Scope, is_valid_region};
use crate::error::{ErrorCode, KmsError, KmsResult};
use crate::policy::Caller;
use crate::protocol::wire::{self, CONTENT_TYPE, TARGET_HEADER};
use crate::service::{Kms, RequestContext};

/// Paths of the mock's own pages.
pub const MOCK_PREFIX: &str = "/_kms_mock/";

/// The sidecar's decision travels to the endpoint in these two headers, which the sidecar sets
/// on every request it forwards, replacing any a client sent.
pub const CALLER_HEADER: &str = "x-kms-mock-caller";
pub const REGION_HEADER: &str = "x-kms-mock-region";

/// What the policy sidecar decided a request is: who calls (and so in which account), and in
/// which Region. The endpoint acts on exactly this, never on its own reading of the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    pub caller: Caller,
    pub region: String,
}

impl Decided {
    /// The decision as headers. Configured principal ARNs are validated at start-up and
    /// Regions are checked names, so both are always valid header values.
    pub fn to_headers(&self) -> Option<DecisionHeaders> {
        Some(DecisionHeaders {
            caller: HeaderValue::from_str(&self.caller.arn).ok()?,
            region: HeaderValue::from_str(&self.region).ok()?,
        })
    }

    /// The decision a request carries; `None` when it carries none or a broken one.
    pub fn read(headers: &HeaderMap) -> Option<Decided> {
        let one = |name: &str| {
            let mut values = headers.get_all(name).iter();
            let v = values.next()?.to_str().ok()?;
            values.next().is_none().then_some(v)
        };
        let caller = Caller::from_arn(one(CALLER_HEADER)?)?;
        let region = one(REGION_HEADER).filter(|r| is_valid_region(r))?;
        Some(Decided {
            caller,
            region: region.to_string(),
        })
    }

    fn context(self) -> RequestContext {
        RequestContext::for_caller(self.caller, &self.region)
    }
}

/// A decision as the headers that carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionHeaders {
    pub caller: HeaderValue,
    pub region: HeaderValue,
}

impl DecisionHeaders {
    /// Puts the decision on a request the sidecar forwards, replacing any a client sent.
    pub fn apply(&self, headers: &mut HeaderMap) {
        clear_decision(headers);
        headers.insert(CALLER_HEADER, self.caller.clone());
        headers.insert(REGION_HEADER, self.region.clone());
    }

    /// `(name, value)` of each header, for requests carried in other shapes (Lambda events).
    pub fn pairs(&self) -> [(&'static str, &str); 2] {
        [
            (CALLER_HEADER, self.caller.to_str().unwrap_or_default()),
            (REGION_HEADER, self.region.to_str().unwrap_or_default()),
        ]
    }
}

/// Drops any decision a client put on a request.
pub fn clear_decision(headers: &mut HeaderMap) {
    headers.remove(CALLER_HEADER);
    headers.remove(REGION_HEADER);
}

/// A request at the sidecar-only door without the sidecar's decision. Not an AWS text: AWS
/// has no such door.
fn not_through_the_sidecar() -> KmsError {
    KmsError::new(
        ErrorCode::AccessDenied,
        "This endpoint serves the policy sidecar only, and the request did not come through it.",
    )
}

#[derive(Clone)]
pub struct Endpoint {
    pub kms: Kms,
    /// Account of every caller, and the region when a request carries no SigV4 scope.
    pub default_scope: Scope,
    pub debug_api: bool,
    pub door: Door,
}

impl Endpoint {
    pub fn new(kms: Kms, default_scope: Scope, debug_api: bool, door: Door) -> Self {
        Self {
            kms,
            default_scope,
            debug_api,
            door,
        }
    }

    pub async fn handle(&self, req: Request<Bytes>) -> Response<Bytes> {
        let path = req.uri().path();
        if let Some(page) = path.strip_prefix(MOCK_PREFIX) {
            // Behind the sidecar, only the read-only pages come without a decision.
            if self.door == Door::Sidecar
                && !is_open_page(req.method(), page)
                && Decided::read(req.headers()).is_none()
            {
                return error_response(&not_through_the_sidecar());
            }
            return self.mock_page(req.method(), page, req.body());
        }
        self.kms_call(&req).await
    }

    /// Who calls, and where. Behind the sidecar: its decision, and nothing else. Run alone:
    /// a decision if one came (a sidecar pointed here with `KMS_MOCK_UPSTREAM`), else the
    /// configured account's root, in the Region of the request's SigV4 credential when it
    /// names a valid one (so a client set up for `cn-north-1` gets China partition ARNs), else
    /// the configured Region. The credential is read by the one SigV4 parser, so a header the
    /// sidecar would refuse as malformed is refused here too.
    pub fn request_context(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> KmsResult<RequestContext> {
        let decided = Decided::read(headers);
        match (self.door, decided) {
            (_, Some(d)) => Ok(d.context()),
            (Door::Sidecar, None) => Err(not_through_the_sidecar()),
            (Door::Open, None) => {
                let region = crate::sigv4::parse(headers, query)
                    .map_err(KmsError::from)?
                    .map(|a| a.scope.region)
                    .filter(|r| is_valid_region(r))
                    .unwrap_or_else(|| self.default_scope.region.clone());
                Ok(RequestContext::new(Scope::new(
                    self.default_scope.account.clone(),
                    region,
                )))
            }
        }
    }

    async fn kms_call(&self, req: &Request<Bytes>) -> Response<Bytes> {
        let started = Instant::now();
        let target = req
            .headers()
            .get(TARGET_HEADER)
            .and_then(|v| v.to_str().ok());
        let result = match wire::operation(target) {
            Ok(op) => {
                let out = match self.request_context(req.headers(), req.uri().query()) {
                    Ok(ctx) => self.kms.call(&ctx, op, req.body()).await,
                    Err(e) => Err(e),
                };
                log_call(op.as_str(), &out, started.elapsed());
                out
            }
            Err(e) => {
                log_call(
                    target.unwrap_or("-"),
                    &Err::<(), _>(e.clone()),
                    started.elapsed(),
                );
                Err(e)
            }
        };
        let request_id = uuid::Uuid::new_v4().to_string();
        match result {
            Ok(body) => {
                self.note_use(target, &body, &request_id);
                kms_response(StatusCode::OK, body, &request_id)
            }
            Err(e) => kms_response(status_of(&e), e.to_body(), &request_id),
        }
    }

    /// A successful cryptographic operation, for GetKeyLastUsage: the keys its answer names
    /// (ReEncrypt's two, the others' one).
    fn note_use(&self, target: Option<&str>, body: &[u8], request_id: &str) {
        let Ok(op) = wire::operation(target) else {
            return;
        };
        if !crate::service::is_tracked(op) {
            return;
        }
        let Ok(answer) = serde_json::from_slice::<serde_json::Value>(body) else {
            return;
        };
        for member in ["SourceKeyId", "KeyId"] {
            if let Some(arn) = answer.get(member).and_then(|v| v.as_str()) {
                self.kms.record_use(arn, op, request_id);
            }
        }
    }

    fn mock_page(&self, method: &Method, page: &str, body: &[u8]) -> Response<Bytes> {
        match (method, page) {
            (&Method::GET, "health") => json_page(StatusCode::OK, br#"{"status":"ok"}"#.to_vec()),
            (&Method::GET, "pool") => json_page(
                StatusCode::OK,
                serde_json::to_vec(&self.kms.pool.stats()).expect("stats serialize"),
            ),
            (_, "clock") if !self.debug_api => json_page(
                StatusCode::NOT_FOUND,
                br#"{"message":"the clock API is off; set KMS_MOCK_DEBUG_API=true"}"#.to_vec(),
            ),
            (&Method::GET, "clock") => self.clock_page(),
            (&Method::POST, "clock") => {
                #[derive(Deserialize)]
                struct Advance {
                    advance_seconds: u64,
                }
                match serde_json::from_slice::<Advance>(body) {
                    Ok(a) => {
                        self.kms
                            .clock
                            .advance(Duration::from_secs(a.advance_seconds));
                        self.clock_page()
                    }
                    Err(e) => json_page(
                        StatusCode::BAD_REQUEST,
                        serde_json::to_vec(&serde_json::json!({
                            "message": format!("expected {{\"advance_seconds\": <n>}}: {e}")
                        }))
                        .expect("json"),
                    ),
                }
            }
            _ => json_page(
                StatusCode::NOT_FOUND,
                br#"{"message":"no such page"}"#.to_vec(),
            ),
        }
    }

    fn clock_page(&self) -> Response<Bytes> {
        let body = format!(
            r#"{{"now":{},"offset_seconds":{}}}"#,
            self.kms.clock.now().to_wire(),
            self.kms.clock.offset().as_secs()
        );
        json_page(StatusCode::OK, body.into_bytes())
    }
}

/// The mock's pages that anyone may read, also through the sidecar: they hold no key data.
pub fn is_open_page(method: &Method, page: &str) -> bool {
    method == Method::GET && matches!(page, "health" | "pool")
}

fn log_call<T>(op: &str, out: &Result<T, KmsError>, elapsed: Duration) {
    let micros = elapsed.as_micros() as u64;
    match out {
        Ok(_) => tracing::debug!(op, micros, "ok"),
        Err(e) if e.code == ErrorCode::KmsInternal => {
            tracing::error!(op, micros, error = e.code.wire_name(), "failed")
        }
        Err(e) => tracing::debug!(
            op,
            micros,
            error = e.code.wire_name(),
            message = e.message(),
            "refused"
        ),
    }
}

fn kms_response(status: StatusCode, body: Vec<u8>, request_id: &str) -> Response<Bytes> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, CONTENT_TYPE)
        .header("x-amzn-RequestId", request_id)
        .body(Bytes::from(body))
        .expect("valid response")
}

fn status_of(e: &KmsError) -> StatusCode {
    StatusCode::from_u16(e.code.http_status()).expect("valid status")
}

/// A KMS error as the wire carries it.
pub fn error_response(e: &KmsError) -> Response<Bytes> {
    kms_response(status_of(e), e.to_body(), &uuid::Uuid::new_v4().to_string())
}

fn json_page(status: StatusCode, body: Vec<u8>) -> Response<Bytes> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Bytes::from(body))
        .expect("valid response")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testkit;

    fn endpoint(debug: bool) -> Endpoint {
        at_door(debug, Door::Open)
    }

    fn at_door(debug: bool, door: Door) -> Endpoint {
        Endpoint::new(
            testkit::kms(),
            Scope::new("111122223333", "us-east-1"),
            debug,
            door,
        )
    }

    fn kms_req(target: Option<&str>, auth: Option<&str>, body: &str) -> Request<Bytes> {
        let mut b = Request::post("/").header("content-type", CONTENT_TYPE);
        if let Some(t) = target {
            b = b.header("x-amz-target", t);
        }
        if let Some(a) = auth {
            b = b
                .header("authorization", a)
                .header("x-amz-date", "20261123T000000Z");
        }
        b.body(Bytes::from(body.to_string())).unwrap()
    }

    #[tokio::test]
    async fn kms_calls_and_errors_on_the_wire() {
        let ep = endpoint(false);
        let r = ep
            .handle(kms_req(
                Some("TrentService.CreateKey"),
                None,
                r#"{"Origin":"EXTERNAL"}"#,
            ))
            .await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], CONTENT_TYPE);
        assert!(r.headers().contains_key("x-amzn-requestid"));
        let body = String::from_utf8(r.body().to_vec()).unwrap();
        assert!(
            body.starts_with(
                r#"{"KeyMetadata":{"AWSAccountId":"111122223333","Arn":"arn:aws:kms:us-east-1:"#
            ),
            "{body}"
        );
        assert!(body.contains(r#""CreationDate":1.8E9,"#), "{body}");

        let r = ep.handle(kms_req(None, None, "{}")).await;
        assert_eq!(r.status(), 400);
        assert_eq!(&r.body()[..], br#"{"__type":"UnknownOperationException"}"#);

        let r = ep
            .handle(kms_req(Some("TrentService.DescribeKey"), None, "{}"))
            .await;
        assert_eq!(r.status(), 400);
        assert_eq!(
            std::str::from_utf8(r.body()).unwrap(),
            r#"{"__type":"ValidationException","message":"1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"}"#
        );
    }

    #[tokio::test]
    async fn region_comes_from_the_sigv4_scope() {
        let ep = endpoint(false);
        let auth = "AWS4-HMAC-SHA256 Credential=AKID/20261123/cn-north-1/kms/aws4_request, SignedHeaders=host, Signature=00";
        let r = ep
            .handle(kms_req(Some("TrentService.CreateKey"), Some(auth), "{}"))
            .await;
        let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert!(
            v["KeyMetadata"]["Arn"]
                .as_str()
                .unwrap()
                .starts_with("arn:aws-cn:kms:cn-north-1:111122223333:key/")
        );
        let ctx = ep
            .request_context(
                &HeaderMap::new(),
                Some("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261123%2Feu-west-1%2Fkms%2Faws4_request&X-Amz-Date=20261123T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=00&x=1"),
            )
            .unwrap();
        assert_eq!(ctx.scope.region, "eu-west-1");
        let ctx = ep.request_context(&HeaderMap::new(), None).unwrap();
        assert_eq!(ctx.scope.region, "us-east-1");
    }

    /// The Region-confusion attack at the endpoint alone: a header the sidecar's parser
    /// refuses is refused here too, with the same error, instead of read another way.
    #[tokio::test]
    async fn a_malformed_signature_is_refused_as_the_sidecar_refuses_it() {
        let ep = endpoint(false);
        let two = "AWS4-HMAC-SHA256 Credential=AKID/20261123/us-east-1/kms/aws4_request, Credential=AKID/20261123/ap-nowhere-9/kms/aws4_request, SignedHeaders=host, Signature=00";
        let r = ep
            .handle(kms_req(Some("TrentService.ListKeys"), Some(two), "{}"))
            .await;
        assert_eq!(r.status(), 400);
        assert_eq!(
            std::str::from_utf8(r.body()).unwrap(),
            format!(
                r#"{{"__type":"IncompleteSignatureException","message":"Authorization header has more than one 'Credential' parameter. Authorization={two}"}}"#
            )
        );
    }

    #[tokio::test]
    async fn behind_the_sidecar_only_its_decision_counts() {
        let ep = at_door(false, Door::Sidecar);
        let signed = "AWS4-HMAC-SHA256 Credential=AKID/20261123/cn-north-1/kms/aws4_request, SignedHeaders=host, Signature=00";
        // A request that did not come through the sidecar: refused, whatever it is signed as.
        let r = ep
            .handle(kms_req(Some("TrentService.ListKeys"), Some(signed), "{}"))
            .await;
        assert_eq!(r.status(), 400);
        assert_eq!(
            std::str::from_utf8(r.body()).unwrap(),
            r#"{"__type":"AccessDeniedException","message":"This endpoint serves the policy sidecar only, and the request did not come through it."}"#
        );
        // The decision alone says who and where; the credential's Region is not read.
        let mut req = kms_req(Some("TrentService.CreateKey"), Some(signed), "{}");
        let decided = Decided {
            caller: Caller::from_arn("arn:aws:iam::444455556666:user/alice").unwrap(),
            region: "eu-west-1".into(),
        };
        decided.to_headers().unwrap().apply(req.headers_mut());
        let r = ep.handle(req).await;
        let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert!(
            v["KeyMetadata"]["Arn"]
                .as_str()
                .unwrap()
                .starts_with("arn:aws:kms:eu-west-1:444455556666:key/"),
            "{v}"
        );
        // A half or doubled decision is none.
        let mut h = HeaderMap::new();
        h.insert(
            CALLER_HEADER,
            "arn:aws:iam::444455556666:user/alice".parse().unwrap(),
        );
        assert_eq!(Decided::read(&h), None);
        h.insert(REGION_HEADER, "eu-west-1".parse().unwrap());
        assert_eq!(Decided::read(&h), Some(decided));
        h.append(REGION_HEADER, "us-east-1".parse().unwrap());
        assert_eq!(Decided::read(&h), None);
        // The read-only pages need none; the clock does.
        let get = |p: &str| Request::get(p).body(Bytes::new()).unwrap();
        assert_eq!(ep.handle(get("/_kms_mock/health")).await.status(), 200);
        assert_eq!(ep.handle(get("/_kms_mock/clock")).await.status(), 400);
    }

    #[tokio::test]
    async fn mock_pages() {
        let ep = endpoint(false);
        let get = |p: &str| Request::get(p).body(Bytes::new()).unwrap();
        let r = ep.handle(get("/_kms_mock/pool")).await;
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(v["specs"].as_array().unwrap().len(), 3);
        assert_eq!(ep.handle(get("/_kms_mock/clock")).await.status(), 404);

        let ep = endpoint(true);
        let r = ep
            .handle(
                Request::post("/_kms_mock/clock")
                    .body(Bytes::from(r#"{"advance_seconds":60}"#))
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status(), 200);
        assert_eq!(
            &r.body()[..],
            br#"{"now":1.80000006E9,"offset_seconds":60}"#
        );
    }
}
