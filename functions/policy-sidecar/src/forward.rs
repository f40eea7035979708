//! A pooled HTTP/1 client for the hop behind the sidecar (the endpoint, or the Lambda Runtime
//! API), and reading whole bodies.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// KMS's largest member, a policy, is 128 KiB; Lambda events are at most 6 MB.
pub const MAX_BODY: usize = 8 << 20;

pub fn client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(std::time::Duration::from_secs(30))
        .build(connector)
}

/// Sends a request and reads the whole response.
pub async fn send(
    client: &HttpClient,
    req: http::Request<Bytes>,
) -> Result<http::Response<Bytes>, String> {
    let resp = client
        .request(req.map(Full::new))
        .await
        .map_err(|e| format!("upstream request failed: {e}"))?;
    read_response(resp).await
}

/// Reads a whole response body (bounded).
pub async fn read_response(
    resp: http::Response<hyper::body::Incoming>,
) -> Result<http::Response<Bytes>, String> {
    let (parts, body) = resp.into_parts();
    let body = Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|e| format!("upstream body: {e}"))?
        .to_bytes();
    Ok(http::Response::from_parts(parts, body))
}

/// Reads a whole request body.
pub async fn collect(body: hyper::body::Incoming) -> Option<Bytes> {
    Limited::new(body, MAX_BODY)
        .collect()
        .await
        .ok()
        .map(|c| c.to_bytes())
}
