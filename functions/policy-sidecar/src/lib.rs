//! The policy-enforcement sidecar. Two ways to run, one decision code (`shared::sidecar`):
//!
//! - **Local proxy** (no `AWS_LAMBDA_RUNTIME_API`): listens on `KMS_MOCK_LISTEN`, the address
//!   clients use, and forwards allowed requests to the endpoint. It starts `kms-api` (the
//!   binary beside its own) on a Unix socket only it can reach, unless `KMS_MOCK_UPSTREAM`
//!   names a running one (`host:port` or `unix:/path`).
//! - **Lambda extension** (`AWS_LAMBDA_RUNTIME_API` set, installed in `/opt/extensions/`):
//!   registers with the Extensions API and serves a Runtime API proxy on
//!   `KMS_POLICY_PROXY_LISTEN` (127.0.0.1:9009); the function points itself at it
//!   (`KMS_POLICY_PROXY`), and each invocation event is checked before the function sees it.
//!
//! A library with one entry point, [`main`], so that the `policy-sidecar` binary and the Python
//! wheel's `kms-import-mock` command are the same program with their endpoint's name.

mod events;
mod extension;
mod forward;
mod proxy;
mod upstream;

use std::sync::Arc;

use shared::Sidecar;
use shared::SidecarConfig;
use shared::{Config, Front, StoreConfig};

/// The sidecar's whole run; `endpoint` is the file name of the endpoint binary beside this one
/// that the local proxy starts (`kms-api` here, `kms-import-mock-endpoint` in the wheel).
pub fn main(endpoint: &'static str) -> ! {
    let config = Config::from_env().unwrap_or_else(|e| fail(e));
    config.init_logging();
    let sidecar_config = SidecarConfig::load(
        |k| std::env::var(k).ok(),
        &config.scope.account,
        &config.scope.region,
    )
    .unwrap_or_else(|e| fail(e));
    if matches!(config.front, Front::Http { .. })
        && config.store == StoreConfig::Memory
        && sidecar_config.upstream.is_none()
    {
        fail(
            "KMS_MOCK_STORE=memory cannot be shared between the sidecar and the endpoint; use sqlite",
        );
    }
    // One thread: the decision takes microseconds, and a second worker only adds cross-thread
    // wake-ups to every forwarded request (they were most of the proxy's kernel time).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(async move {
        let store = shared::open_store(&config).unwrap_or_else(|e| fail(e));
        let sidecar = Arc::new(Sidecar::new(sidecar_config, store));
        match &config.front {
            Front::Lambda { runtime_api, .. } => {
                extension::run(sidecar, runtime_api, config.limits).await
            }
            Front::Http { listen, .. } => proxy::run(sidecar, &config, *listen, endpoint).await,
        }
    });
    shared::exit_with("policy-sidecar", result)
}

fn fail(message: impl std::fmt::Display) -> ! {
    shared::exit_unstarted("policy-sidecar", message)
}
