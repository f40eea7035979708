//! Rotation: RotateKeyOnDemand, ListKeyRotations, GetKeyRotationStatus, EnableKeyRotation,
//! DisableKeyRotation.
//!
//! On-demand rotation of an imported symmetric key makes the version staged with
//! `ImportType: NEW_KEY_MATERIAL` current; for a key KMS made, the mock makes the new material
//! itself. Rotation completes `KMS_MOCK_ROTATION_DELAY_SECONDS` after the request (AWS took
//! from 48 s to 2.6 min; the default here is at once). Automatic rotation can be switched on
//! and reported for AWS_KMS keys, but the mock does not rotate them by itself.

use serde::{Deserialize, Serialize};

use super::keys::{KeyArnResponse, KeyIdRequest};
use super::marker;
use super::resolve::Aliases;
use super::usage::generate_material;
use super::{Empty, Kms, RequestContext};
use crate::clock::Timestamp;
use crate::domain::key::KeyRecord;
use crate::domain::refusal::{origin_error, spec_error};
use crate::domain::spec::{
    ExpirationModel, ImportState, IncludeKeyMaterial, KeyFamily, KeyMaterialState, Origin,
    RotationType,
};
use crate::error::{KmsError, KmsResult};

/// AWS's default automatic rotation period.
const DEFAULT_PERIOD_DAYS: u32 = 365;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct EnableKeyRotationRequest {
    key_id: String,
    rotation_period_in_days: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListKeyRotationsRequest {
    key_id: String,
    include_key_material: Option<IncludeKeyMaterial>,
    limit: Option<u32>,
    marker: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct RotationsListEntry {
    key_id: String,
    key_material_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_material_description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    import_state: Option<ImportState>,
    key_material_state: KeyMaterialState,
    #[serde(skip_serializing_if = "Option::is_none")]
    expiration_model: Option<ExpirationModel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    valid_to: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rotation_date: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rotation_type: Option<RotationType>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListKeyRotationsResponse {
    rotations: Vec<RotationsListEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
    truncated: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct GetKeyRotationStatusResponse {
    key_rotation_enabled: bool,
    key_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    rotation_period_in_days: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_rotation_date: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    on_demand_rotation_start_date: Option<Timestamp>,
}

/// Rotation is the primary's to manage (captured text, lower-case "multi-region").
fn not_on_replica(key: &KeyRecord, operation: &str) -> KmsResult<()> {
    if key.multi_region.is_replica() {
        return Err(KmsError::unsupported(format!(
            "{} is a multi-region replica key which is not valid for {operation}.",
            key.arn()
        )));
    }
    Ok(())
}

/// Rotation is for symmetric encryption keys only.
fn require_symmetric(key: &KeyRecord) -> KmsResult<()> {
    if key.key_spec.family() == KeyFamily::Symmetric {
        Ok(())
    } else {
        Err(spec_error(&key.arn(), key.key_spec))
    }
}

impl Kms {
    pub(super) async fn rotate_key_on_demand(
        &self,
        ctx: &RequestContext,
        r: KeyIdRequest,
    ) -> KmsResult<KeyArnResponse> {
        let versioned = self.resolve(ctx, &r.key_id, Aliases::Refused).await?;
        let key = &versioned.record;
        not_on_replica(key, "RotateKeyOnDemand")?;
        require_symmetric(key)?;
        let now = self.clock.now();
        key.require_enabled(now)?;
        if let Some(p) = key
            .materials
            .iter()
            .find(|v| v.state == KeyMaterialState::PendingRotation)
            && self.replicas_missing(key, p.id).await?
        {
            return Err(KmsError::invalid_state(
                "Cannot perform key material rotation: Key material has not been imported for replicas of the Multi-Region key.",
            ));
        }
        // A key KMS made gets fresh material, staged the way an imported key's is.
        let generated = match key.origin {
            Origin::External => None,
            _ => generate_material(key.key_spec, key.scope.symmetric_cipher()).await?,
        };
        let staged = generated
            .map(|canonical| self.new_version(key, &canonical, KeyMaterialState::PendingRotation));
        let delay = self.delays.rotation;
        let (k, ()) = self
            .change_key(&versioned, |k| {
                k.require_enabled(now)?;
                if let Some(v) = &staged
                    && k.on_demand_rotation.is_none()
                {
                    k.materials.push(v.clone());
                }
                k.request_rotation(now, delay)
            })
            .await?;
        Ok(KeyArnResponse { key_id: k.arn() })
    }

    pub(super) async fn list_key_rotations(
        &self,
        ctx: &RequestContext,
        r: ListKeyRotationsRequest,
    ) -> KmsResult<ListKeyRotationsResponse> {
        let key = self.resolve(ctx, &r.key_id, Aliases::Refused).await?.record;
        if r.include_key_material.is_some() && key.key_spec.family() != KeyFamily::Symmetric {
            return Err(KmsError::validation(
                "Input parameter includeKeyMaterial can only be used with symmetric keys.",
            ));
        }
        require_symmetric(&key)?;
        let all = r.include_key_material == Some(IncludeKeyMaterial::AllKeyMaterial);
        // New imported material of a multi-Region key waits for every related key to have it.
        let waiting_for_replicas = match key
            .materials
            .iter()
            .find(|v| v.state == KeyMaterialState::PendingRotation)
        {
            Some(p) => {
                let primary =
                    match super::replicas::primary_of(self.store.as_ref(), self.clock.now(), &key)
                        .await?
                    {
                        Some(p) => p,
                        None => key.clone(),
                    };
                self.replicas_missing(&primary, p.id).await?
            }
            None => false,
        };
        let imported = key.origin == Origin::External;
        let arn = key.arn();
        let mut versions: Vec<_> = key
            .materials
            .iter()
            .filter(|v| all || v.rotation.is_some())
            .collect();
        if !all {
            versions.sort_by_key(|v| v.rotation.map(|r| r.date));
        }
        let entries: Vec<RotationsListEntry> = versions
            .into_iter()
            .map(|v| {
                let state = v.import_state();
                // Deleted material shows no expiry (captured); expired material still does.
                let shown = imported && state == ImportState::Imported;
                RotationsListEntry {
                    key_id: arn.clone(),
                    key_material_id: v.id.to_hex(),
                    key_material_description: v.description.clone(),
                    import_state: imported.then_some(state),
                    key_material_state: match v.state {
                        KeyMaterialState::PendingRotation if waiting_for_replicas => {
                            KeyMaterialState::PendingMultiRegionImportAndRotation
                        }
                        s => s,
                    },
                    expiration_model: shown.then(|| v.expiry.model()),
                    valid_to: v.expiry.valid_to().filter(|_| shown),
                    rotation_date: v.rotation.map(|r| r.date),
                    rotation_type: v.rotation.map(|r| r.kind),
                }
            })
            .collect();

        let limit = r.limit.unwrap_or(100) as usize;
        let start = marker::decode(r.marker.as_deref(), |s| {
            s.strip_prefix("rotations:")?
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= entries.len())
        })?
        .unwrap_or(0);
        let end = (start + limit).min(entries.len());
        let truncated = end < entries.len();
        Ok(ListKeyRotationsResponse {
            rotations: entries.into_iter().skip(start).take(end - start).collect(),
            next_marker: truncated.then(|| marker::encode(&format!("rotations:{end}"))),
            truncated,
        })
    }

    pub(super) async fn get_key_rotation_status(
        &self,
        ctx: &RequestContext,
        r: KeyIdRequest,
    ) -> KmsResult<GetKeyRotationStatusResponse> {
        let key = self.resolve(ctx, &r.key_id, Aliases::Refused).await?.record;
        let period = key.rotation_period_days;
        Ok(GetKeyRotationStatusResponse {
            key_rotation_enabled: period.is_some(),
            key_id: key.arn(),
            rotation_period_in_days: period,
            next_rotation_date: period.map(|days| next_rotation(&key, days)),
            on_demand_rotation_start_date: key.on_demand_rotation.map(|r| r.started),
        })
    }

    pub(super) async fn enable_key_rotation(
        &self,
        ctx: &RequestContext,
        r: EnableKeyRotationRequest,
    ) -> KmsResult<Empty> {
        self.set_rotation(
            ctx,
            &r.key_id,
            Some(r.rotation_period_in_days.unwrap_or(DEFAULT_PERIOD_DAYS)),
        )
        .await
    }

    pub(super) async fn disable_key_rotation(
        &self,
        ctx: &RequestContext,
        r: KeyIdRequest,
    ) -> KmsResult<Empty> {
        self.set_rotation(ctx, &r.key_id, None).await
    }

    async fn set_rotation(
        &self,
        ctx: &RequestContext,
        key_id: &str,
        period: Option<u32>,
    ) -> KmsResult<Empty> {
        let versioned = self.resolve(ctx, key_id, Aliases::Refused).await?;
        let key = &versioned.record;
        not_on_replica(
            key,
            if period.is_some() {
                "EnableKeyRotation"
            } else {
                "DisableKeyRotation"
            },
        )?;
        // Captured: the origin is checked before the state for imported keys.
        if key.origin != Origin::AwsKms {
            return Err(origin_error(&key.arn(), key.origin));
        }
        require_symmetric(key)?;
        let now = self.clock.now();
        self.change_key(&versioned, |k| {
            k.require_enabled(now)?;
            k.rotation_period_days = period;
            Ok(())
        })
        .await?;
        Ok(Empty {})
    }
}

/// When automatic rotation would next happen: a period after the latest rotation, or after
/// creation when there was none.
fn next_rotation(key: &KeyRecord, days: u32) -> Timestamp {
    let last = key
        .materials
        .iter()
        .filter_map(|v| v.rotation.map(|r| r.date))
        .max()
        .unwrap_or(key.creation_date);
    last.plus(std::time::Duration::from_secs(u64::from(days) * 86_400))
}
