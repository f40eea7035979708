//! GenerateMac and VerifyMac with an HMAC key's material: the MAC is HMAC(material, message),
//! so a user can check an import by computing it locally with the same secret.

use crate::crypto::mac::MacKey;
use serde::{Deserialize, Serialize};

use super::usage::require_algorithm;
use super::{Kms, RequestContext, dry_run};
use crate::crypto::material::Material;
use crate::domain::key::KeyRecord;
use crate::domain::spec::{KeyUsage, MacAlgorithm};
use crate::error::{ErrorCode, KmsError, KmsResult};
use crate::protocol::blob::Blob;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct GenerateMacRequest {
    message: Blob,
    key_id: String,
    mac_algorithm: MacAlgorithm,
    dry_run: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct GenerateMacResponse {
    mac: Blob,
    mac_algorithm: MacAlgorithm,
    key_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct VerifyMacRequest {
    message: Blob,
    key_id: String,
    mac_algorithm: MacAlgorithm,
    mac: Blob,
    dry_run: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct VerifyMacResponse {
    key_id: String,
    mac_valid: bool,
    mac_algorithm: MacAlgorithm,
}

impl Kms {
    /// The HMAC key of a usable GENERATE_VERIFY_MAC key, for the algorithm its spec has.
    async fn mac_key(
        &self,
        ctx: &RequestContext,
        key_id: &str,
        alg: MacAlgorithm,
        operation: &str,
    ) -> KmsResult<(KeyRecord, MacKey)> {
        let key = self
            .key_for_use(ctx, key_id, KeyUsage::GenerateVerifyMac, operation)
            .await?;
        require_algorithm(&key, alg, |a| a.mac)?;
        let (_, material) = self.current_material(&key)?;
        let Material::Hmac(secret) = material else {
            return Err(KmsError::internal("HMAC key with other material"));
        };
        Ok((key, MacKey::new(alg, &secret)))
    }

    pub(super) async fn generate_mac(
        &self,
        ctx: &RequestContext,
        r: GenerateMacRequest,
    ) -> KmsResult<GenerateMacResponse> {
        let (key, k) = self
            .mac_key(ctx, &r.key_id, r.mac_algorithm, "GenerateMac")
            .await?;
        dry_run(r.dry_run)?;
        Ok(GenerateMacResponse {
            mac: Blob(k.sign(&r.message.0)),
            mac_algorithm: r.mac_algorithm,
            key_id: key.arn(),
        })
    }

    pub(super) async fn verify_mac(
        &self,
        ctx: &RequestContext,
        r: VerifyMacRequest,
    ) -> KmsResult<VerifyMacResponse> {
        let (key, k) = self
            .mac_key(ctx, &r.key_id, r.mac_algorithm, "VerifyMac")
            .await?;
        dry_run(r.dry_run)?;
        // A MAC that does not match is an error, sent without a message (captured by others
        // against AWS).
        if !k.verify(&r.message.0, &r.mac.0) {
            return Err(KmsError::bare(ErrorCode::KmsInvalidMac));
        }
        Ok(VerifyMacResponse {
            key_id: key.arn(),
            mac_valid: true,
            mac_algorithm: r.mac_algorithm,
        })
    }
}
