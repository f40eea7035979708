//! SM2 (GB/T 32918, the China Regions' public-key algorithm) on RustCrypto's `sm2`, since
//! aws-lc has none: key pairs as PKCS#8 and SubjectPublicKeyInfo (`id-ecPublicKey` with the
//! curve `1.2.156.10197.1.301`, what OpenSSL writes), SM2PKE encryption in the DER form
//! `SEQUENCE { x, y, C3 (SM3), C2 }` that AWS's guide and OpenSSL use, SM2DSA signatures with
//! the distinguishing ID KMS fixes, and ECDH.

use sm2::dsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use sm2::dsa::signature::{Signer, Verifier};
use sm2::dsa::{Signature, SigningKey, VerifyingKey};
use sm2::elliptic_curve::Generate;
use sm2::elliptic_curve::common::getrandom::SysRng;
use sm2::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use sm2::pke::{DecryptingKey, EncryptingKey};
use sm2::{PublicKey, SecretKey};

/// The distinguishing ID of SM2DSA over RAW messages: KMS always uses GM/T 0009-2012's default
/// and it cannot be changed (DIGEST messages carry a Z computed with any ID).
pub const DISTINGUISHING_ID: &str = "1234567812345678";

/// Longest plaintext SM2PKE Encrypt takes (the model's Encrypt documentation).
pub const MAX_PLAINTEXT: usize = 1024;

/// An SM2 private key, with its decrypting form made once (that costs a scalar
/// multiplication, as much as a decryption).
#[derive(Clone)]
pub struct Sm2Key {
    secret: SecretKey,
    decrypting: DecryptingKey,
}

impl std::fmt::Debug for Sm2Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sm2Key(..)")
    }
}

impl Sm2Key {
    /// A fresh key (tens of microseconds: fine on the request path).
    pub fn generate() -> Self {
        Self::new(SecretKey::generate())
    }

    fn new(secret: SecretKey) -> Self {
        Sm2Key {
            decrypting: DecryptingKey::new(secret.clone()),
            secret,
        }
    }

    /// Reads a PKCS#8 SM2 private key (`None` for anything else, other curves included).
    pub fn from_pkcs8(der: &[u8]) -> Option<Self> {
        SecretKey::from_pkcs8_der(der).ok().map(Self::new)
    }

    /// PKCS#8 DER, with the public key, as the crate writes it: the canonical form.
    pub fn to_pkcs8(&self) -> Vec<u8> {
        self.secret
            .to_pkcs8_der()
            .expect("PKCS#8 encoding of an SM2 key")
            .as_bytes()
            .to_vec()
    }

    /// DER SubjectPublicKeyInfo.
    pub fn public_key_der(&self) -> Vec<u8> {
        self.public()
            .to_public_key_der()
            .expect("SPKI encoding of an SM2 key")
            .as_bytes()
            .to_vec()
    }

    /// The public key, as the decrypting key computed it: each computation is a scalar
    /// multiplication (GetParametersForImport's SM2 handler took 166 µs computing it four
    /// times, 116 µs with two; `benches/get_parameters_for_import`).
    fn public(&self) -> PublicKey {
        PublicKey::from_affine(*self.decrypting.encrypting_key().as_affine())
            .expect("a key's own public point")
    }

    /// SM2PKE decryption of a DER ciphertext; `None` for anything that does not decrypt.
    pub fn decrypt(&self, ciphertext: &[u8]) -> Option<Vec<u8>> {
        self.decrypting.decrypt_der(ciphertext).ok()
    }

    /// SM2PKE encryption to this key's public half, DER ciphertext.
    pub fn encrypt(&self, plaintext: &[u8]) -> Option<Vec<u8>> {
        encrypt_to(&self.public(), plaintext)
    }

    /// SM2DSA over a RAW message (with [`DISTINGUISHING_ID`]) or over a DIGEST `e` the caller
    /// computed (`SM3(Z_A ‖ M)`, 32 bytes); DER `SEQUENCE { r, s }`.
    pub fn sign(&self, message: &[u8], digest: bool) -> Option<Vec<u8>> {
        let key = SigningKey::new(DISTINGUISHING_ID, &self.secret).ok()?;
        let sig: Signature = if digest {
            key.sign_prehash(message).ok()?
        } else {
            key.try_sign(message).ok()?
        };
        Some(sig.to_der().as_bytes().to_vec())
    }

    pub fn verify(&self, message: &[u8], digest: bool, signature: &[u8]) -> bool {
        let Ok(sig) = Signature::from_der(signature) else {
            return false;
        };
        let Ok(key) = VerifyingKey::new(DISTINGUISHING_ID, self.public()) else {
            return false;
        };
        if digest {
            key.verify_prehash(message, &sig).is_ok()
        } else {
            key.verify(message, &sig).is_ok()
        }
    }

    /// ECDH with a peer's SM2 public key (DER SPKI): the shared x coordinate, 32 bytes.
    pub fn derive(&self, peer_spki: &[u8]) -> Option<Vec<u8>> {
        let peer = PublicKey::from_public_key_der(peer_spki).ok()?;
        let shared =
            elliptic_curve::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), peer.as_affine());
        Some(shared.raw_secret_bytes().to_vec())
    }
}

/// SM2PKE encryption to a public key, DER ciphertext.
fn encrypt_to(public: &PublicKey, plaintext: &[u8]) -> Option<Vec<u8>> {
    EncryptingKey::new(*public)
        .encrypt_der(&mut SysRng, plaintext)
        .ok()
}

/// SM2PKE encryption to a DER SubjectPublicKeyInfo (what a client does with a wrapping key).
#[cfg(test)]
pub fn encrypt_to_spki(spki: &[u8], plaintext: &[u8]) -> Option<Vec<u8>> {
    encrypt_to(&PublicKey::from_public_key_der(spki).ok()?, plaintext)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_every_operation_works() {
        let k = Sm2Key::generate();
        let der = k.to_pkcs8();
        let back = Sm2Key::from_pkcs8(&der).unwrap();
        assert_eq!(back.to_pkcs8(), der);
        let spki = k.public_key_der();
        // id-ecPublicKey with the SM2 curve, as OpenSSL writes it (the facts' base64 prefix).
        use base64::Engine;
        assert!(
            base64::engine::general_purpose::STANDARD
                .encode(&spki)
                .starts_with("MFkwEwYHKoZIzj0CAQYIKoEcz1UBgi0DQgAE")
        );
        let ct = encrypt_to_spki(&spki, b"material").unwrap();
        assert_eq!(ct[0], 0x30, "DER SEQUENCE");
        assert_eq!(back.decrypt(&ct).as_deref(), Some(&b"material"[..]));
        let mut bad = ct.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(back.decrypt(&bad), None);
        let sig = k.sign(b"message", false).unwrap();
        assert!(back.verify(b"message", false, &sig));
        assert!(!back.verify(b"other", false, &sig));
        let other = Sm2Key::generate();
        assert_eq!(
            k.derive(&other.public_key_der()),
            other.derive(&k.public_key_der())
        );
        assert!(Sm2Key::from_pkcs8(b"not a key").is_none());
    }
}
