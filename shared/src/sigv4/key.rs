//! The signing key, derived from a secret and a credential scope, and the signature under it.

use aws_lc_rs::hmac;

use super::canonical::sha256_hex;
use super::parse::CredentialScope;
use super::request::ALGORITHM;

/// The hex signature of a canonical request: the string to sign, under the key derived from
/// the secret and the credential scope.
pub fn signature(secret: &str, scope: &CredentialScope, amz_date: &str, canonical: &str) -> String {
    let to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{}/{}/{}/aws4_request\n{}",
        scope.date,
        scope.region,
        scope.service,
        sha256_hex(canonical.as_bytes())
    );
    let tag = SIGNING_KEY.with_borrow_mut(|cached| {
        let fresh = cached.as_ref().is_none_or(|c| {
            (
                c.secret.as_str(),
                c.date.as_str(),
                c.region.as_str(),
                c.service.as_str(),
            ) != (
                secret,
                scope.date.as_str(),
                scope.region.as_str(),
                scope.service.as_str(),
            )
        });
        if fresh {
            *cached = Some(SigningKey::derive(secret, scope));
        }
        let key = &cached.as_ref().expect("derived").key;
        hmac::sign(key, to_sign.as_bytes())
    });
    hex::encode(tag)
}

/// A key derived from a secret and a credential scope, which stays the same all day: SDKs
/// sign many requests with one credential, and deriving it takes four HMACs.
struct SigningKey {
    secret: String,
    date: String,
    region: String,
    service: String,
    key: hmac::Key,
}

impl SigningKey {
    fn derive(secret: &str, scope: &CredentialScope) -> Self {
        let mac = |key: &[u8], data: &str| {
            hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
        };
        let k = mac(format!("AWS4{secret}").as_bytes(), &scope.date);
        let k = mac(k.as_ref(), &scope.region);
        let k = mac(k.as_ref(), &scope.service);
        let k = mac(k.as_ref(), "aws4_request");
        Self {
            secret: secret.to_string(),
            date: scope.date.clone(),
            region: scope.region.clone(),
            service: scope.service.clone(),
            key: hmac::Key::new(hmac::HMAC_SHA256, k.as_ref()),
        }
    }
}

thread_local! {
    /// The last signing key this thread derived.
    static SIGNING_KEY: std::cell::RefCell<Option<SigningKey>> = const { std::cell::RefCell::new(None) };
}
