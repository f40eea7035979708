//! The plain HTTP/1.1 server loop of the binaries that listen for clients (the endpoint run
//! alone, and the policy sidecar's local proxy): accept until SIGINT or SIGTERM, read each
//! body whole (bounded), and hand an `http::Request<Bytes>` to the handler.
//!
//! Clients connect over TCP; the endpoint the sidecar starts behind itself listens on a Unix
//! socket instead, which only the sidecar's user can reach and which costs the hop about half
//! the kernel time of loopback TCP.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
#[cfg(unix)]
use tokio::net::UnixListener;

use crate::endpoint::error_response;
use crate::error::{ErrorCode, KmsError};

/// Larger bodies are refused before they are read (KMS's largest member, a policy, is 128 KiB).
pub const MAX_BODY: usize = 1 << 20;

/// Where a server listens.
pub enum Listener {
    Tcp(TcpListener),
    #[cfg(unix)]
    Unix(UnixListener),
}

/// Connections from a Unix socket have no IP address; they come from this machine.
const LOCAL_PEER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

/// Serves `listener` until a shutdown signal; `handler` gets the client's address and the
/// request with its body read.
pub async fn serve<F, Fut>(listener: Listener, handler: F)
where
    F: Fn(SocketAddr, http::Request<Bytes>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = http::Response<Bytes>> + Send + 'static,
{
    let mut shutdown = std::pin::pin!(shutdown_signal());
    loop {
        let accepted = tokio::select! {
            accepted = accept(&listener) => accepted,
            _ = &mut shutdown => break,
        };
        match accepted {
            Ok(Accepted::Tcp(stream, peer)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve_connection(stream, peer, handler.clone()));
            }
            #[cfg(unix)]
            Ok(Accepted::Unix(stream)) => {
                tokio::spawn(serve_connection(stream, LOCAL_PEER, handler.clone()));
            }
            Err(e) => tracing::warn!(error = %e, "accept failed"),
        }
    }
    tracing::info!("shutting down");
}

enum Accepted {
    Tcp(tokio::net::TcpStream, SocketAddr),
    #[cfg(unix)]
    Unix(tokio::net::UnixStream),
}

async fn accept(listener: &Listener) -> std::io::Result<Accepted> {
    match listener {
        Listener::Tcp(l) => l.accept().await.map(|(s, p)| Accepted::Tcp(s, p)),
        #[cfg(unix)]
        Listener::Unix(l) => l.accept().await.map(|(s, _)| Accepted::Unix(s)),
    }
}

async fn serve_connection<S, F, Fut>(stream: S, peer: SocketAddr, handler: F)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: Fn(SocketAddr, http::Request<Bytes>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = http::Response<Bytes>> + Send + 'static,
{
    let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
        let handler = handler.clone();
        async move {
            let (parts, body) = req.into_parts();
            let response = match Limited::new(body, MAX_BODY).collect().await {
                Ok(c) => handler(peer, http::Request::from_parts(parts, c.to_bytes())).await,
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
