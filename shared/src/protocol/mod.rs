//! The KMS JSON 1.1 wire protocol.

pub mod model;
pub mod validate;
