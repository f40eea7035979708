//! A KMS key as the store keeps it, and the `KeyMetadata` view DescribeKey returns.
//!
//! The record holds what the user decided (enabled, deletion scheduled, material imported);
//! `KeyState` is derived from it at a given time, so that material expiry or a passed deletion
//! date takes effect the moment the clock passes it, without a background job.

use serde::{Deserialize, Serialize};

use super::arn::Scope;
use super::material::{MaterialVersion, OnDemandRotation};
use super::multi_region::{MultiRegion, Transition};
use super::refusal::state_error;
use super::spec::{
    Algorithms, EncryptionAlgorithm, ExpirationModel, KeyAgreementAlgorithm, KeyFamily, KeyManager,
    KeySpec, KeyState, KeyUsage, MacAlgorithm, Origin, SigningAlgorithm,
};
use crate::clock::Timestamp;
use crate::error::{ErrorCode, KmsError, KmsResult};

/// A tag, as on the wire (`{"TagKey": ..., "TagValue": ...}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub tag_key: String,
    pub tag_value: String,
}

/// A deletion ScheduleKeyDeletion asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Deletion {
    /// The key is deleted at `date`.
    Scheduled { date: Timestamp, window_days: u32 },
    /// A multi-Region primary that still has replicas: `PendingReplicaDeletion`, with no
    /// date; its waiting period starts when its last replica is deleted (captured).
    AwaitingReplicas { window_days: u32 },
}

impl Deletion {
    pub fn date(self) -> Option<Timestamp> {
        match self {
            Deletion::Scheduled { date, .. } => Some(date),
            Deletion::AwaitingReplicas { .. } => None,
        }
    }

    pub fn window_days(self) -> u32 {
        match self {
            Deletion::Scheduled { window_days, .. }
            | Deletion::AwaitingReplicas { window_days } => window_days,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// A UUID, or `mrk-` and 32 hex digits for a multi-Region key.
    pub key_id: String,
    pub scope: Scope,
    pub creation_date: Timestamp,
    pub description: String,
    pub key_spec: KeySpec,
    pub key_usage: KeyUsage,
    pub origin: Origin,
    pub multi_region: MultiRegion,
    /// ReplicateKey or UpdatePrimaryRegion in progress on this key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition: Option<Transition>,
    /// The user's enable/disable choice; the state also depends on material and deletion.
    pub enabled: bool,
    pub deletion: Option<Deletion>,
    pub policy: String,
    pub tags: Vec<Tag>,
    /// Key material versions, oldest first (see `domain::material`).
    #[serde(default)]
    pub materials: Vec<MaterialVersion>,
    #[serde(default)]
    pub on_demand_rotation: Option<OnDemandRotation>,
    /// Automatic rotation period in days while automatic rotation is on (AWS_KMS keys).
    #[serde(default)]
    pub rotation_period_days: Option<u32>,
    /// The last successful cryptographic operation (GetKeyLastUsage), as last written back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_usage: Option<LastUsage>,
    /// Grants on this key, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<super::grant::Grant>,
}

/// A successful cryptographic operation on a key: which, when, and its request id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastUsage {
    pub operation: String,
    pub timestamp: Timestamp,
    pub request_id: String,
}

impl KeyRecord {
    /// Refuses a key that is not Enabled, with AWS's error for its state.
    pub fn require_enabled(&self, now: Timestamp) -> Result<(), KmsError> {
        match self.state(now) {
            KeyState::Enabled => Ok(()),
            other => Err(state_error(&self.arn(), other)),
        }
    }

    /// Refuses a key that cannot be used for cryptography now: as `require_enabled`, except
    /// that keys being updated can still be used (the model's UpdatePrimaryRegion
    /// documentation), if they were enabled; they cannot be managed.
    pub fn require_usable(&self, now: Timestamp) -> Result<(), KmsError> {
        match self.state(now) {
            KeyState::Updating if self.enabled && self.has_usable_material(now) => Ok(()),
            _ => self.require_enabled(now),
        }
    }

    pub fn arn(&self) -> String {
        self.scope.key_arn(&self.key_id)
    }

    /// Whether the deletion date has passed: the key no longer exists for any caller.
    pub fn is_deleted(&self, now: Timestamp) -> bool {
        self.deletion
            .and_then(Deletion::date)
            .is_some_and(|date| now >= date)
    }

