//! GetPublicKey, Sign and Verify with an asymmetric key's material.

use serde::{Deserialize, Serialize};

use super::resolve::Aliases;
use super::usage::{algorithm_error, require_algorithm};
use super::{Kms, RequestContext, dry_run};
use crate::crypto::material::Material;
use crate::crypto::signing::{self, Input, SignError};
use crate::domain::key::KeyRecord;
use crate::domain::refusal::spec_error;
use crate::domain::spec::{
    Algorithms, EncryptionAlgorithm, KeyAgreementAlgorithm, KeyFamily, KeySpec, KeyUsage,
    MessageType, SigningAlgorithm,
};
use crate::error::{ErrorCode, KmsError, KmsResult};
use crate::protocol::blob::Blob;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct GetPublicKeyRequest {
    key_id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct GetPublicKeyResponse {
    key_id: String,
    public_key: Blob,
    #[serde(skip_serializing_if = "Option::is_none")]
    customer_master_key_spec: Option<&'static str>,
    key_spec: KeySpec,
    key_usage: KeyUsage,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    encryption_algorithms: Vec<EncryptionAlgorithm>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    signing_algorithms: Vec<SigningAlgorithm>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    key_agreement_algorithms: Vec<KeyAgreementAlgorithm>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct SignRequest {
    key_id: String,
    message: Blob,
    message_type: Option<MessageType>,
    signing_algorithm: SigningAlgorithm,
    dry_run: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct SignResponse {
    key_id: String,
    signature: Blob,
    signing_algorithm: SigningAlgorithm,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct VerifyRequest {
    key_id: String,
    message: Blob,
    message_type: Option<MessageType>,
    signature: Blob,
    signing_algorithm: SigningAlgorithm,
    dry_run: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct VerifyResponse {
    key_id: String,
    signature_valid: bool,
    signing_algorithm: SigningAlgorithm,
}

/// A signing failure in AWS's words (emulators that checked them against AWS agree on the
/// message-type texts; the digest-length text is from AWS itself).
fn sign_error(e: SignError, alg: SigningAlgorithm, spec: KeySpec, mt: MessageType) -> KmsError {
    match e {
        SignError::DigestLength => {
            KmsError::validation(format!("Digest is invalid length for algorithm {alg}."))
        }
        SignError::DigestNotAllowed | SignError::RawNotAllowed => KmsError::validation(format!(
            "Message type {mt} is incompatible with algorithm {alg}."
        )),
        SignError::Algorithm => algorithm_error(alg, spec),
    }
}

impl Kms {
    pub(super) async fn get_public_key(
        &self,
        ctx: &RequestContext,
        r: GetPublicKeyRequest,
    ) -> KmsResult<GetPublicKeyResponse> {
        let key = self
            .resolve(ctx, &r.key_id, Aliases::Accepted)
            .await?
            .record;
        if matches!(
            key.key_spec.family(),
            KeyFamily::Symmetric | KeyFamily::Hmac
        ) {
            return Err(spec_error(&key.arn(), key.key_spec));
        }
        key.require_usable(self.clock.now())?;
        let (_, material) = self.current_material(&key)?;
        let public = material
            .public_key_der()
            .ok_or_else(|| KmsError::internal("asymmetric key without a public key"))?;
        let algorithms = Algorithms::for_key(key.key_spec, key.key_usage);
        Ok(GetPublicKeyResponse {
            key_id: key.arn(),
            public_key: Blob(public),
            customer_master_key_spec: key.key_spec.customer_master_key_spec(),
            key_spec: key.key_spec,
            key_usage: key.key_usage,
            encryption_algorithms: algorithms.encryption,
            signing_algorithms: algorithms.signing,
            key_agreement_algorithms: algorithms.key_agreement,
        })
    }

    /// The key and material for Sign or Verify, with the algorithm checked against the key.
    async fn signing_key(
        &self,
        ctx: &RequestContext,
        key_id: &str,
        alg: SigningAlgorithm,
        operation: &str,
    ) -> KmsResult<(KeyRecord, Material)> {
        let key = self
            .key_for_use(ctx, key_id, KeyUsage::SignVerify, operation)
            .await?;
        require_algorithm(&key, alg, |a| a.signing)?;
        let (_, material) = self.current_material(&key)?;
        Ok((key, material))
    }

    pub(super) async fn sign(
        &self,
        ctx: &RequestContext,
        r: SignRequest,
    ) -> KmsResult<SignResponse> {
        let alg = r.signing_algorithm;
        let (key, material) = self.signing_key(ctx, &r.key_id, alg, "Sign").await?;
        let mt = r.message_type.unwrap_or(MessageType::Raw);
        let input = input(mt, &r.message.0, alg)?;
        let signature = signing::sign(key.key_spec, &material, alg, input)
            .map_err(|e| sign_error(e, alg, key.key_spec, mt))?;
        dry_run(r.dry_run)?;
        Ok(SignResponse {
            key_id: key.arn(),
            signature: Blob(signature),
            signing_algorithm: alg,
        })
    }

    pub(super) async fn verify(
        &self,
        ctx: &RequestContext,
        r: VerifyRequest,
    ) -> KmsResult<VerifyResponse> {
        let alg = r.signing_algorithm;
        let (key, material) = self.signing_key(ctx, &r.key_id, alg, "Verify").await?;
        let mt = r.message_type.unwrap_or(MessageType::Raw);
        let input = input(mt, &r.message.0, alg)?;
        let valid = signing::verify(key.key_spec, &material, alg, input, &r.signature.0)
            .map_err(|e| sign_error(e, alg, key.key_spec, mt))?;
        dry_run(r.dry_run)?;
        if !valid {
            // AWS sends no message with it.
            return Err(KmsError::bare(ErrorCode::KmsInvalidSignature));
        }
        Ok(VerifyResponse {
            key_id: key.arn(),
            signature_valid: true,
            signing_algorithm: alg,
        })
    }
}

fn input(mt: MessageType, message: &[u8], alg: SigningAlgorithm) -> KmsResult<Input<'_>> {
    match mt {
        MessageType::Raw => Ok(Input::Raw(message)),
        MessageType::Digest => Ok(Input::Digest(message)),
        // External mu is for ML-DSA keys, which the mock cannot sign with.
        MessageType::ExternalMu => Err(KmsError::validation(format!(
            "Message type {mt} is incompatible with algorithm {alg}."
        ))),
    }
}
