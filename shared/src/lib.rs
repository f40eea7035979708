//! What the kms-import-mock functions share: the KMS JSON protocol, the key domain, the store,
//! the wrapping-key pools, import tokens and the crypto under them, the endpoint and the
//! policy sidecar's decision.
//!
//! The surface is what the binaries, benches, fuzz targets and tests use, re-exported here;
//! the modules behind it are private. `sigv4` and `policy` stay public as the namespaces of
//! two self-contained parsers (the fuzz targets drive them directly).

mod app;
#[cfg(feature = "aws")]
mod aws;
mod clock;
mod config;
mod crypto;
mod domain;
mod endpoint;
mod error;
pub mod policy;
mod private_file;
mod protocol;
mod seed;
mod server;
mod service;
mod sidecar;
pub mod sigv4;
mod store;
mod token;
mod values;
mod wrapping;

pub use app::{App, exit_unstarted, exit_with, export_seed, open_store, runtime, token_secret};
pub use clock::{Clock, Timestamp};
/// The configuration of a function binary (`Config::from_env`).
pub use config::Config;
pub use config::{
    ConfigError, ConnectionLimits, Door, Front, LogConfig, LogFormat, MaxConnections, SecretBytes,
    SecretSource, SharedPoolConfig, StoreConfig, Synchronous,
};
pub use crypto::seal::Sealer;
pub use crypto::{fill_random, random_hex};
pub use domain::arn::Scope;
pub use domain::spec::{KeySpec, WrappingAlgorithm, WrappingKeySpec};
pub use endpoint::{
    CALLER_HEADER, Decided, DecisionHeaders, Endpoint, REGION_HEADER, clear_decision,
    error_response,
};
pub use error::{ErrorCode, KmsError, KmsResult};
/// Writes a file only its owner can read (seed exports hold key material).
pub use private_file::write as write_private_file;
pub use protocol::operation::Operation;
pub use protocol::wire::CONTENT_TYPE;
pub use server::{Gate, Listener, drain, fit_to_descriptors, serve};
pub use service::{Kms, RequestContext};
pub use sidecar::config::SidecarConfig;
pub use sidecar::{Checked, Sidecar, Verdict};
pub use store::KeyStore;
pub use wrapping::shared::top_up as top_up_shared_pool;
pub use wrapping::{KeySource, PerSpec, PoolConfig, PooledSpec, WrappingKeyPair};
