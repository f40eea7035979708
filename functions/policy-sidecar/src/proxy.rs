//! Local reverse proxy: the sidecar on the public address, the endpoint behind it on a Unix
//! socket (or `KMS_MOCK_UPSTREAM`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use shared::Config;
use shared::KmsError;
use shared::Listener;
use shared::{Sidecar, Verdict};
use shared::{clear_decision, error_response};

use crate::upstream::{Address, Upstream};

struct Proxy {
    sidecar: Arc<Sidecar>,
    upstream: Upstream,
}

/// Serves `listen` until SIGINT or SIGTERM, in front of `KMS_MOCK_UPSTREAM` or of the endpoint
/// binary `endpoint` beside this one, which it starts.
pub async fn run(
    sidecar: Arc<Sidecar>,
    config: &Config,
    listen: SocketAddr,
    endpoint: &'static str,
) -> Result<(), String> {
    let upstream = match &sidecar.config.upstream {
        Some(u) => Address::parse(u),
        None => {
            let mut endpoint = Endpoint::start(config, endpoint)?;
            let address = Address::Unix(endpoint.socket.clone());
            let name = endpoint.name;
            // The sidecar is nothing without its endpoint: if it dies, so does the sidecar,
            // saying why, instead of answering every request with an error.
            let result = tokio::select! {
                served = serve(sidecar, config, listen, address) => served,
                exited = endpoint.exited() => Err(format!("{name}, the endpoint behind the sidecar, exited: {exited}")),
            };
            endpoint.stop(config.limits.shutdown_grace);
            return result;
        }
    };
    serve(sidecar, config, listen, upstream).await
}

/// The `kms-api` process the sidecar runs behind itself, on a socket in a directory only the
/// sidecar's user can enter (mode 0700, a random name): no other local user can connect to
/// the endpoint, or stand in for it by binding the socket first.
struct Endpoint {
    /// The binary's file name, for messages.
    name: &'static str,
    child: tokio::process::Child,
    dir: PathBuf,
    socket: PathBuf,
}

impl Endpoint {
    /// Starts the endpoint binary `name` from the sidecar's own folder and waits until it
    /// answers. It inherits the environment (data folder, account, pools) and dies with the
    /// sidecar.
    fn start(config: &Config, name: &'static str) -> Result<Endpoint, String> {
        let exe = std::env::current_exe().map_err(|e| format!("current exe: {e}"))?;
        let program = exe.with_file_name(name);
        let dir = private_dir()?;
        let socket = dir.join("endpoint.sock");
        let mut cmd = tokio::process::Command::new(&program);
        // Its own process group: a Ctrl-C in a terminal (SIGINT to the foreground group) or a
        // signal to the sidecar's group reaches the sidecar alone, which first finishes the
        // requests in flight through the endpoint, then stops it (`stop`).
        cmd.env("KMS_MOCK_ENDPOINT_SOCKET", &socket)
            .process_group(0)
            .kill_on_drop(true);
        // Its only client is this single-threaded proxy: one worker serves it with fewer thread
        // wake-ups per request (p50 through the pair 0.38 -> 0.33 ms, wrk, 2 cores).
        if config.worker_threads.is_none() {
            cmd.env("TOKIO_WORKER_THREADS", "1");
        }
        #[cfg(target_os = "linux")]
        unsafe {
            // The endpoint must not outlive the sidecar (a killed sidecar cannot clean up).
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|e| {
            let _ = std::fs::remove_dir_all(&dir);
            format!(
                "cannot start {}: {e} (build it: cargo build -p kms-api)",
                program.display()
            )
        })?;
        let mut endpoint = Endpoint {
            name,
            child,
            dir,
            socket,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = endpoint.child.try_wait() {
                endpoint.stop(Duration::ZERO);
                return Err(format!("{name} exited at start: {status}"));
            }
            if std::os::unix::net::UnixStream::connect(&endpoint.socket).is_ok() {
                return Ok(endpoint);
            }
            if Instant::now() > deadline {
                endpoint.stop(Duration::ZERO);
                return Err(format!("{name} did not start listening within 60 s"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Resolves when the endpoint process ends, with how it ended.
    async fn exited(&mut self) -> String {
        match self.child.wait().await {
            Ok(status) => status.to_string(),
            Err(e) => e.to_string(),
        }
    }

    /// SIGTERM (so it saves its pool), waits for its own grace period and a little more, and
    /// removes the private directory.
    fn stop(&mut self, grace: Duration) {
        if let Some(pid) = self.child.id() {
            unsafe {
                libc::kill(pid as i32, libc::SIGTERM);
            }
            let deadline = Instant::now() + grace + Duration::from_secs(5);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A new directory of mode 0700 with an unpredictable name in the temporary folder. Creating
/// it fails if the name exists, so nobody can have prepared it.
fn private_dir() -> Result<PathBuf, String> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = std::env::temp_dir().join(format!("kms-mock-sidecar-{}", shared::random_hex(16)));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| {
            format!(
                "cannot create the endpoint's directory {}: {e}",
                dir.display()
            )
        })?;
    Ok(dir)
}

async fn serve(
    sidecar: Arc<Sidecar>,
    config: &Config,
    listen: SocketAddr,
    upstream: Address,
) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on KMS_MOCK_LISTEN={}: {e}", listen))?;
    tracing::info!(
        address = %format!("http://{}", listen),
        endpoint = %upstream,
        signatures = sidecar.config.verify_signatures,
        quotas = sidecar.config.quotas.enabled(),
        "kms-import-mock policy sidecar listening"
    );
    let proxy = Arc::new(Proxy {
        sidecar,
        upstream: Upstream::new(upstream),
    });
    // A client's connection and, while its request is forwarded, one to the endpoint.
    let limits = shared::fit_to_descriptors(config.limits, 2);
    shared::serve(Listener::Tcp(listener), limits, move |peer, req| {
        let proxy = proxy.clone();
        async move { proxy.handle(peer, req).await }
    })
    .await;
    Ok(())
}

impl Proxy {
    /// Decides a request; forwards it to the endpoint or answers the refusal.
    async fn handle(&self, peer: SocketAddr, req: http::Request<Bytes>) -> http::Response<Bytes> {
        let checked = self.sidecar.check(&req, Some(peer.ip())).await;
        let decision = match &checked.verdict {
            Verdict::Refuse(e) => Err(error_response(e)),
            Verdict::Forward(decided) => Ok(Some(decided)),
            Verdict::Page => Ok(None),
        };
        let response = match decision {
            Err(refusal) => refusal,
            Ok(decided) => {
                let (mut parts, body) = req.into_parts();
                match decided {
                    Some(d) => d.apply(&mut parts.headers),
                    None => clear_decision(&mut parts.headers),
                }
                // Origin form: the hop speaks to one server, whatever the client wrote.
                parts.uri = parts
                    .uri
                    .path_and_query()
                    .map_or_else(|| http::Uri::from_static("/"), |p| p.clone().into());
                match self
                    .upstream
                    .send(http::Request::from_parts(parts, body))
                    .await
                {
                    Ok(r) => r,
                    Err(e) => error_response(&KmsError::internal(e)),
                }
            }
        };
        self.sidecar
            .finish(checked, response.status().as_u16(), response.body());
        response
    }
}
