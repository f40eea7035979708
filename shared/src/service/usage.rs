//! Using a key's material: the one gate every cryptographic operation passes (key state, then
//! key usage, in AWS's words) and the one place stored material is sealed and opened.

use super::resolve::Aliases;
use super::{Kms, RequestContext};
use crate::crypto::material::{self, Material, MaterialId};
use crate::crypto::seal::{Purpose, Sealed};
use crate::domain::arn::Scope;
use crate::domain::key::KeyRecord;
use crate::domain::material::{Expiry, MaterialVersion};
use crate::domain::multi_region::MultiRegion;
use crate::domain::spec::{Algorithms, KeyMaterialState, KeySpec, KeyUsage, SymmetricCipher};
use crate::error::{ErrorCode, KmsError, KmsResult};

/// What the sealed material is bound to: its key and its version.
fn binding(key: &KeyRecord, id: MaterialId) -> Vec<u8> {
    if key.multi_region.is_multi_region() {
        // Related multi-Region keys hold one material: bound to the key id in its partition
        // and account, not to one Region's ARN, so a replica opens what its primary sealed.
        format!(
            "arn:{}:kms:*:{}:key/{}/{id}",
            key.scope.partition(),
            key.scope.account,
            key.key_id
        )
        .into_bytes()
    } else {
        legacy_binding(key, id)
    }
}

/// The binding of every key before multi-Region replicas existed (still every single-Region
/// key's): what a multi-Region key stored then opens with.
fn legacy_binding(key: &KeyRecord, id: MaterialId) -> Vec<u8> {
    format!("{}/{id}", key.arn()).into_bytes()
}

/// "<ARN> key usage is SIGN_VERIFY which is not valid for Encrypt."
pub(super) fn usage_error(key: &KeyRecord, operation: &str) -> KmsError {
    KmsError::new(
        ErrorCode::InvalidKeyUsage,
        format!(
            "{} key usage is {} which is not valid for {operation}.",
            key.arn(),
            key.key_usage
        ),
    )
}

/// "Algorithm HMAC_SHA_256 is incompatible with key spec HMAC_224."
pub(super) fn algorithm_error(algorithm: impl std::fmt::Display, spec: KeySpec) -> KmsError {
    KmsError::new(
        ErrorCode::InvalidKeyUsage,
        format!("Algorithm {algorithm} is incompatible with key spec {spec}."),
    )
}

/// The algorithm must be one DescribeKey lists for the key.
pub(super) fn require_algorithm<A: PartialEq + std::fmt::Display>(
    key: &KeyRecord,
    algorithm: A,
    listed: impl FnOnce(Algorithms) -> Vec<A>,
) -> KmsResult<()> {
    if listed(Algorithms::for_key(key.key_spec, key.key_usage)).contains(&algorithm) {
        Ok(())
    } else {
        Err(algorithm_error(algorithm, key.key_spec))
    }
}

/// The Nitro Enclaves attestation parameter, which the mock does not implement.
pub(super) fn recipient_unsupported(recipient: &Option<serde_json::Value>) -> KmsResult<()> {
    match recipient {
        None => Ok(()),
        Some(_) => Err(KmsError::unsupported(
            "Recipient (Nitro Enclaves attestation) is not supported by kms-import-mock.",
        )),
    }
}

/// Material generation for keys KMS creates (RSA takes up to a second: off the runtime).
pub(super) async fn generate_material(
    spec: KeySpec,
    cipher: SymmetricCipher,
) -> KmsResult<Option<Vec<u8>>> {
    tokio::task::spawn_blocking(move || material::generate(spec, cipher))
        .await
        .map_err(KmsError::internal)
}

impl Kms {
    /// A new version of `key`'s material, sealed.
    pub(super) fn new_version(
        &self,
        key: &KeyRecord,
        canonical: &[u8],
        state: KeyMaterialState,
    ) -> MaterialVersion {
        let id = crate::crypto::material::material_id(&key.key_id, canonical);
        MaterialVersion {
            id,
            sealed: Some(self.seal_material(key, id, canonical)),
            description: None,
            expiry: Expiry::Never,
            state,
            rotation: None,
        }
    }

    pub(super) fn seal_material(
        &self,
        key: &KeyRecord,
        id: MaterialId,
        canonical: &[u8],
    ) -> Sealed {
        Sealed(
            self.sealer
                .seal_bound(Purpose::KeyMaterial, &binding(key, id), canonical),
        )
    }

    /// Opens the material of one version; it must be present (the caller checked the state).
    pub(super) fn open_material(&self, key: &KeyRecord, id: MaterialId) -> KmsResult<Material> {
        let plain = self.open_canonical(key, id)?;
        Material::open(key.key_spec, &plain)
            .ok_or_else(|| KmsError::internal(format!("{}: stored material is corrupt", key.arn())))
    }

    /// The bytes of one version's material, in the canonical form it was sealed in.
    pub(super) fn open_canonical(&self, key: &KeyRecord, id: MaterialId) -> KmsResult<Vec<u8>> {
        let sealed = key
            .material(id)
            .and_then(|v| v.sealed.as_ref())
            .ok_or_else(|| KmsError::internal(format!("{}: material {id} is gone", key.arn())))?;
        let plain = self
            .sealer
            .open_bound(Purpose::KeyMaterial, &binding(key, id), &sealed.0)
            .or_else(|| {
                // Sealed before related keys shared one binding: under the ARN of the key that
                // sealed it, its own or, for a replica, its primary's.
                let sealer_arn = match &key.multi_region {
                    MultiRegion::Single => return None,
                    MultiRegion::Primary => key.arn(),
                    MultiRegion::Replica { primary_region } => {
                        Scope::new(key.scope.account.clone(), primary_region.clone())
                            .key_arn(&key.key_id)
                    }
                };
                let legacy = format!("{sealer_arn}/{id}").into_bytes();
                self.sealer
                    .open_bound(Purpose::KeyMaterial, &legacy, &sealed.0)
                    .or_else(|| {
                        self.sealer.open_bound(
                            Purpose::KeyMaterial,
                            &legacy_binding(key, id),
                            &sealed.0,
                        )
                    })
            })
            .ok_or_else(|| {
                KmsError::internal(format!(
                    "{}: stored material does not open under this secret",
                    key.arn()
                ))
            })?;
        Ok(plain)
    }

    /// The key a cryptographic operation names, checked as AWS checks it: it must exist, be
    /// Enabled (DisabledException, or KMSInvalidStateException for pending import or
    /// deletion), and have the usage the operation needs.
    pub(super) async fn key_for_use(
        &self,
        ctx: &RequestContext,
        key_id: &str,
        usage: KeyUsage,
        operation: &str,
    ) -> KmsResult<KeyRecord> {
        let key = self.resolve(ctx, key_id, Aliases::Accepted).await?.record;
        key.require_usable(self.clock.now())?;
        if key.key_usage != usage {
            return Err(usage_error(&key, operation));
        }
        Ok(key)
    }

    /// The current material of a usable key, opened, with its id.
    pub(super) fn current_material(&self, key: &KeyRecord) -> KmsResult<(MaterialId, Material)> {
        let Some(v) = key.current_material() else {
            // Keys of specs the mock cannot make material for (ML-DSA).
            return Err(KmsError::unsupported(format!(
                "kms-import-mock has no key material for {} keys.",
                key.key_spec
            )));
        };
        Ok((v.id, self.open_material(key, v.id)?))
    }
}
