//! The KMS JSON endpoint. Inside Lambda (`AWS_LAMBDA_RUNTIME_API` set) it answers API Gateway
//! HTTP API and Function URL events; anywhere else it serves plain HTTP on `KMS_MOCK_LISTEN`.
//! Both front doors hand requests to the same `shared::endpoint::Endpoint`.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use shared::app::App;
use shared::config::Config;
use shared::endpoint::error_response;
use shared::{ErrorCode, KmsError};

/// Larger bodies are refused before they are read (KMS's largest member, a policy, is 128 KiB).
const MAX_BODY: usize = 1 << 20;

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
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kms-api: {e}");
            std::process::exit(2);
        }
    };
    config.init_logging();
    let runtime = shared::app::runtime(&config);
    let code = runtime.block_on(run(config));
    std::process::exit(code);
}

async fn run(config: Config) -> i32 {
    let app = match App::start(&config) {
        Ok(a) => Arc::new(a),
        Err(e) => {
            eprintln!("kms-api: {e}");
            return 2;
        }
    };
    let result = if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        lambda(app.clone()).await
    } else {
        serve(app.clone(), &config).await
    };
    app.stop();
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("kms-api: {e}");
            1
        }
    }
}

/// Plain HTTP/1.1 on `KMS_MOCK_LISTEN`, until SIGINT or SIGTERM.
async fn serve(app: Arc<App>, config: &Config) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on KMS_MOCK_LISTEN={}: {e}", config.listen))?;
    tracing::info!(
        address = %format!("http://{}", config.listen),
        account = %config.account,
        region = %config.region,
        store = ?config.store,
        data = %config.data_dir.display(),
        "kms-import-mock endpoint listening"
    );
    let mut shutdown = std::pin::pin!(shutdown_signal());
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(app.clone(), req));
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "connection ended");
            }
        });
    }
    tracing::info!("shutting down");
    Ok(())
}

async fn handle(
    app: Arc<App>,
    req: http::Request<Incoming>,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let response = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => {
            app.endpoint
                .handle(http::Request::from_parts(parts, collected.to_bytes()))
                .await
        }
        Err(_) => error_response(&KmsError::new(
            ErrorCode::Serialization,
            "The request body could not be read.",
        )),
    };
    Ok(response.map(Full::new))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
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
