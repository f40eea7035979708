//! Key resolution, in one place: a `KeyId` parameter may be a key id, a key ARN and, for the
//! operations that accept them, an alias name or alias ARN. The answer is the key record, or
//! AWS's NotFoundException / InvalidArnException.

use super::{Kms, RequestContext};
use crate::clock::Timestamp;
pub use crate::domain::arn::is_key_id;
use crate::domain::arn::{Arn, Scope, partition_of};
use crate::domain::key::KeyRecord;
use crate::error::{ErrorCode, KmsError, KmsResult};
use crate::protocol::operation::Operation;
use crate::store::{KeyStore, Versioned};

/// Whether an operation accepts aliases in its `KeyId`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aliases {
    Accepted,
    /// An alias names no key here: NotFoundException for the alias.
    Refused,
    /// The operation takes no alias at all: InvalidArnException (ReplicateKey and
    /// UpdatePrimaryRegion, captured).
    Unsupported,
}

impl Aliases {
    /// Whether `op`'s `KeyId` may name an alias, as its handler resolves it (the policy
    /// sidecar resolves with the same answer, so both find the same key or the same error).
    pub fn in_key_id(op: Operation) -> Aliases {
        use Operation::*;
        match op {
            DescribeKey
            | GetPublicKey
            | Encrypt
            | Decrypt
            | GenerateDataKey
            | GenerateDataKeyWithoutPlaintext
            | GenerateDataKeyPair
            | GenerateDataKeyPairWithoutPlaintext
            | Sign
            | Verify
            | GenerateMac
            | VerifyMac
            | DeriveSharedSecret => Aliases::Accepted,
            ReplicateKey | UpdatePrimaryRegion => Aliases::Unsupported,
            _ => Aliases::Refused,
        }
    }
}

/// A key identifier as the client wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    KeyId(String),
    KeyArn { scope: Scope, key_id: String },
    AliasName(String),
    AliasArn { scope: Scope, alias_name: String },
}

pub(crate) fn not_found_key(arn: &str) -> KmsError {
    KmsError::not_found(format!("Key '{arn}' does not exist"))
}

fn not_found_alias(alias_arn: &str) -> KmsError {
    KmsError::not_found(format!("Alias {alias_arn} is not found."))
}

fn invalid_arn(input: &str) -> KmsError {
    KmsError::new(ErrorCode::InvalidArn, format!("Invalid arn {input}"))
}

impl KeyRef {
    /// Reads a `KeyId` parameter. Which scope a bare id or alias name refers to is the
    /// caller's; an ARN names its own.
    pub fn parse(input: &str) -> KmsResult<KeyRef> {
        if input.starts_with("arn:") {
            let arn = Arn::parse(input).ok_or_else(|| invalid_arn(input))?;
            if arn.service != "kms" || arn.partition != partition_of(arn.region) {
                return Err(invalid_arn(input));
            }
            let scope = arn.scope();
            if let Some(key_id) = arn.resource.strip_prefix("key/") {
                return Ok(KeyRef::KeyArn {
                    scope,
                    key_id: key_id.to_string(),
                });
            }
            if arn.resource.starts_with("alias/") {
                return Ok(KeyRef::AliasArn {
                    scope,
                    alias_name: arn.resource.to_string(),
                });
            }
            return Err(invalid_arn(input));
        }
        if input.starts_with("alias/") {
            return Ok(KeyRef::AliasName(input.to_string()));
        }
        Ok(KeyRef::KeyId(input.to_string()))
    }
}

impl Kms {
    /// The key a `KeyId` parameter names, as the store holds it now.
    pub(crate) async fn resolve(
        &self,
        ctx: &RequestContext,
        input: &str,
        aliases: Aliases,
    ) -> KmsResult<Versioned<KeyRecord>> {
        resolve_key(
            self.store.as_ref(),
            self.clock.now(),
            &ctx.scope,
            input,
            aliases,
        )
        .await
    }
}

