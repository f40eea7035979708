//! Sign and Verify with asymmetric key material, for the signing algorithms KMS lists per key
//! spec, over a raw message (hashed here) or a digest the caller computed.

use aws_lc_rs::digest::{self, Digest, SHA256, SHA384, SHA512};
use aws_lc_rs::signature::{
    self, ECDSA_P256_SHA256_ASN1, ECDSA_P256K1_SHA256_ASN1, ECDSA_P384_SHA384_ASN1,
    ECDSA_P521_SHA512_ASN1, ED25519, KeyPair, RsaEncoding, UnparsedPublicKey,
    VerificationAlgorithm,
};

use super::material::Material;
use crate::domain::spec::{KeySpec, SigningAlgorithm};

/// What is signed: the message itself, or its digest (`MessageType: DIGEST`).
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    Raw(&'a [u8]),
    Digest(&'a [u8]),
}

/// Why a signing request cannot be carried out as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignError {
    /// The digest is not as long as the algorithm's hash.
    DigestLength,
    /// The algorithm does not take a digest (ED25519_SHA_512 signs raw messages only).
    DigestNotAllowed,
    /// The algorithm takes only a digest (ED25519_PH_SHA_512, as KMS documents it).
    RawNotAllowed,
    /// The algorithm does not go with the key.
    Algorithm,
}

fn hash(alg: SigningAlgorithm) -> &'static digest::Algorithm {
    use SigningAlgorithm as S;
    match alg {
        S::RsassaPssSha384 | S::RsassaPkcs1V15Sha384 | S::EcdsaSha384 => &SHA384,
        S::RsassaPssSha512 | S::RsassaPkcs1V15Sha512 | S::EcdsaSha512 => &SHA512,
        S::Ed25519Sha512 | S::Ed25519PhSha512 => &SHA512,
        _ => &SHA256,
    }
}

fn rsa_encoding(alg: SigningAlgorithm) -> Option<&'static dyn RsaEncoding> {
    use SigningAlgorithm as S;
    Some(match alg {
        S::RsassaPssSha256 => &signature::RSA_PSS_SHA256,
        S::RsassaPssSha384 => &signature::RSA_PSS_SHA384,
        S::RsassaPssSha512 => &signature::RSA_PSS_SHA512,
        S::RsassaPkcs1V15Sha256 => &signature::RSA_PKCS1_SHA256,
        S::RsassaPkcs1V15Sha384 => &signature::RSA_PKCS1_SHA384,
        S::RsassaPkcs1V15Sha512 => &signature::RSA_PKCS1_SHA512,
        _ => return None,
    })
}

fn rsa_verification(alg: SigningAlgorithm) -> Option<&'static dyn VerificationAlgorithm> {
    use SigningAlgorithm as S;
    Some(match alg {
        S::RsassaPssSha256 => &signature::RSA_PSS_2048_8192_SHA256,
        S::RsassaPssSha384 => &signature::RSA_PSS_2048_8192_SHA384,
        S::RsassaPssSha512 => &signature::RSA_PSS_2048_8192_SHA512,
        S::RsassaPkcs1V15Sha256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        S::RsassaPkcs1V15Sha384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        S::RsassaPkcs1V15Sha512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        _ => return None,
    })
}

fn ecdsa_verification(spec: KeySpec) -> Option<&'static dyn VerificationAlgorithm> {
    Some(match spec {
        KeySpec::EccNistP256 => &ECDSA_P256_SHA256_ASN1,
        KeySpec::EccNistP384 => &ECDSA_P384_SHA384_ASN1,
        KeySpec::EccNistP521 => &ECDSA_P521_SHA512_ASN1,
        KeySpec::EccSecgP256k1 => &ECDSA_P256K1_SHA256_ASN1,
        _ => return None,
    })
}

/// The digest to sign: the caller's (checked for length) or the hash of the raw message.
fn digest_of(alg: SigningAlgorithm, input: Input<'_>) -> Result<Digest, SignError> {
    let h = hash(alg);
    match input {
        Input::Raw(m) => Ok(digest::digest(h, m)),
        Input::Digest(d) => Digest::import_less_safe(d, h).map_err(|_| SignError::DigestLength),
    }
}

