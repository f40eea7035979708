//! The key material versions of a key, as values: what a version is and when it can be used.
//! The rules that change them live in `lifecycle`.
//!
//! A symmetric key keeps a history of versions (one `CURRENT`, older ones `NON_CURRENT`, at
//! most one staged `PENDING_ROTATION`); HMAC and asymmetric keys have exactly one version,
//! whose material can only ever be imported again. A key can be used only while every version
//! that ever encrypted (current and non-current) is present: deleted or expired material puts
//! the whole key in `PendingImport`.

use serde::{Deserialize, Serialize};

use super::spec::{ExpirationModel, ImportState, ImportType, KeyMaterialState, RotationType};
use crate::clock::Timestamp;
use crate::values::{MaterialId, Sealed};

/// How long a version's material may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expiry {
    Never,
    /// Until this time (whole seconds, as KMS keeps `ValidTo`).
    Until(Timestamp),
}

impl Expiry {
    pub fn model(self) -> ExpirationModel {
        match self {
            Expiry::Never => ExpirationModel::KeyMaterialDoesNotExpire,
            Expiry::Until(_) => ExpirationModel::KeyMaterialExpires,
        }
    }

    pub fn valid_to(self) -> Option<Timestamp> {
        match self {
            Expiry::Never => None,
            Expiry::Until(t) => Some(t),
        }
    }
}

/// When and how a version became current.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotation {
    pub date: Timestamp,
    pub kind: RotationType,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaterialVersion {
    pub id: MaterialId,
    /// The material, sealed under the deployment secret and bound to the key and version;
    /// `None` once deleted (the id stays bound to the key).
    pub sealed: Option<Sealed>,
    pub description: Option<String>,
    pub expiry: Expiry,
    pub state: KeyMaterialState,
    pub rotation: Option<Rotation>,
}

impl MaterialVersion {
    pub fn is_expired(&self, now: Timestamp) -> bool {
        matches!(self.expiry, Expiry::Until(t) if now >= t)
    }

    /// Whether the material is usable now: imported, not deleted, not expired. Expired
    /// material counts as deleted from the moment `ValidTo` passes, for the key's state.
    pub fn is_present(&self, now: Timestamp) -> bool {
        self.sealed.is_some() && !self.is_expired(now)
    }

    /// The `ImportState` ListKeyRotations shows. Only deletion changes it: AWS went on listing
    /// expired material as `IMPORTED`, with its `ValidTo` in the past, for as long as it was
    /// watched (15 minutes), while DescribeKey showed the key `PendingImport` at once.
    pub fn import_state(&self) -> ImportState {
        if self.sealed.is_some() {
            ImportState::Imported
        } else {
            ImportState::PendingImport
        }
    }

    /// Whether data may have been encrypted under this version, so the key needs it.
    pub(super) fn is_used(&self) -> bool {
        matches!(
            self.state,
            KeyMaterialState::Current | KeyMaterialState::NonCurrent
        )
    }
}

/// A rotation RotateKeyOnDemand accepted: it completes at `completes`, with whatever material
/// is pending rotation then (AWS rotates a replacement staged after the request, and does
/// nothing if none is staged by then).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnDemandRotation {
    pub started: Timestamp,
    pub completes: Timestamp,
}

/// Material that ImportKeyMaterial unwrapped and checked, with the request's parameters.
#[derive(Debug, Clone)]
pub struct Import {
    pub id: MaterialId,
    pub sealed: Sealed,
    pub expiry: Expiry,
    pub import_type: Option<ImportType>,
    /// The `KeyMaterialId` parameter: the version the caller says this material is.
    pub expected_id: Option<MaterialId>,
    pub description: Option<String>,
}
