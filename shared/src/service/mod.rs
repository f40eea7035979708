//! The KMS operations: each handler takes its typed request and returns its typed response;
//! [`Kms::call`] reads the request, dispatches and writes the response JSON.

mod agreement;
mod aliases;
mod custom_key_stores;
mod data_key_pair;
mod encryption;
mod grants;
mod import;
mod keys;
mod last_usage;
mod mac;
mod marker;
mod parameters;
mod policies;
mod random;
mod reencrypt;
mod replicas;
mod resolve;
mod rotation;
mod seed;
mod signing;
mod tags;
mod usage;

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::clock::{Clock, Delays};
use crate::crypto::seal::Sealer;
use crate::crypto::unwrap::WrappingKeyCache;
use crate::domain::arn::Scope;
use crate::error::{ErrorCode, KmsError, KmsResult};
use crate::policy::Caller;
use crate::protocol::operation::Operation;
use crate::protocol::wire;
use crate::store::KeyStore;
use crate::wrapping::WrappingKeyPool;
use crate::wrapping::shared::SharedTopUp;

pub use crate::domain::key::check_alias_name;
pub use encryption::{decrypt_key_without_key_id, missing_ciphertext};
pub use grants::{invalid_token as invalid_grant_token, read_grant_token};
#[cfg(test)]
pub use keys::default_key_policy;
pub use last_usage::is_tracked;
pub use replicas::{no_replica_in_region, not_a_primary_key};
pub use resolve::{Aliases, KeyRef, resolve_key};

/// How many parsed wrapping keys a process keeps (about 8 KB each for RSA_4096).
const WRAPPING_KEY_CACHE: usize = 256;

/// Everything a request needs; cheap to clone, shared by all requests of a process.
#[derive(Clone)]
pub struct Kms {
    pub store: Arc<dyn KeyStore>,
    pub pool: WrappingKeyPool,
    pub clock: Clock,
    pub sealer: Arc<Sealer>,
    /// How long on-demand rotations and multi-Region changes take to complete.
    pub delays: Delays,
    /// Wrapping private keys this process has parsed, for ImportKeyMaterial.
    pub wrapping_keys: Arc<WrappingKeyCache>,
    /// Refills the shared pool in the store when this process finds it low (off: `None`).
    pub shared_top_up: Option<Arc<SharedTopUp>>,
    /// Cryptographic uses of keys, for GetKeyLastUsage.
    pub usage: Arc<last_usage::UsageLog>,
}

/// Who is calling, and where: the caller's account and the region the request went to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    pub scope: Scope,
    /// The authenticated principal (the policy sidecar names it); the account's root when
    /// requests reach the endpoint directly.
    pub caller: Caller,
}

impl RequestContext {
    /// A request from the root user of the scope's account.
    pub fn new(scope: Scope) -> Self {
        let caller = Caller::from_arn(&format!(
            "arn:{}:iam::{}:root",
            scope.partition(),
            scope.account
        ))
        .expect("a scope's root ARN parses");
        Self { scope, caller }
    }

    /// A request from `caller`, sent to `region`: keys it names by id live in its account.
    pub fn for_caller(caller: Caller, region: &str) -> Self {
        Self {
            scope: Scope::new(caller.account.clone(), region),
            caller,
        }
    }
}

/// An empty response body (operations without output members).
#[derive(Serialize)]
struct Empty {}