    pub fn state(&self, now: Timestamp) -> KeyState {
        if let Some(d) = self.deletion {
            match d {
                Deletion::Scheduled { .. } => KeyState::PendingDeletion,
                Deletion::AwaitingReplicas { .. } => KeyState::PendingReplicaDeletion,
            }
        } else if let Some(t) = self.transition.filter(|t| t.is_active(now)) {
            match t {
                Transition::Creating { .. } => KeyState::Creating,
                Transition::Updating { .. } => KeyState::Updating,
            }
        } else if !self.has_usable_material(now) {
            KeyState::PendingImport
        } else if self.enabled {
            KeyState::Enabled
        } else {
            KeyState::Disabled
        }
    }

    /// `KeyMetadata` as DescribeKey, CreateKey and friends return it; a multi-Region key's
    /// `configuration` names its related keys (see `service::replicas`).
    pub fn metadata(
        &self,
        now: Timestamp,
        configuration: Option<MultiRegionConfiguration>,
    ) -> KeyMetadata {
        let state = self.state(now);
        let algorithms = Algorithms::for_key(self.key_spec, self.key_usage);
        let creating = match self.transition.filter(|t| t.is_active(now)) {
            Some(Transition::Creating {
                expiration_model, ..
            }) => Some(expiration_model),
            _ => None,
        };
        // A replica being created shows no material yet (captured).
        let current = self.current_material().filter(|_| creating.is_none());
        // Imported keys show their expiry while the material is usable (not in PendingImport).
        let expiry = current
            .filter(|_| self.origin == Origin::External && self.has_usable_material(now))
            .map(|v| v.expiry);
        KeyMetadata {
            aws_account_id: self.scope.account.clone(),
            arn: self.arn(),
            creation_date: self.creation_date,
            current_key_material_id: current
                .filter(|_| self.key_spec.family() == KeyFamily::Symmetric)
                .map(|v| v.id.to_hex()),
            customer_master_key_spec: self.key_spec.customer_master_key_spec(),
            deletion_date: self.deletion.and_then(Deletion::date),
            description: self.description.clone(),
            enabled: state == KeyState::Enabled,
            // A primary awaiting its replicas' deletion shows its window (captured).
            pending_deletion_window_in_days: match self.deletion {
                Some(Deletion::AwaitingReplicas { window_days }) => Some(window_days),
                _ => None,
            },
            encryption_algorithms: algorithms.encryption,
            expiration_model: creating.unwrap_or(expiry.map(|e| e.model())),
            key_agreement_algorithms: algorithms.key_agreement,
            key_id: self.key_id.clone(),
            key_manager: KeyManager::Customer,
            key_spec: self.key_spec,
            key_state: state,
            key_usage: self.key_usage,
            mac_algorithms: algorithms.mac,
            multi_region: self.multi_region.is_multi_region(),
            multi_region_configuration: configuration,
            origin: self.origin,
            signing_algorithms: algorithms.signing,
            valid_to: expiry.and_then(|e| e.valid_to()),
        }
    }
}

/// `KeyMetadata` on the wire. Members are declared in alphabetical order, the order in which
/// KMS serializes them; empty algorithm lists and absent options are left out as AWS does.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyMetadata {
    #[serde(rename = "AWSAccountId")]
    pub aws_account_id: String,
    pub arn: String,
    pub creation_date: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_key_material_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_master_key_spec: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_date: Option<Timestamp>,
    pub description: String,
    pub enabled: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub encryption_algorithms: Vec<EncryptionAlgorithm>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_model: Option<ExpirationModel>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub key_agreement_algorithms: Vec<KeyAgreementAlgorithm>,
    pub key_id: String,
    pub key_manager: KeyManager,
    pub key_spec: KeySpec,
    pub key_state: KeyState,
    pub key_usage: KeyUsage,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mac_algorithms: Vec<MacAlgorithm>,
    pub multi_region: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multi_region_configuration: Option<MultiRegionConfiguration>,
    pub origin: Origin,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_deletion_window_in_days: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signing_algorithms: Vec<SigningAlgorithm>,
    #[serde(rename = "ValidTo", skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MultiRegionConfiguration {
    /// `PRIMARY` or `REPLICA`.
    pub multi_region_key_type: &'static str,
    pub primary_key: MultiRegionKey,
    pub replica_keys: Vec<MultiRegionKey>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MultiRegionKey {
    pub arn: String,
    pub region: String,
}

/// An alias: a friendly name pointing at one key of the same account and region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasRecord {
    /// Includes the `alias/` prefix, as on the wire.
    pub alias_name: String,
    pub scope: Scope,
    pub target_key_id: String,
    pub creation_date: Timestamp,
    pub last_updated_date: Timestamp,
}

