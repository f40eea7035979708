//! HMAC keys of GENERATE_VERIFY_MAC keys.

use aws_lc_rs::hmac;

use crate::domain::spec::MacAlgorithm;

/// An HMAC key for one of KMS's MAC algorithms.
pub struct MacKey(hmac::Key);

impl MacKey {
    pub fn new(alg: MacAlgorithm, secret: &[u8]) -> Self {
        let alg = match alg {
            MacAlgorithm::HmacSha224 => hmac::HMAC_SHA224,
            MacAlgorithm::HmacSha256 => hmac::HMAC_SHA256,
            MacAlgorithm::HmacSha384 => hmac::HMAC_SHA384,
            MacAlgorithm::HmacSha512 => hmac::HMAC_SHA512,
        };
        Self(hmac::Key::new(alg, secret))
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        hmac::sign(&self.0, message).as_ref().to_vec()
    }

    /// In constant time.
    pub fn verify(&self, message: &[u8], mac: &[u8]) -> bool {
        hmac::verify(&self.0, message, mac).is_ok()
    }
}
