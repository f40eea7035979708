//! Ed25519ph (RFC 8032 HashEdDSA), KMS's `ED25519_PH_SHA_512`: aws-lc implements it, but
//! aws-lc-rs does not expose it yet, so this calls aws-lc's C functions directly. The message
//! is always a SHA-512 digest here (KMS hashes RAW messages first), with an empty context.

use aws_lc_rs::encoding::{AsBigEndian, Curve25519SeedBin};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};

const SIGNATURE_LEN: usize = 64;

/// aws-lc's 64-byte Ed25519 private key: the seed followed by the public key.
fn private_key(key: &Ed25519KeyPair) -> Option<[u8; 64]> {
    let seed: Curve25519SeedBin = key.seed().ok()?.as_be_bytes().ok()?;
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(seed.as_ref());
    out[32..].copy_from_slice(key.public_key().as_ref());
    Some(out)
}

/// Signs a 64-byte SHA-512 digest.
pub fn sign(key: &Ed25519KeyPair, digest: &[u8]) -> Option<Vec<u8>> {
    let digest: &[u8; 64] = digest.try_into().ok()?;
    let private = private_key(key)?;
    let mut sig = [0u8; SIGNATURE_LEN];
    // SAFETY: every pointer is valid for the length aws-lc reads or writes (64-byte digest,
    // 64-byte private key, 64-byte signature); the context is empty.
    let ok = unsafe {
        aws_lc_sys::ED25519ph_sign_digest(
            sig.as_mut_ptr(),
            digest.as_ptr(),
            private.as_ptr(),
            std::ptr::null(),
            0,
        )
    };
    (ok == 1).then(|| sig.to_vec())
}

/// Verifies a signature over a 64-byte SHA-512 digest.
pub fn verify(key: &Ed25519KeyPair, digest: &[u8], sig: &[u8]) -> bool {
    let (Ok(digest), Ok(sig)) = (
        <&[u8; 64]>::try_from(digest),
        <&[u8; SIGNATURE_LEN]>::try_from(sig),
    ) else {
        return false;
    };
    let public: &[u8] = key.public_key().as_ref();
    // SAFETY: the digest and signature are 64 bytes and the public key 32, as aws-lc reads.
    let ok = unsafe {
        aws_lc_sys::ED25519ph_verify_digest(
            digest.as_ptr(),
            sig.as_ptr(),
            public.as_ptr(),
            std::ptr::null(),
            0,
        )
    };
    ok == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 8032, section 7.3, test vector "abc".
    #[test]
    fn rfc8032_test_vector() {
        let seed = unhex("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42");
        let key = Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
        assert_eq!(
            key.public_key().as_ref(),
            &unhex("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf")[..]
        );
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, b"abc");
        let sig = sign(&key, digest.as_ref()).unwrap();
        assert_eq!(
            sig,
            unhex(
                "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41\
                 31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406"
            )
        );
        assert!(verify(&key, digest.as_ref(), &sig));
        assert!(!verify(&key, &[0; 64], &sig));
        assert!(sign(&key, &[0; 32]).is_none());
    }
}