/// Tags a key may have (the TagException "Too many tags" at 51, captured on CreateKey).
pub const MAX_TAGS: usize = 50;

/// The tags of one request: no `aws:` prefix (any case, captured for `aws:` and `AWS:`), no
/// key twice. Lengths are the service model's, checked with the body.
pub fn check_tags(tags: &[Tag]) -> KmsResult<()> {
    for (i, t) in tags.iter().enumerate() {
        if t.tag_key
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("aws:"))
        {
            return Err(KmsError::new(
                ErrorCode::Tag,
                "Tags beginning with aws: are reserved",
            ));
        }
        if tags[..i].iter().any(|o| o.tag_key == t.tag_key) {
            return Err(KmsError::new(ErrorCode::Tag, "Duplicate tag keys"));
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(too_many_tags());
    }
    Ok(())
}

pub fn too_many_tags() -> KmsError {
    KmsError::new(ErrorCode::Tag, "Too many tags")
}

/// An alias name must start with `alias/`, and `alias/aws/` belongs to AWS-managed keys.
pub fn check_alias_name(name: &str) -> KmsResult<()> {
    if !name.starts_with("alias/") || name.len() == "alias/".len() {
        return Err(KmsError::validation(
            "Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html",
        ));
    }
    if name.starts_with("alias/aws/") {
        return Err(KmsError::new(
            ErrorCode::InvalidAliasName,
            "Alias cannot begin with 'alias/aws/'",
        ));
    }
    Ok(())
}

impl AliasRecord {
    pub fn arn(&self) -> String {
        self.scope.alias_arn(&self.alias_name)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn sample(origin: Origin) -> KeyRecord {
        KeyRecord {
            key_id: "1234abcd-12ab-34cd-56ef-1234567890ab".into(),
            scope: Scope::new("111122223333", "us-east-1"),
            creation_date: Timestamp::from_millis(1_700_000_000_123),
            description: String::new(),
            key_spec: KeySpec::SymmetricDefault,
            key_usage: KeyUsage::EncryptDecrypt,
            origin,
            multi_region: MultiRegion::Single,
            transition: None,
            enabled: true,
            deletion: None,
            policy: "{}".into(),
            tags: vec![],
            materials: vec![],
            on_demand_rotation: None,
            rotation_period_days: None,
            last_usage: None,
            grants: Vec::new(),
        }
    }

    #[test]
    fn external_key_metadata_while_pending_import() {
        let mut k = sample(Origin::External);
        k.enabled = false;
        let json = serde_json::to_string(&k.metadata(Timestamp::from_secs(0), None)).unwrap();
        assert_eq!(
            json,
            r#"{"AWSAccountId":"111122223333","Arn":"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab","CreationDate":1.700000000123E9,"CustomerMasterKeySpec":"SYMMETRIC_DEFAULT","Description":"","Enabled":false,"EncryptionAlgorithms":["SYMMETRIC_DEFAULT"],"KeyId":"1234abcd-12ab-34cd-56ef-1234567890ab","KeyManager":"CUSTOMER","KeySpec":"SYMMETRIC_DEFAULT","KeyState":"PendingImport","KeyUsage":"ENCRYPT_DECRYPT","MultiRegion":false,"Origin":"EXTERNAL"}"#
        );
    }

    #[test]
    fn states_follow_deletion_material_and_choice() {
        let now = Timestamp::from_secs(10);
        let mut k = sample(Origin::AwsKms);
        assert_eq!(k.state(now), KeyState::Enabled);
        k.enabled = false;
        assert_eq!(k.state(now), KeyState::Disabled);
        k.deletion = Some(Deletion::Scheduled {
            date: Timestamp::from_secs(20),
            window_days: 7,
        });
        assert_eq!(k.state(now), KeyState::PendingDeletion);
        assert!(!k.is_deleted(now));
        assert!(k.is_deleted(Timestamp::from_secs(20)));
        let k = sample(Origin::External);
        assert_eq!(k.state(now), KeyState::PendingImport);
    }
}
