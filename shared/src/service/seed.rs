//! Applying a checked seed (`crate::seed`) to the store at start, and writing the store's keys
//! back out as a seed file (`kms-api export-seed`).
//!
//! A seed creates; it never changes a stored key. A key already stored under a seeded id is
//! compared on what no call can change (spec, usage, origin, material): the same, it is left as
//! it is (later calls may have changed its description, policy, tags or state); different,
//! start-up stops naming the key and the field. Every write is the store's conditional insert,
//! so processes or Lambda instances starting together with one seed create each key once.

use std::collections::BTreeMap;

use base64::Engine;

use super::Kms;
use super::keys::default_key_policy;
use super::usage::generate_material;
use crate::crypto::material::material_id;
use crate::domain::arn::Scope;
use crate::domain::key::{AliasRecord, KeyRecord};
use crate::domain::material::Import;
use crate::domain::multi_region::MultiRegion;
use crate::domain::spec::{ImportType, KeyMaterialState, KeyState, Origin};
use crate::error::{KmsError, KmsResult};
use crate::seed::{
    MaterialSource, Seed, SeedError, SeedFile, SeedKey, SeedKeyFile, SeedMaterialFile,
};
use crate::store::Write;
use crate::values::MaterialId;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// What applying a seed did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeedOutcome {
    pub created: usize,
    pub unchanged: usize,
    pub aliases_created: usize,
}

/// Why a seed could not be applied.
#[derive(Debug)]
pub enum ApplyError {
    /// The seed disagrees with what is stored: nothing of that key was written.
    Conflict(SeedError),
    /// The store failed.
    Store(KmsError),
}

impl std::fmt::Display for ApplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApplyError::Conflict(e) => e.fmt(f),
            ApplyError::Store(e) => write!(f, "applying the seed: {e}"),
        }
    }
}

impl From<KmsError> for ApplyError {
    fn from(e: KmsError) -> Self {
        ApplyError::Store(e)
    }
}

impl From<crate::store::StoreError> for ApplyError {
    fn from(e: crate::store::StoreError) -> Self {
        ApplyError::Store(e.into())
    }
}

impl Kms {
    /// Creates the seed's keys and aliases that are not stored yet (see the module's comment).
    pub async fn apply_seed(&self, seed: &Seed) -> Result<SeedOutcome, ApplyError> {
        let mut outcome = SeedOutcome::default();
        for (i, entry) in seed.keys.iter().enumerate() {
            let conflict = |field: &str, reason: String| {
                ApplyError::Conflict(SeedError {
                    file: seed.file.clone(),
                    key: Some(entry.key_id.clone()),
                    field: format!("Keys[{i}].{field}"),
                    reason: format!(
                        "{reason}; a seed never changes a stored key (drop it from the seed, or use another data folder)"
                    ),
                })
            };
            let record = self.seeded_record(entry).await?;
            match self.store.insert_key(&record).await? {
                Write::Done => outcome.created += 1,
                Write::Conflict => {
                    let stored = self
                        .store
                        .get_key(&entry.scope, &entry.key_id)
                        .await?
                        .ok_or_else(|| {
                            KmsError::internal("a seeded key vanished while it was compared")
                        })?
                        .record;
                    compare(entry, &record, &stored).map_err(|(f, r)| conflict(f, r))?;
                    outcome.unchanged += 1;
                }
            }
            for alias in &entry.aliases {
                let now = self.clock.now();
                let record = AliasRecord {
                    alias_name: alias.clone(),
                    scope: entry.scope.clone(),
                    target_key_id: entry.key_id.clone(),
                    creation_date: now,
                    last_updated_date: now,
                };
                match self.store.insert_alias(&record).await? {
                    Write::Done => outcome.aliases_created += 1,
                    Write::Conflict => {
                        // Stored already; UpdateAlias may have moved it since: left as it is.
                        if let Some(a) = self.store.get_alias(&entry.scope, alias).await?
                            && a.target_key_id != entry.key_id
                        {
                            tracing::info!(alias = %alias, target = %a.target_key_id, seeded = %entry.key_id,
                                "seeded alias points at another key now; left as it is");
                        }
                    }
                }
            }
        }
        Ok(outcome)
    }

