//! The KMS JSON 1.1 wire protocol.

pub mod blob;
pub mod model;
pub mod operation;
pub mod validate;
pub mod wire;
