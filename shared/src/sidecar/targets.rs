//! What a request acts on, resolved as the endpoint will resolve it, and the cache of keys.

use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use super::{KEY_CACHE_TTL, Sidecar};
use crate::domain::arn::Scope;
use crate::domain::key::KeyRecord;
use crate::error::{KmsError, KmsResult};
use crate::policy::{Policy, PolicyKind};
use crate::protocol::operation::Operation;
use crate::service::{
    Aliases, KeyRef, check_alias_name, decrypt_key_without_key_id, invalid_grant_token,
    missing_ciphertext, no_replica_in_region, not_a_primary_key, read_grant_token, resolve_key,
};

pub(super) struct CachedKey {
    pub at: Instant,
    pub arn: String,
    pub record: KeyRecord,
    /// A stored policy that does not parse is kept as one with no statements: nothing allowed.
    pub policy: Policy,
}

/// One resource a request acts on, resolved as the endpoint will resolve it.
pub(super) enum Target {
    Key(Arc<CachedKey>),
    /// An alias ARN in the caller's account and Region.
    Alias(String),
    /// The Region ReplicateKey makes a replica in: identity policies alone decide there.
    ReplicaRegion(String),
}

impl Sidecar {
    /// What an operation acts on, resolved as its handler resolves it: the same parameter,
    /// the same caller scope, the same alias rule and the same resolver, so the error for a
    /// key that is not there is the endpoint's own.
    pub(super) async fn targets(
        &self,
        op: Operation,
        body: &Value,
        scope: &Scope,
    ) -> KmsResult<Vec<Target>> {
        let text = |name: &str| body.get(name).and_then(Value::as_str);
        let alias = |name: Option<&str>| -> KmsResult<(String, String)> {
            let name = name.unwrap_or_default();
            check_alias_name(name)?;
            Ok((name.to_string(), scope.alias_arn(name)))
        };
        use Operation::*;
        Ok(match op {
            // Identity policies alone (Resource "*"), as AWS does, even when ListAliases
            // names a key.
            CreateKey
            | ListKeys
            | ListAliases
            | GenerateRandom
            | CreateCustomKeyStore
            | ConnectCustomKeyStore
            | DeleteCustomKeyStore
            | DescribeCustomKeyStores
            | DisconnectCustomKeyStore
            | UpdateCustomKeyStore
            | ListRetirableGrants => Vec::new(),
            // The key a grant token names, or the one named.
            RetireGrant => {
                let key = match text("GrantToken") {
                    Some(token) => read_grant_token(token)
                        .map(|(arn, _)| arn)
                        .ok_or_else(invalid_grant_token)?,
                    None => text("KeyId").unwrap_or_default().to_string(),
                };
                vec![Target::Key(self.key(scope, &key, Aliases::Refused).await?)]
            }
            // On the alias (IAM policy) and on the key it will name (key policy).
            CreateAlias => {
                let (_, arn) = alias(text("AliasName"))?;
                let target = text("TargetKeyId").unwrap_or_default();
                vec![
                    Target::Alias(arn),
                    Target::Key(self.key(scope, target, Aliases::Refused).await?),
                ]
            }
            // On the alias, the key it names now, and the key it will name.
            UpdateAlias => {
                let (name, arn) = alias(text("AliasName"))?;
                let target = text("TargetKeyId").unwrap_or_default();
                vec![
                    Target::Alias(arn),
                    Target::Key(self.key(scope, &name, Aliases::Accepted).await?),
                    Target::Key(self.key(scope, target, Aliases::Refused).await?),
                ]
            }
            DeleteAlias => {
                let (name, arn) = alias(text("AliasName"))?;
                vec![
                    Target::Alias(arn),
                    Target::Key(self.key(scope, &name, Aliases::Accepted).await?),
                ]
            }
            // From the source key (named, or the one the ciphertext names), to the destination.
            ReEncrypt => {
                let source = match text("SourceKeyId") {
                    Some(id) => self.key(scope, id, Aliases::Accepted).await?,
                    None => {
                        use base64::Engine;
                        let blob = text("CiphertextBlob")
                            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                            .ok_or_else(missing_ciphertext)?;
                        let arn = decrypt_key_without_key_id(
                            &blob,
                            text("SourceEncryptionAlgorithm"),
                            &scope.region,
                        )?;
                        self.key(scope, &arn, Aliases::Accepted).await?
                    }
                };
                let destination = text("DestinationKeyId").unwrap_or_default();
                vec![
                    Target::Key(source),
                    Target::Key(self.key(scope, destination, Aliases::Accepted).await?),
                ]
            }
            // On the primary (key policy), then in the replica's Region (IAM policy).
            ReplicateKey => {
                let primary = self
                    .key(
                        scope,
                        text("KeyId").unwrap_or_default(),
                        Aliases::Unsupported,
                    )
                    .await?;
                let region = text("ReplicaRegion").unwrap_or_default().to_string();
                vec![Target::Key(primary), Target::ReplicaRegion(region)]
            }
            // On the primary and on the replica that becomes the primary (both key policies).
            UpdatePrimaryRegion => {
                let primary = self
                    .key(
                        scope,
                        text("KeyId").unwrap_or_default(),
                        Aliases::Unsupported,
                    )
                    .await?;
                let region = text("PrimaryRegion").unwrap_or_default();
                // Refused here as the endpoint refuses it: a key that is no primary now may be
                // one by the time the endpoint reads it, with a replica nobody checked.
                if primary.record.multi_region != crate::domain::multi_region::MultiRegion::Primary
                {
                    return Err(not_a_primary_key(&primary.arn));
                }
                let mut targets = vec![Target::Key(primary.clone())];
                // Its own Region: the endpoint changes nothing.
                if region != primary.record.scope.region {
                    let there = Scope::new(primary.record.scope.account.clone(), region);
                    let replica = self
                        .key(&there, &primary.record.key_id, Aliases::Refused)
                        .await
                        .map_err(|e| match e.code {
                            crate::error::ErrorCode::NotFound => {
                                no_replica_in_region(&primary.record.key_id)
                            }
                            _ => e,
                        })?;
                    targets.push(Target::Key(replica));
                }
                targets
            }
            Decrypt if text("KeyId").is_none() => {
                // The ciphertext names its key (see crypto::envelope).
                use base64::Engine;
                let blob = text("CiphertextBlob")
                    .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                    .ok_or_else(missing_ciphertext)?;
                let arn =
                    decrypt_key_without_key_id(&blob, text("EncryptionAlgorithm"), &scope.region)?;
                vec![Target::Key(self.key(scope, &arn, Aliases::Accepted).await?)]
            }
            _ => {
                let id = text("KeyId").ok_or_else(|| {
                    KmsError::internal(format!("{op} names no key after validation"))
                })?;
                vec![Target::Key(
                    self.key(scope, id, Aliases::in_key_id(op)).await?,
                )]
            }
        })
    }

