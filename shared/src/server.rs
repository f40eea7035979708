//! The plain HTTP/1.1 server loop of the binaries that listen for clients (the endpoint run
//! alone, and the policy sidecar's local proxy): accept until SIGINT or SIGTERM, read each
//! body whole (bounded), and hand an `http::Request<Bytes>` to the handler.
//!
//! A signal stops accepting (the listening socket is closed, so new connections are refused)
//! and lets the requests in flight finish within the grace period; idle kept-alive connections
//! are closed at once. Cut at the signal instead, 17 of 30 calls in flight got no answer.
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
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
#[cfg(unix)]
use tokio::net::UnixListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use crate::config::ConnectionLimits;
use crate::config::MaxConnections;
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

/// Serves `listener` until a shutdown signal, then drains (see the module's comment);
/// `handler` gets the client's address and the request with its body read. At most
/// `limits.max_connections` are served at once.
pub async fn serve<F, Fut>(listener: Listener, limits: ConnectionLimits, handler: F)
where
    F: Fn(SocketAddr, http::Request<Bytes>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = http::Response<Bytes>> + Send + 'static,
{
    serve_until(listener, limits, handler, shutdown_signal()).await
}

/// [`serve`] until `stop` resolves instead of a signal.
pub async fn serve_until<F, Fut>(
    listener: Listener,
    limits: ConnectionLimits,
    handler: F,
    stop: impl Future<Output = ()>,
) where
    F: Fn(SocketAddr, http::Request<Bytes>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = http::Response<Bytes>> + Send + 'static,
{
    let mut stop = std::pin::pin!(stop);
    let mut gate = Gate::new(limits.max_connections.get());
    let graceful = GracefulShutdown::new();
    let mut tick = tokio::time::interval(TIMER_TICK);
    loop {
        let accepted = tokio::select! {
            accepted = accept(&listener) => accepted,
            _ = tick.tick() => continue,
            _ = &mut stop => break,
        };
        let Some(accepted) = gate.admit(accepted).await else {
            continue;
        };
        let (permit, accepted) = accepted;
        let handler = handler.clone();
        match accepted {
            Accepted::Tcp(stream, peer) => {
                let _ = stream.set_nodelay(true);
                let served = graceful.watch(serve_connection(stream, peer, limits, handler));
                spawn_served(served, permit);
            }
            #[cfg(unix)]
            Accepted::Unix(stream) => {
                let served = graceful.watch(serve_connection(stream, LOCAL_PEER, limits, handler));
                spawn_served(served, permit);
            }
        }
    }
    drop(listener);
    drain(graceful, limits.shutdown_grace).await;
}

/// A timer that is always due within this keeps hyper's header-read timer (armed again for
/// every request a connection reads, due `header_read_timeout` later) from being the soonest
/// one: tokio wakes its driver through an eventfd whenever a timer becomes the soonest, which
/// cost every request on a quiet connection a `write` and an extra `epoll_wait` (perf: one
/// `write(eventfd)` a request, from `Handle::reregister` under `poll_read_head`).
const TIMER_TICK: Duration = Duration::from_secs(1);

/// Runs a served connection; its place under the connection limit is free when it ends.
fn spawn_served(
    served: impl Future<Output = hyper::Result<()>> + Send + 'static,
    permit: OwnedSemaphorePermit,
) {
    tokio::spawn(async move {
        if let Err(e) = served.await {
            tracing::debug!(error = %e, "connection ended");
        }
        drop(permit);
    });
}

/// Waits for the watched connections to finish their requests in flight, within `grace`.
pub async fn drain(graceful: GracefulShutdown, grace: Duration) {
    let open = graceful.count();
    tracing::info!(
        connections = open,
        grace_seconds = grace.as_secs(),
        "stopped accepting; finishing requests in flight"
    );
    match tokio::time::timeout(grace, graceful.shutdown()).await {
        Ok(()) => tracing::info!("requests in flight finished"),
        Err(_) => tracing::warn!(
            grace_seconds = grace.as_secs(),
            "grace period over; closing connections with requests still in flight (KMS_MOCK_SHUTDOWN_GRACE_SECONDS)"
        ),
    }
}

/// Descriptors kept aside from client connections: the store's (3 per SQLite connection), the
/// pool file, logs, the listener itself; a quarter of a small limit.
const RESERVED_DESCRIPTORS: u64 = 128;

/// Fits the default connection limit to the descriptors the process may open, so that
/// connections are refused at the limit (one warning) before the process runs out of
/// descriptors, when store calls would fail too. The soft limit is raised to the hard one
/// first, as Go's runtime does. A limit set in `KMS_MOCK_MAX_CONNECTIONS` is kept as given.
/// `per_connection`: descriptors a client connection can hold (2 for a proxy: its upstream).
pub fn fit_to_descriptors(limits: ConnectionLimits, per_connection: u64) -> ConnectionLimits {
    let Some(available) = raise_open_file_limit() else {
        return limits;
    };
    let MaxConnections::Fitted(wanted) = limits.max_connections else {
        return limits;
    };
    let reserved = RESERVED_DESCRIPTORS.min(available / 4);
    let fits = (available.saturating_sub(reserved) / per_connection.max(1)).max(1);
    if wanted as u64 <= fits {
        return limits;
    }
    tracing::info!(
        configured = wanted,
        limit = fits,
        open_files = available,
        "connection limit lowered to fit the open-file limit"
    );
    ConnectionLimits {
        max_connections: MaxConnections::Fitted(fits as usize),
        ..limits
    }
}

/// Raises the soft open-file limit to the hard one; the limit now in force.
fn raise_open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: plain system calls on a local struct.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
                return None;
            }
            if lim.rlim_cur < lim.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: lim.rlim_max,
                    rlim_max: lim.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    lim.rlim_cur = lim.rlim_max;
                }
            }
        }
        Some(lim.rlim_cur)
    }
    #[cfg(not(unix))]
    None
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

/// One connection, ready to be watched by a [`GracefulShutdown`] and spawned.
fn serve_connection<S, F, Fut>(
    stream: S,
    peer: SocketAddr,
    limits: ConnectionLimits,
    handler: F,
) -> http1::Connection<
    TokioIo<S>,
    impl hyper::service::Service<
        http::Request<hyper::body::Incoming>,
        Response = http::Response<Full<Bytes>>,
        Error = Infallible,
        Future = impl Send,
    > + Send,
>
where
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
    http1_builder(limits).serve_connection(TokioIo::new(stream), service)
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
