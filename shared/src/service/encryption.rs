//! Encrypt, Decrypt, GenerateDataKey, GenerateDataKeyWithoutPlaintext.
//!
//! Symmetric keys encrypt with AES-256-GCM under their current material into a self-describing
//! blob (`crypto::envelope`), so Decrypt finds key and version without a `KeyId` and keeps
//! working for old ciphertext while its version is present. RSA `ENCRYPT_DECRYPT` keys use
//! RSA-OAEP with SHA-1 or SHA-256, interoperable with `openssl pkeyutl`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::usage::{algorithm_error, recipient_unsupported, require_algorithm};
use super::{Kms, RequestContext, dry_run};
use crate::crypto::asymmetric::{Oaep, OaepRefusal, oaep_decrypt, oaep_encrypt};
use crate::crypto::envelope::{self, BlobHeader};
use crate::crypto::material::Material;
use crate::domain::arn::Scope;
use crate::domain::key::KeyRecord;
use crate::domain::spec::{DataKeySpec, EncryptionAlgorithm, KeyFamily, KeyUsage};
use crate::error::{ErrorCode, KmsError, KmsResult};
use crate::protocol::blob::Blob;
use crate::values::MaterialId;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct EncryptRequest {
    key_id: String,
    plaintext: Blob,
    #[serde(default)]
    encryption_context: BTreeMap<String, String>,
    encryption_algorithm: Option<EncryptionAlgorithm>,
    dry_run: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct EncryptResponse {
    ciphertext_blob: Blob,
    key_id: String,
    encryption_algorithm: EncryptionAlgorithm,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DecryptRequest {
    ciphertext_blob: Option<Blob>,
    #[serde(default)]
    encryption_context: BTreeMap<String, String>,
    key_id: Option<String>,
    encryption_algorithm: Option<EncryptionAlgorithm>,
    recipient: Option<serde_json::Value>,
    dry_run: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DecryptResponse {
    key_id: String,
    plaintext: Blob,
    encryption_algorithm: EncryptionAlgorithm,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_material_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct GenerateDataKeyRequest {
    key_id: String,
    #[serde(default)]
    encryption_context: BTreeMap<String, String>,
    number_of_bytes: Option<usize>,
    key_spec: Option<DataKeySpec>,
    recipient: Option<serde_json::Value>,
    dry_run: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct GenerateDataKeyResponse {
    ciphertext_blob: Blob,
    #[serde(skip_serializing_if = "Option::is_none")]
    plaintext: Option<Blob>,
    key_id: String,
    key_material_id: String,
}

/// What a ciphertext opened to: the key, the plaintext, and (symmetric) the material version.
pub(super) struct Opened {
    pub key: KeyRecord,
    pub plaintext: Vec<u8>,
    pub material_id: Option<MaterialId>,
}

/// The RSA-OAEP parameters of an RSA key's encryption algorithm.
fn oaep(key: &KeyRecord, alg: EncryptionAlgorithm) -> KmsResult<Oaep> {
    match alg {
        EncryptionAlgorithm::RsaesOaepSha1 => Ok(Oaep::Sha1),
        EncryptionAlgorithm::RsaesOaepSha256 => Ok(Oaep::Sha256),
        _ => Err(algorithm_error(alg, key.key_spec)),
    }
}

/// The algorithm must be one the key lists (SYMMETRIC_DEFAULT is the default, which an RSA
/// key refuses: "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048.").
fn check_algorithm(key: &KeyRecord, alg: EncryptionAlgorithm) -> KmsResult<()> {
    require_algorithm(key, alg, |a| a.encryption)
}

/// An encryption context is for symmetric keys. AWS's text was not captured; this is the
/// wording several emulators agree on.
fn no_context_for_asymmetric(context: &BTreeMap<String, String>) -> KmsResult<()> {
    if context.is_empty() {
        Ok(())
    } else {
        Err(KmsError::validation(
            "EncryptionContext is not supported when encrypting/decrypting with asymmetric CMKs.",
        ))
    }
}

/// The key a symmetric blob names: in its account, in the Region the caller talks to.
fn blob_key_arn(header: &BlobHeader, region: &str) -> String {
    Scope::new(header.account.clone(), region).key_arn(&header.key_id)
}

/// Decrypt without its (optional in the model) `CiphertextBlob`.
pub fn missing_ciphertext() -> KmsError {
    KmsError::validation(
        "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: Member must not be null",
    )
}

/// The key a Decrypt without `KeyId` acts on, as the handler finds it: the key its symmetric
/// ciphertext names, in the caller's Region. Asymmetric ciphertexts name no key.
pub fn decrypt_key_without_key_id(
    blob: &[u8],
    algorithm: Option<&str>,
    region: &str,
) -> KmsResult<String> {
    if algorithm.is_some_and(|a| a != EncryptionAlgorithm::SymmetricDefault.as_str()) {
        return Err(KmsError::bare(ErrorCode::InvalidCiphertext));
    }
    envelope::read_header(blob)
        .map(|h| blob_key_arn(&h, region))
        .ok_or_else(|| KmsError::bare(ErrorCode::InvalidCiphertext))
}

impl Kms {
    fn header(key: &KeyRecord, material_id: crate::crypto::material::MaterialId) -> BlobHeader {
        BlobHeader {
            material_id,
            key_id: key.key_id.clone(),
            account: key.scope.account.clone(),
        }
    }

    /// Symmetric encryption under the key's current version.
    pub(super) fn seal_symmetric(
        &self,
        key: &KeyRecord,
        context: &BTreeMap<String, String>,
        plaintext: &[u8],
    ) -> KmsResult<(Vec<u8>, crate::crypto::material::MaterialId)> {
        let (id, material) = self.current_material(key)?;
        let Material::Symmetric(aes) = material else {
            return Err(KmsError::internal("symmetric key with other material"));
        };
        let blob = envelope::seal(&Self::header(key, id), &aes, context, plaintext)
            .ok_or_else(|| KmsError::internal("ciphertext header"))?;
        Ok((blob, id))
    }

    pub(super) async fn encrypt(
        &self,
        ctx: &RequestContext,
        r: EncryptRequest,
    ) -> KmsResult<EncryptResponse> {
        let key = self
            .key_for_use(ctx, &r.key_id, KeyUsage::EncryptDecrypt, "Encrypt")
            .await?;
        let alg = r
            .encryption_algorithm
            .unwrap_or(EncryptionAlgorithm::SymmetricDefault);
        let (ciphertext, _) =
            self.encrypt_with(&key, alg, &r.encryption_context, &r.plaintext.0, r.dry_run)?;
        Ok(EncryptResponse {
            ciphertext_blob: Blob(ciphertext),
            key_id: key.arn(),
            encryption_algorithm: alg,
        })
    }

    /// Encrypt's work on a usable key: the ciphertext, and the material version of a symmetric
    /// one. `dry_run` stops it where AWS stops it (after every check).
    pub(super) fn encrypt_with(
        &self,
        key: &KeyRecord,
        alg: EncryptionAlgorithm,
        context: &BTreeMap<String, String>,
        plaintext: &[u8],
        dry: Option<bool>,
    ) -> KmsResult<(Vec<u8>, Option<MaterialId>)> {
        check_algorithm(key, alg)?;
        match key.key_spec.family() {
            KeyFamily::Symmetric => {
                dry_run(dry)?;
                let (blob, id) = self.seal_symmetric(key, context, plaintext)?;
                Ok((blob, Some(id)))
            }
            KeyFamily::Rsa => {
                no_context_for_asymmetric(context)?;
                let (_, material) = self.current_material(key)?;
                let Material::Rsa(pair, _) = material else {
                    return Err(KmsError::internal("RSA key with other material"));
                };
                // The length limit comes before DryRun, as AWS checks it.
                let oaep = oaep(key, alg)?;
                let ciphertext = oaep_encrypt(&pair, oaep, plaintext).map_err(|e| match e {
                    OaepRefusal::TooLong { max } => KmsError::validation(format!(
                        "Algorithm {alg} and key spec {} cannot encrypt data larger than {max} bytes.",
                        key.key_spec
                    )),
                    OaepRefusal::Key => KmsError::internal("RSA public key"),
                })?;
                dry_run(dry)?;
                Ok((ciphertext, None))
            }
            KeyFamily::Sm2 => {
                no_context_for_asymmetric(context)?;
                let (_, material) = self.current_material(key)?;
                let Material::Sm2(sm2) = material else {
                    return Err(KmsError::internal("SM2 key with other material"));
                };
                if plaintext.len() > crate::crypto::sm2::MAX_PLAINTEXT {
                    // Worded as the RSA refusal; AWS's text for SM2 was not captured.
                    return Err(KmsError::validation(format!(
                        "Algorithm {alg} and key spec {} cannot encrypt data larger than {} bytes.",
                        key.key_spec,
                        crate::crypto::sm2::MAX_PLAINTEXT
                    )));
                }
                let ciphertext = sm2
                    .encrypt(plaintext)
                    .ok_or_else(|| KmsError::internal("SM2 encryption"))?;
                dry_run(dry)?;
                Ok((ciphertext, None))
            }
            _ => Err(KmsError::unsupported(format!(
                "kms-import-mock cannot encrypt with {} keys.",
                key.key_spec
            ))),
        }
    }

    pub(super) async fn decrypt(
        &self,
        ctx: &RequestContext,
        r: DecryptRequest,
    ) -> KmsResult<DecryptResponse> {
        recipient_unsupported(&r.recipient)?;
        // Optional in the service model (for other members' sake), required by the service.
        let Some(Blob(blob)) = r.ciphertext_blob else {
            return Err(missing_ciphertext());
        };
        let alg = r
            .encryption_algorithm
            .unwrap_or(EncryptionAlgorithm::SymmetricDefault);
        let opened = self
            .decrypt_with(
                ctx,
                &blob,
                r.key_id.as_deref(),
                &r.encryption_context,
                alg,
                "Decrypt",
                r.dry_run,
            )
            .await?;
        Ok(DecryptResponse {
            key_id: opened.key.arn(),
            plaintext: Blob(opened.plaintext),
            encryption_algorithm: alg,
            key_material_id: opened.material_id.map(|id| id.to_hex()),
        })
    }

    /// Decrypt's work: the key (named, or the one a symmetric ciphertext names), checked for
    /// `operation`, and the plaintext. `dry_run` stops it once every check has passed.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn decrypt_with(
        &self,
        ctx: &RequestContext,
        blob: &[u8],
        key_id: Option<&str>,
        context: &BTreeMap<String, String>,
        alg: EncryptionAlgorithm,
        operation: &str,
        dry: Option<bool>,
    ) -> KmsResult<Opened> {
        let named = match key_id {
            Some(id) => Some(
                self.key_for_use(ctx, id, KeyUsage::EncryptDecrypt, operation)
                    .await?,
            ),
            None => None,
        };
        if let Some(key) = &named {
            check_algorithm(key, alg)?;
        }
        if alg != EncryptionAlgorithm::SymmetricDefault {
            // Asymmetric: the blob says nothing about its key, so KeyId is needed.
            let key = named.ok_or_else(|| KmsError::bare(ErrorCode::InvalidCiphertext))?;
            no_context_for_asymmetric(context)?;
            dry_run(dry)?;
            let (_, material) = self.current_material(&key)?;
            let plaintext = match material {
                Material::Sm2(sm2) => sm2
                    .decrypt(blob)
                    .ok_or_else(|| KmsError::bare(ErrorCode::InvalidCiphertext))?,
                Material::Rsa(_, pkcs8) => {
                    oaep_decrypt(&pkcs8, oaep(&key, alg)?, blob).map_err(|key_broken| {
                        if key_broken {
                            KmsError::internal("RSA private key")
                        } else {
                            KmsError::bare(ErrorCode::InvalidCiphertext)
                        }
                    })?
                }
                _ => return Err(KmsError::internal("asymmetric key with other material")),
            };
            return Ok(Opened {
                key,
                plaintext,
                material_id: None,
            });
        }

        let header = envelope::read_header(blob)
            .ok_or_else(|| KmsError::bare(ErrorCode::InvalidCiphertext))?;
        let key = match named {
            Some(key) => {
                if key.key_id != header.key_id || key.scope.account != header.account {
                    return Err(KmsError::new(
                        ErrorCode::IncorrectKey,
                        "The key ID in the request does not identify a CMK that can perform this operation.",
                    ));
                }
                key
            }
            None => {
                let arn = blob_key_arn(&header, &ctx.scope.region);
                self.key_for_use(ctx, &arn, KeyUsage::EncryptDecrypt, operation)
                    .await?
            }
        };
        if key.material(header.material_id).is_none() {
            return Err(KmsError::bare(ErrorCode::InvalidCiphertext));
        }
        dry_run(dry)?;
        let Material::Symmetric(aes) = self.open_material(&key, header.material_id)? else {
            return Err(KmsError::bare(ErrorCode::InvalidCiphertext));
        };
        let plaintext = envelope::open(blob, &aes, context)
            .ok_or_else(|| KmsError::bare(ErrorCode::InvalidCiphertext))?;
        Ok(Opened {
            key,
            plaintext,
            material_id: Some(header.material_id),
        })
    }

    async fn generate_data_key_inner(
        &self,
        ctx: &RequestContext,
        r: GenerateDataKeyRequest,
        operation: &str,
        with_plaintext: bool,
    ) -> KmsResult<GenerateDataKeyResponse> {
        recipient_unsupported(&r.recipient)?;
        let len = match (r.number_of_bytes, r.key_spec) {
            (Some(n), None) => n,
            (None, Some(DataKeySpec::Aes256)) => 32,
            (None, Some(DataKeySpec::Aes128)) => 16,
            // Text from emulators that checked it against AWS; not in the captures.
            _ => {
                return Err(KmsError::validation(
                    "Please specify either number of bytes or key spec.",
                ));
            }
        };
        let key = self
            .key_for_use(ctx, &r.key_id, KeyUsage::EncryptDecrypt, operation)
            .await?;
        if key.key_spec.family() != KeyFamily::Symmetric {
            return Err(KmsError::new(
                ErrorCode::InvalidKeyUsage,
                "You cannot generate a data key with an asymmetric CMK",
            ));
        }
        dry_run(r.dry_run)?;
        let mut data_key = vec![0u8; len];
        crate::crypto::fill_random(&mut data_key);
        let (blob, id) = self.seal_symmetric(&key, &r.encryption_context, &data_key)?;
        Ok(GenerateDataKeyResponse {
            ciphertext_blob: Blob(blob),
            plaintext: with_plaintext.then_some(Blob(data_key)),
            key_id: key.arn(),
            key_material_id: id.to_hex(),
        })
    }

    pub(super) async fn generate_data_key(
        &self,
        ctx: &RequestContext,
        r: GenerateDataKeyRequest,
    ) -> KmsResult<GenerateDataKeyResponse> {
        self.generate_data_key_inner(ctx, r, "GenerateDataKey", true)
            .await
    }

    pub(super) async fn generate_data_key_without_plaintext(
        &self,
        ctx: &RequestContext,
        r: GenerateDataKeyRequest,
    ) -> KmsResult<GenerateDataKeyResponse> {
        self.generate_data_key_inner(ctx, r, "GenerateDataKeyWithoutPlaintext", false)
            .await
    }
}
