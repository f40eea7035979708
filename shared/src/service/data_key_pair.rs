//! GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext: a fresh asymmetric key pair,
//! its private key encrypted under a symmetric ENCRYPT_DECRYPT key (an imported one too), so
//! that Decrypt with the same encryption context gives back the PKCS#8 (`kms-api-facts.md`
//! §2.5).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::usage::{generate_material, recipient_unsupported};
use super::{Kms, RequestContext, dry_run};
use crate::crypto::material::Material;
use crate::domain::spec::{DataKeyPairSpec, KeyFamily, KeyUsage};
use crate::error::{ErrorCode, KmsError, KmsResult};
use crate::protocol::blob::Blob;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct GenerateDataKeyPairRequest {
    key_id: String,
    key_pair_spec: DataKeyPairSpec,
    #[serde(default)]
    encryption_context: BTreeMap<String, String>,
    recipient: Option<serde_json::Value>,
    dry_run: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct GenerateDataKeyPairResponse {
    private_key_ciphertext_blob: Blob,
    #[serde(skip_serializing_if = "Option::is_none")]
    private_key_plaintext: Option<Blob>,
    public_key: Blob,
    key_id: String,
    key_pair_spec: DataKeyPairSpec,
    key_material_id: String,
}

impl Kms {
    async fn generate_data_key_pair_inner(
        &self,
        ctx: &RequestContext,
        r: GenerateDataKeyPairRequest,
        operation: &str,
        with_plaintext: bool,
    ) -> KmsResult<GenerateDataKeyPairResponse> {
        if !with_plaintext && r.recipient.is_some() {
            return Err(KmsError::validation(
                "Recipient is not a parameter of GenerateDataKeyPairWithoutPlaintext.",
            ));
        }
        recipient_unsupported(&r.recipient)?;
        let spec = r.key_pair_spec.key_spec();
        if spec.is_china_only() && !ctx.scope.is_china() {
            // AWS's text was not captured; CreateKey's for a China-only spec.
            return Err(KmsError::validation(format!(
                "KeyPairSpec {} is not supported in this region.",
                r.key_pair_spec
            )));
        }
        let key = self
            .key_for_use(ctx, &r.key_id, KeyUsage::EncryptDecrypt, operation)
            .await?;
        if key.key_spec.family() != KeyFamily::Symmetric {
            // AWS's text for an asymmetric key was not captured; GenerateDataKey's.
            return Err(KmsError::new(
                ErrorCode::InvalidKeyUsage,
                "You cannot generate a data key with an asymmetric CMK",
            ));
        }
        dry_run(r.dry_run)?;
        let pkcs8 = generate_material(spec, ctx.scope.symmetric_cipher())
            .await?
            .ok_or_else(|| {
                KmsError::unsupported(format!(
                    "kms-import-mock cannot make {} key pairs.",
                    r.key_pair_spec
                ))
            })?;
        let public = Material::open(spec, &pkcs8)
            .and_then(|m| m.public_key_der())
            .ok_or_else(|| KmsError::internal("a generated key pair has no public key"))?;
        let (blob, id) = self.seal_symmetric(&key, &r.encryption_context, &pkcs8)?;
        Ok(GenerateDataKeyPairResponse {
            private_key_ciphertext_blob: Blob(blob),
            private_key_plaintext: with_plaintext.then_some(Blob(pkcs8)),
            public_key: Blob(public),
            key_id: key.arn(),
            key_pair_spec: r.key_pair_spec,
            key_material_id: id.to_hex(),
        })
    }

    pub(super) async fn generate_data_key_pair(
        &self,
        ctx: &RequestContext,
        r: GenerateDataKeyPairRequest,
    ) -> KmsResult<GenerateDataKeyPairResponse> {
        self.generate_data_key_pair_inner(ctx, r, "GenerateDataKeyPair", true)
            .await
    }

    pub(super) async fn generate_data_key_pair_without_plaintext(
        &self,
        ctx: &RequestContext,
        r: GenerateDataKeyPairRequest,
    ) -> KmsResult<GenerateDataKeyPairResponse> {
        self.generate_data_key_pair_inner(ctx, r, "GenerateDataKeyPairWithoutPlaintext", false)
            .await
    }
}
