//! ReEncrypt: a ciphertext decrypted under its key and encrypted under another (or the same)
//! without the plaintext leaving KMS; both keys checked as Decrypt and Encrypt check them
//! (`kms-api-facts.md` §2.3). The sidecar authorizes `kms:ReEncryptFrom` on the source and
//! `kms:ReEncryptTo` on the destination.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::encryption::missing_ciphertext;
use super::{Kms, RequestContext, dry_run};
use crate::domain::spec::{EncryptionAlgorithm, KeyUsage};
use crate::error::{KmsError, KmsResult};
use crate::protocol::blob::Blob;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ReEncryptRequest {
    ciphertext_blob: Option<Blob>,
    #[serde(default)]
    source_encryption_context: BTreeMap<String, String>,
    source_key_id: Option<String>,
    destination_key_id: String,
    #[serde(default)]
    destination_encryption_context: BTreeMap<String, String>,
    source_encryption_algorithm: Option<EncryptionAlgorithm>,
    destination_encryption_algorithm: Option<EncryptionAlgorithm>,
    dry_run: Option<bool>,
    #[serde(default)]
    dry_run_modifiers: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ReEncryptResponse {
    ciphertext_blob: Blob,
    source_key_id: String,
    key_id: String,
    source_encryption_algorithm: EncryptionAlgorithm,
    destination_encryption_algorithm: EncryptionAlgorithm,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_key_material_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    destination_key_material_id: Option<String>,
}

impl Kms {
    pub(super) async fn re_encrypt(
        &self,
        ctx: &RequestContext,
        r: ReEncryptRequest,
    ) -> KmsResult<ReEncryptResponse> {
        let source_alg = r
            .source_encryption_algorithm
            .unwrap_or(EncryptionAlgorithm::SymmetricDefault);
        let destination_alg = r
            .destination_encryption_algorithm
            .unwrap_or(EncryptionAlgorithm::SymmetricDefault);
        let ignore_ciphertext =
            r.dry_run == Some(true) && r.dry_run_modifiers.iter().any(|m| m == "IGNORE_CIPHERTEXT");
        let destination = self
            .key_for_use(
                ctx,
                &r.destination_key_id,
                KeyUsage::EncryptDecrypt,
                "ReEncrypt",
            )
            .await?;
        if ignore_ciphertext {
            // A dry run of the keys alone: the source must be named (model).
            let source = r.source_key_id.as_deref().ok_or_else(|| {
                KmsError::validation(
                    "SourceKeyId is required when DryRunModifiers includes IGNORE_CIPHERTEXT.",
                )
            })?;
            self.key_for_use(ctx, source, KeyUsage::EncryptDecrypt, "ReEncrypt")
                .await?;
            return Err(dry_run(Some(true)).unwrap_err());
        }
        let Some(Blob(blob)) = r.ciphertext_blob else {
            return Err(missing_ciphertext());
        };
        let opened = self
            .decrypt_with(
                ctx,
                &blob,
                r.source_key_id.as_deref(),
                &r.source_encryption_context,
                source_alg,
                "ReEncrypt",
                None,
            )
            .await?;
        let (ciphertext, destination_material) = self.encrypt_with(
            &destination,
            destination_alg,
            &r.destination_encryption_context,
            &opened.plaintext,
            r.dry_run,
        )?;
        Ok(ReEncryptResponse {
            ciphertext_blob: Blob(ciphertext),
            source_key_id: opened.key.arn(),
            key_id: destination.arn(),
            source_encryption_algorithm: source_alg,
            destination_encryption_algorithm: destination_alg,
            source_key_material_id: opened.material_id.map(|id| id.to_hex()),
            destination_key_material_id: destination_material.map(|id| id.to_hex()),
        })
    }
}
