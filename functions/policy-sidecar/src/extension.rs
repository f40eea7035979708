//! Lambda extension mode: register with the Extensions API, then serve a Runtime API proxy.
//! The function fetches its next invocation through the proxy; each API Gateway / Function URL
//! event is checked first, and a refused one is answered by the extension itself (an HTTP
//! response with the KMS error, status 400) so the function never sees it.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use shared::CONTENT_TYPE;
use shared::{CALLER_HEADER, DecisionHeaders, REGION_HEADER};
use shared::{Checked, Sidecar, Verdict};
use shared::{ConnectionLimits, Gate};

use crate::events::NextEvent;
use crate::forward::{self, HttpClient};

const NEXT: &str = "/2018-06-01/runtime/invocation/next";

struct RuntimeProxy {
    sidecar: Arc<Sidecar>,
    client: HttpClient,
    /// `http://host:port[/prefix]` of the real Runtime API.
    base: String,
    /// Checked invocations awaiting the function's response, by request id.
    pending: Mutex<HashMap<String, Checked>>,
    /// Runtime API calls being passed on (a function's response, most often): at SHUTDOWN the
    /// extension waits for them, so that no answer is cut and every audit record is written.
    /// The function's own long poll for its next invocation is not counted: it never ends.
    passing: AtomicUsize,
}

/// Counts a call in [`RuntimeProxy::passing`] while it lives.
struct Passing<'a>(&'a AtomicUsize);

impl<'a> Passing<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for Passing<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What is left of the SHUTDOWN event's deadline (less a margin for exiting), within `grace`.
fn shutdown_budget(deadline_ms: u64, grace: Duration) -> Duration {
    const MARGIN: Duration = Duration::from_millis(100);
    if deadline_ms == 0 {
        return grace;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Duration::from_millis(deadline_ms)
        .saturating_sub(now)
        .saturating_sub(MARGIN)
        .min(grace)
}

/// `127.0.0.1:9001` (Lambda) or `http://127.0.0.1:9000/.rt` (cargo lambda) as a base URL.
fn base_url(api: &str) -> String {
    let api = api.trim().trim_end_matches('/');
    if api.starts_with("http://") {
        api.to_string()
    } else {
        format!("http://{api}")
    }
}

pub async fn run(sidecar: Arc<Sidecar>, api: &str, limits: ConnectionLimits) -> Result<(), String> {
    let base = base_url(api);
    let client = forward::client();
    let name = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "policy-sidecar".into());
    let register = http::Request::post(format!("{base}/2020-01-01/extension/register"))
        .header("Lambda-Extension-Name", &name)
        .header("content-type", "application/json")
        .body(Bytes::from_static(br#"{"events":["INVOKE","SHUTDOWN"]}"#))
        .expect("register request");
    let resp = forward::send(&client, register).await?;
    if !resp.status().is_success() {
        return Err(format!(
            "extension registration refused: {} {}",
            resp.status(),
            String::from_utf8_lossy(resp.body())
        ));
    }
    let id = resp
        .headers()
        .get("lambda-extension-identifier")
        .and_then(|v| v.to_str().ok())
        .ok_or("no Lambda-Extension-Identifier in the registration response")?
        .to_string();

    let listen = sidecar.config.runtime_proxy_listen.clone();
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| format!("cannot listen on KMS_POLICY_PROXY_LISTEN={listen}: {e}"))?;
    tracing::info!(runtime_api = %base, proxy = %listen, extension = %name, "policy sidecar registered as a Lambda extension");
    let proxy = Arc::new(RuntimeProxy {
        sidecar,
        client: client.clone(),
        base: base.clone(),
        pending: Mutex::new(HashMap::new()),
        passing: AtomicUsize::new(0),
    });
    let (stop_accepting, mut stopped) = tokio::sync::watch::channel(false);
    let accepting = proxy.clone();
    tokio::spawn(async move {
        let proxy = accepting;
        // The function's connection, and the one its call is passed on over.
        let limits = shared::fit_to_descriptors(limits, 2);
        let mut gate = Gate::new(limits.max_connections.get());
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = stopped.changed() => break,
            };
            let Some((permit, (stream, _))) = gate.admit(accepted).await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let proxy = proxy.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| handle(proxy.clone(), req));
                // No header-read timeout: the function's own `next` request waits for an
                // invocation as long as there is none.
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
                drop(permit);
            });
        }
    });

    // The extension's own event loop: it only has to keep asking, until SHUTDOWN.
    loop {
        let next = http::Request::get(format!("{base}/2020-01-01/extension/event/next"))
            .header("Lambda-Extension-Identifier", &id)
            .body(Bytes::new())
            .expect("next request");
        let resp = forward::send(&client, next).await?;
        match serde_json::from_slice::<NextEvent>(resp.body()) {
            Ok(NextEvent::Shutdown(e)) => {
                let _ = stop_accepting.send(true);
                let budget = shutdown_budget(e.deadline_ms, limits.shutdown_grace);
                tracing::info!(
                    reason = %e.shutdown_reason,
                    passing = proxy.passing.load(Ordering::SeqCst),
                    budget_ms = budget.as_millis() as u64,
                    "shutdown; stopped accepting, finishing calls in flight"
                );
                proxy.drain(budget).await;
                return Ok(());
            }
            Ok(NextEvent::Invoke(_)) => {}
            // An event this extension did not register for, or none: ask again (unless the
            // API failed, below).
            Err(e) => tracing::debug!(error = %e, "unreadable extension event"),
        }
        if !resp.status().is_success() {
            return Err(format!("extension event/next failed: {}", resp.status()));
        }
    }
}