/// What Ed25519ph signs for `ED25519_PH_SHA_512`. KMS takes a 64-byte SHA-512 digest of the
/// message and still applies the Ed25519ph prehash to it ("the input is hashed twice", the
/// Sign API reference), so the signature is Ed25519ph over the digest as the message: a
/// standard Ed25519ph verifier checks it against the digest.
fn ph_digest(input: Input<'_>) -> Result<Digest, SignError> {
    match input {
        Input::Raw(_) => Err(SignError::RawNotAllowed),
        Input::Digest(d) if d.len() == SHA512.output_len() => Ok(digest::digest(&SHA512, d)),
        Input::Digest(_) => Err(SignError::DigestLength),
    }
}

/// Signs with a key of `spec` whose material is `material`; the algorithm must be one
/// DescribeKey lists for the key (the caller checks that first).
pub fn sign(
    spec: KeySpec,
    material: &Material,
    alg: SigningAlgorithm,
    input: Input<'_>,
) -> Result<Vec<u8>, SignError> {
    match material {
        Material::Rsa(key, _) => {
            let encoding = rsa_encoding(alg).ok_or(SignError::Algorithm)?;
            let d = digest_of(alg, input)?;
            let mut sig = vec![0u8; key.public_modulus_len()];
            key.sign_digest(encoding, &d, &mut sig)
                .map_err(|_| SignError::Algorithm)?;
            Ok(sig)
        }
        Material::Ecdsa(key, _) => {
            ecdsa_verification(spec).ok_or(SignError::Algorithm)?;
            let d = digest_of(alg, input)?;
            let sig = key.sign_digest(&d).map_err(|_| SignError::Algorithm)?;
            Ok(sig.as_ref().to_vec())
        }
        Material::Ed25519(key) => match (alg, input) {
            (SigningAlgorithm::Ed25519Sha512, Input::Raw(m)) => Ok(key.sign(m).as_ref().to_vec()),
            (SigningAlgorithm::Ed25519Sha512, Input::Digest(_)) => Err(SignError::DigestNotAllowed),
            (SigningAlgorithm::Ed25519PhSha512, input) => {
                super::ed25519ph::sign(key, ph_digest(input)?.as_ref()).ok_or(SignError::Algorithm)
            }
            _ => Err(SignError::Algorithm),
        },
        Material::Sm2(key) => {
            let (message, digest) = sm2_input(alg, input)?;
            key.sign(message, digest).ok_or(SignError::Algorithm)
        }
        Material::Symmetric(_) | Material::Hmac(_) => Err(SignError::Algorithm),
    }
}

/// SM2DSA signs a RAW message with the fixed distinguishing ID, or a DIGEST: the caller's
/// 32-byte `SM3(Z_A ‖ M)` (DG, "SM2 key spec").
fn sm2_input(alg: SigningAlgorithm, input: Input<'_>) -> Result<(&[u8], bool), SignError> {
    if alg != SigningAlgorithm::Sm2Dsa {
        return Err(SignError::Algorithm);
    }
    match input {
        Input::Raw(m) => Ok((m, false)),
        Input::Digest(d) if d.len() == 32 => Ok((d, true)),
        Input::Digest(_) => Err(SignError::DigestLength),
    }
}

