//! The HTTP endpoint, independent of how requests arrive: the plain HTTP server and the Lambda
//! front door (API Gateway / Function URL events) both hand it an `http::Request<Bytes>`.
//!
//! `POST` with `X-Amz-Target: TrentService.<Op>` is a KMS call. Under `/_kms_mock/` are the
//! mock's own pages: `health`, `pool` (wrapping-key pool metrics) and, when the debug API is
//! enabled, `clock` (read or move the mock's clock).

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use serde::Deserialize;

use crate::domain::arn::{Scope, is_valid_region};
use crate::error::{ErrorCode, KmsError};
use crate::policy::Caller;
use crate::protocol::wire::{self, CONTENT_TYPE, TARGET_HEADER};
use crate::service::{Kms, RequestContext};

/// Paths of the mock's own pages.
pub const MOCK_PREFIX: &str = "/_kms_mock/";

/// Names the authenticated principal of a request the policy sidecar forwarded (the sidecar
/// replaces any value a client sends). Without it, the caller is the configured account's root.
pub const CALLER_HEADER: &str = "x-kms-mock-caller";

#[derive(Clone)]
pub struct Endpoint {
    pub kms: Kms,
    /// Account of every caller, and the region when a request carries no SigV4 scope.
    pub default_scope: Scope,
    pub debug_api: bool,
}

impl Endpoint {
    pub fn new(kms: Kms, default_scope: Scope, debug_api: bool) -> Self {
        Self {
            kms,
            default_scope,
            debug_api,
        }
    }

    pub async fn handle(&self, req: Request<Bytes>) -> Response<Bytes> {
        let path = req.uri().path();
        if let Some(page) = path.strip_prefix(MOCK_PREFIX) {
            return self.mock_page(req.method(), page, req.body());
        }
        self.kms_call(&req).await
    }

    /// The caller's scope: the configured account, and the region of the request's SigV4
    /// credential when it names a valid one (so a client set up for `cn-north-1` gets China
    /// partition ARNs), else the configured region.
    pub fn request_context(&self, headers: &HeaderMap, query: Option<&str>) -> RequestContext {
        let region = crate::sigv4::with_credential(headers, query, |c| c.region.to_string())
            .filter(|r| is_valid_region(r))
            .unwrap_or_else(|| self.default_scope.region.clone());
        let caller = headers
            .get(CALLER_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(Caller::from_arn);
        match caller {
            Some(c) => RequestContext::for_caller(c, &region),
            None => RequestContext::new(Scope::new(self.default_scope.account.clone(), region)),
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
                let ctx = self.request_context(req.headers(), req.uri().query());
                let out = self.kms.call(&ctx, op, req.body()).await;
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
        match result {
            Ok(body) => kms_response(StatusCode::OK, body),
            Err(e) => error_response(&e),
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

fn kms_response(status: StatusCode, body: Vec<u8>) -> Response<Bytes> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, CONTENT_TYPE)
        .header("x-amzn-RequestId", uuid::Uuid::new_v4().to_string())
        .body(Bytes::from(body))
        .expect("valid response")
}

/// A KMS error as the wire carries it.
pub fn error_response(e: &KmsError) -> Response<Bytes> {
    let status = StatusCode::from_u16(e.code.http_status()).expect("valid status");
    kms_response(status, e.to_body())
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
        Endpoint::new(
            testkit::kms(),
            Scope::new("111122223333", "us-east-1"),
            debug,
        )
    }

    fn kms_req(target: Option<&str>, auth: Option<&str>, body: &str) -> Request<Bytes> {
        let mut b = Request::post("/").header("content-type", CONTENT_TYPE);
        if let Some(t) = target {
            b = b.header("x-amz-target", t);
        }
        if let Some(a) = auth {
            b = b.header("authorization", a);
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
        let ctx = ep.request_context(
            &HeaderMap::new(),
            Some("X-Amz-Credential=AKID%2F20261123%2Feu-west-1%2Fkms%2Faws4_request&x=1"),
        );
        assert_eq!(ctx.scope.region, "eu-west-1");
        let ctx = ep.request_context(&HeaderMap::new(), None);
        assert_eq!(ctx.scope.region, "us-east-1");
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
