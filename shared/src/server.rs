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
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
#[cfg(unix)]
use tokio::net::UnixListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use crate::config::ConnectionLimits;
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
/// request with its body read. At most `limits.max_connections` are served at once.
pub async fn serve<F, Fut>(listener: Listener, limits: ConnectionLimits, handler: F)
where
    F: Fn(SocketAddr, http::Request<Bytes>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = http::Response<Bytes>> + Send + 'static,
{
    let mut shutdown = std::pin::pin!(shutdown_signal());
    let mut gate = Gate::new(limits.max_connections);
    loop {
        let accepted = tokio::select! {
            accepted = accept(&listener) => accepted,
            _ = &mut shutdown => break,
        };
        let Some(accepted) = gate.admit(accepted).await else {
            continue;
        };
        let (permit, accepted) = accepted;
        let handler = handler.clone();
        tokio::spawn(async move {
            match accepted {
                Accepted::Tcp(stream, peer) => {
                    let _ = stream.set_nodelay(true);
                    serve_connection(stream, peer, limits, handler).await
                }
                #[cfg(unix)]
                Accepted::Unix(stream) => {
                    serve_connection(stream, LOCAL_PEER, limits, handler).await
                }
            }
            drop(permit);
        });
    }
    tracing::info!("shutting down");
}

/// The accept loop's guard: a connection limit, and a back-off when accepting fails.
///
/// Failing to accept (out of descriptors, most often) is not retried at once: the loop would
/// spin on a core and log at tens of MB/s. It sleeps, longer each time up to a second. Each
/// kind of trouble is logged once per episode, which ends after a second without it: a flood
/// that frees one descriptor now and then is still one episode, and one warning.
pub struct Gate {
    permits: Arc<Semaphore>,
    max: usize,
    backoff: Duration,
    failing: Episode,
    full: Episode,
}

const FIRST_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// How long an episode of trouble must stay away before it counts as over.
const QUIET: Duration = Duration::from_secs(1);

/// A run of the same trouble: when it last happened, and how often.
#[derive(Default)]
struct Episode {
    last: Option<Instant>,
    count: u64,
}

impl Episode {
    /// Counts one more; true when it starts an episode (the one time to warn).
    fn happened(&mut self) -> bool {
        let starts = self.last.is_none();
        self.last = Some(Instant::now());
        self.count += 1;
        starts
    }

    /// After a success: the count of an episode that has now been quiet long enough.
    fn over(&mut self) -> Option<u64> {
        let last = self.last?;
        (last.elapsed() >= QUIET).then(|| {
            self.last = None;
            std::mem::take(&mut self.count)
        })
    }
}

impl Gate {
    pub fn new(max_connections: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max_connections)),
            max: max_connections,
            backoff: FIRST_BACKOFF,
            failing: Episode::default(),
            full: Episode::default(),
        }
    }

    /// What to serve of an accept's result: the connection with its permit, or `None` (an
    /// accept error, after backing off; or a connection over the limit, closed at once).
    pub async fn admit<C>(
        &mut self,
        accepted: std::io::Result<C>,
    ) -> Option<(OwnedSemaphorePermit, C)> {
        let conn = match accepted {
            Ok(c) => c,
            Err(e) => {
                if self.failing.happened() {
                    tracing::warn!(error = %e, "accept failed; backing off until it succeeds again");
                }
                tokio::time::sleep(self.backoff).await;
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                return None;
            }
        };
        self.backoff = FIRST_BACKOFF;
        if let Some(failures) = self.failing.over() {
            tracing::info!(failures, "accepting connections again");
        }
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => {
                if let Some(closed) = self.full.over() {
                    tracing::info!(closed, "below the connection limit again");
                }
                Some((permit, conn))
            }
            Err(_) => {
                if self.full.happened() {
                    tracing::warn!(
                        limit = self.max,
                        "connection limit reached; closing new connections until some end (KMS_MOCK_MAX_CONNECTIONS)"
                    );
                }
                None
            }
        }
    }
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

/// hyper's HTTP/1 server with the header-read (and so idle) timeout of `limits`.
pub fn http1_builder(limits: ConnectionLimits) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
}

async fn serve_connection<S, F, Fut>(
    stream: S,
    peer: SocketAddr,
    limits: ConnectionLimits,
    handler: F,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: Fn(SocketAddr, http::Request<Bytes>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = http::Response<Bytes>> + Send + 'static,
{
    let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
        let handler = handler.clone();
        async move {
            let (parts, body) = req.into_parts();
            let read = Limited::new(body, MAX_BODY).collect();
            let response = match tokio::time::timeout(limits.header_read_timeout, read).await {
                Ok(Ok(c)) => handler(peer, http::Request::from_parts(parts, c.to_bytes())).await,
                _ => error_response(&KmsError::new(
                    ErrorCode::Serialization,
                    "The request body could not be read.",
                )),
            };
            Ok::<_, Infallible>(response.map(Full::new))
        }
    });
    if let Err(e) = http1_builder(limits)
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
