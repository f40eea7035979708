//! RSA-OAEP encryption with an RSA key's own material, and ECDH key agreement, as KMS's
//! Encrypt, Decrypt and DeriveSharedSecret use them.

use aws_lc_rs::agreement::{self, ECDH_P256, ECDH_P384, ECDH_P521, UnparsedPublicKey};
use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rsa::{
    OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepAlgorithm, OaepPrivateDecryptingKey,
    OaepPublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey,
};
use aws_lc_rs::signature::{KeyPair, RsaKeyPair};

use crate::domain::spec::KeySpec;

/// The hash (and MGF1 hash) of RSAES_OAEP_SHA_1 and RSAES_OAEP_SHA_256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Oaep {
    Sha1,
    Sha256,
}

impl Oaep {
    fn algorithm(self) -> &'static OaepAlgorithm {
        match self {
            Oaep::Sha1 => &OAEP_SHA1_MGF1SHA1,
            Oaep::Sha256 => &OAEP_SHA256_MGF1SHA256,
        }
    }
}

/// Why an RSA-OAEP encryption did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OaepRefusal {
    /// The plaintext is longer than the key and hash allow.
    TooLong { max: usize },
    /// The stored key did not work (a mock bug).
    Key,
}

/// Encrypts under the public half of `pair`.
pub fn oaep_encrypt(
    pair: &RsaKeyPair,
    oaep: Oaep,
    plaintext: &[u8],
) -> Result<Vec<u8>, OaepRefusal> {
    let spki: PublicKeyX509Der = pair.public_key().as_der().map_err(|_| OaepRefusal::Key)?;
    let public = PublicEncryptingKey::from_der(spki.as_ref())
        .ok()
        .and_then(|k| OaepPublicEncryptingKey::new(k).ok())
        .ok_or(OaepRefusal::Key)?;
    let max = public.max_plaintext_size(oaep.algorithm());
    if plaintext.len() > max {
        return Err(OaepRefusal::TooLong { max });
    }
    let mut out = vec![0u8; public.ciphertext_size()];
    public
        .encrypt(oaep.algorithm(), plaintext, &mut out, None)
        .map(|p| p.to_vec())
        .map_err(|_| OaepRefusal::Key)
}

/// Decrypts with a PKCS#8 RSA private key: `Err(true)` when the key itself is unusable (a
/// mock bug), `Err(false)` when the ciphertext does not decrypt.
pub fn oaep_decrypt(pkcs8: &[u8], oaep: Oaep, ciphertext: &[u8]) -> Result<Vec<u8>, bool> {
    let private = PrivateDecryptingKey::from_pkcs8(pkcs8)
        .ok()
        .and_then(|k| OaepPrivateDecryptingKey::new(k).ok())
        .ok_or(true)?;
    let mut out = vec![0u8; private.min_output_size()];
    private
        .decrypt(oaep.algorithm(), ciphertext, &mut out, None)
        .map(|p| p.to_vec())
        .map_err(|_| false)
}

/// The ECDH curve of a key spec, if KMS derives shared secrets with it.
#[derive(Clone, Copy)]
pub struct Curve(&'static agreement::Algorithm);

impl Curve {
    pub fn of(spec: KeySpec) -> Option<Curve> {
        match spec {
            KeySpec::EccNistP256 => Some(Curve(&ECDH_P256)),
            KeySpec::EccNistP384 => Some(Curve(&ECDH_P384)),
            KeySpec::EccNistP521 => Some(Curve(&ECDH_P521)),
            _ => None,
        }
    }
}

/// Why an agreement failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgreementFailure {
    /// The stored private key did not parse (a mock bug).
    PrivateKey,
    /// The peer's public key is no SubjectPublicKeyInfo of the curve.
    PeerKey,
}

/// The raw ECDH shared secret of a PKCS#8 private key and a peer's public key.
pub fn ecdh(
    curve: Curve,
    pkcs8: &[u8],
    peer_public_key: &[u8],
) -> Result<Vec<u8>, AgreementFailure> {
    let private = agreement::PrivateKey::from_private_key_der(curve.0, pkcs8)
        .map_err(|_| AgreementFailure::PrivateKey)?;
    agreement::agree(
        &private,
        UnparsedPublicKey::new(curve.0, peer_public_key),
        (),
        |s| Ok(s.to_vec()),
    )
    .map_err(|()| AgreementFailure::PeerKey)
}
