//! A wrapping key pair: the public half goes to the client, the private half into the import
//! token. Made by `crypto::rsa_keys` (or `crypto::sm2` in the China Regions); this type only
//! says which spec it is and hands out parts.

use std::fmt;

use crate::crypto::rsa_keys::{self, RsaKeyParts};
use crate::crypto::unwrap::WrappingKey;
use crate::domain::spec::WrappingKeySpec;

/// An RSA or SM2 wrapping key pair.
#[derive(Clone)]
pub struct WrappingKeyPair {
    spec: WrappingKeySpec,
    public_key_der: Vec<u8>,
    private_key_pkcs8: Vec<u8>,
    /// The private key parsed, ready for ImportKeyMaterial in this process.
    decrypting: WrappingKey,
}

impl fmt::Debug for WrappingKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappingKeyPair")
            .field("spec", &self.spec)
            .field("private_key_pkcs8", &"<redacted>")
            .finish()
    }
}

impl WrappingKeyPair {
    /// Generates a key pair and warms it up (RSA is slow: call off the async runtime; SM2
    /// takes tens of microseconds).
    pub fn generate(spec: WrappingKeySpec) -> Self {
        match spec.rsa_bits() {
            Some(bits) => Self::from_parts(spec, rsa_keys::generate(bits)),
            None => {
                let key = crate::crypto::sm2::Sm2Key::generate();
                Self {
                    spec,
                    public_key_der: key.public_key_der(),
                    private_key_pkcs8: key.to_pkcs8(),
                    decrypting: WrappingKey::Sm2(std::sync::Arc::new(key)),
                }
            }
        }
    }

    fn from_parts(spec: WrappingKeySpec, parts: RsaKeyParts) -> Self {
        Self {
            spec,
            public_key_der: parts.public_key_der,
            private_key_pkcs8: parts.private_key_pkcs8,
            decrypting: parts.decrypting,
        }
    }

    /// Rebuilds a pair from its PKCS#8 private key, checking the size matches the spec. Not
    /// warmed up: a pool file is loaded at start-up, where every millisecond counts.
    pub fn from_pkcs8(spec: WrappingKeySpec, pkcs8: &[u8]) -> Option<Self> {
        rsa_keys::from_pkcs8(pkcs8, spec.rsa_bits()?).map(|p| Self::from_parts(spec, p))
    }

    /// The parsed private key, for the process's [`WrappingKeyCache`](crate::crypto::unwrap::WrappingKeyCache).
    pub fn decrypting_key(&self) -> WrappingKey {
        self.decrypting.clone()
    }

    pub fn spec(&self) -> WrappingKeySpec {
        self.spec
    }

    /// DER SubjectPublicKeyInfo, what KMS returns as `PublicKey`.
    pub fn public_key_der(&self) -> &[u8] {
        &self.public_key_der
    }

    /// DER PKCS#8 private key; never log it.
    pub fn private_key_pkcs8(&self) -> &[u8] {
        &self.private_key_pkcs8
    }
}
