//! Key material: checking what a client imports against the key spec, generating material for
//! keys KMS creates itself, the deterministic `KeyMaterialId`, and opening stored material for
//! use.
//!
//! Material is kept in one canonical byte form per family, so that the same key always has the
//! same bytes (and the same id) however the client encoded it:
//! * symmetric and HMAC keys: the raw key bytes (32 for AES-256, 16 for SM4 in China);
//! * RSA and ECDSA keys: PKCS#8 DER as aws-lc writes it back;
//! * Ed25519: PKCS#8 v1 DER as aws-lc writes it back (seed only);
//! * SM2: PKCS#8 DER as RustCrypto's `sm2` writes it back.

pub use crate::values::MaterialId;
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::hmac;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256K1_SHA256_ASN1_SIGNING,
    ECDSA_P384_SHA384_ASN1_SIGNING, ECDSA_P521_SHA512_ASN1_SIGNING, EcdsaKeyPair,
    EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair, RsaKeyPair,
};

use super::pkcs8::ber_to_der;
use super::sm2::Sm2Key;
use crate::domain::spec::{KeyFamily, KeySpec, SymmetricCipher};

/// HMAC key lengths AWS KMS accepts for imported material, per spec: at least the key spec's
/// length, at most 1024 bits (AWS KMS developer guide, "Requirements for imported key
/// material"; the captures confirm that one byte short is refused).
pub fn hmac_lengths(spec: KeySpec) -> Option<std::ops::RangeInclusive<usize>> {
    match spec {
        KeySpec::Hmac224 => Some(28..=128),
        KeySpec::Hmac256 => Some(32..=128),
        KeySpec::Hmac384 => Some(48..=128),
        KeySpec::Hmac512 => Some(64..=128),
        _ => None,
    }
}

fn ecdsa_algorithm(spec: KeySpec) -> Option<&'static EcdsaSigningAlgorithm> {
    match spec {
        KeySpec::EccNistP256 => Some(&ECDSA_P256_SHA256_ASN1_SIGNING),
        KeySpec::EccNistP384 => Some(&ECDSA_P384_SHA384_ASN1_SIGNING),
        KeySpec::EccNistP521 => Some(&ECDSA_P521_SHA512_ASN1_SIGNING),
        KeySpec::EccSecgP256k1 => Some(&ECDSA_P256K1_SHA256_ASN1_SIGNING),
        _ => None,
    }
}

fn rsa_bits(spec: KeySpec) -> Option<usize> {
    match spec {
        KeySpec::Rsa2048 => Some(2048),
        KeySpec::Rsa3072 => Some(3072),
        KeySpec::Rsa4096 => Some(4096),
        _ => None,
    }
}

/// Parses PKCS#8 as DER, or failing that as BER rewritten to DER.
fn der_or_ber<T>(raw: &[u8], parse: impl Fn(&[u8]) -> Option<T>) -> Option<T> {
    parse(raw).or_else(|| parse(&ber_to_der(raw)?))
}

/// Checks imported plaintext material against the key spec and returns its canonical form;
/// `None` is AWS's `InvalidCiphertextException`: wrong length, wrong key type or size, or bytes
/// that are no key at all.
pub fn canonical_import(spec: KeySpec, cipher: SymmetricCipher, raw: &[u8]) -> Option<Vec<u8>> {
    match spec.family() {
        KeyFamily::Symmetric => (raw.len() == cipher.key_len()).then(|| raw.to_vec()),
        KeyFamily::Hmac => hmac_lengths(spec)?
            .contains(&raw.len())
            .then(|| raw.to_vec()),
        KeyFamily::Rsa => {
            let key = der_or_ber(raw, |b| RsaKeyPair::from_pkcs8(b).ok())?;
            if Some(key.public_modulus_len() * 8) != rsa_bits(spec) {
                return None;
            }
            let der: Pkcs8V1Der = key.as_der().ok()?;
            Some(der.as_ref().to_vec())
        }
        // DER only: AWS refused a BER-encoded Ed25519 key that it took for the other curves.
        KeyFamily::Ecc if spec == KeySpec::EccNistEdwards25519 => {
            let key = Ed25519KeyPair::from_pkcs8_maybe_unchecked(raw).ok()?;
            Some(key.to_pkcs8v1().ok()?.as_ref().to_vec())
        }
        KeyFamily::Ecc => {
            let alg = ecdsa_algorithm(spec)?;
            let key = der_or_ber(raw, |b| EcdsaKeyPair::from_pkcs8(alg, b).ok())?;
            Some(key.to_pkcs8v1().ok()?.as_ref().to_vec())
        }
        KeyFamily::Sm2 => Some(der_or_ber(raw, Sm2Key::from_pkcs8)?.to_pkcs8()),
        // KMS does not import ML-DSA keys.
        KeyFamily::MlDsa => None,
    }
}

