//! Unwrapping imported key material with the wrapping private key an import token carries,
//! for every wrapping algorithm AWS KMS accepts:
//!
//! * `RSAES_OAEP_SHA_1` / `RSAES_OAEP_SHA_256`: the material itself, RSA-OAEP encrypted (MGF1
//!   with the same hash, empty label);
//! * `RSA_AES_KEY_WRAP_SHA_1` / `RSA_AES_KEY_WRAP_SHA_256`: a fresh 32-byte AES key, RSA-OAEP
//!   encrypted (exactly one modulus long), followed by the material wrapped under that key with
//!   AES Key Wrap with Padding (RFC 5649), what `openssl enc -id-aes256-wrap-pad` writes.
//!
//! Any failure is one answer, `None`: AWS says `InvalidCiphertextException` without detail.

use aws_lc_rs::key_wrap::{AES_256, AesKek, KeyWrapPadded};
use aws_lc_rs::rsa::{
    OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepAlgorithm, OaepPrivateDecryptingKey,
    PrivateDecryptingKey,
};

use crate::domain::spec::WrappingAlgorithm;

/// The RSA part of the algorithm, and whether the material follows AES-KWP wrapped.
fn parts(algorithm: WrappingAlgorithm) -> Option<(&'static OaepAlgorithm, bool)> {
    use WrappingAlgorithm as A;
    match algorithm {
        A::RsaesOaepSha1 => Some((&OAEP_SHA1_MGF1SHA1, false)),
        A::RsaesOaepSha256 => Some((&OAEP_SHA256_MGF1SHA256, false)),
        A::RsaAesKeyWrapSha1 => Some((&OAEP_SHA1_MGF1SHA1, true)),
        A::RsaAesKeyWrapSha256 => Some((&OAEP_SHA256_MGF1SHA256, true)),
        // Refused at GetParametersForImport; a token never carries them.
        A::RsaesPkcs1V15 | A::Sm2Pke => None,
    }
}

/// The wrapping private key, parsed once per import.
pub struct Unwrapper {
    key: OaepPrivateDecryptingKey,
    algorithm: &'static OaepAlgorithm,
    hybrid: bool,
}

impl Unwrapper {
    /// `None` if the key is not an RSA PKCS#8 key or the algorithm is not an RSA one.
    pub fn new(algorithm: WrappingAlgorithm, wrapping_key_pkcs8: &[u8]) -> Option<Self> {
        let (oaep, hybrid) = parts(algorithm)?;
        let key = PrivateDecryptingKey::from_pkcs8(wrapping_key_pkcs8).ok()?;
        Some(Self {
            key: OaepPrivateDecryptingKey::new(key).ok()?,
            algorithm: oaep,
            hybrid,
        })
    }

    /// The plaintext key material, or `None` when `encrypted` does not decrypt.
    pub fn unwrap(&self, encrypted: &[u8]) -> Option<Vec<u8>> {
        let modulus = self.key.key_size_bytes();
        let (rsa_part, kwp_part) = if self.hybrid {
            (encrypted.get(..modulus)?, &encrypted[modulus..])
        } else {
            (encrypted, &[][..])
        };
        if rsa_part.len() != modulus {
            return None;
        }
        let mut out = vec![0u8; modulus];
        let plain = self
            .key
            .decrypt(self.algorithm, rsa_part, &mut out, None)
            .ok()?
            .to_vec();
        if !self.hybrid {
            return Some(plain);
        }
        // The ephemeral key is AES-256: 32 bytes, nothing else.
        if plain.len() != 32 || kwp_part.is_empty() {
            return None;
        }
        let kek = AesKek::new(&AES_256, &plain).ok()?;
        let mut material = vec![0u8; kwp_part.len()];
        let n = kek.unwrap_with_padding(kwp_part, &mut material).ok()?.len();
        material.truncate(n);
        Some(material)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::{KeySize, OaepPublicEncryptingKey};

    /// Wraps `material` as a client would (what the AWS guide's openssl commands do).
    pub fn wrap(algorithm: WrappingAlgorithm, public_spki: &[u8], material: &[u8]) -> Vec<u8> {
        let (oaep, hybrid) = parts(algorithm).unwrap();
        let public = aws_lc_rs::rsa::PublicEncryptingKey::from_der(public_spki).unwrap();
        let public = OaepPublicEncryptingKey::new(public).unwrap();
        let encrypt = |plain: &[u8]| {
            let mut out = vec![0u8; public.ciphertext_size()];
            public
                .encrypt(oaep, plain, &mut out, None)
                .unwrap()
                .to_vec()
        };
        if !hybrid {
            return encrypt(material);
        }
        let mut aes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut aes).unwrap();
        let mut out = encrypt(&aes);
        let kek = AesKek::new(&AES_256, &aes).unwrap();
        let mut wrapped = vec![0u8; material.len() + 16];
        let n = kek.wrap_with_padding(material, &mut wrapped).unwrap().len();
        out.extend_from_slice(&wrapped[..n]);
        out
    }

    pub fn rsa_pair(size: KeySize) -> (Vec<u8>, Vec<u8>) {
        let k = PrivateDecryptingKey::generate(size).unwrap();
        let pkcs8: aws_lc_rs::encoding::Pkcs8V1Der = k.as_der().unwrap();
        let spki: aws_lc_rs::encoding::PublicKeyX509Der = k.public_key().as_der().unwrap();
        (pkcs8.as_ref().to_vec(), spki.as_ref().to_vec())
    }

    #[test]
    fn every_algorithm_round_trips_and_refuses_damage() {
        let (private, public) = rsa_pair(KeySize::Rsa2048);
        let material = b"0123456789abcdef0123456789abcdef".repeat(3);
        for alg in [
            WrappingAlgorithm::RsaesOaepSha1,
            WrappingAlgorithm::RsaesOaepSha256,
            WrappingAlgorithm::RsaAesKeyWrapSha1,
            WrappingAlgorithm::RsaAesKeyWrapSha256,
        ] {
            let u = Unwrapper::new(alg, &private).unwrap();
            let wrapped = wrap(alg, &public, &material);
            assert_eq!(u.unwrap(&wrapped).as_deref(), Some(&material[..]), "{alg}");
            let mut bad = wrapped.clone();
            bad[10] ^= 1;
            assert_eq!(u.unwrap(&bad), None, "{alg}");
            let last = wrapped.len() - 1;
            let mut bad = wrapped.clone();
            bad[last] ^= 1;
            assert_eq!(u.unwrap(&bad), None, "{alg}");
            assert_eq!(u.unwrap(&wrapped[..wrapped.len() - 1]), None, "{alg}");
            assert_eq!(u.unwrap(&[]), None);
        }
        // The other hash does not decrypt.
        let wrapped = wrap(WrappingAlgorithm::RsaesOaepSha1, &public, &material[..32]);
        let u = Unwrapper::new(WrappingAlgorithm::RsaesOaepSha256, &private).unwrap();
        assert_eq!(u.unwrap(&wrapped), None);
        assert!(Unwrapper::new(WrappingAlgorithm::RsaesPkcs1V15, &private).is_none());
        assert!(Unwrapper::new(WrappingAlgorithm::RsaesOaepSha1, b"not a key").is_none());
    }
}
