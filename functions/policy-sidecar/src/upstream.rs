//! The proxy's hop to the endpoint: HTTP/1.1 over a Unix socket (the endpoint the sidecar
//! starts itself) or TCP (`KMS_MOCK_UPSTREAM=host:port`), on kept-alive connections.
//!
//! A plain stack of idle connections rather than a general client pool: one upstream, no
//! TLS, and a request always waits for its whole answer, so the connection is idle again
//! when it goes back.

use std::path::PathBuf;
use std::sync::Mutex;

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::forward::read_response;

/// Where the endpoint listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Tcp(String),
    Unix(PathBuf),
}

impl Address {
    /// `unix:/path` or `host:port`.
    pub fn parse(s: &str) -> Self {
        match s.strip_prefix("unix:") {
            Some(path) => Self::Unix(PathBuf::from(path)),
            None => Self::Tcp(s.to_string()),
        }
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tcp(a) => write!(f, "http://{a}"),
            Self::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

type Sender = SendRequest<Full<Bytes>>;

pub struct Upstream {
    address: Address,
    idle: Mutex<Vec<Sender>>,
}

impl Upstream {
    pub fn new(address: Address) -> Self {
        Self {
            address,
            idle: Mutex::default(),
        }
    }

    /// Sends a request (its URI's path is what goes on the wire) and reads the whole answer.
    pub async fn send(&self, req: http::Request<Bytes>) -> Result<http::Response<Bytes>, String> {
        let mut sender = match self.checkout().await {
            Some(s) => s,
            None => self.connect().await?,
        };
        let resp = sender
            .send_request(req.map(Full::new))
            .await
            .map_err(|e| format!("upstream request failed: {e}"))?;
        let resp = read_response(resp).await?;
        if !sender.is_closed() {
            self.idle.lock().expect("idle connections").push(sender);
        }
        Ok(resp)
    }

    /// An idle connection that is still open and ready for a request.
    async fn checkout(&self) -> Option<Sender> {
        loop {
            let mut sender = self.idle.lock().expect("idle connections").pop()?;
            if sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    async fn connect(&self) -> Result<Sender, String> {
        let failed =
            |e: std::io::Error| format!("cannot reach the endpoint at {}: {e}", self.address);
        match &self.address {
            Address::Tcp(a) => {
                let stream = tokio::net::TcpStream::connect(a).await.map_err(failed)?;
                let _ = stream.set_nodelay(true);
                handshake(stream).await
            }
            Address::Unix(p) => {
                handshake(tokio::net::UnixStream::connect(p).await.map_err(failed)?).await
            }
        }
    }
}

async fn handshake<S>(stream: S) -> Result<Sender, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("upstream handshake: {e}"))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "upstream connection ended");
        }
    });
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            Address::parse("unix:/tmp/e.sock"),
            Address::Unix("/tmp/e.sock".into())
        );
        assert_eq!(
            Address::parse("127.0.0.1:4600"),
            Address::Tcp("127.0.0.1:4600".into())
        );
        assert_eq!(
            Address::parse("unix:/tmp/e.sock").to_string(),
            "unix:/tmp/e.sock"
        );
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_is_an_error_naming_it() {
        let upstream = Upstream::new(Address::parse("unix:/nonexistent/kms-mock.sock"));
        let e = upstream
            .send(http::Request::new(Bytes::new()))
            .await
            .unwrap_err();
        assert!(
            e.starts_with("cannot reach the endpoint at unix:/nonexistent/kms-mock.sock: "),
            "{e}"
        );
    }
}
