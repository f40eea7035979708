//! Sealing: AES-256-GCM under the deployment's secret, for everything the mock keeps or hands
//! out that must not be readable or forgeable: import tokens, the saved wrapping-key pool,
//! key material at rest.
//!
//! Layout: `version (1) | nonce (12) | ciphertext | tag (16)`. The purpose is bound as AAD, so
//! a blob sealed for one purpose never opens as another.

pub use crate::values::Sealed;
use std::fmt;
use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};

const VERSION: u8 = 1;
pub const SECRET_LEN: usize = 32;

/// What a sealed blob is for; bound into the AEAD as associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    ImportToken,
    WrappingKeyPool,
    KeyMaterial,
}

impl Purpose {
    fn aad(self) -> &'static [u8] {
        match self {
            Purpose::ImportToken => b"kms-import-mock/import-token/v1",
            Purpose::WrappingKeyPool => b"kms-import-mock/wrapping-key-pool/v1",
            Purpose::KeyMaterial => b"kms-import-mock/key-material/v1",
        }
    }
}

/// The sealing key, derived from the 32-byte secret.
pub struct Sealer {
    key: RandomizedNonceKey,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    pub fn new(secret: &[u8; SECRET_LEN]) -> Self {
        Self {
            key: RandomizedNonceKey::new(&AES_256_GCM, secret).expect("32-byte AES-256 key"),
        }
    }

    /// A sealer under a fresh random secret (tests, throwaway stores).
    pub fn random() -> Self {
        Self::new(&random_secret())
    }

    pub fn seal(&self, purpose: Purpose, plaintext: &[u8]) -> Vec<u8> {
        self.seal_bound(purpose, b"", plaintext)
    }

    /// Seals bound to `context` as well as the purpose: the blob opens only with the same
    /// context (key material is bound to its key and version, so it cannot be moved).
    pub fn seal_bound(&self, purpose: Purpose, context: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut buf = plaintext.to_vec();
        let nonce = self
            .key
            .seal_in_place_append_tag(Aad::from(aad(purpose, context)), &mut buf)
            .expect("AES-GCM seal");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + buf.len());
        out.push(VERSION);
        out.extend_from_slice(nonce.as_ref());
        out.extend_from_slice(&buf);
        out
    }

    /// `None` when the blob was altered, sealed under another secret or for another purpose.
    pub fn open(&self, purpose: Purpose, sealed: &[u8]) -> Option<Vec<u8>> {
        self.open_bound(purpose, b"", sealed)
    }

    /// Opens what [`seal_bound`](Self::seal_bound) sealed with the same context.
    pub fn open_bound(&self, purpose: Purpose, context: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        let (&version, rest) = sealed.split_first()?;
        if version != VERSION || rest.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return None;
        }
        let (nonce, ct) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = ct.to_vec();
        let len = self
            .key
            .open_in_place(nonce, Aad::from(aad(purpose, context)), &mut buf)
            .ok()?
            .len();
        buf.truncate(len);
        Some(buf)
    }
}

fn aad(purpose: Purpose, context: &[u8]) -> Vec<u8> {
    let mut aad = purpose.aad().to_vec();
    if !context.is_empty() {
        aad.push(0);
        aad.extend_from_slice(context);
    }
    aad
}

/// A sealing secret made from a text (a Secrets Manager string): its SHA-256.
#[cfg(feature = "aws")]
pub fn secret_from_text(text: &str) -> [u8; SECRET_LEN] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    digest.as_ref().try_into().expect("SHA-256 is 32 bytes")
}

pub fn random_secret() -> [u8; SECRET_LEN] {
    let mut s = [0u8; SECRET_LEN];
    aws_lc_rs::rand::fill(&mut s).expect("system randomness");
    s
}

/// Reads the secret kept in `path`, creating it on first use. Several processes may race to
/// create it: the file is written aside and hard-linked into place, so exactly one secret wins
/// and every process reads that one.
pub fn load_or_create_secret(path: &Path) -> std::io::Result<[u8; SECRET_LEN]> {
    use std::io::{Error, ErrorKind, Write};
    fn read(path: &Path) -> std::io::Result<[u8; SECRET_LEN]> {
        let bytes = std::fs::read(path)?;
        bytes.as_slice().try_into().map_err(|_| {
            Error::new(
                ErrorKind::InvalidData,
                format!("{} must hold exactly {SECRET_LEN} bytes", path.display()),
            )
        })
    }
    match read(path) {
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        other => return other,
    }
    let secret = random_secret();
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp)?;
        f.write_all(&secret)?;
        f.sync_all()?;
    }
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(secret),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => read(path),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let s = Sealer::random();
        let blob = s.seal(Purpose::ImportToken, b"hello");
        assert_eq!(blob.len(), 1 + 12 + 5 + 16);
        assert_eq!(s.open(Purpose::ImportToken, &blob).unwrap(), b"hello");
        assert!(s.open(Purpose::KeyMaterial, &blob).is_none());
        for i in 0..blob.len() {
            for bit in 0..8 {
                let mut t = blob.clone();
                t[i] ^= 1 << bit;
                assert!(
                    s.open(Purpose::ImportToken, &t).is_none(),
                    "byte {i} bit {bit}"
                );
            }
        }
        assert!(Sealer::random().open(Purpose::ImportToken, &blob).is_none());
        assert!(s.open(Purpose::ImportToken, &blob[..10]).is_none());
        assert!(s.open(Purpose::ImportToken, &[]).is_none());
        let bound = s.seal_bound(Purpose::KeyMaterial, b"key-a", b"secret");
        assert_eq!(
            s.open_bound(Purpose::KeyMaterial, b"key-a", &bound)
                .unwrap(),
            b"secret"
        );
        assert!(
            s.open_bound(Purpose::KeyMaterial, b"key-b", &bound)
                .is_none()
        );
        assert!(s.open(Purpose::KeyMaterial, &bound).is_none());
    }

    #[test]
    fn secret_file_is_created_once() {
        let dir = std::env::temp_dir().join(format!("kms-secret-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("token-secret");
        let a = load_or_create_secret(&p).unwrap();
        let b = load_or_create_secret(&p).unwrap();
        assert_eq!(a, b);
        std::fs::write(&p, b"short").unwrap();
        assert!(load_or_create_secret(&p).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
