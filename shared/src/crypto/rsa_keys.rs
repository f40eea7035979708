//! RSA wrapping key pairs: made, exported (SubjectPublicKeyInfo and PKCS#8 DER) and read back.

use std::sync::Arc;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{KeySize, OaepPublicEncryptingKey, PrivateDecryptingKey};

use super::unwrap::{WrappingKey, warm_up};
use aws_lc_rs::rsa::OaepPrivateDecryptingKey as Decrypting;

/// The parts of an RSA wrapping key pair the rest of the mock needs.
pub struct RsaKeyParts {
    /// DER SubjectPublicKeyInfo, what KMS returns as `PublicKey`.
    pub public_key_der: Vec<u8>,
    /// DER PKCS#8 private key; never log it.
    pub private_key_pkcs8: Vec<u8>,
    /// The private key parsed, ready to unwrap.
    pub decrypting: WrappingKey,
}

/// Generates a key of `bits` (2048, 3072 or 4096) and warms it up (slow: ~80 to ~450 ms, call
/// it off the async runtime).
pub fn generate(bits: usize) -> RsaKeyParts {
    let size = match bits {
        2048 => KeySize::Rsa2048,
        3072 => KeySize::Rsa3072,
        4096 => KeySize::Rsa4096,
        other => panic!("no RSA wrapping keys of {other} bits"),
    };
    let key = PrivateDecryptingKey::generate(size).expect("RSA key generation");
    let public = OaepPublicEncryptingKey::new(key.public_key()).expect("RSA public key");
    let parts = parts(key);
    if let WrappingKey::Rsa(k) = &parts.decrypting {
        warm_up(k, &public);
    }
    parts
}

/// Reads a PKCS#8 private key back, if it is an RSA key of `bits`. Not warmed up: pool files
/// are loaded at start-up, where every millisecond counts.
pub fn from_pkcs8(pkcs8: &[u8], bits: usize) -> Option<RsaKeyParts> {
    let key = PrivateDecryptingKey::from_pkcs8(pkcs8).ok()?;
    (key.key_size_bits() == bits).then(|| parts(key))
}

fn parts(key: PrivateDecryptingKey) -> RsaKeyParts {
    let pkcs8: Pkcs8V1Der = key.as_der().expect("PKCS#8 export");
    let spki: PublicKeyX509Der = key.public_key().as_der().expect("SPKI export");
    RsaKeyParts {
        public_key_der: spki.as_ref().to_vec(),
        private_key_pkcs8: pkcs8.as_ref().to_vec(),
        decrypting: WrappingKey::Rsa(Arc::new(Decrypting::new(key).expect("RSA key size"))),
    }
}
