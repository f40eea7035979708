//! Cryptography, all of it on aws-lc-rs.

pub mod seal;
