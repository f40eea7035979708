//! What the kms-import-mock functions share: the KMS JSON protocol, the key domain, the store,
//! the wrapping-key pool, import tokens and the crypto under them.

pub mod app;
#[cfg(feature = "aws")]
pub mod aws;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod endpoint;
pub mod error;
pub mod policy;
pub mod private_file;
pub mod protocol;
pub mod server;
pub mod service;
pub mod sidecar;
pub mod sigv4;
pub mod store;
pub mod token;
pub mod values;
pub mod wrapping;

pub use error::{ErrorCode, KmsError, KmsResult};
