//! The plain HTTP/1.1 server loop of the binaries that listen for clients (the endpoint run
//! alone, and the policy sidecar's local proxy): accept until SIGINT or SIGTERM, read each
//! body whole (bounded), and hand an `http::Request<Bytes>` to the handler.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::endpoint::error_response;
use crate::error::{ErrorCode, KmsError};

/// Larger bodies are refused before they are read (KMS's largest member, a policy, is 128 KiB).
pub const MAX_BODY: usize = 1 << 20;

/// Serves `listener` until a shutdown signal; `handler` gets the client's address and the
/// request with its body read.
pub async fn serve<F, Fut>(listener: TcpListener, handler: F)
where
    F: Fn(SocketAddr, http::Request<Bytes>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = http::Response<Bytes>> + Send + 'static,
{
    let mut shutdown = std::pin::pin!(shutdown_signal());
    loop {
        let (stream, peer) = tokio::select! {
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
        let handler = handler.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let handler = handler.clone();
                async move {
                    let (parts, body) = req.into_parts();
                    let response = match Limited::new(body, MAX_BODY).collect().await {
                        Ok(c) => {
                            handler(peer, http::Request::from_parts(parts, c.to_bytes())).await
                        }
                        Err(_) => error_response(&KmsError::new(
                            ErrorCode::Serialization,
                            "The request body could not be read.",
                        )),
                    };
                    Ok::<_, Infallible>(response.map(Full::new))
                }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "connection ended");
            }
        });
    }
    tracing::info!("shutting down");
}

/// SIGINT or SIGTERM.
pub async fn shutdown_signal() {
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