/// Fresh material for a key KMS creates itself (Origin `AWS_KMS`), in canonical form; `None`
/// for specs the mock cannot generate (ML-DSA). RSA generation is slow: call it off the
/// async runtime.
pub fn generate(spec: KeySpec, cipher: SymmetricCipher) -> Option<Vec<u8>> {
    let random = |n: usize| {
        let mut b = vec![0u8; n];
        aws_lc_rs::rand::fill(&mut b).expect("system randomness");
        b
    };
    match spec.family() {
        KeyFamily::Symmetric => Some(random(cipher.key_len())),
        // A key as long as the digest, the shortest AWS accepts for the spec.
        KeyFamily::Hmac => Some(random(*hmac_lengths(spec)?.start())),
        KeyFamily::Rsa => {
            let size = match rsa_bits(spec)? {
                2048 => KeySize::Rsa2048,
                3072 => KeySize::Rsa3072,
                _ => KeySize::Rsa4096,
            };
            let key = RsaKeyPair::generate(size).ok()?;
            let der: Pkcs8V1Der = key.as_der().ok()?;
            Some(der.as_ref().to_vec())
        }
        KeyFamily::Ecc if spec == KeySpec::EccNistEdwards25519 => Some(
            Ed25519KeyPair::generate()
                .ok()?
                .to_pkcs8v1()
                .ok()?
                .as_ref()
                .to_vec(),
        ),
        KeyFamily::Ecc => {
            let key = EcdsaKeyPair::generate(ecdsa_algorithm(spec)?).ok()?;
            Some(key.to_pkcs8v1().ok()?.as_ref().to_vec())
        }
        KeyFamily::Sm2 => Some(Sm2Key::generate().to_pkcs8()),
        KeyFamily::MlDsa => None,
    }
}

/// The `KeyMaterialId` of material in a key: HMAC-SHA256 keyed by the material over the key
/// id. The key id (not the ARN) is used so that multi-Region replicas, which share their
/// primary's id, share material ids too.
pub fn material_id(key_id: &str, canonical: &[u8]) -> MaterialId {
    let k = hmac::Key::new(hmac::HMAC_SHA256, canonical);
    let mut msg = b"kms-import-mock/key-material-id/v1\0".to_vec();
    msg.extend_from_slice(key_id.as_bytes());
    let tag = hmac::sign(&k, &msg);
    MaterialId(tag.as_ref().try_into().expect("SHA-256 output"))
}

/// Material opened for use: parsed once per request.
pub enum Material {
    Symmetric(Vec<u8>),
    Hmac(Vec<u8>),
    Rsa(RsaKeyPair, Vec<u8>),
    Ecdsa(EcdsaKeyPair, Vec<u8>),
    Ed25519(Ed25519KeyPair),
    Sm2(Sm2Key),
}

impl std::fmt::Debug for Material {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Material::Symmetric(_) => "Material::Symmetric(..)",
            Material::Hmac(_) => "Material::Hmac(..)",
            Material::Rsa(..) => "Material::Rsa(..)",
            Material::Ecdsa(..) => "Material::Ecdsa(..)",
            Material::Ed25519(_) => "Material::Ed25519(..)",
            Material::Sm2(_) => "Material::Sm2(..)",
        })
    }
}

impl Material {
    /// Opens canonical material of a spec; `None` only if the stored bytes are corrupt.
    pub fn open(spec: KeySpec, canonical: &[u8]) -> Option<Self> {
        Some(match spec.family() {
            KeyFamily::Symmetric => Material::Symmetric(canonical.to_vec()),
            KeyFamily::Hmac => Material::Hmac(canonical.to_vec()),
            KeyFamily::Rsa => {
                Material::Rsa(RsaKeyPair::from_pkcs8(canonical).ok()?, canonical.to_vec())
            }
            KeyFamily::Ecc if spec == KeySpec::EccNistEdwards25519 => {
                Material::Ed25519(Ed25519KeyPair::from_pkcs8_maybe_unchecked(canonical).ok()?)
            }
            KeyFamily::Ecc => Material::Ecdsa(
                EcdsaKeyPair::from_pkcs8(ecdsa_algorithm(spec)?, canonical).ok()?,
                canonical.to_vec(),
            ),
            KeyFamily::Sm2 => Material::Sm2(Sm2Key::from_pkcs8(canonical)?),
            KeyFamily::MlDsa => return None,
        })
    }

