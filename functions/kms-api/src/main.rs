//! The KMS JSON endpoint. Inside Lambda (`AWS_LAMBDA_RUNTIME_API` set) it answers API Gateway
//! HTTP API and Function URL events; anywhere else it serves plain HTTP on `KMS_MOCK_LISTEN`.
//! Both front doors hand requests to the same `shared::endpoint::Endpoint`.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use shared::app::{App, exit_unstarted, exit_with};
use shared::config::Config;
use shared::server::Listener;

fn main() {
    // Behind the policy sidecar's Lambda extension: fetch invocations through its Runtime API
    // proxy. Wrapper scripts do not run on provided.al2023, so the function redirects itself,
    // before any thread starts.
    if let Some(proxy) = std::env::var("KMS_POLICY_PROXY")
        .ok()
        .filter(|v| !v.trim().is_empty())
        && std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
    {
        // SAFETY: single-threaded here; nothing else reads the environment concurrently.
        unsafe { std::env::set_var("AWS_LAMBDA_RUNTIME_API", proxy.trim()) };
    }
    let config = Config::from_env().unwrap_or_else(|e| exit_unstarted(NAME, e));
    config.init_logging();
    let runtime = shared::app::runtime(&config);
    let result = runtime.block_on(run(config));
    exit_with(NAME, result);
}

const NAME: &str = "kms-api";

async fn run(config: Config) -> Result<(), String> {
    let app = Arc::new(
        App::start(&config)
            .await
            .unwrap_or_else(|e| exit_unstarted(NAME, e)),
    );
    let result = if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        lambda(app.clone()).await
    } else {
        serve(app.clone(), &config).await
    };
    app.stop();
    result
}

/// The Unix socket the policy sidecar asks its endpoint to listen on instead of
/// `KMS_MOCK_LISTEN` (the sidecar alone then reaches it).
const SOCKET_VAR: &str = "KMS_MOCK_ENDPOINT_SOCKET";

/// Plain HTTP/1.1 on `KMS_MOCK_LISTEN` (or the sidecar's socket), until SIGINT or SIGTERM.
async fn serve(app: Arc<App>, config: &Config) -> Result<(), String> {
    let socket = std::env::var_os(SOCKET_VAR).filter(|v| !v.is_empty());
    let (listener, address) = match &socket {
        Some(path) => {
            // A socket file left by a killed process would make bind fail.
            let _ = std::fs::remove_file(path);
            let l = tokio::net::UnixListener::bind(path)
                .map_err(|e| format!("cannot listen on {SOCKET_VAR}={path:?}: {e}"))?;
            (Listener::Unix(l), format!("unix:{}", path.display()))
        }
        None => {
            let l = tokio::net::TcpListener::bind(config.listen)
                .await
                .map_err(|e| format!("cannot listen on KMS_MOCK_LISTEN={}: {e}", config.listen))?;
            (Listener::Tcp(l), format!("http://{}", config.listen))
        }
    };
    tracing::info!(
        address = %address,
        account = %config.account,
        region = %config.region,
        store = ?config.store,
        data = %config.data_dir.display(),
        "kms-import-mock endpoint listening"
    );
    shared::server::serve(listener, config.limits, move |_, req| {
        let app = app.clone();
        async move { app.endpoint.handle(req).await }
    })
    .await;
    if let Some(path) = socket {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// API Gateway HTTP API (payload 2.0), REST API and Function URL events.
async fn lambda(app: Arc<App>) -> Result<(), String> {
    lambda_http::run(lambda_http::service_fn(move |req: lambda_http::Request| {
        let app = app.clone();
        async move {
            let (parts, body) = req.into_parts();
            // KMS's content type counts as binary for lambda_http; both forms end up as bytes.
            let bytes = Bytes::copy_from_slice(body.as_ref());
            let response = app
                .endpoint
                .handle(http::Request::from_parts(parts, bytes))
                .await;
            let (mut parts, body) = response.into_parts();
            // Keep the JSON body as text in the event response rather than base64.
            parts.headers.insert(
                "x-lambda-http-content-encoding",
                http::HeaderValue::from_static("text"),
            );
            let text = String::from_utf8_lossy(&body).into_owned();
            Ok::<_, Infallible>(http::Response::from_parts(
                parts,
                lambda_http::Body::Text(text),
            ))
        }
    }))
    .await
    .map_err(|e| format!("lambda runtime: {e}"))
}
