//! The KMS JSON endpoint. Inside Lambda (`AWS_LAMBDA_RUNTIME_API` set) it answers API Gateway
//! HTTP API and Function URL events; anywhere else it serves plain HTTP on `KMS_MOCK_LISTEN`.
//! Both front doors hand requests to the same `shared::Endpoint`.
//!
//! A library with one entry point, [`main`], so that the `kms-api` binary and the Python
//! wheel's `kms-import-mock-endpoint` are the same program under their own names.

use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use shared::Listener;
use shared::{App, exit_unstarted, exit_with};
use shared::{Config, Front};

/// The endpoint's whole run (`name` is the binary's, for messages and its usage text).
pub fn main(name: &'static str) -> ! {
    let config = Config::from_env().unwrap_or_else(|e| exit_unstarted(name, e));
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None => {}
        Some("export-seed") => export_seed(&config, &args[1..], name),
        Some(other) => exit_unstarted(name, format!("unknown command {other:?}\n{}", usage(name))),
    }
    // Behind the policy sidecar's Lambda extension: fetch invocations through its Runtime API
    // proxy. Wrapper scripts do not run on provided.al2023, so the function redirects itself
    // (lambda_runtime reads the variable), before any thread starts.
    if let Front::Lambda {
        via_proxy: Some(proxy),
        ..
    } = &config.front
    {
        // SAFETY: single-threaded here; nothing else reads the environment concurrently.
        unsafe { std::env::set_var("AWS_LAMBDA_RUNTIME_API", proxy) };
    }
    config.init_logging();
    let runtime = shared::runtime(&config);
    let result = runtime.block_on(run(config, name));
    exit_with(name, result)
}

fn usage(name: &str) -> String {
    format!(
        "usage: {name}      serve (configured by KMS_MOCK_* variables)
       {name} export-seed [--with-material] [--account ID] [--region R]... [--out FILE]
                 write the data folder's keys as a seed file (KMS_MOCK_SEED)"
    )
}

/// `kms-api export-seed`: the keys of the configured account and Region (or those named) as a
/// seed file on standard output or in `--out`, with material only if `--with-material`.
fn export_seed(config: &Config, args: &[String], name: &'static str) -> ! {
    let mut with_material = false;
    let mut account = config.scope.account.clone();
    let mut regions = Vec::new();
    let mut out = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next().cloned().unwrap_or_else(|| {
                exit_unstarted(name, format!("{arg} needs a value\n{}", usage(name)))
            })
        };
        match arg.as_str() {
            "--with-material" => with_material = true,
            "--account" => account = value(),
            "--region" => regions.push(value()),
            "--out" => out = Some(value()),
            other => exit_unstarted(name, format!("unknown option {other:?}\n{}", usage(name))),
        }
    }
    if regions.is_empty() {
        regions.push(config.scope.region.clone());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(shared::export_seed(
        config,
        &account,
        &regions,
        with_material,
    ));
    let result = result.and_then(|json| match &out {
        Some(path) => shared::write_private_file(std::path::Path::new(path), json.as_bytes())
            .map_err(|e| format!("cannot write {path}: {e}")),
        None => {
            println!("{json}");
            Ok(())
        }
    });
    exit_with(name, result)
}

async fn run(config: Config, name: &'static str) -> Result<(), String> {
    let app = Arc::new(
        App::start(&config)
            .await
            .unwrap_or_else(|e| exit_unstarted(name, e)),
    );
    let result = match &config.front {
        Front::Lambda { .. } => lambda(app.clone()).await,
        Front::Http { listen, socket } => {
            serve(app.clone(), &config, *listen, socket.as_deref()).await
        }
    };
    app.stop().await;
    result
}

/// Plain HTTP/1.1 on `KMS_MOCK_LISTEN`, or on the Unix socket the policy sidecar asked for
/// (`KMS_MOCK_ENDPOINT_SOCKET`: the sidecar alone then reaches it), until SIGINT or SIGTERM.
async fn serve(
    app: Arc<App>,
    config: &Config,
    listen: std::net::SocketAddr,
    socket: Option<&Path>,
) -> Result<(), String> {
    let (listener, address) = match socket {
        Some(path) => {
            // A socket file left by a killed process would make bind fail.
            let _ = std::fs::remove_file(path);
            let l = tokio::net::UnixListener::bind(path)
                .map_err(|e| format!("cannot listen on KMS_MOCK_ENDPOINT_SOCKET={path:?}: {e}"))?;
            (Listener::Unix(l), format!("unix:{}", path.display()))
        }
        None => {
            let l = tokio::net::TcpListener::bind(listen)
                .await
                .map_err(|e| format!("cannot listen on KMS_MOCK_LISTEN={listen}: {e}"))?;
            (Listener::Tcp(l), format!("http://{listen}"))
        }
    };
    tracing::info!(
        address = %address,
        account = %config.scope.account,
        region = %config.scope.region,
        store = ?config.store,
        data = %config.data_dir.display(),
        "kms-import-mock endpoint listening"
    );
    // One descriptor a connection: the endpoint's own.
    let limits = shared::fit_to_descriptors(config.limits, 1);
    shared::serve(listener, limits, move |_, req| {
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
