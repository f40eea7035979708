//! Nothing here: the crate exists for its tests (`tests/`), which drive the real `kms-api`
//! binary with the AWS SDK for Rust.
