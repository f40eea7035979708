//! GetParametersForImport: a fresh RSA wrapping public key from the pool, an import token
//! carrying its private half, and `ParametersValidTo` 24 hours ahead.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::resolve::Aliases;
use super::{Kms, RequestContext};
use crate::clock::Timestamp;
use crate::domain::refusal::{origin_error, state_error};
use crate::domain::spec::{KeyState, Origin, WrappingAlgorithm, WrappingKeySpec};
use crate::domain::wrapping;
use crate::error::KmsResult;
use crate::protocol::blob::Blob;
use crate::token::ImportToken;

/// How long import parameters stay valid, as in AWS.
pub const PARAMETERS_VALIDITY: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetParametersForImportRequest {
    pub key_id: String,
    pub wrapping_algorithm: WrappingAlgorithm,
    pub wrapping_key_spec: WrappingKeySpec,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetParametersForImportResponse {
    pub import_token: Blob,
    pub key_id: String,
    pub parameters_valid_to: Timestamp,
    pub public_key: Blob,
}

impl Kms {
    pub async fn get_parameters_for_import(
        &self,
        ctx: &RequestContext,
        r: GetParametersForImportRequest,
    ) -> KmsResult<GetParametersForImportResponse> {
        let key = self.resolve(ctx, &r.key_id, Aliases::Refused).await?.record;
        let arn = key.arn();
        if key.origin != Origin::External {
            return Err(origin_error(&arn, key.origin));
        }
        let now = self.clock.now();
        match key.state(now) {
            KeyState::PendingImport | KeyState::Enabled | KeyState::Disabled => {}
            other => return Err(state_error(&arn, other)),
        }
        wrapping::check(
            key.key_spec,
            r.wrapping_algorithm,
            r.wrapping_key_spec,
            key.scope.is_china(),
        )?;
        let pair = match r.wrapping_key_spec {
            // An SM2 key pair takes tens of microseconds to make: no pool needed.
            WrappingKeySpec::Sm2 => std::sync::Arc::new(
                crate::wrapping::WrappingKeyPair::generate(WrappingKeySpec::Sm2),
            ),
            spec => self.wrapping_keys().draw(spec).await.0,
        };
        self.wrapping_keys
            .insert(pair.private_key_pkcs8(), pair.decrypting_key());
        let valid_to = now.plus(PARAMETERS_VALIDITY);
        let token = ImportToken::new(
            arn.clone(),
            key.scope.account.clone(),
            key.scope.region.clone(),
            r.wrapping_algorithm,
            r.wrapping_key_spec,
            valid_to,
            pair.private_key_pkcs8(),
        );
        Ok(GetParametersForImportResponse {
            import_token: Blob(token.seal(&self.sealer)),
            key_id: arn,
            parameters_valid_to: valid_to,
            public_key: Blob(pair.public_key_der().to_vec()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;
    use crate::error::ErrorCode;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as B64;
    use serde_json::{Value, json};

    async fn external_key(kms: &Kms, body: Value) -> (String, String) {
        let out = call(kms, &ctx(), "CreateKey", body).await.unwrap();
        let md = &out["KeyMetadata"];
        (
            md["KeyId"].as_str().unwrap().into(),
            md["Arn"].as_str().unwrap().into(),
        )
    }

    fn gpfi(id: &str, alg: &str, spec: &str) -> Value {
        json!({"KeyId": id, "WrappingAlgorithm": alg, "WrappingKeySpec": spec})
    }

    #[tokio::test]
    async fn returns_fresh_parameters_for_every_spec() {
        let kms = kms();
        let (id, arn) = external_key(&kms, json!({"Origin": "EXTERNAL"})).await;
        let mut seen = std::collections::HashSet::new();
        for (spec, bits, der_len, prefix) in [
            (
                "RSA_2048",
                2048,
                294,
                "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA",
            ),
            (
                "RSA_3072",
                3072,
                422,
                "MIIBojANBgkqhkiG9w0BAQEFAAOCAY8AMIIBigKCAYEA",
            ),
            (
                "RSA_4096",
                4096,
                550,
                "MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEA",
            ),
        ] {
            let out = call(
                &kms,
                &ctx(),
                "GetParametersForImport",
                gpfi(&id, "RSAES_OAEP_SHA_256", spec),
            )
            .await
            .unwrap();
            assert_eq!(out["KeyId"], arn.as_str());
            assert_eq!(out["ParametersValidTo"], 1_800_086_400.0);
            let pk = out["PublicKey"].as_str().unwrap();
            assert!(pk.starts_with(prefix), "{spec}: {pk}");
            let der = B64.decode(pk).unwrap();
            assert_eq!(der.len(), der_len);
            let key = aws_lc_rs::rsa::PublicEncryptingKey::from_der(&der).unwrap();
            assert_eq!(key.key_size_bits(), bits);
            assert!(seen.insert(der));
            let token = B64.decode(out["ImportToken"].as_str().unwrap()).unwrap();
            assert!(token.len() <= 6144, "token fits CiphertextType");
            let t = ImportToken::open(&kms.sealer, &token, &arn, NOW).unwrap();
            assert_eq!(t.wrapping_key_spec.as_str(), spec);
            assert_eq!(t.wrapping_algorithm, WrappingAlgorithm::RsaesOaepSha256);
        }
        let stats = kms.pool.stats();
        assert_eq!(stats.specs.iter().map(|s| s.misses).sum::<u64>(), 3);
    }

    #[tokio::test]
    async fn refusals() {
        let kms = kms();
        let (id, arn) = external_key(&kms, json!({"Origin": "EXTERNAL"})).await;
        let e = call(
            &kms,
            &ctx(),
            "GetParametersForImport",
            gpfi(&id, "RSA_AES_KEY_WRAP_SHA_256", "RSA_2048"),
        )
        .await
        .unwrap_err();
        assert_eq!(
            e.message(),
            Some(
                "Wrapping algorithm RSA_AES_KEY_WRAP_SHA_256 and wrapping key spec RSA_2048 cannot be used to import a SYMMETRIC_DEFAULT key."
            )
        );
        let e = call(
            &kms,
            &ctx(),
            "GetParametersForImport",
            gpfi(&id, "RSAES_PKCS1_V1_5", "RSA_2048"),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::Validation);
        let e = call(
            &kms,
            &ctx(),
            "GetParametersForImport",
            gpfi(&id, "SM2PKE", "SM2"),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::Validation);

        let (aws_id, aws_arn) = external_key(&kms, json!({})).await;
        let e = call(
            &kms,
            &ctx(),
            "GetParametersForImport",
            gpfi(&aws_id, "RSAES_OAEP_SHA_256", "RSA_2048"),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::UnsupportedOperation);
        assert_eq!(
            e.message().unwrap(),
            format!("{aws_arn} origin is AWS_KMS which is not valid for this operation.")
        );

        call(&kms, &ctx(), "ScheduleKeyDeletion", json!({"KeyId": id}))
            .await
            .unwrap();
        let e = call(
            &kms,
            &ctx(),
            "GetParametersForImport",
            gpfi(&id, "RSAES_OAEP_SHA_256", "RSA_2048"),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::KmsInvalidState);
        assert_eq!(e.message().unwrap(), format!("{arn} is pending deletion."));

        let e = call(
            &kms,
            &ctx(),
            "GetParametersForImport",
            gpfi("alias/x", "RSAES_OAEP_SHA_256", "RSA_2048"),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::NotFound);
        let missing = "1234abcd-12ab-34cd-56ef-1234567890ab";
        let e = call(
            &kms,
            &ctx(),
            "GetParametersForImport",
            gpfi(missing, "RSAES_OAEP_SHA_256", "RSA_2048"),
        )
        .await
        .unwrap_err();
        assert_eq!(
            e.message().unwrap(),
            format!("Key 'arn:aws:kms:us-east-1:111122223333:key/{missing}' does not exist")
        );
    }

    #[tokio::test]
    async fn asymmetric_matrix_through_the_service() {
        let kms = kms();
        let (p521, _) = external_key(
            &kms,
            json!({"Origin": "EXTERNAL", "KeySpec": "ECC_NIST_P521", "KeyUsage": "SIGN_VERIFY"}),
        )
        .await;
        let e = call(
            &kms,
            &ctx(),
            "GetParametersForImport",
            gpfi(&p521, "RSAES_OAEP_SHA_256", "RSA_2048"),
        )
        .await
        .unwrap_err();
        assert_eq!(
            e.message(),
            Some(
                "Wrapping algorithm RSAES_OAEP_SHA_256 and wrapping key spec RSA_2048 cannot be used to import a ECC_NIST_P521 key."
            )
        );
        call(
            &kms,
            &ctx(),
            "GetParametersForImport",
            gpfi(&p521, "RSA_AES_KEY_WRAP_SHA_256", "RSA_2048"),
        )
        .await
        .unwrap();
        let (rsa, _) = external_key(
            &kms,
            json!({"Origin": "EXTERNAL", "KeySpec": "RSA_4096", "KeyUsage": "SIGN_VERIFY"}),
        )
        .await;
        let e = call(
            &kms,
            &ctx(),
            "GetParametersForImport",
            gpfi(&rsa, "RSAES_OAEP_SHA_256", "RSA_4096"),
        )
        .await
        .unwrap_err();
        assert_eq!(
            e.message(),
            Some(
                "Wrapping algorithm RSAES_OAEP_SHA_256 and wrapping key spec RSA_4096 cannot be used to import a RSA_4096 key."
            )
        );
    }

    #[tokio::test]
    async fn origin_is_checked_before_state() {
        let kms = kms();
        let (id, _) = external_key(&kms, json!({})).await;
        call(&kms, &ctx(), "DisableKey", json!({"KeyId": id}))
            .await
            .unwrap();
        let e = call(
            &kms,
            &ctx(),
            "GetParametersForImport",
            gpfi(&id, "RSAES_OAEP_SHA_256", "RSA_2048"),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::UnsupportedOperation);
    }
}