impl Kms {
    /// The wrapping-key sources GetParametersForImport draws from.
    pub(crate) fn wrapping_keys(&self) -> crate::wrapping::Sources<'_> {
        crate::wrapping::Sources {
            pool: &self.pool,
            store: self.store.as_ref(),
            sealer: &self.sealer,
            top_up: self.shared_top_up.as_ref(),
        }
    }

    pub fn new(
        store: Arc<dyn KeyStore>,
        pool: WrappingKeyPool,
        clock: Clock,
        sealer: Arc<Sealer>,
    ) -> Self {
        Self {
            store,
            pool,
            clock,
            sealer,
            delays: Delays::NONE,
            wrapping_keys: Arc::new(WrappingKeyCache::new(WRAPPING_KEY_CACHE)),
            shared_top_up: None,
            usage: Arc::default(),
        }
    }

    /// A throwaway `Kms` for tests and benchmarks: the memory store, a fresh sealing secret
    /// and an empty pool without refill threads (callers add ready keys; with `reuse`, it
    /// hands recent keys out again instead of generating).
    pub fn in_memory(clock: Clock, reuse: bool) -> Self {
        let pool = WrappingKeyPool::new(&crate::wrapping::PoolConfig {
            targets: crate::wrapping::PerSpec::default(),
            refill_threads: 0,
            reuse,
        });
        Self::new(
            Arc::new(crate::store::memory::MemoryStore::new()),
            pool,
            clock,
            Arc::new(Sealer::random()),
        )
    }

    pub fn with_delays(mut self, delays: Delays) -> Self {
        self.delays = delays;
        self
    }

    /// Tops the shared pool up to `targets` (RSA_2048, RSA_3072, RSA_4096) from this process
    /// when a GetParametersForImport finds it low.
    pub fn with_shared_top_up(mut self, targets: crate::wrapping::PerSpec<usize>) -> Self {
        self.shared_top_up = Some(SharedTopUp::new(
            self.store.clone(),
            self.sealer.clone(),
            targets,
        ));
        self
    }

    /// Runs one operation on a raw JSON body and returns the response body.
    pub async fn call(
        &self,
        ctx: &RequestContext,
        op: Operation,
        raw_body: &[u8],
    ) -> KmsResult<Vec<u8>> {
        let body = wire::body(op, raw_body)?;
        // Grant tokens must name grants that exist (InvalidGrantTokenException is modelled for
        // every operation that takes them but DescribeKey; CreateGrant checks its own).
        if !matches!(op, Operation::DescribeKey | Operation::CreateGrant)
            && let Some(Value::Array(tokens)) = body.get("GrantTokens")
        {
            let tokens: Vec<String> = tokens
                .iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect();
            self.check_grant_tokens(ctx, &tokens).await?;
        }
        self.dispatch(ctx, op, body).await
    }

    async fn dispatch(
        &self,
        ctx: &RequestContext,
        op: Operation,
        body: Value,
    ) -> KmsResult<Vec<u8>> {
        use Operation as O;
        match op {
            O::CancelKeyDeletion => respond(self.cancel_key_deletion(ctx, req(body)?).await),
            O::CreateAlias => respond(self.create_alias(ctx, req(body)?).await),
            O::CreateKey => respond(self.create_key(ctx, req(body)?).await),
            O::Decrypt => respond(self.decrypt(ctx, req(body)?).await),
            O::DeleteAlias => respond(self.delete_alias(ctx, req(body)?).await),
            O::DeleteImportedKeyMaterial => {
                respond(self.delete_imported_key_material(ctx, req(body)?).await)
            }
            O::DeriveSharedSecret => respond(self.derive_shared_secret(ctx, req(body)?).await),
            O::DescribeKey => respond(self.describe_key(ctx, req(body)?).await),
            O::DisableKey => respond(self.disable_key(ctx, req(body)?).await),
            O::DisableKeyRotation => respond(self.disable_key_rotation(ctx, req(body)?).await),
            O::EnableKey => respond(self.enable_key(ctx, req(body)?).await),
            O::EnableKeyRotation => respond(self.enable_key_rotation(ctx, req(body)?).await),
            O::Encrypt => respond(self.encrypt(ctx, req(body)?).await),
            O::GenerateDataKey => respond(self.generate_data_key(ctx, req(body)?).await),
            O::GenerateDataKeyWithoutPlaintext => respond(
                self.generate_data_key_without_plaintext(ctx, req(body)?)
                    .await,
            ),
            O::GenerateMac => respond(self.generate_mac(ctx, req(body)?).await),
            O::GetKeyRotationStatus => respond(self.get_key_rotation_status(ctx, req(body)?).await),
            O::GetParametersForImport => {
                respond(self.get_parameters_for_import(ctx, req(body)?).await)
            }
            O::GetKeyPolicy => respond(self.get_key_policy(ctx, req(body)?).await),
            O::GetPublicKey => respond(self.get_public_key(ctx, req(body)?).await),
            O::ImportKeyMaterial => respond(self.import_key_material(ctx, req(body)?).await),
            O::ListAliases => respond(self.list_aliases(ctx, req(body)?).await),
            O::ListKeyRotations => respond(self.list_key_rotations(ctx, req(body)?).await),
            O::ListKeyPolicies => respond(self.list_key_policies(ctx, req(body)?).await),
            O::ListKeys => respond(self.list_keys(ctx, req(body)?).await),
            O::PutKeyPolicy => respond(self.put_key_policy(ctx, req(body)?).await),
            O::RotateKeyOnDemand => respond(self.rotate_key_on_demand(ctx, req(body)?).await),
            O::ScheduleKeyDeletion => respond(self.schedule_key_deletion(ctx, req(body)?).await),
            O::Sign => respond(self.sign(ctx, req(body)?).await),
            O::UpdateAlias => respond(self.update_alias(ctx, req(body)?).await),
            O::TagResource => respond(self.tag_resource(ctx, req(body)?).await),
            O::UntagResource => respond(self.untag_resource(ctx, req(body)?).await),
            O::ListResourceTags => respond(self.list_resource_tags(ctx, req(body)?).await),
            O::UpdateKeyDescription => respond(self.update_key_description(ctx, req(body)?).await),
            O::GenerateRandom => respond(self.generate_random(ctx, req(body)?).await),
            O::ReEncrypt => respond(self.re_encrypt(ctx, req(body)?).await),
            O::GetKeyLastUsage => respond(self.get_key_last_usage(ctx, req(body)?).await),
            O::CreateGrant => respond(self.create_grant(ctx, req(body)?).await),
            O::ListGrants => respond(self.list_grants(ctx, req(body)?).await),
            O::ListRetirableGrants => respond(self.list_retirable_grants(ctx, req(body)?).await),
            O::RetireGrant => respond(self.retire_grant(ctx, req(body)?).await),
            O::RevokeGrant => respond(self.revoke_grant(ctx, req(body)?).await),
            O::GenerateDataKeyPair => respond(self.generate_data_key_pair(ctx, req(body)?).await),
            O::GenerateDataKeyPairWithoutPlaintext => respond(
                self.generate_data_key_pair_without_plaintext(ctx, req(body)?)
                    .await,
            ),
            O::DescribeCustomKeyStores => {
                respond(self.describe_custom_key_stores(ctx, req(body)?).await)
            }
            O::CreateCustomKeyStore => respond(
                self.create_custom_key_store(ctx, req(body)?)
                    .await
                    .map(|()| Empty {}),
            ),
            O::ConnectCustomKeyStore
            | O::DisconnectCustomKeyStore
            | O::UpdateCustomKeyStore
            | O::DeleteCustomKeyStore => respond(
                self.named_custom_key_store(ctx, req(body)?)
                    .await
                    .map(|()| Empty {}),
            ),
            O::ReplicateKey => respond(self.replicate_key(ctx, req(body)?).await),
            O::UpdatePrimaryRegion => respond(self.update_primary_region(ctx, req(body)?).await),
            O::Verify => respond(self.verify(ctx, req(body)?).await),
            O::VerifyMac => respond(self.verify_mac(ctx, req(body)?).await),
        }
    }
}

