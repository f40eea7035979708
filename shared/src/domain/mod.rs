//! Keys as KMS models them: specs, states, ARNs and the scope keys live in.

pub mod arn;
pub mod grant;
pub mod key;
mod lifecycle;
pub mod material;
pub mod multi_region;
pub mod refusal;
pub mod spec;
mod wire_enum;
pub mod wrapping;
