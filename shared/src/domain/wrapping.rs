//! Which wrapping algorithm and wrapping key spec can carry which key material: AWS's
//! compatibility matrix for GetParametersForImport.

use super::spec::{KeyFamily, KeySpec, WrappingAlgorithm, WrappingKeySpec};
use crate::error::{KmsError, KmsResult};

/// Checks that material of `key_spec` can be imported with this wrapping algorithm and
/// wrapping key spec, in a region of the China partition or not.
///
/// * `RSAES_PKCS1_V1_5` is no longer supported for any key.
/// * SM2 wrapping (`SM2PKE` with an `SM2` wrapping key) exists only in the China regions, and
///   the RSA algorithms only go with RSA wrapping keys. It carries RSA, ECC and SM2 private
///   keys, never symmetric or HMAC material (DG, "Select a wrapping algorithm").
/// * Symmetric keys take only the RSAES_OAEP algorithms; RSA private keys only the
///   RSA_AES_KEY_WRAP (hybrid) ones, since they are longer than any RSA-OAEP plaintext, except
///   in the China regions, where RSA_AES_KEY_WRAP does not exist and RSA keys need SM2PKE.
/// * With RSAES_OAEP and an RSA_2048 wrapping key, ECC_NIST_P521 and Ed25519 private keys are
///   refused (AWS refuses them in the captures).
///
/// A refusal is AWS's `ValidationException` "Wrapping algorithm X and wrapping key spec Y
/// cannot be used to import a Z key." (AWS writes "a" before every spec; the China Regions'
/// refusals were not captured and are taken to read the same).
pub fn check(
    key_spec: KeySpec,
    algorithm: WrappingAlgorithm,
    wrapping_key_spec: WrappingKeySpec,
    china: bool,
) -> KmsResult<()> {
    use WrappingAlgorithm as A;
    let allowed = match algorithm {
        A::RsaesPkcs1V15 => false,
        A::Sm2Pke => {
            china
                && wrapping_key_spec == WrappingKeySpec::Sm2
                && matches!(
                    key_spec.family(),
                    KeyFamily::Rsa | KeyFamily::Ecc | KeyFamily::Sm2
                )
        }
        A::RsaesOaepSha1 | A::RsaesOaepSha256 => {
            wrapping_key_spec != WrappingKeySpec::Sm2
                && match key_spec.family() {
                    KeyFamily::Rsa => false,
                    KeyFamily::Ecc => {
                        wrapping_key_spec != WrappingKeySpec::Rsa2048
                            || !matches!(
                                key_spec,
                                KeySpec::EccNistP521 | KeySpec::EccNistEdwards25519
                            )
                    }
                    _ => true,
                }
        }
        A::RsaAesKeyWrapSha1 | A::RsaAesKeyWrapSha256 => {
            !china
                && wrapping_key_spec != WrappingKeySpec::Sm2
                && key_spec.family() != KeyFamily::Symmetric
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(KmsError::validation(format!(
            "Wrapping algorithm {algorithm} and wrapping key spec {wrapping_key_spec} cannot be used to import a {key_spec} key."
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use KeySpec as K;
    use WrappingAlgorithm as A;
    use WrappingKeySpec as W;

    fn ok(k: KeySpec, a: WrappingAlgorithm, w: WrappingKeySpec) -> bool {
        check(k, a, w, false).is_ok()
    }

    #[test]
    fn captured_refusals_have_aws_text() {
        let e = check(K::SymmetricDefault, A::RsaesPkcs1V15, W::Rsa2048, false).unwrap_err();
        assert_eq!(
            e.message(),
            Some(
                "Wrapping algorithm RSAES_PKCS1_V1_5 and wrapping key spec RSA_2048 cannot be used to import a SYMMETRIC_DEFAULT key."
            )
        );
        let e = check(K::EccNistP521, A::RsaesOaepSha256, W::Rsa2048, false).unwrap_err();
        assert_eq!(
            e.message(),
            Some(
                "Wrapping algorithm RSAES_OAEP_SHA_256 and wrapping key spec RSA_2048 cannot be used to import a ECC_NIST_P521 key."
            )
        );
    }

    #[test]
    fn matrix_matches_the_captures() {
        // Symmetric: OAEP only.
        assert!(ok(K::SymmetricDefault, A::RsaesOaepSha256, W::Rsa2048));
        assert!(ok(K::SymmetricDefault, A::RsaesOaepSha1, W::Rsa3072));
        assert!(!ok(K::SymmetricDefault, A::RsaAesKeyWrapSha256, W::Rsa2048));
        assert!(!ok(K::SymmetricDefault, A::RsaAesKeyWrapSha256, W::Rsa3072));
        // RSA private keys: hybrid only, any RSA wrapping size.
        for k in [K::Rsa2048, K::Rsa3072, K::Rsa4096] {
            assert!(!ok(k, A::RsaesOaepSha256, W::Rsa2048));
            assert!(!ok(k, A::RsaesOaepSha1, W::Rsa4096));
            assert!(ok(k, A::RsaAesKeyWrapSha256, W::Rsa3072));
            assert!(ok(k, A::RsaAesKeyWrapSha256, W::Rsa2048));
        }
        // ECC.
        for k in [K::EccNistP256, K::EccNistP384, K::EccSecgP256k1] {
            assert!(ok(k, A::RsaesOaepSha256, W::Rsa2048));
        }
        for k in [K::EccNistP521, K::EccNistEdwards25519] {
            assert!(!ok(k, A::RsaesOaepSha256, W::Rsa2048));
            assert!(!ok(k, A::RsaesOaepSha1, W::Rsa2048));
            assert!(ok(k, A::RsaesOaepSha256, W::Rsa3072));
            assert!(ok(k, A::RsaAesKeyWrapSha256, W::Rsa2048));
        }
        // HMAC.
        for k in [K::Hmac224, K::Hmac256, K::Hmac384, K::Hmac512] {
            assert!(ok(k, A::RsaesOaepSha256, W::Rsa2048));
        }
    }

    #[test]
    fn sm2_only_in_china() {
        let china = |k, a, w| check(k, a, w, true).is_ok();
        assert!(!ok(K::EccNistP256, A::Sm2Pke, W::Sm2));
        assert!(!ok(K::Rsa2048, A::Sm2Pke, W::Sm2));
        // SM2PKE carries asymmetric private keys only (the guide's wrapping table).
        for k in [
            K::Rsa2048,
            K::Rsa4096,
            K::EccNistP256,
            K::EccNistP521,
            K::Sm2,
        ] {
            assert!(china(k, A::Sm2Pke, W::Sm2), "{k}");
            assert!(!china(k, A::Sm2Pke, W::Rsa4096), "{k}");
        }
        for k in [K::SymmetricDefault, K::Hmac256] {
            assert!(!china(k, A::Sm2Pke, W::Sm2), "{k}");
            assert!(china(k, A::RsaesOaepSha256, W::Rsa2048), "{k}");
        }
        // RSA_AES_KEY_WRAP does not exist in China: RSA keys need SM2PKE there.
        assert!(!china(K::Rsa2048, A::RsaAesKeyWrapSha256, W::Rsa4096));
        assert!(!china(K::EccNistP256, A::RsaAesKeyWrapSha1, W::Rsa4096));
        assert!(china(K::EccNistP256, A::RsaesOaepSha256, W::Rsa4096));
        assert!(china(K::Sm2, A::RsaesOaepSha1, W::Rsa3072));
        assert!(!china(K::SymmetricDefault, A::RsaesOaepSha256, W::Sm2));
        assert!(!ok(K::SymmetricDefault, A::RsaesOaepSha256, W::Sm2));
        assert_eq!(
            check(K::Rsa2048, A::RsaAesKeyWrapSha256, W::Rsa4096, true)
                .unwrap_err()
                .message(),
            Some(
                "Wrapping algorithm RSA_AES_KEY_WRAP_SHA_256 and wrapping key spec RSA_4096 cannot be used to import a RSA_2048 key."
            )
        );
    }
}