/// `DryRun: true`: the request passed every check and stops short of the work.
fn dry_run(flag: Option<bool>) -> KmsResult<()> {
    match flag {
        Some(true) => Err(KmsError::new(
            ErrorCode::DryRunOperation,
            "The request would have succeeded, but the DryRun option is set.",
        )),
        _ => Ok(()),
    }
}

fn req<T: DeserializeOwned>(body: Value) -> KmsResult<T> {
    wire::decode(body)
}

fn respond<T: Serialize>(out: KmsResult<T>) -> KmsResult<Vec<u8>> {
    // Serialized straight to bytes (not through `Value`) so timestamps keep AWS's number form.
    out.and_then(|v| serde_json::to_vec(&v).map_err(KmsError::internal))
}

#[cfg(test)]
pub(crate) mod testkit {
    //! An in-process `Kms` on the memory store with a frozen clock and a small pool.

    use super::*;
    use crate::clock::Timestamp;

    pub const NOW: Timestamp = Timestamp::from_millis(1_800_000_000_000);

    pub fn kms() -> Kms {
        Kms::in_memory(Clock::frozen_at(NOW), false)
    }

    /// A `Kms` whose pool holds one key per spec and hands it out again (reuse mode), so tests
    /// that call GetParametersForImport many times do not generate keys.
    pub fn kms_with_warm_pool() -> Kms {
        let kms = Kms::in_memory(Clock::frozen_at(NOW), true);
        kms.pool.add_ready(
            crate::domain::spec::WrappingKeySpec::RSA
                .map(crate::wrapping::WrappingKeyPair::generate),
        );
        kms
    }

    pub fn ctx() -> RequestContext {
        RequestContext::new(Scope::new("111122223333", "us-east-1"))
    }

    /// Calls an operation with a JSON body and returns the JSON response or the error.
    pub async fn call(kms: &Kms, ctx: &RequestContext, op: &str, body: Value) -> KmsResult<Value> {
        let op: Operation = op.parse().expect("served operation");
        let out = kms.call(ctx, op, body.to_string().as_bytes()).await?;
        Ok(serde_json::from_slice(&out).expect("response is JSON"))
    }
}