async fn handle(
    proxy: Arc<RuntimeProxy>,
    req: http::Request<Incoming>,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = forward::collect(body).await.unwrap_or_default();
    let response = if parts.method == http::Method::GET && parts.uri.path() == NEXT {
        proxy.next_invocation().await
    } else {
        proxy.pass(parts, body).await
    };
    Ok(response
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "runtime API proxy");
            http::Response::builder()
                .status(502)
                .body(Bytes::from(e))
                .expect("response")
        })
        .map(Full::new))
}

impl RuntimeProxy {
    /// Waits until no call is being passed on, or `budget` is spent.
    async fn drain(&self, budget: Duration) {
        let waited = tokio::time::timeout(budget, async {
            while self.passing.load(Ordering::SeqCst) > 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        match waited {
            Ok(()) => tracing::info!("calls in flight finished"),
            Err(_) => tracing::warn!(
                passing = self.passing.load(Ordering::SeqCst),
                "shutdown deadline reached with calls still in flight"
            ),
        }
    }

    /// Forwards a Runtime API call unchanged; a function's response completes the audit
    /// record of its invocation.
    async fn pass(
        &self,
        mut parts: http::request::Parts,
        body: Bytes,
    ) -> Result<http::Response<Bytes>, String> {
        let _passing = Passing::new(&self.passing);
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let finished = path
            .strip_prefix("/2018-06-01/runtime/invocation/")
            .and_then(|rest| {
                rest.strip_suffix("/response")
                    .or_else(|| rest.strip_suffix("/error"))
            })
            .and_then(|id| self.pending.lock().expect("pending").remove(id));
        parts.uri = format!("{}{path}", self.base)
            .parse()
            .map_err(|e| format!("{e}"))?;
        parts.headers.remove(http::header::HOST);
        // Recorded before the response goes on, so a client that has its answer finds the record.
        if let Some(checked) = finished {
            let (status, out) = http_response_of(&body);
            self.sidecar.finish(checked, status, &out);
        }
        forward::send(&self.client, http::Request::from_parts(parts, body)).await
    }

    /// Hands the function its next invocation that passes the checks, answering refused ones.
    async fn next_invocation(&self) -> Result<http::Response<Bytes>, String> {
        loop {
            let next = http::Request::get(format!("{}{NEXT}", self.base))
                .body(Bytes::new())
                .expect("next request");
            let resp = forward::send(&self.client, next).await?;
            if !resp.status().is_success() {
                return Ok(resp);
            }
            let Some(id) = resp
                .headers()
                .get("lambda-runtime-aws-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
            else {
                return Ok(resp);
            };
            // An event the sidecar cannot read as an HTTP request (a direct invocation, or
            // no JSON at all) never reaches the function: it is failed here.
            let parsed = serde_json::from_slice::<Value>(resp.body())
                .ok()
                .and_then(|event| http_request_of(&event).map(|r| (event, r)));
            let Some((mut event, (request, source_ip))) = parsed else {
                self.fail_invocation(&id).await?;
                continue;
            };
            let checked = self.sidecar.check(&request, source_ip).await;
            match &checked.verdict {
                Verdict::Page => {
                    set_event_decision(&mut event, None);
                    return Ok(forward_event(resp, &event));
                }
                Verdict::Refuse(e) => {
                    let status = e.code.http_status();
                    let body = e.to_body();
                    let answer = json!({
                        "statusCode": status,
                        "headers": {"content-type": CONTENT_TYPE},
                        "multiValueHeaders": {"content-type": [CONTENT_TYPE]},
                        "body": String::from_utf8_lossy(&body),
                        "isBase64Encoded": false,
                        "cookies": [],
                    });
                    let post = http::Request::post(format!(
                        "{}/2018-06-01/runtime/invocation/{id}/response",
                        self.base
                    ))
                    .header("content-type", "application/json")
                    .body(Bytes::from(answer.to_string()))
                    .expect("response request");
                    self.sidecar.finish(checked, status, &body);
                    forward::send(&self.client, post).await?;
                }
                Verdict::Forward(decided) => {
                    set_event_decision(&mut event, Some(decided));
                    self.pending.lock().expect("pending").insert(id, checked);
                    return Ok(forward_event(resp, &event));
                }
            }
        }
    }

    /// Answers an invocation the sidecar refuses to read with an invocation error.
    async fn fail_invocation(&self, id: &str) -> Result<(), String> {
        tracing::warn!(
            request_id = id,
            "refused an event that is not an HTTP request"
        );
        let post = http::Request::post(format!(
            "{}/2018-06-01/runtime/invocation/{id}/error",
            self.base
        ))
        .header("content-type", "application/json")
        .header("lambda-runtime-function-error-type", "Runtime.InvalidEvent")
        .body(Bytes::from(UNREADABLE_EVENT))
        .expect("error request");
        forward::send(&self.client, post).await.map(drop)
    }
}

/// The error an event the sidecar cannot check ends with (not an AWS text: the mock's own).
const UNREADABLE_EVENT: &str = r#"{"errorType":"Runtime.InvalidEvent","errorMessage":"The policy sidecar accepts API Gateway and Function URL events only; this event is not one, so the function did not see it."}"#;

/// The Runtime API's answer with the event, as checked, for its body.
fn forward_event(resp: http::Response<Bytes>, event: &Value) -> http::Response<Bytes> {
    let (mut parts, _) = resp.into_parts();
    parts.headers.remove(http::header::CONTENT_LENGTH);
    parts.headers.remove(http::header::TRANSFER_ENCODING);
    http::Response::from_parts(parts, Bytes::from(event.to_string()))
}

/// The HTTP request inside an API Gateway (payload 1.0 or 2.0) or Function URL event.
fn http_request_of(event: &Value) -> Option<(http::Request<Bytes>, Option<IpAddr>)> {
    let method = event
        .pointer("/requestContext/http/method")
        .or_else(|| event.get("httpMethod"))?
        .as_str()?;
    let path = event
        .get("rawPath")
        .or_else(|| event.get("path"))
        .and_then(Value::as_str)
        .unwrap_or("/");
    let query = event
        .get("rawQueryString")
        .and_then(Value::as_str)
        .filter(|q| !q.is_empty());
    let uri = match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    let mut builder = http::Request::builder().method(method).uri(uri);
    if let Some(Value::Object(headers)) = event.get("headers") {
        for (k, v) in headers {
            if let Some(v) = v.as_str() {
                builder = builder.header(k.as_str(), v);
            }
        }
    }
    let text = event.get("body").and_then(Value::as_str).unwrap_or("");
    let body = if event.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?
    } else {
        text.as_bytes().to_vec()
    };
    let source_ip = event
        .pointer("/requestContext/http/sourceIp")
        .or_else(|| event.pointer("/requestContext/identity/sourceIp"))
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok());
    Some((builder.body(Bytes::from(body)).ok()?, source_ip))
}

/// Puts the decision in the event's headers, dropping any decision headers the client sent.
fn set_event_decision(event: &mut Value, decided: Option<&DecisionHeaders>) {
    // An event without headers gets them: the function behind the sidecar needs the decision.
    if decided.is_some()
        && let Some(e) = event.as_object_mut()
        && !e.get("headers").is_some_and(Value::is_object)
    {
        e.insert("headers".into(), json!({}));
    }
    for member in ["headers", "multiValueHeaders"] {
        if let Some(Value::Object(h)) = event.get_mut(member) {
            h.retain(|k, _| {
                !k.eq_ignore_ascii_case(CALLER_HEADER) && !k.eq_ignore_ascii_case(REGION_HEADER)
            });
            for (name, value) in decided.iter().flat_map(|d| d.pairs()) {
                let v = if member == "headers" {
                    json!(value)
                } else {
                    json!([value])
                };
                h.insert(name.to_string(), v);
            }
        }
    }
}

/// Status and body of the function's HTTP response (an API Gateway response object).
fn http_response_of(payload: &[u8]) -> (u16, Vec<u8>) {
    let Ok(v) = serde_json::from_slice::<Value>(payload) else {
        return (502, Vec::new());
    };
    let status = v["statusCode"].as_u64().unwrap_or(200) as u16;
    let text = v["body"].as_str().unwrap_or("");
    let body = if v["isBase64Encoded"].as_bool() == Some(true) {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap_or_default()
    } else {
        text.as_bytes().to_vec()
    };
    (status, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_become_requests() {
        let event = json!({
            "version": "2.0", "rawPath": "/", "rawQueryString": "",
            "headers": {"x-amz-target": "TrentService.ListKeys", "x-kms-mock-caller": "arn:aws:iam::999999999999:root"},
            "requestContext": {"http": {"method": "POST", "sourceIp": "10.1.2.3"}},
            "body": "e30=", "isBase64Encoded": true
        });
        let (req, ip) = http_request_of(&event).unwrap();
        assert_eq!(req.method(), "POST");
        assert_eq!(req.headers()["x-amz-target"], "TrentService.ListKeys");
        assert_eq!(&req.body()[..], b"{}");
        assert_eq!(ip, Some("10.1.2.3".parse().unwrap()));
        let mut e = event.clone();
        let decided = shared::Decided {
            caller: shared::policy::Caller::from_arn("arn:aws:iam::111122223333:user/alice")
                .unwrap(),
            region: "eu-west-1".into(),
        };
        set_event_decision(&mut e, decided.to_headers().as_ref());
        assert_eq!(
            e["headers"]["x-kms-mock-caller"],
            "arn:aws:iam::111122223333:user/alice"
        );
        assert_eq!(e["headers"]["x-kms-mock-region"], "eu-west-1");
        set_event_decision(&mut e, None);
        assert!(e["headers"].get("x-kms-mock-caller").is_none());
        assert!(e["headers"].get("x-kms-mock-region").is_none());
        assert!(http_request_of(&json!({"KeyId": "x"})).is_none());
        assert_eq!(base_url("127.0.0.1:9001"), "http://127.0.0.1:9001");
        assert_eq!(
            base_url("http://127.0.0.1:9000/.rt/"),
            "http://127.0.0.1:9000/.rt"
        );
        assert_eq!(
            http_response_of(br#"{"statusCode":400,"body":"{}","isBase64Encoded":false}"#),
            (400, b"{}".to_vec())
        );
    }
}