    /// The key a request names for a caller in `scope`, from the cache while fresh.
    async fn key(&self, scope: &Scope, input: &str, aliases: Aliases) -> KmsResult<Arc<CachedKey>> {
        // Only what the resolver would find the same way: a key id in the caller's scope, or
        // a key ARN in the caller's Region (one elsewhere is InvalidArnException).
        let direct = match KeyRef::parse(input)? {
            KeyRef::KeyId(id) => Some((scope.clone(), id)),
            KeyRef::KeyArn { scope: s, key_id } if s.region == scope.region => Some((s, key_id)),
            _ => None,
        };
        if let Some(k) = &direct
            && let Some(hit) = self.keys.get(k)
            && hit.at.elapsed() < KEY_CACHE_TTL
        {
            return Ok(hit.clone());
        }
        let found = resolve_key(self.store.as_ref(), self.clock.now(), scope, input, aliases)
            .await?
            .record;
        let arn = found.arn();
        let policy = Policy::parse(&found.policy, PolicyKind::Key).unwrap_or_else(|e| {
            tracing::warn!(key = %arn, error = ?e.message(), "stored key policy does not parse; nothing is allowed");
            Policy {
                id: None,
                variables: false,
                statements: Vec::new(),
            }
        });
        let cached = Arc::new(CachedKey {
            at: Instant::now(),
            arn,
            record: found,
            policy,
        });
        self.keys.insert(
            (cached.record.scope.clone(), cached.record.key_id.clone()),
            cached.clone(),
        );
        Ok(cached)
    }
}

/// The audit record's `resources`: account, type and ARN of each.
pub(super) fn targets_for_audit(targets: &[Target]) -> Vec<(&str, &'static str, &str)> {
    targets
        .iter()
        .filter_map(|t| match t {
            Target::Key(k) => Some((
                k.record.scope.account.as_str(),
                "AWS::KMS::Key",
                k.arn.as_str(),
            )),
            Target::Alias(arn) => Some((
                arn.split(':').nth(4).unwrap_or_default(),
                "AWS::KMS::Alias",
                arn.as_str(),
            )),
            // The replica does not exist yet: nothing to name.
            Target::ReplicaRegion(_) => None,
        })
        .collect()
}
