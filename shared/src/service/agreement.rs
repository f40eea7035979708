//! DeriveSharedSecret: ECDH between a KEY_AGREEMENT key's private material and the caller's
//! public key, the raw shared secret as `openssl pkeyutl -derive` computes it.

use crate::crypto::asymmetric::{AgreementFailure, Curve, ecdh};
use serde::{Deserialize, Serialize};

use super::usage::recipient_unsupported;
use super::{Kms, RequestContext, dry_run};
use crate::crypto::material::Material;
use crate::domain::spec::{KeyAgreementAlgorithm, KeyUsage, Origin};
use crate::error::{KmsError, KmsResult};
use crate::protocol::blob::Blob;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DeriveSharedSecretRequest {
    key_id: String,
    key_agreement_algorithm: KeyAgreementAlgorithm,
    public_key: Blob,
    recipient: Option<serde_json::Value>,
    dry_run: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DeriveSharedSecretResponse {
    key_id: String,
    shared_secret: Blob,
    key_agreement_algorithm: KeyAgreementAlgorithm,
    key_origin: Origin,
}

impl Kms {
    pub(super) async fn derive_shared_secret(
        &self,
        ctx: &RequestContext,
        r: DeriveSharedSecretRequest,
    ) -> KmsResult<DeriveSharedSecretResponse> {
        recipient_unsupported(&r.recipient)?;
        let key = self
            .key_for_use(ctx, &r.key_id, KeyUsage::KeyAgreement, "DeriveSharedSecret")
            .await?;
        // AWS's text for a public key it cannot use was not captured.
        let bad_key = || {
            KmsError::validation(format!(
                "PublicKey must be a DER-encoded X.509 SubjectPublicKeyInfo of a {} key.",
                key.key_spec
            ))
        };
        let (_, material) = self.current_material(&key)?;
        let secret = match material {
            // SM2 keys agree with SM2 keys only (China Regions).
            Material::Sm2(sm2) => sm2.derive(&r.public_key.0).ok_or_else(bad_key)?,
            Material::Ecdsa(_, pkcs8) => {
                let curve = Curve::of(key.key_spec)
                    .ok_or_else(|| KmsError::internal("ECC key of no curve"))?;
                ecdh(curve, &pkcs8, &r.public_key.0).map_err(|f| match f {
                    AgreementFailure::PrivateKey => KmsError::internal("ECC private key"),
                    AgreementFailure::PeerKey => bad_key(),
                })?
            }
            _ => return Err(KmsError::internal("key agreement key with other material")),
        };
        dry_run(r.dry_run)?;
        Ok(DeriveSharedSecretResponse {
            key_id: key.arn(),
            shared_secret: Blob(secret),
            key_agreement_algorithm: r.key_agreement_algorithm,
            key_origin: key.origin,
        })
    }
}
