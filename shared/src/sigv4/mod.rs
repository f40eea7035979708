//! AWS Signature Version 4, read in exactly one place. Every part of the project that needs a
//! request's credential scope (the policy sidecar to verify it, the endpoint run alone to pick
//! the Region) goes through [`parse`], so they can never disagree on which credential, Region
//! or form a request carries.
//!
//! Layers, lowest first (no file imports one above it): `request` (what a signature covers,
//! wire names, query helpers) and `date` → `error` (every way a request fails, and AWS's texts
//! in one `match`) → `parse` (the two forms) → `canonical` (the canonical request) → `key`
//! (signing-key derivation and the signature) → `verify`, with `sign` (tests, benches) beside.

mod canonical;
mod date;
mod error;
mod key;
mod parse;
mod request;
mod sign;
mod verify;

#[cfg(test)]
mod tests;

pub use date::{AmzDate, MAX_SKEW_SECONDS, format_amz_date};
pub use error::{HeaderPart, SigV4Error};
pub use parse::{Authorization, CredentialScope, Form, parse};
pub use request::{MAX_PRESIGN_EXPIRES, Secret, SignedRequest, Verified, query_param};
pub use sign::sign;
pub use verify::{authenticate, verify};
