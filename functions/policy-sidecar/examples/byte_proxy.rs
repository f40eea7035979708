//! The floor of any proxy in front of the endpoint: a process that copies bytes between a TCP
//! client and the endpoint's Unix socket, with no HTTP parsing and no decision. The sidecar
//! benchmark (`tests/load/sidecar_overhead.py`) runs it beside the sidecar, so that the cost of
//! the extra process and hop on the machine at hand is measured, apart from the sidecar's own.
//!
//! `byte_proxy <listen host:port> <unix socket path>`; same runtime as the sidecar (one thread).

use tokio::net::{TcpListener, UnixStream};

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream)) = (args.next(), args.next()) else {
        eprintln!("usage: byte_proxy <listen host:port> <unix socket path>");
        std::process::exit(2);
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async move {
        let listener = TcpListener::bind(&listen).await.expect("listen");
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                continue;
            };
            let _ = client.set_nodelay(true);
            let upstream = upstream.clone();
            tokio::spawn(async move {
                if let Ok(mut endpoint) = UnixStream::connect(&upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut endpoint).await;
                }
            });
        }
    });
}
