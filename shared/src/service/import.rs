//! ImportKeyMaterial and DeleteImportedKeyMaterial.
//!
//! ImportKeyMaterial checks, in this order: the key (exists, EXTERNAL, not pending deletion),
//! the parameters that only symmetric keys take, the expiration parameters, the token (sealed
//! by us, for this key, not expired), then unwraps the material with the token's private key
//! and checks it against the key spec, and only then which version it is (AWS computed the id
//! of refused material in its messages, so it unwraps first too).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::resolve::Aliases;
use super::{Kms, RequestContext};
use crate::clock::Timestamp;
use crate::crypto::material::{MaterialId, canonical_import};
use crate::crypto::unwrap::Unwrapper;
use crate::domain::key::KeyRecord;
use crate::domain::material::{Expiry, Import};
use crate::domain::refusal::{origin_error, state_error};
use crate::domain::spec::{
    ExpirationModel, ImportType, KeyFamily, KeyState, Origin, WrappingAlgorithm,
};
use crate::error::{ErrorCode, KmsError, KmsResult};
use crate::protocol::blob::Blob;
use crate::token::ImportToken;

/// How far ahead `ValidTo` may be.
const MAX_VALIDITY: Duration = Duration::from_secs(365 * 86_400);

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImportKeyMaterialRequest {
    pub key_id: String,
    pub import_token: Blob,
    pub encrypted_key_material: Blob,
    pub valid_to: Option<Timestamp>,
    pub expiration_model: Option<ExpirationModel>,
    pub import_type: Option<ImportType>,
    pub key_material_description: Option<String>,
    pub key_material_id: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyMaterialResponse {
    pub key_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_material_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteImportedKeyMaterialRequest {
    pub key_id: String,
    pub key_material_id: Option<String>,
}

/// The expiry a request asks for. An omitted ExpirationModel means KEY_MATERIAL_EXPIRES.
fn expiry(
    model: Option<ExpirationModel>,
    valid_to: Option<Timestamp>,
    now: Timestamp,
) -> KmsResult<Expiry> {
    match (
        model.unwrap_or(ExpirationModel::KeyMaterialExpires),
        valid_to,
    ) {
        (ExpirationModel::KeyMaterialDoesNotExpire, None) => Ok(Expiry::Never),
        (ExpirationModel::KeyMaterialDoesNotExpire, Some(_)) => Err(KmsError::validation(
            "A validTo date cannot be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE",
        )),
        (ExpirationModel::KeyMaterialExpires, None) => Err(KmsError::validation(
            "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES",
        )),
        // KMS keeps ValidTo in whole seconds, truncated; what is kept must be in the future.
        (ExpirationModel::KeyMaterialExpires, Some(t)) if t.truncate_to_secs() <= now => {
            Err(KmsError::validation("ValidTo must be in the future"))
        }
        (ExpirationModel::KeyMaterialExpires, Some(t)) if t > now.plus(MAX_VALIDITY) => Err(
            KmsError::validation("ValidTo must be less than 365 days in the future"),
        ),
        (ExpirationModel::KeyMaterialExpires, Some(t)) => Ok(Expiry::Until(t.truncate_to_secs())),
    }
}

/// Parameters only symmetric keys take: "Input parameter importType cannot be used with
/// HMAC_224 imported keys."
fn symmetric_only_parameters(key: &KeyRecord, present: &[(&str, bool)]) -> KmsResult<()> {
    if key.key_spec.family() == KeyFamily::Symmetric {
        return Ok(());
    }
    match present.iter().find(|(_, p)| *p) {
        Some((name, _)) => Err(KmsError::validation(format!(
            "Input parameter {name} cannot be used with {} imported keys.",
            key.key_spec
        ))),
        None => Ok(()),
    }
}

/// A `KeyMaterialId` parameter. The model's pattern has already been checked; a value that
/// still does not read is refused rather than taken as absent (which would mean "the current
/// material" to DeleteImportedKeyMaterial).
fn material_id(param: Option<&str>) -> KmsResult<Option<MaterialId>> {
    param
        .map(|s| {
            MaterialId::from_hex(s).ok_or_else(|| {
                KmsError::validation(format!(
                    "1 validation error detected: Value '{s}' at 'keyMaterialId' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-f0-9]+$"
                ))
            })
        })
        .transpose()
}

/// The key an import operation names: it must be EXTERNAL.
async fn external_key(
    kms: &Kms,
    ctx: &RequestContext,
    key_id: &str,
) -> KmsResult<crate::store::Versioned<KeyRecord>> {
    let key = kms.resolve(ctx, key_id, Aliases::Refused).await?;
    if key.record.origin != Origin::External {
        return Err(origin_error(&key.record.arn(), key.record.origin));
    }
    Ok(key)
}

impl Kms {
    pub async fn import_key_material(
        &self,
        ctx: &RequestContext,
        r: ImportKeyMaterialRequest,
    ) -> KmsResult<KeyMaterialResponse> {
        let versioned = external_key(self, ctx, &r.key_id).await?;
        let key = &versioned.record;
        let arn = key.arn();
        let now = self.clock.now();
        // Refused before the unwrap's RSA operation; `import_material` checks again on the
        // record it changes.
        if key.state(now) == KeyState::PendingDeletion {
            return Err(state_error(&arn, KeyState::PendingDeletion));
        }
        symmetric_only_parameters(
            key,
            &[
                ("importType", r.import_type.is_some()),
                ("keyMaterialId", r.key_material_id.is_some()),
                (
                    "keyMaterialDescription",
                    r.key_material_description.is_some(),
                ),
            ],
        )?;
        key.check_replica_import(r.import_type, r.key_material_description.is_some())?;
        if r.import_type == Some(ImportType::NewKeyMaterial) && r.key_material_id.is_some() {
            return Err(KmsError::validation(
                "Input parameter keyMaterialId cannot be used with NEW_KEY_MATERIAL importType.",
            ));
        }
        let expected_id = material_id(r.key_material_id.as_deref())?;
        let expiry = expiry(r.expiration_model, r.valid_to, now)?;
        let token = ImportToken::open(&self.sealer, &r.import_token.0, &arn, now)?;

        let (algorithm, spec) = (token.wrapping_algorithm, key.key_spec);
        let cipher = key.scope.symmetric_cipher();
        let (pkcs8, cache) = (token.wrapping_key_pkcs8(), self.wrapping_keys.clone());
        let encrypted = r.encrypted_key_material.0;
        let unwrap = move || {
            let wrapping_key = cache.get_or_parse(&pkcs8)?;
            let raw = Unwrapper::new(algorithm, wrapping_key)?.unwrap(&encrypted)?;
            canonical_import(spec, cipher, &raw)
        };
        // One RSA private-key operation (milliseconds for RSA_4096), or an RSA private key to
        // check: off the async workers. An SM2PKE unwrap of other material takes one scalar
        // multiplication (165 µs here), less than the two thread wake-ups of the hand-off cost
        // on this VM (measured: the handler took 216 µs with it, `benches/import_key_material`).
        let inline = algorithm == WrappingAlgorithm::Sm2Pke && spec.family() != KeyFamily::Rsa;
        let canonical = if inline {
            unwrap()
        } else {
            tokio::task::spawn_blocking(unwrap)
                .await
                .map_err(KmsError::internal)?
        }
        .ok_or_else(|| KmsError::bare(ErrorCode::InvalidCiphertext))?;

        let id = crate::crypto::material::material_id(&key.key_id, &canonical);
        let import = Import {
            id,
            sealed: self.seal_material(key, id, &canonical),
            expiry,
            import_type: r.import_type,
            expected_id,
            description: r.key_material_description,
        };
        self.change_key(&versioned, |k| k.import_material(import.clone(), now))
            .await?;
        Ok(KeyMaterialResponse {
            key_id: arn,
            key_material_id: (spec.family() == KeyFamily::Symmetric).then(|| id.to_hex()),
        })
    }

    pub async fn delete_imported_key_material(
        &self,
        ctx: &RequestContext,
        r: DeleteImportedKeyMaterialRequest,
    ) -> KmsResult<KeyMaterialResponse> {
        let versioned = external_key(self, ctx, &r.key_id).await?;
        let key = &versioned.record;
        // Not captured for HMAC or asymmetric keys; worded as ImportKeyMaterial's refusal.
        symmetric_only_parameters(key, &[("keyMaterialId", r.key_material_id.is_some())])?;
        let requested = material_id(r.key_material_id.as_deref())?;
        let now = self.clock.now();
        let (k, deleted) = self
            .change_key(&versioned, |k| k.delete_material(requested, now))
            .await?;
        Ok(KeyMaterialResponse {
            key_id: k.arn(),
            key_material_id: deleted
                .filter(|_| k.key_spec.family() == KeyFamily::Symmetric)
                .map(|id| id.to_hex()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;
    use crate::crypto::unwrap::tests::wrap;
    use crate::domain::spec::WrappingAlgorithm;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as B64;
    use serde_json::{Value, json};

    /// Creates an EXTERNAL key and returns (key id, ARN, token, wrapping public key).
    async fn key_with_params(
        kms: &Kms,
        create: Value,
        alg: &str,
        spec: &str,
    ) -> (String, String, String, Vec<u8>) {
        let out = call(kms, &ctx(), "CreateKey", create).await.unwrap();
        let id = out["KeyMetadata"]["KeyId"].as_str().unwrap().to_string();
        let arn = out["KeyMetadata"]["Arn"].as_str().unwrap().to_string();
        let p = call(
            kms,
            &ctx(),
            "GetParametersForImport",
            json!({"KeyId": id, "WrappingAlgorithm": alg, "WrappingKeySpec": spec}),
        )
        .await
        .unwrap();
        let public = B64.decode(p["PublicKey"].as_str().unwrap()).unwrap();
        (
            id,
            arn,
            p["ImportToken"].as_str().unwrap().to_string(),
            public,
        )
    }

    fn ikm(id: &str, token: &str, material: &[u8], public: &[u8], alg: WrappingAlgorithm) -> Value {
        json!({
            "KeyId": id,
            "ImportToken": token,
            "EncryptedKeyMaterial": B64.encode(wrap(alg, public, material)),
            "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
        })
    }

    #[tokio::test]
    async fn symmetric_import_and_errors() {
        let kms = kms();
        let (id, arn, token, public) = key_with_params(
            &kms,
            json!({"Origin": "EXTERNAL"}),
            "RSAES_OAEP_SHA_256",
            "RSA_2048",
        )
        .await;
        let alg = WrappingAlgorithm::RsaesOaepSha256;

        let mut body = ikm(&id, &token, &[b'A'; 32], &public, alg);
        body.as_object_mut().unwrap().remove("ExpirationModel");
        let e = call(&kms, &ctx(), "ImportKeyMaterial", body.clone())
            .await
            .unwrap_err();
        assert_eq!(
            e.message(),
            Some("A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES")
        );
        body["ValidTo"] = json!(NOW.epoch_seconds_f64() - 60.0);
        let e = call(&kms, &ctx(), "ImportKeyMaterial", body.clone())
            .await
            .unwrap_err();
        assert_eq!(e.message(), Some("ValidTo must be in the future"));
        body["ValidTo"] = json!(NOW.epoch_seconds_f64() + 367.0 * 86400.0);
        let e = call(&kms, &ctx(), "ImportKeyMaterial", body.clone())
            .await
            .unwrap_err();
        assert_eq!(
            e.message(),
            Some("ValidTo must be less than 365 days in the future")
        );

        let e = call(
            &kms,
            &ctx(),
            "ImportKeyMaterial",
            ikm(&id, &token, &[b'A'; 16], &public, alg),
        )
        .await
        .unwrap_err();
        assert_eq!(e, KmsError::bare(ErrorCode::InvalidCiphertext));

        let out = call(
            &kms,
            &ctx(),
            "ImportKeyMaterial",
            ikm(&id, &token, &[b'A'; 32], &public, alg),
        )
        .await
        .unwrap();
        let material_id = crate::crypto::material::material_id(&id, &[b'A'; 32]).to_hex();
        assert_eq!(out, json!({"KeyId": arn, "KeyMaterialId": material_id}));
        let md = call(&kms, &ctx(), "DescribeKey", json!({"KeyId": id}))
            .await
            .unwrap()["KeyMetadata"]
            .clone();
        assert_eq!(md["KeyState"], "Enabled");
        assert_eq!(md["Enabled"], true);
        assert_eq!(md["ExpirationModel"], "KEY_MATERIAL_DOES_NOT_EXPIRE");
        assert_eq!(md["CurrentKeyMaterialId"], material_id.as_str());
        assert!(md.get("ValidTo").is_none());

        // Tokens stay valid, for this key only, until they expire.
        call(
            &kms,
            &ctx(),
            "ImportKeyMaterial",
            ikm(&id, &token, &[b'A'; 32], &public, alg),
        )
        .await
        .unwrap();
        let (other_id, ..) = key_with_params(
            &kms,
            json!({"Origin": "EXTERNAL"}),
            "RSAES_OAEP_SHA_256",
            "RSA_2048",
        )
        .await;
        let e = call(
            &kms,
            &ctx(),
            "ImportKeyMaterial",
            ikm(&other_id, &token, &[b'A'; 32], &public, alg),
        )
        .await
        .unwrap_err();
        assert_eq!(e, KmsError::bare(ErrorCode::InvalidImportToken));
        let mut bad_token = B64.decode(&token).unwrap();
        bad_token[20] ^= 4;
        let e = call(
            &kms,
            &ctx(),
            "ImportKeyMaterial",
            ikm(&id, &B64.encode(bad_token), &[b'A'; 32], &public, alg),
        )
        .await
        .unwrap_err();
        assert_eq!(e, KmsError::bare(ErrorCode::InvalidImportToken));
        kms.clock.advance(Duration::from_secs(86_400));
        let e = call(
            &kms,
            &ctx(),
            "ImportKeyMaterial",
            ikm(&id, &token, &[b'A'; 32], &public, alg),
        )
        .await
        .unwrap_err();
        assert_eq!(e, KmsError::bare(ErrorCode::ExpiredImportToken));
    }

    #[tokio::test]
    async fn delete_then_reimport_and_hmac_parameters() {
        let kms = kms();
        let (id, arn, token, public) = key_with_params(
            &kms,
            json!({"Origin": "EXTERNAL", "KeySpec": "HMAC_224", "KeyUsage": "GENERATE_VERIFY_MAC"}),
            "RSAES_OAEP_SHA_1",
            "RSA_3072",
        )
        .await;
        let alg = WrappingAlgorithm::RsaesOaepSha1;
        for (param, value) in [
            ("ImportType", json!("EXISTING_KEY_MATERIAL")),
            ("KeyMaterialId", json!("0".repeat(64))),
            ("KeyMaterialDescription", json!("d")),
        ] {
            let mut body = ikm(&id, &token, &[b'A'; 28], &public, alg);
            body[param] = value;
            let e = call(&kms, &ctx(), "ImportKeyMaterial", body)
                .await
                .unwrap_err();
            let name = format!("{}{}", param[..1].to_lowercase(), &param[1..]);
            assert_eq!(
                e.message().unwrap(),
                format!("Input parameter {name} cannot be used with HMAC_224 imported keys.")
            );
        }
        let out = call(
            &kms,
            &ctx(),
            "ImportKeyMaterial",
            ikm(&id, &token, &[b'A'; 28], &public, alg),
        )
        .await
        .unwrap();
        assert_eq!(out, json!({"KeyId": arn}));
        let out = call(
            &kms,
            &ctx(),
            "DeleteImportedKeyMaterial",
            json!({"KeyId": id}),
        )
        .await
        .unwrap();
        assert_eq!(out, json!({"KeyId": arn}));
        let md = call(&kms, &ctx(), "DescribeKey", json!({"KeyId": id}))
            .await
            .unwrap()["KeyMetadata"]
            .clone();
        assert_eq!(
            (md["KeyState"].as_str(), md["Enabled"].as_bool()),
            (Some("PendingImport"), Some(false))
        );
        assert!(md.get("ExpirationModel").is_none());
        assert!(
            md.get("CurrentKeyMaterialId").is_none(),
            "HMAC keys show no material id"
        );
        let e = call(
            &kms,
            &ctx(),
            "ImportKeyMaterial",
            ikm(&id, &token, &[b'B'; 28], &public, alg),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::IncorrectKeyMaterial);
        call(
            &kms,
            &ctx(),
            "ImportKeyMaterial",
            ikm(&id, &token, &[b'A'; 28], &public, alg),
        )
        .await
        .unwrap();

        // Keys KMS made take no imports.
        let aws = call(&kms, &ctx(), "CreateKey", json!({})).await.unwrap();
        let aws_arn = aws["KeyMetadata"]["Arn"].as_str().unwrap();
        let e = call(
            &kms,
            &ctx(),
            "DeleteImportedKeyMaterial",
            json!({"KeyId": aws_arn}),
        )
        .await
        .unwrap_err();
        assert_eq!(
            e.message().unwrap(),
            format!("{aws_arn} origin is AWS_KMS which is not valid for this operation.")
        );
    }
}

#[cfg(test)]
mod props {
    //! Property tests of the unwrap paths through ImportKeyMaterial: material wrapped locally
    //! always imports; a ciphertext with any byte altered never does.

    use super::super::testkit::*;
    use super::*;
    use crate::crypto::unwrap::tests::wrap;
    use crate::domain::spec::WrappingAlgorithm;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as B64;
    use proptest::prelude::*;
    use serde_json::json;
    use std::sync::LazyLock;

    static KMS: LazyLock<(tokio::runtime::Runtime, Kms)> = LazyLock::new(|| {
        (
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            kms_with_warm_pool(),
        )
    });

    const ALGORITHMS: [WrappingAlgorithm; 4] = [
        WrappingAlgorithm::RsaesOaepSha1,
        WrappingAlgorithm::RsaesOaepSha256,
        WrappingAlgorithm::RsaAesKeyWrapSha1,
        WrappingAlgorithm::RsaAesKeyWrapSha256,
    ];

    /// A new EXTERNAL key made with `create` in `ctx`'s Region, its token and wrapping public
    /// key for `alg` and `spec`.
    fn key_with_params(
        ctx: &RequestContext,
        create: serde_json::Value,
        alg: &str,
        spec: &str,
    ) -> (String, String, Vec<u8>) {
        let (rt, kms) = &*KMS;
        rt.block_on(async {
            let out = call(kms, ctx, "CreateKey", create).await.unwrap();
            let id = out["KeyMetadata"]["KeyId"].as_str().unwrap().to_string();
            let p = call(
                kms,
                ctx,
                "GetParametersForImport",
                json!({"KeyId": id, "WrappingAlgorithm": alg, "WrappingKeySpec": spec}),
            )
            .await
            .unwrap();
            let public = B64.decode(p["PublicKey"].as_str().unwrap()).unwrap();
            (id, p["ImportToken"].as_str().unwrap().to_string(), public)
        })
    }

    /// An HMAC_512 key (it takes every wrapping algorithm, and 64 to 128 bytes of material),
    /// its token and wrapping public key.
    fn hmac_key(alg: WrappingAlgorithm, spec: &str) -> (String, String, Vec<u8>) {
        key_with_params(
            &ctx(),
            json!({"Origin": "EXTERNAL", "KeySpec": "HMAC_512", "KeyUsage": "GENERATE_VERIFY_MAC"}),
            alg.as_str(),
            spec,
        )
    }

    fn china() -> RequestContext {
        RequestContext::new(crate::domain::arn::Scope::new("111122223333", "cn-north-1"))
    }

    /// An SM2 signing key in a China Region, its SM2PKE token and SM2 wrapping public key.
    fn sm2_key() -> (String, String, Vec<u8>) {
        key_with_params(
            &china(),
            json!({"Origin": "EXTERNAL", "KeySpec": "SM2", "KeyUsage": "SIGN_VERIFY"}),
            "SM2PKE",
            "SM2",
        )
    }

    fn import(id: &str, token: &str, encrypted: &[u8]) -> KmsResult<serde_json::Value> {
        import_in(&ctx(), id, token, encrypted)
    }

    fn import_in_china(id: &str, token: &str, encrypted: &[u8]) -> KmsResult<serde_json::Value> {
        import_in(&china(), id, token, encrypted)
    }

    fn import_in(
        ctx: &RequestContext,
        id: &str,
        token: &str,
        encrypted: &[u8],
    ) -> KmsResult<serde_json::Value> {
        let (rt, kms) = &*KMS;
        rt.block_on(call(
            kms,
            ctx,
            "ImportKeyMaterial",
            json!({
                "KeyId": id,
                "ImportToken": token,
                "EncryptedKeyMaterial": B64.encode(encrypted),
                "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
            }),
        ))
    }

    fn mac(id: &str, message: &[u8]) -> Vec<u8> {
        let (rt, kms) = &*KMS;
        let out = rt
            .block_on(call(
                kms,
                &ctx(),
                "GenerateMac",
                json!({"KeyId": id, "Message": B64.encode(message), "MacAlgorithm": "HMAC_SHA_512"}),
            ))
            .unwrap();
        B64.decode(out["Mac"].as_str().unwrap()).unwrap()
    }

    fn spec_name(i: usize) -> &'static str {
        ["RSA_2048", "RSA_3072", "RSA_4096"][i]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        #[test]
        fn wrapped_material_always_imports(
            material in proptest::collection::vec(any::<u8>(), 64..=128),
            alg in 0..4usize,
            spec in 0..3usize,
        ) {
            let alg = ALGORITHMS[alg];
            let (id, token, public) = hmac_key(alg, spec_name(spec));
            let out = import(&id, &token, &wrap(alg, &public, &material));
            prop_assert!(out.is_ok(), "{alg} {}: {out:?}", spec_name(spec));
            let expected = aws_lc_rs::hmac::sign(
                &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA512, &material),
                b"proof",
            );
            prop_assert_eq!(mac(&id, b"proof"), expected.as_ref().to_vec());
        }

        #[test]
        fn any_altered_byte_is_refused(
            material in proptest::collection::vec(any::<u8>(), 64..=128),
            alg in 0..4usize,
            spec in 0..3usize,
            position in any::<prop::sample::Index>(),
            flip in 1..=255u8,
        ) {
            let alg = ALGORITHMS[alg];
            let (id, token, public) = hmac_key(alg, spec_name(spec));
            let mut encrypted = wrap(alg, &public, &material);
            let i = position.index(encrypted.len());
            encrypted[i] ^= flip;
            let out = import(&id, &token, &encrypted);
            prop_assert_eq!(out, Err(KmsError::bare(ErrorCode::InvalidCiphertext)), "{} byte {}", alg, i);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

        /// SM2PKE (China Regions): any SM2 private key wrapped imports, and signs as itself.
        #[test]
        fn sm2_wrapped_keys_always_import(_case in 0..1u8) {
            let key = crate::crypto::sm2::Sm2Key::generate();
            let (id, token, public) = sm2_key();
            let wrapped = crate::crypto::sm2::encrypt_to_spki(&public, &key.to_pkcs8()).unwrap();
            let out = import_in_china(&id, &token, &wrapped);
            prop_assert!(out.is_ok(), "{out:?}");
            let (rt, kms) = &*KMS;
            let got = rt.block_on(call(kms, &china(), "GetPublicKey", json!({"KeyId": id}))).unwrap();
            prop_assert_eq!(B64.decode(got["PublicKey"].as_str().unwrap()).unwrap(), key.public_key_der());
        }

        #[test]
        fn sm2_any_altered_byte_is_refused(
            position in any::<prop::sample::Index>(),
            flip in 1..=255u8,
        ) {
            let key = crate::crypto::sm2::Sm2Key::generate();
            let (id, token, public) = sm2_key();
            let mut encrypted = crate::crypto::sm2::encrypt_to_spki(&public, &key.to_pkcs8()).unwrap();
            let i = position.index(encrypted.len());
            encrypted[i] ^= flip;
            let out = import_in_china(&id, &token, &encrypted);
            prop_assert_eq!(out, Err(KmsError::bare(ErrorCode::InvalidCiphertext)), "byte {}", i);
        }
    }
}