    /// The DER SubjectPublicKeyInfo of an asymmetric key (GetPublicKey); `None` for symmetric
    /// and HMAC keys.
    pub fn public_key_der(&self) -> Option<Vec<u8>> {
        let der: PublicKeyX509Der = match self {
            Material::Rsa(k, _) => k.public_key().as_der().ok()?,
            Material::Ecdsa(k, _) => k.public_key().as_der().ok()?,
            Material::Ed25519(k) => k.public_key().as_der().ok()?,
            Material::Sm2(k) => return Some(k.public_key_der()),
            Material::Symmetric(_) | Material::Hmac(_) => return None,
        };
        Some(der.as_ref().to_vec())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const A: SymmetricCipher = SymmetricCipher::Aes256;

    #[test]
    fn china_symmetric_material_is_sm4_sized_and_sm2_keys_import() {
        let sm4 = SymmetricCipher::Sm4;
        assert_eq!(
            canonical_import(KeySpec::SymmetricDefault, sm4, &[1; 16]),
            Some(vec![1; 16])
        );
        assert_eq!(
            canonical_import(KeySpec::SymmetricDefault, sm4, &[1; 32]),
            None
        );
        assert_eq!(generate(KeySpec::SymmetricDefault, sm4).unwrap().len(), 16);
        let sm2 = generate(KeySpec::Sm2, sm4).unwrap();
        assert_eq!(
            canonical_import(KeySpec::Sm2, sm4, &sm2).as_deref(),
            Some(&sm2[..])
        );
        assert!(
            canonical_import(KeySpec::EccNistP256, sm4, &sm2).is_none(),
            "another curve"
        );
        let p256 = generate(KeySpec::EccNistP256, sm4).unwrap();
        assert!(
            canonical_import(KeySpec::Sm2, sm4, &p256).is_none(),
            "not an SM2 key"
        );
        let opened = Material::open(KeySpec::Sm2, &sm2).unwrap();
        assert_eq!(opened.public_key_der().unwrap().len(), 91);
    }

    #[test]
    fn symmetric_and_hmac_lengths() {
        assert_eq!(
            canonical_import(KeySpec::SymmetricDefault, A, &[b'A'; 32]),
            Some(vec![b'A'; 32])
        );
        assert_eq!(
            canonical_import(KeySpec::SymmetricDefault, A, &[b'A'; 16]),
            None
        );
        assert_eq!(
            canonical_import(KeySpec::SymmetricDefault, A, &[b'A'; 33]),
            None
        );
        for (spec, min, max) in [
            (KeySpec::Hmac224, 28, 128),
            (KeySpec::Hmac256, 32, 128),
            (KeySpec::Hmac384, 48, 128),
            (KeySpec::Hmac512, 64, 128),
        ] {
            assert!(
                canonical_import(spec, A, &vec![b'A'; min - 1]).is_none(),
                "{spec}"
            );
            assert!(
                canonical_import(spec, A, &vec![b'A'; min]).is_some(),
                "{spec}"
            );
            assert!(
                canonical_import(spec, A, &vec![b'A'; max]).is_some(),
                "{spec}"
            );
            assert!(
                canonical_import(spec, A, &vec![b'A'; max + 1]).is_none(),
                "{spec}"
            );
        }
    }

    #[test]
    fn asymmetric_material_must_match_the_spec() {
        for spec in [
            KeySpec::EccNistP256,
            KeySpec::EccNistP384,
            KeySpec::EccNistP521,
            KeySpec::EccSecgP256k1,
            KeySpec::EccNistEdwards25519,
            KeySpec::Rsa2048,
        ] {
            let m = generate(spec, A).unwrap();
            assert_eq!(
                canonical_import(spec, A, &m).as_deref(),
                Some(&m[..]),
                "{spec}"
            );
            let opened = Material::open(spec, &m).unwrap();
            assert!(opened.public_key_der().is_some());
            for other in [KeySpec::EccNistP256, KeySpec::EccNistP384, KeySpec::Rsa3072] {
                if other != spec {
                    assert!(
                        canonical_import(other, A, &m).is_none(),
                        "{spec} as {other}"
                    );
                }
            }
            assert!(canonical_import(spec, A, &m[..m.len() - 1]).is_none());
        }
        assert!(canonical_import(KeySpec::Rsa2048, A, &[b'A'; 32]).is_none());
        // BER is read for RSA and ECC keys (the same material), not for Ed25519, as AWS did.
        use crate::crypto::pkcs8::tests::indefinite;
        for spec in [
            KeySpec::Rsa2048,
            KeySpec::EccNistP256,
            KeySpec::EccSecgP256k1,
        ] {
            let m = generate(spec, A).unwrap();
            assert_eq!(
                canonical_import(spec, A, &indefinite(&m)),
                Some(m),
                "{spec}"
            );
        }
        let ed = generate(KeySpec::EccNistEdwards25519, A).unwrap();
        assert!(canonical_import(KeySpec::EccNistEdwards25519, A, &indefinite(&ed)).is_none());
        assert!(canonical_import(KeySpec::Sm2, A, &[b'A'; 32]).is_none());
    }

    #[test]
    fn material_ids_are_deterministic_per_key() {
        let a = material_id("k1", &[b'A'; 32]);
        assert_eq!(a, material_id("k1", &[b'A'; 32]));
        assert_ne!(a, material_id("k2", &[b'A'; 32]));
        assert_ne!(a, material_id("k1", &[b'B'; 32]));
        let hex = a.to_hex();
        assert_eq!(hex.len(), 64);
        assert_eq!(MaterialId::from_hex(&hex), Some(a));
        assert_eq!(MaterialId::from_hex(&hex.to_uppercase()), None);
        assert_eq!(serde_json::to_string(&a).unwrap(), format!("\"{hex}\""));
    }
}