/// The key a `KeyId` parameter names for a caller in `caller_scope`, as `store` holds it at
/// `now`. The endpoint and the policy sidecar both resolve keys through this.
pub async fn resolve_key(
    store: &dyn KeyStore,
    now: Timestamp,
    caller_scope: &Scope,
    input: &str,
    aliases: Aliases,
) -> KmsResult<Versioned<KeyRecord>> {
    let (scope, key_id) = match KeyRef::parse(input)? {
        KeyRef::KeyId(id) => {
            if !is_key_id(&id) {
                return Err(KmsError::not_found(format!("Invalid keyId '{id}'")));
            }
            (caller_scope.clone(), id)
        }
        KeyRef::KeyArn { scope, key_id } => {
            if scope.region != caller_scope.region {
                return Err(invalid_arn(input));
            }
            (scope, key_id)
        }
        KeyRef::AliasName(_) | KeyRef::AliasArn { .. } if aliases == Aliases::Unsupported => {
            return Err(KmsError::new(
                ErrorCode::InvalidArn,
                "Key Aliases are not supported for this operation.",
            ));
        }
        KeyRef::AliasName(name)
        | KeyRef::AliasArn {
            alias_name: name, ..
        } if aliases == Aliases::Refused => {
            return Err(not_found_alias(&caller_scope.alias_arn(&name)));
        }
        KeyRef::AliasName(name) => alias_target(store, caller_scope, &name).await?,
        KeyRef::AliasArn { scope, alias_name } => {
            if scope.region != caller_scope.region {
                return Err(invalid_arn(input));
            }
            alias_target(store, &scope, &alias_name).await?
        }
    };
    load_key(store, now, &scope, &key_id)
        .await?
        .ok_or_else(|| not_found_key(&scope.key_arn(&key_id)))
}

/// A key as it is at `now`, or `None` once it is gone: a key whose deletion date has passed
/// is purged (best effort), a rotation that has come due is applied, and a replica carries
/// its primary's shared properties (`service::replicas`).
pub(crate) async fn load_key(
    store: &dyn KeyStore,
    now: Timestamp,
    scope: &Scope,
    key_id: &str,
) -> KmsResult<Option<Versioned<KeyRecord>>> {
    let Some(mut v) = store.get_key(scope, key_id).await? else {
        return Ok(None);
    };
    if v.record.is_deleted(now) {
        let _ = store.remove_key(scope, key_id, v.version).await;
        return Ok(None);
    }
    super::replicas::share(store, now, &mut v).await?;
    v.record.settle(now);
    Ok(Some(v))
}

async fn alias_target(
    store: &dyn KeyStore,
    scope: &Scope,
    alias_name: &str,
) -> KmsResult<(Scope, String)> {
    match store.get_alias(scope, alias_name).await? {
        Some(a) => Ok((scope.clone(), a.target_key_id)),
        None => Err(not_found_alias(&scope.alias_arn(alias_name))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_id_forms() {
        assert!(is_key_id("1234abcd-12ab-34cd-56ef-1234567890ab"));
        assert!(is_key_id("mrk-1234abcd12ab34cd56ef1234567890ab"));
        assert!(!is_key_id("mrk-1234abcd12ab34cd56ef1234567890a"));
        assert!(!is_key_id("1234abcd12ab34cd56ef1234567890ab"));
        assert!(!is_key_id("foo"));
        assert!(!is_key_id("{1234abcd-12ab-34cd-56ef-1234567890ab}"));
    }

    #[test]
    fn key_ref_forms() {
        let s = Scope::new("111122223333", "us-east-1");
        assert_eq!(
            KeyRef::parse("arn:aws:kms:us-east-1:111122223333:key/k").unwrap(),
            KeyRef::KeyArn {
                scope: s.clone(),
                key_id: "k".into()
            }
        );
        assert_eq!(
            KeyRef::parse("arn:aws:kms:us-east-1:111122223333:alias/a").unwrap(),
            KeyRef::AliasArn {
                scope: s,
                alias_name: "alias/a".into()
            }
        );
        assert_eq!(
            KeyRef::parse("alias/a").unwrap(),
            KeyRef::AliasName("alias/a".into())
        );
        for bad in [
            "arn:aws:kms:us-east-1:111122223333",
            "arn:aws:s3:us-east-1:111122223333:key/k",
            "arn:aws:kms:us-east-1:111122223333:grant/k",
            "arn:aws-cn:kms:us-east-1:111122223333:key/k",
        ] {
            assert_eq!(
                KeyRef::parse(bad).unwrap_err().code,
                ErrorCode::InvalidArn,
                "{bad}"
            );
        }
    }
}