    /// The record the seed describes, as CreateKey and ImportKeyMaterial would have made it.
    async fn seeded_record(&self, entry: &SeedKey) -> KmsResult<KeyRecord> {
        let now = self.clock.now();
        let mut key = KeyRecord {
            key_id: entry.key_id.clone(),
            scope: entry.scope.clone(),
            creation_date: entry.creation_date.unwrap_or(now),
            description: entry.description.clone(),
            key_spec: entry.key_spec,
            key_usage: entry.key_usage,
            origin: entry.origin,
            multi_region: if entry.multi_region() {
                MultiRegion::Primary
            } else {
                MultiRegion::Single
            },
            transition: None,
            enabled: entry.origin != Origin::External,
            deletion: None,
            policy: entry
                .policy
                .clone()
                .unwrap_or_else(|| default_key_policy(&entry.scope)),
            tags: entry.tags.clone(),
            materials: Vec::new(),
            on_demand_rotation: None,
            rotation_period_days: None,
            last_usage: None,
            grants: Vec::new(),
        };
        for (j, v) in entry.versions.iter().enumerate() {
            let canonical = match &v.source {
                MaterialSource::Given(m) => m.clone(),
                MaterialSource::Generate => {
                    match generate_material(entry.key_spec, entry.scope.symmetric_cipher()).await? {
                        Some(m) => m,
                        // SM2 and ML-DSA keys: the mock makes no material for them (as CreateKey).
                        None => continue,
                    }
                }
            };
            if entry.origin == Origin::AwsKms && j == 0 {
                key.materials
                    .push(self.new_version(&key, &canonical, KeyMaterialState::Current));
                continue;
            }
            // Imported material, and rotations: through the rules ImportKeyMaterial and
            // RotateKeyOnDemand follow, so a seeded key is one the API could have made.
            let id = material_id(&key.key_id, &canonical);
            let import = Import {
                id,
                sealed: self.seal_material(&key, id, &canonical),
                expiry: v.expiry,
                import_type: (j > 0).then_some(ImportType::NewKeyMaterial),
                expected_id: None,
                description: v.description.clone(),
            };
            key.import_material(import, now)?;
            if j > 0 {
                key.request_rotation(now, std::time::Duration::ZERO)?;
            }
        }
        if !key.materials.is_empty() {
            key.enabled = entry.enabled;
        }
        Ok(key)
    }

    /// The keys of `scopes` as a seed file: every setting, aliases, and the material when
    /// `with_material` (else AWS_KMS keys are made again at start, and EXTERNAL keys wait for
    /// an import). Keys pending deletion are left out: a seed cannot schedule a deletion; so
    /// are multi-Region replicas: a seed's `mrk-` key is a primary, and ReplicateKey makes
    /// its replicas.
    pub async fn export_seed(&self, scopes: &[Scope], with_material: bool) -> KmsResult<SeedFile> {
        let now = self.clock.now();
        let mut file = SeedFile::default();
        for scope in scopes {
            let mut aliases: BTreeMap<String, Vec<String>> = BTreeMap::new();
            let mut after: Option<String> = None;
            loop {
                let page = self
                    .store
                    .list_aliases(scope, after.as_deref(), 1000)
                    .await?;
                let Some(last) = page.last() else { break };
                after = Some(last.alias_name.clone());
                for a in page {
                    aliases
                        .entry(a.target_key_id)
                        .or_default()
                        .push(a.alias_name);
                }
            }
            let mut after: Option<String> = None;
            loop {
                let page = self.store.list_keys(scope, after.as_deref(), 1000).await?;
                let Some(last) = page.last() else { break };
                after = Some(last.key_id.clone());
                for mut key in page {
                    key.settle(now);
                    if matches!(
                        key.state(now),
                        KeyState::PendingDeletion | KeyState::PendingReplicaDeletion
                    ) || key.is_deleted(now)
                        || key.multi_region.is_replica()
                    {
                        continue;
                    }
                    let entry =
                        self.exported_key(&key, aliases.remove(&key.key_id), with_material)?;
                    file.keys.push(entry);
                }
            }
        }
        Ok(file)
    }

