//! Import tokens: stateless and self-contained, so any instance can verify one later.
//!
//! A token is an AEAD-sealed blob ([`Purpose::ImportToken`]) holding the key ARN, the scope,
//! the wrapping algorithm and key spec, the expiry and the wrapping private key (PKCS#8).
//! As AWS's tokens, it stays valid for any number of imports into its key until it expires,
//! and several can be outstanding for one key.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::crypto::seal::{Purpose, Sealer};
use crate::domain::spec::{WrappingAlgorithm, WrappingKeySpec};
use crate::error::{ErrorCode, KmsError, KmsResult};

/// What a token carries.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportToken {
    pub key_arn: String,
    pub account: String,
    pub region: String,
    pub wrapping_algorithm: WrappingAlgorithm,
    pub wrapping_key_spec: WrappingKeySpec,
    pub expires_at: Timestamp,
    /// Base64 PKCS#8 of the wrapping private key.
    wrapping_key: String,
}

impl std::fmt::Debug for ImportToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportToken")
            .field("key_arn", &self.key_arn)
            .field("wrapping_algorithm", &self.wrapping_algorithm)
            .field("wrapping_key_spec", &self.wrapping_key_spec)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl ImportToken {
    pub fn new(
        key_arn: String,
        account: String,
        region: String,
        wrapping_algorithm: WrappingAlgorithm,
        wrapping_key_spec: WrappingKeySpec,
        expires_at: Timestamp,
        wrapping_key_pkcs8: &[u8],
    ) -> Self {
        Self {
            key_arn,
            account,
            region,
            wrapping_algorithm,
            wrapping_key_spec,
            expires_at,
            wrapping_key: B64.encode(wrapping_key_pkcs8),
        }
    }

    /// The wrapping private key, PKCS#8 DER; never log it.
    pub fn wrapping_key_pkcs8(&self) -> Vec<u8> {
        B64.decode(&self.wrapping_key)
            .expect("token content was sealed by us")
    }

    /// Seals the token for the wire.
    pub fn seal(&self, sealer: &Sealer) -> Vec<u8> {
        let plain = serde_json::to_vec(self).expect("token serializes");
        sealer.seal(Purpose::ImportToken, &plain)
    }

    /// Opens a token presented for an import into `key_arn` at time `now`.
    ///
    /// A token that was altered, sealed under another secret or minted for another key is
    /// `InvalidImportTokenException`, which AWS sends without a message. An expired one is
    /// `ExpiredImportTokenException`; AWS's message for it was never captured, so it is sent
    /// bare as well.
    pub fn open(sealer: &Sealer, sealed: &[u8], key_arn: &str, now: Timestamp) -> KmsResult<Self> {
        let invalid = || KmsError::bare(ErrorCode::InvalidImportToken);
        let plain = sealer
            .open(Purpose::ImportToken, sealed)
            .ok_or_else(invalid)?;
        let token: ImportToken = serde_json::from_slice(&plain).map_err(|_| invalid())?;
        if token.key_arn != key_arn {
            return Err(invalid());
        }
        if now >= token.expires_at {
            return Err(KmsError::bare(ErrorCode::ExpiredImportToken));
        }
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/a";

    fn token(expires: i64) -> ImportToken {
        ImportToken::new(
            ARN.into(),
            "111122223333".into(),
            "us-east-1".into(),
            WrappingAlgorithm::RsaesOaepSha256,
            WrappingKeySpec::Rsa4096,
            Timestamp::from_secs(expires),
            b"private",
        )
    }

    #[test]
    fn opens_until_expiry_and_only_for_its_key() {
        let s = Sealer::random();
        let sealed = token(100).seal(&s);
        let t = ImportToken::open(&s, &sealed, ARN, Timestamp::from_secs(99)).unwrap();
        assert_eq!(t, token(100));
        assert_eq!(t.wrapping_key_pkcs8(), b"private");
        // Reusable: opening does not consume it.
        ImportToken::open(&s, &sealed, ARN, Timestamp::from_secs(99)).unwrap();

        let e = ImportToken::open(&s, &sealed, ARN, Timestamp::from_secs(100)).unwrap_err();
        assert_eq!(e, KmsError::bare(ErrorCode::ExpiredImportToken));
        let other = "arn:aws:kms:us-east-1:111122223333:key/b";
        let e = ImportToken::open(&s, &sealed, other, Timestamp::from_secs(1)).unwrap_err();
        assert_eq!(e, KmsError::bare(ErrorCode::InvalidImportToken));
        let e = ImportToken::open(&Sealer::random(), &sealed, ARN, Timestamp::from_secs(1))
            .unwrap_err();
        assert_eq!(e, KmsError::bare(ErrorCode::InvalidImportToken));
    }

    #[test]
    fn every_altered_bit_is_refused() {
        let s = Sealer::random();
        let sealed = token(100).seal(&s);
        for i in 0..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 0x01 << (i % 8);
            let e = ImportToken::open(&s, &t, ARN, Timestamp::from_secs(1)).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidImportToken);
        }
        assert!(!format!("{:?}", token(1)).contains("private"));
    }
}
