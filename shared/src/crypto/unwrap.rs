//! Unwrapping imported key material with the wrapping private key an import token carries,
//! for every wrapping algorithm AWS KMS accepts:
//!
//! * `RSAES_OAEP_SHA_1` / `RSAES_OAEP_SHA_256`: the material itself, RSA-OAEP encrypted (MGF1
//!   with the same hash, empty label);
//! * `RSA_AES_KEY_WRAP_SHA_1` / `RSA_AES_KEY_WRAP_SHA_256`: a fresh 32-byte AES key, RSA-OAEP
//!   encrypted (exactly one modulus long), followed by the material wrapped under that key with
//!   AES Key Wrap with Padding (RFC 5649), what `openssl enc -id-aes256-wrap-pad` writes;
//! * `SM2PKE` (China Regions): the material SM2-encrypted under an SM2 wrapping key, DER
//!   `SEQUENCE { x, y, C3, C2 }`, what `openssl pkeyutl -encrypt` writes with an SM2 key.
//!
//! Any failure is one answer, `None`: AWS says `InvalidCiphertextException` without detail.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::key_wrap::{AES_256, AesKek, KeyWrapPadded};
use aws_lc_rs::rsa::{
    OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepAlgorithm, OaepPrivateDecryptingKey,
    OaepPublicEncryptingKey, PrivateDecryptingKey,
};

use super::sm2::Sm2Key;
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

/// A wrapping private key ready for decryption.
#[derive(Clone)]
pub enum WrappingKey {
    Rsa(Arc<OaepPrivateDecryptingKey>),
    Sm2(Arc<Sm2Key>),
}

/// Parses a wrapping private key (RSA or SM2 PKCS#8).
pub fn parse_wrapping_key(pkcs8: &[u8]) -> Option<WrappingKey> {
    if let Ok(key) = PrivateDecryptingKey::from_pkcs8(pkcs8) {
        return Some(WrappingKey::Rsa(Arc::new(
            OaepPrivateDecryptingKey::new(key).ok()?,
        )));
    }
    Sm2Key::from_pkcs8(pkcs8).map(|k| WrappingKey::Sm2(Arc::new(k)))
}

/// Does one private-key operation, so that aws-lc's one-time per-key set-up (Montgomery
/// contexts, a blinding value) is done now, off the request path, and not by the first import.
pub fn warm_up(key: &OaepPrivateDecryptingKey, public: &OaepPublicEncryptingKey) {
    let mut ct = vec![0u8; public.ciphertext_size()];
    let mut out = vec![0u8; key.min_output_size()];
    if let Ok(ct) = public.encrypt(&OAEP_SHA256_MGF1SHA256, b"warm-up", &mut ct, None) {
        let _ = key.decrypt(&OAEP_SHA256_MGF1SHA256, ct, &mut out, None);
    }
}

/// Parsed wrapping private keys by the SHA-256 of their PKCS#8. Parsing the key a token
/// carries, and that key's first private operation, cost as much as the decryption itself
/// (measured: 1.17 ms against 0.66 ms for RSA_2048), so each process parses a key once:
/// GetParametersForImport puts the pool's ready-parsed key here, and a token from elsewhere
/// (another instance, before a restart) is parsed on its first import. Bounded; the oldest
/// entry goes first.
pub struct WrappingKeyCache {
    capacity: usize,
    inner: Mutex<Entries>,
}

/// The keys by id, and the ids oldest first.
type Entries = (HashMap<[u8; 32], WrappingKey>, VecDeque<[u8; 32]>);

impl WrappingKeyCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::default(),
        }
    }

    fn id(pkcs8: &[u8]) -> [u8; 32] {
        digest(&SHA256, pkcs8)
            .as_ref()
            .try_into()
            .expect("SHA-256 output")
    }

    pub fn insert(&self, pkcs8: &[u8], key: WrappingKey) {
        let id = Self::id(pkcs8);
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (map, order) = &mut *guard;
        if map.insert(id, key).is_none() {
            order.push_back(id);
            while order.len() > self.capacity {
                if let Some(old) = order.pop_front() {
                    map.remove(&old);
                }
            }
        }
    }

    /// The parsed key, from the cache or parsed now; `None` if `pkcs8` is no RSA key.
    pub fn get_or_parse(&self, pkcs8: &[u8]) -> Option<WrappingKey> {
        let id = Self::id(pkcs8);
        let cached = {
            let guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            guard.0.get(&id).cloned()
        };
        if let Some(key) = cached {
            return Some(key);
        }
        let key = parse_wrapping_key(pkcs8)?;
        self.insert(pkcs8, key.clone());
        Some(key)
    }

    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A wrapping private key and the algorithm a token says it is used with.