    fn exported_key(
        &self,
        key: &KeyRecord,
        aliases: Option<Vec<String>>,
        with_material: bool,
    ) -> KmsResult<SeedKeyFile> {
        let mut versions = Vec::new();
        // Oldest first, the current last: the order a seed rotates them in. A staged version
        // (pending rotation) and deleted material cannot be seeded.
        let mut used: Vec<_> = key
            .materials
            .iter()
            .filter(|v| {
                matches!(
                    v.state,
                    KeyMaterialState::NonCurrent | KeyMaterialState::Current
                )
            })
            .filter(|v| v.sealed.is_some())
            .collect();
        used.sort_by_key(|v| v.state == KeyMaterialState::Current);
        for v in used {
            let (material, generate) = match (with_material, key.origin) {
                (true, _) => (Some(B64.encode(self.open_canonical(key, v.id)?)), None),
                (false, Origin::AwsKms) => (None, Some(true)),
                (false, _) => continue,
            };
            versions.push(SeedMaterialFile {
                material,
                material_file: None,
                generate,
                valid_to: v.expiry.valid_to(),
                description: v.description.clone(),
            });
        }
        Ok(SeedKeyFile {
            key_id: key.key_id.clone(),
            account: Some(key.scope.account.clone()),
            region: Some(key.scope.region.clone()),
            key_spec: Some(key.key_spec),
            key_usage: Some(key.key_usage),
            origin: Some(key.origin),
            description: (!key.description.is_empty()).then(|| key.description.clone()),
            enabled: Some(key.enabled),
            policy: Some(key.policy.clone()),
            tags: key.tags.clone(),
            aliases: aliases.unwrap_or_default(),
            creation_date: Some(key.creation_date),
            key_material: versions,
        })
    }
}

/// A stored key against the record its seed entry makes: the fields no call changes.
fn compare(
    entry: &SeedKey,
    seeded: &KeyRecord,
    stored: &KeyRecord,
) -> Result<(), (&'static str, String)> {
    let differs = |field: &'static str, stored: String, seed: String| {
        Err((
            field,
            format!("the stored key has {stored}, the seed {seed}"),
        ))
    };
    if stored.key_spec != seeded.key_spec {
        return differs(
            "KeySpec",
            stored.key_spec.to_string(),
            seeded.key_spec.to_string(),
        );
    }
    if stored.key_usage != seeded.key_usage {
        return differs(
            "KeyUsage",
            stored.key_usage.to_string(),
            seeded.key_usage.to_string(),
        );
    }
    if stored.origin != seeded.origin {
        return differs(
            "Origin",
            stored.origin.to_string(),
            seeded.origin.to_string(),
        );
    }
    // Given material must be the stored versions', in order (later calls may have added more).
    // Generated material is whatever the first start made.
    let stored_ids: Vec<MaterialId> = stored.materials.iter().map(|v| v.id).collect();
    let seeded_ids: Vec<MaterialId> = seeded.materials.iter().map(|v| v.id).collect();
    for (j, v) in entry.versions.iter().enumerate() {
        if !matches!(v.source, MaterialSource::Given(_)) {
            continue;
        }
        let (Some(want), got) = (seeded_ids.get(j), stored_ids.get(j)) else {
            continue;
        };
        if got != Some(want) {
            return Err((
                "KeyMaterial",
                match got {
                    Some(got) => format!(
                        "version {j} of the stored key is other key material (id {got}), the seed's is {want}"
                    ),
                    None => format!(
                        "the stored key has no version {j}; the seed's material for it is {want}"
                    ),
                },
            ));
        }
    }
    Ok(())
}