/// Verifies a signature made with the key's private half; `Ok(false)` when it does not match.
pub fn verify(
    spec: KeySpec,
    material: &Material,
    alg: SigningAlgorithm,
    input: Input<'_>,
    sig: &[u8],
) -> Result<bool, SignError> {
    match material {
        Material::Rsa(key, _) => {
            let v = rsa_verification(alg).ok_or(SignError::Algorithm)?;
            let d = digest_of(alg, input)?;
            let public = UnparsedPublicKey::new(v, key.public_key().as_ref());
            Ok(public.verify_digest(&d, sig).is_ok())
        }
        Material::Ecdsa(key, _) => {
            let v = ecdsa_verification(spec).ok_or(SignError::Algorithm)?;
            let d = digest_of(alg, input)?;
            let public = UnparsedPublicKey::new(v, key.public_key().as_ref());
            Ok(public.verify_digest(&d, sig).is_ok())
        }
        Material::Ed25519(key) => match (alg, input) {
            (SigningAlgorithm::Ed25519Sha512, Input::Raw(m)) => {
                let public = UnparsedPublicKey::new(&ED25519, key.public_key().as_ref());
                Ok(public.verify(m, sig).is_ok())
            }
            (SigningAlgorithm::Ed25519Sha512, Input::Digest(_)) => Err(SignError::DigestNotAllowed),
            (SigningAlgorithm::Ed25519PhSha512, input) => Ok(super::ed25519ph::verify(
                key,
                ph_digest(input)?.as_ref(),
                sig,
            )),
            _ => Err(SignError::Algorithm),
        },
        Material::Sm2(key) => {
            let (message, digest) = sm2_input(alg, input)?;
            Ok(key.verify(message, digest, sig))
        }
        Material::Symmetric(_) | Material::Hmac(_) => Err(SignError::Algorithm),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::material::generate;
    use SigningAlgorithm as S;

    #[test]
    fn sign_then_verify_every_listed_algorithm() {
        use crate::domain::spec::{Algorithms, KeyUsage};
        for spec in [
            KeySpec::Rsa2048,
            KeySpec::EccNistP256,
            KeySpec::EccNistP384,
            KeySpec::EccNistP521,
            KeySpec::EccSecgP256k1,
            KeySpec::EccNistEdwards25519,
        ] {
            let m = Material::open(
                spec,
                &generate(spec, crate::domain::spec::SymmetricCipher::Aes256).unwrap(),
            )
            .unwrap();
            for alg in Algorithms::for_key(spec, KeyUsage::SignVerify).signing {
                let msg = b"imported asymmetric signing";
                let d = digest::digest(hash(alg), msg);
                match alg {
                    S::Ed25519Sha512 => {
                        let sig = sign(spec, &m, alg, Input::Raw(msg)).unwrap();
                        assert_eq!(verify(spec, &m, alg, Input::Raw(msg), &sig), Ok(true));
                        assert_eq!(verify(spec, &m, alg, Input::Raw(b"x"), &sig), Ok(false));
                        assert_eq!(
                            sign(spec, &m, alg, Input::Digest(&[0; 64])),
                            Err(SignError::DigestNotAllowed)
                        );
                        continue;
                    }
                    S::Ed25519PhSha512 => {
                        assert_eq!(
                            sign(spec, &m, alg, Input::Raw(msg)),
                            Err(SignError::RawNotAllowed)
                        );
                        let sig = sign(spec, &m, alg, Input::Digest(d.as_ref())).unwrap();
                        let input = Input::Digest(d.as_ref());
                        assert_eq!(verify(spec, &m, alg, input, &sig), Ok(true));
                        assert_eq!(
                            sign(spec, &m, alg, Input::Digest(&[0; 32])),
                            Err(SignError::DigestLength)
                        );
                        continue;
                    }
                    _ => {}
                }
                let sig = sign(spec, &m, alg, Input::Raw(msg)).unwrap();
                assert_eq!(
                    verify(spec, &m, alg, Input::Raw(msg), &sig),
                    Ok(true),
                    "{spec} {alg}"
                );
                assert_eq!(verify(spec, &m, alg, Input::Raw(b"other"), &sig), Ok(false));
                let sig2 = sign(spec, &m, alg, Input::Digest(d.as_ref())).unwrap();
                assert_eq!(
                    verify(spec, &m, alg, Input::Raw(msg), &sig2),
                    Ok(true),
                    "{spec} {alg}"
                );
                assert_eq!(
                    verify(spec, &m, alg, Input::Digest(d.as_ref()), &sig),
                    Ok(true)
                );
                assert_eq!(
                    sign(spec, &m, alg, Input::Digest(&d.as_ref()[1..])),
                    Err(SignError::DigestLength)
                );
            }
        }
    }
}