pub enum Unwrapper {
    Rsa {
        key: Arc<OaepPrivateDecryptingKey>,
        algorithm: &'static OaepAlgorithm,
        hybrid: bool,
    },
    Sm2(Arc<Sm2Key>),
}

impl Unwrapper {
    /// `None` if the algorithm does not go with the key.
    pub fn new(algorithm: WrappingAlgorithm, key: WrappingKey) -> Option<Self> {
        match (key, algorithm) {
            (WrappingKey::Sm2(key), WrappingAlgorithm::Sm2Pke) => Some(Unwrapper::Sm2(key)),
            (WrappingKey::Rsa(key), _) => {
                let (algorithm, hybrid) = parts(algorithm)?;
                Some(Unwrapper::Rsa {
                    key,
                    algorithm,
                    hybrid,
                })
            }
            (WrappingKey::Sm2(_), _) => None,
        }
    }

    /// The plaintext key material, or `None` when `encrypted` does not decrypt.
    pub fn unwrap(&self, encrypted: &[u8]) -> Option<Vec<u8>> {
        match self {
            Unwrapper::Sm2(key) => key.decrypt(encrypted),
            Unwrapper::Rsa {
                key,
                algorithm,
                hybrid,
            } => unwrap_rsa(key, algorithm, *hybrid, encrypted),
        }
    }
}

fn unwrap_rsa(
    key: &OaepPrivateDecryptingKey,
    algorithm: &'static OaepAlgorithm,
    hybrid: bool,
    encrypted: &[u8],
) -> Option<Vec<u8>> {
    let modulus = key.key_size_bytes();
    let (rsa_part, kwp_part) = if hybrid {
        (encrypted.get(..modulus)?, &encrypted[modulus..])
    } else {
        (encrypted, &[][..])
    };
    if rsa_part.len() != modulus {
        return None;
    }
    let mut out = vec![0u8; modulus];
    let plain = key
        .decrypt(algorithm, rsa_part, &mut out, None)
        .ok()?
        .to_vec();
    if !hybrid {
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
            let u = Unwrapper::new(alg, parse_wrapping_key(&private).unwrap()).unwrap();
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
        let key = parse_wrapping_key(&private).unwrap();
        let u = Unwrapper::new(WrappingAlgorithm::RsaesOaepSha256, key.clone()).unwrap();
        assert_eq!(u.unwrap(&wrapped), None);
        assert!(Unwrapper::new(WrappingAlgorithm::RsaesPkcs1V15, key).is_none());
        assert!(parse_wrapping_key(b"not a key").is_none());
    }

    #[test]
    fn sm2pke_unwraps_only_with_its_sm2_key() {
        let k = Sm2Key::generate();
        let key = parse_wrapping_key(&k.to_pkcs8()).unwrap();
        assert!(matches!(key, WrappingKey::Sm2(_)));
        let wrapped = super::super::sm2::encrypt_to_spki(&k.public_key_der(), &[7; 16]).unwrap();
        let u = Unwrapper::new(WrappingAlgorithm::Sm2Pke, key.clone()).unwrap();
        assert_eq!(u.unwrap(&wrapped), Some(vec![7; 16]));
        assert_eq!(u.unwrap(&wrapped[1..]), None);
        assert!(Unwrapper::new(WrappingAlgorithm::RsaesOaepSha256, key).is_none());
        let (rsa, _) = rsa_pair(KeySize::Rsa2048);
        assert!(
            Unwrapper::new(WrappingAlgorithm::Sm2Pke, parse_wrapping_key(&rsa).unwrap()).is_none()
        );
    }

    #[test]
    fn cache_parses_once_and_stays_bounded() {
        let cache = WrappingKeyCache::new(2);
        let (a, _) = rsa_pair(KeySize::Rsa2048);
        let rsa = |k: WrappingKey| match k {
            WrappingKey::Rsa(k) => k,
            WrappingKey::Sm2(_) => panic!("an RSA key"),
        };
        let first = rsa(cache.get_or_parse(&a).unwrap());
        assert!(Arc::ptr_eq(&first, &rsa(cache.get_or_parse(&a).unwrap())));
        assert!(cache.get_or_parse(b"not a key").is_none());
        assert_eq!(cache.len(), 1);
        let (b, _) = rsa_pair(KeySize::Rsa2048);
        let (c, _) = rsa_pair(KeySize::Rsa2048);
        cache.get_or_parse(&b).unwrap();
        cache.get_or_parse(&c).unwrap();
        assert_eq!(cache.len(), 2);
        assert!(
            !Arc::ptr_eq(&first, &rsa(cache.get_or_parse(&a).unwrap())),
            "a was evicted"
        );
    }
}
