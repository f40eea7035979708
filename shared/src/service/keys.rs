//! Key lifecycle: CreateKey, DescribeKey, ListKeys, EnableKey, DisableKey,
//! ScheduleKeyDeletion, CancelKeyDeletion.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::marker;
use super::resolve::{Aliases, is_key_id, not_found_key};
use super::usage::generate_material;
use super::{Empty, Kms, RequestContext};
use crate::clock::Timestamp;
use crate::domain::arn::Scope;
use crate::domain::key::{Deletion, KeyMetadata, KeyRecord, Tag};
use crate::domain::multi_region::MultiRegion;
use crate::domain::refusal::state_error;
use crate::domain::spec::{KeyFamily, KeyMaterialState, KeySpec, KeyState, KeyUsage, Origin};
use crate::error::{KmsError, KmsResult};
use crate::store::{Versioned, Write, update_key};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct CreateKeyRequest {
    policy: Option<String>,
    description: Option<String>,
    key_usage: Option<KeyUsage>,
    customer_master_key_spec: Option<KeySpec>,
    key_spec: Option<KeySpec>,
    origin: Option<Origin>,
    custom_key_store_id: Option<String>,
    bypass_policy_lockout_safety_check: Option<bool>,
    #[serde(default)]
    tags: Vec<Tag>,
    multi_region: Option<bool>,
    xks_key_id: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct KeyMetadataResponse {
    key_metadata: KeyMetadata,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct KeyIdRequest {
    pub(super) key_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListKeysRequest {
    limit: Option<u32>,
    marker: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct KeyListEntry {
    key_arn: String,
    key_id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListKeysResponse {
    keys: Vec<KeyListEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
    truncated: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ScheduleKeyDeletionRequest {
    key_id: String,
    pending_window_in_days: Option<u32>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ScheduleKeyDeletionResponse {
    /// Absent for a primary that still has replicas (`PendingReplicaDeletion`, captured).
    #[serde(skip_serializing_if = "Option::is_none")]
    deletion_date: Option<Timestamp>,
    key_id: String,
    key_state: KeyState,
    pending_window_in_days: u32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct KeyArnResponse {
    pub(super) key_id: String,
}

/// The key policy KMS attaches when CreateKey has none, in KMS's own formatting.
pub fn default_key_policy(scope: &Scope) -> String {
    format!(
        "{{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"key-default-1\",\n  \"Statement\" : [ {{\n    \"Sid\" : \"Enable IAM User Permissions\",\n    \"Effect\" : \"Allow\",\n    \"Principal\" : {{\n      \"AWS\" : \"arn:{}:iam::{}:root\"\n    }},\n    \"Action\" : \"kms:*\",\n    \"Resource\" : \"*\"\n  }} ]\n}}",
        scope.partition(),
        scope.account
    )
}

fn new_key_id(multi_region: bool) -> String {
    let u = uuid::Uuid::new_v4();
    if multi_region {
        format!("mrk-{}", u.simple())
    } else {
        u.hyphenated().to_string()
    }
}

/// CreateKey's parameter rules, checked before anything is stored.
fn check_create(
    ctx: &RequestContext,
    r: &CreateKeyRequest,
) -> KmsResult<(KeySpec, KeyUsage, Origin)> {
    if r.key_spec.is_some() && r.customer_master_key_spec.is_some() {
        return Err(KmsError::validation(
            "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec parameter is deprecated. Use KeySpec instead.",
        ));
    }
    let spec = r
        .key_spec
        .or(r.customer_master_key_spec)
        .unwrap_or(KeySpec::SymmetricDefault);
    let origin = r.origin.unwrap_or(Origin::AwsKms);
    match origin {
        Origin::AwsCloudHsm | Origin::ExternalKeyStore => {
            return Err(match &r.custom_key_store_id {
                None => {
                    KmsError::validation(format!("Origin {origin} requires a CustomKeyStoreId."))
                }
                Some(id) => super::custom_key_stores::no_such_store(id),
            });
        }
        _ if r.custom_key_store_id.is_some() => {
            return Err(KmsError::validation(format!(
                "CustomKeyStoreId cannot be used with Origin {origin}."
            )));
        }
        _ if r.xks_key_id.is_some() => {
            return Err(KmsError::validation(format!(
                "XksKeyId cannot be used with Origin {origin}."
            )));
        }
        _ => {}
    }
    if spec.is_china_only() && !ctx.scope.is_china() {
        return Err(KmsError::validation(format!(
            "KeySpec {spec} is not supported in this region."
        )));
    }
    let usage = r.key_usage.unwrap_or(KeyUsage::EncryptDecrypt);
    if !spec.allowed_usages().contains(&usage) {
        return Err(KmsError::validation(format!(
            "KeyUsage {usage} is not compatible with KeySpec {spec}"
        )));
    }
    if origin == Origin::External && spec.family() == KeyFamily::MlDsa {
        return Err(KmsError::validation(format!(
            "KeySpec {spec} is not supported for Origin EXTERNAL"
        )));
    }
    crate::domain::key::check_tags(&r.tags)?;
    Ok((spec, usage, origin))
}

impl Kms {
    pub(super) async fn create_key(
        &self,
        ctx: &RequestContext,
        r: CreateKeyRequest,
    ) -> KmsResult<KeyMetadataResponse> {
        let (key_spec, key_usage, origin) = check_create(ctx, &r)?;
        let multi_region = r.multi_region.unwrap_or(false);
        let explicit_policy = r.policy.is_some();
        let now = self.clock.now();
        let mut key = KeyRecord {
            key_id: new_key_id(multi_region),
            scope: ctx.scope.clone(),
            creation_date: now,
            description: r.description.unwrap_or_default(),
            key_spec,
            key_usage,
            origin,
            multi_region: if multi_region {
                MultiRegion::Primary
            } else {
                MultiRegion::Single
            },
            transition: None,
            enabled: origin != Origin::External,
            deletion: None,
            policy: r.policy.unwrap_or_else(|| default_key_policy(&ctx.scope)),
            tags: r.tags,
            materials: Vec::new(),
            on_demand_rotation: None,
            rotation_period_days: None,
            last_usage: None,
            grants: Vec::new(),
        };
        if explicit_policy {
            super::policies::check_key_policy(
                ctx,
                &key.policy,
                &key,
                r.bypass_policy_lockout_safety_check.unwrap_or(false),
                now.whole_seconds(),
            )?;
        }
        if origin == Origin::AwsKms {
            // KMS makes the material of its own keys; SM2 and ML-DSA keys get none here.
            if let Some(canonical) =
                generate_material(key_spec, ctx.scope.symmetric_cipher()).await?
            {
                let v = self.new_version(&key, &canonical, KeyMaterialState::Current);
                key.materials.push(v);
            }
        }
        match self.store.insert_key(&key).await? {
            Write::Done => Ok(KeyMetadataResponse {
                key_metadata: self.key_metadata(&key).await?,
            }),
            Write::Conflict => Err(KmsError::internal("fresh key id already taken")),
        }
    }

    pub(super) async fn describe_key(
        &self,
        ctx: &RequestContext,
        r: KeyIdRequest,
    ) -> KmsResult<KeyMetadataResponse> {
        let key = self.resolve(ctx, &r.key_id, Aliases::Accepted).await?;
        Ok(KeyMetadataResponse {
            key_metadata: self.key_metadata(&key.record).await?,
        })
    }

    pub(super) async fn list_keys(
        &self,
        ctx: &RequestContext,
        r: ListKeysRequest,
    ) -> KmsResult<ListKeysResponse> {
        let limit = r.limit.unwrap_or(100) as usize;
        let mut after = marker::decode(r.marker.as_deref(), |id| is_key_id(&id).then_some(id))?;
        let now = self.clock.now();
        let mut live = Vec::with_capacity(limit + 1);
        // Keys whose deletion date has passed are gone; skip them and keep reading.
        while live.len() <= limit {
            let page = self
                .store
                .list_keys(&ctx.scope, after.as_deref(), limit + 1)
                .await?;
            let exhausted = page.len() <= limit;
            after = page.last().map(|k| k.key_id.clone());
            live.extend(page.into_iter().filter(|k| !k.is_deleted(now)));
            if exhausted {
                break;
            }
        }
        let truncated = live.len() > limit;
        live.truncate(limit);
        Ok(ListKeysResponse {
            next_marker: truncated
                .then(|| marker::encode(&live.last().expect("limit >= 1").key_id)),
            keys: live
                .into_iter()
                .map(|k| KeyListEntry {
                    key_arn: k.arn(),
                    key_id: k.key_id,
                })
                .collect(),
            truncated,
        })
    }

    /// Applies a state change to a resolved key, re-checking the rules on the latest version
    /// (with any rotation that has come due applied first).
    pub(super) async fn change_key<T>(
        &self,
        key: &Versioned<KeyRecord>,
        mut change: impl FnMut(&mut KeyRecord) -> KmsResult<T> + Send,
    ) -> KmsResult<(KeyRecord, T)> {
        let scope = &key.record.scope;
        let now = self.clock.now();
        // A replica's shared properties are its primary's, as when it was resolved.
        let primary = super::replicas::primary_of(self.store.as_ref(), now, &key.record).await?;
        update_key(self.store.as_ref(), scope, &key.record.key_id, |k| {
            // Only while it is still that primary's replica (an UpdatePrimaryRegion between
            // the two reads makes the stored record the truth).
            if let Some(p) = &primary
                && k.multi_region == key.record.multi_region
            {
                k.share_from(p);
            }
            k.settle(now);
            change(k)
        })
        .await?
        .ok_or_else(|| not_found_key(&key.record.arn()))
    }

    pub(super) async fn enable_key(
        &self,
        ctx: &RequestContext,
        r: KeyIdRequest,
    ) -> KmsResult<Empty> {
        self.set_enabled(ctx, &r.key_id, true).await
    }

    pub(super) async fn disable_key(
        &self,
        ctx: &RequestContext,
        r: KeyIdRequest,
    ) -> KmsResult<Empty> {
        self.set_enabled(ctx, &r.key_id, false).await
    }

    async fn set_enabled(
        &self,
        ctx: &RequestContext,
        key_id: &str,
        enabled: bool,
    ) -> KmsResult<Empty> {
        let key = self.resolve(ctx, key_id, Aliases::Refused).await?;
        let now = self.clock.now();
        self.change_key(&key, |k| match k.state(now) {
            KeyState::Enabled | KeyState::Disabled => {
                k.enabled = enabled;
                Ok(())
            }
            s => Err(state_error(&k.arn(), s)),
        })
        .await?;
        Ok(Empty {})
    }

    pub(super) async fn schedule_key_deletion(
        &self,
        ctx: &RequestContext,
        r: ScheduleKeyDeletionRequest,
    ) -> KmsResult<ScheduleKeyDeletionResponse> {
        let days = r.pending_window_in_days.unwrap_or(30);
        if !(7..=30).contains(&days) {
            return Err(KmsError::validation(format!(
                "1 validation error detected: Value '{days}' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value {} {}",
                if days < 7 {
                    "greater than or equal to"
                } else {
                    "less than or equal to"
                },
                if days < 7 { 7 } else { 30 }
            )));
        }
        let now = self.clock.now();
        let date = now.plus(Duration::from_secs(u64::from(days) * 86_400));
        let schedule = |k: &mut KeyRecord, deletion: Deletion| match k.state(now) {
            s @ (KeyState::PendingDeletion
            | KeyState::PendingReplicaDeletion
            | KeyState::Creating
            | KeyState::Updating) => Err(state_error(&k.arn(), s)),
            _ => {
                k.deletion = Some(deletion);
                Ok(())
            }
        };
        let respond = |k: &KeyRecord, deletion: Deletion| ScheduleKeyDeletionResponse {
            deletion_date: deletion.date(),
            key_id: k.arn(),
            key_state: k.state(now),
            pending_window_in_days: days,
        };
        let scheduled = Deletion::Scheduled {
            date,
            window_days: days,
        };
        for _ in 0..crate::store::MAX_ATTEMPTS {
            let key = self.resolve(ctx, &r.key_id, Aliases::Refused).await?;
            if key.record.multi_region != MultiRegion::Primary {
                let (k, _) = self.change_key(&key, |k| schedule(k, scheduled)).await?;
                return Ok(respond(&k, scheduled));
            }
            // A primary with replicas waits for them (captured: PendingReplicaDeletion, no
            // date). Decided on this version of the primary: a ReplicateKey meanwhile changes
            // it (see `replicas`), and the decision is made again.
            let has_replicas = super::replicas::related(self.store.as_ref(), now, &key.record)
                .await?
                .iter()
                .any(|v| v.record.multi_region.is_replica());
            let deletion = if has_replicas {
                Deletion::AwaitingReplicas { window_days: days }
            } else {
                scheduled
            };
            let mut k = key.record.clone();
            schedule(&mut k, deletion)?;
            if self.store.replace_key(key.version, &k).await? == Write::Done {
                return Ok(respond(&k, deletion));
            }
        }
        Err(KmsError::internal(
            "ScheduleKeyDeletion: the key is still changing",
        ))
    }

    pub(super) async fn cancel_key_deletion(
        &self,
        ctx: &RequestContext,
        r: KeyIdRequest,
    ) -> KmsResult<KeyArnResponse> {
        let key = self.resolve(ctx, &r.key_id, Aliases::Refused).await?;
        let (k, _) = self
            .change_key(&key, |k| {
                if k.deletion.is_none() {
                    return Err(KmsError::invalid_state(format!(
                        "{} is not pending deletion.",
                        k.arn()
                    )));
                }
                // A cancelled key comes back disabled (or PendingImport without material).
                k.deletion = None;
                k.enabled = false;
                Ok(())
            })
            .await?;
        Ok(KeyArnResponse { key_id: k.arn() })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::error::ErrorCode;
    use serde_json::json;

    #[tokio::test]
    async fn external_key_starts_pending_import() {
        let kms = kms();
        let out = call(&kms, &ctx(), "CreateKey", json!({"Origin": "EXTERNAL"}))
            .await
            .unwrap();
        let md = &out["KeyMetadata"];
        assert_eq!(md["KeyState"], "PendingImport");
        assert_eq!(md["Enabled"], false);
        assert_eq!(md["Origin"], "EXTERNAL");
        assert_eq!(md["KeySpec"], "SYMMETRIC_DEFAULT");
        assert_eq!(md["Description"], "");
        assert_eq!(md["CreationDate"], 1_800_000_000.0);
        let id = md["KeyId"].as_str().unwrap();
        assert_eq!(
            md["Arn"],
            format!("arn:aws:kms:us-east-1:111122223333:key/{id}")
        );
        assert!(md.get("ExpirationModel").is_none());

        let d = call(&kms, &ctx(), "DescribeKey", json!({"KeyId": id}))
            .await
            .unwrap();
        assert_eq!(&d["KeyMetadata"], md);
        for op in ["EnableKey", "DisableKey"] {
            let e = call(&kms, &ctx(), op, json!({"KeyId": id}))
                .await
                .unwrap_err();
            assert_eq!(e.code, ErrorCode::KmsInvalidState);
            assert_eq!(
                e.message().unwrap(),
                format!("{} is pending import.", md["Arn"].as_str().unwrap())
            );
        }
    }

    #[tokio::test]
    async fn enable_disable_and_deletion() {
        let kms = kms();
        let out = call(&kms, &ctx(), "CreateKey", json!({})).await.unwrap();
        let id = out["KeyMetadata"]["KeyId"].as_str().unwrap().to_string();
        let arn = out["KeyMetadata"]["Arn"].as_str().unwrap().to_string();
        assert_eq!(out["KeyMetadata"]["KeyState"], "Enabled");

        call(&kms, &ctx(), "DisableKey", json!({"KeyId": id}))
            .await
            .unwrap();
        let d = call(&kms, &ctx(), "DescribeKey", json!({"KeyId": arn}))
            .await
            .unwrap();
        assert_eq!(
            (
                d["KeyMetadata"]["KeyState"].as_str(),
                d["KeyMetadata"]["Enabled"].as_bool()
            ),
            (Some("Disabled"), Some(false))
        );

        let s = call(
            &kms,
            &ctx(),
            "ScheduleKeyDeletion",
            json!({"KeyId": id, "PendingWindowInDays": 7}),
        )
        .await
        .unwrap();
        assert_eq!(
            s,
            json!({"DeletionDate": 1_800_604_800.0, "KeyId": arn, "KeyState": "PendingDeletion", "PendingWindowInDays": 7})
        );
        let e = call(&kms, &ctx(), "EnableKey", json!({"KeyId": id}))
            .await
            .unwrap_err();
        assert_eq!(e.message().unwrap(), format!("{arn} is pending deletion."));
        let e = call(&kms, &ctx(), "ScheduleKeyDeletion", json!({"KeyId": id}))
            .await
            .unwrap_err();
        assert_eq!(e.message().unwrap(), format!("{arn} is pending deletion."));

        let c = call(&kms, &ctx(), "CancelKeyDeletion", json!({"KeyId": id}))
            .await
            .unwrap();
        assert_eq!(c, json!({"KeyId": arn}));
        let d = call(&kms, &ctx(), "DescribeKey", json!({"KeyId": id}))
            .await
            .unwrap();
        assert_eq!(d["KeyMetadata"]["KeyState"], "Disabled");
        let e = call(&kms, &ctx(), "CancelKeyDeletion", json!({"KeyId": id}))
            .await
            .unwrap_err();
        assert_eq!(
            e.message().unwrap(),
            format!("{arn} is not pending deletion.")
        );

        // Once the waiting period is over the key is gone.
        call(&kms, &ctx(), "ScheduleKeyDeletion", json!({"KeyId": id}))
            .await
            .unwrap();
        kms.clock
            .advance(std::time::Duration::from_secs(30 * 86_400));
        let e = call(&kms, &ctx(), "DescribeKey", json!({"KeyId": id}))
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::NotFound);
        assert_eq!(e.message().unwrap(), format!("Key '{arn}' does not exist"));
    }

    #[tokio::test]
    async fn list_keys_pages() {
        let kms = kms();
        let mut ids = Vec::new();
        for _ in 0..5 {
            let out = call(&kms, &ctx(), "CreateKey", json!({})).await.unwrap();
            ids.push(out["KeyMetadata"]["KeyId"].as_str().unwrap().to_string());
        }
        ids.sort();
        let mut seen = Vec::new();
        let mut marker = None::<String>;
        loop {
            let mut body = json!({"Limit": 2});
            if let Some(m) = &marker {
                body["Marker"] = json!(m);
            }
            let page = call(&kms, &ctx(), "ListKeys", body).await.unwrap();
            for k in page["Keys"].as_array().unwrap() {
                seen.push(k["KeyId"].as_str().unwrap().to_string());
                assert!(
                    k["KeyArn"]
                        .as_str()
                        .unwrap()
                        .ends_with(k["KeyId"].as_str().unwrap())
                );
            }
            if page["Truncated"] == false {
                assert!(page.get("NextMarker").is_none());
                break;
            }
            marker = Some(page["NextMarker"].as_str().unwrap().to_string());
        }
        assert_eq!(seen, ids);
        let e = call(&kms, &ctx(), "ListKeys", json!({"Marker": "nonsense"}))
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidMarker);
        // Another region sees none of them.
        let other = crate::service::RequestContext::new(crate::domain::arn::Scope::new(
            "111122223333",
            "eu-west-1",
        ));
        let page = call(&kms, &other, "ListKeys", json!({})).await.unwrap();
        assert_eq!(page, json!({"Keys": [], "Truncated": false}));
    }

    #[tokio::test]
    async fn create_key_rules() {
        let kms = kms();
        let bad = [
            json!({"KeySpec": "HMAC_256"}),
            json!({"KeySpec": "RSA_2048", "KeyUsage": "GENERATE_VERIFY_MAC"}),
            json!({"KeySpec": "SYMMETRIC_DEFAULT", "KeyUsage": "SIGN_VERIFY"}),
            json!({"KeySpec": "SM2", "KeyUsage": "SIGN_VERIFY"}),
            json!({"KeySpec": "ML_DSA_44", "KeyUsage": "SIGN_VERIFY", "Origin": "EXTERNAL"}),
            json!({"KeySpec": "RSA_2048", "CustomerMasterKeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"}),
        ];
        for b in bad {
            let e = call(&kms, &ctx(), "CreateKey", b.clone())
                .await
                .unwrap_err();
            assert_eq!(e.code, ErrorCode::Validation, "{b}");
        }
        let e = call(
            &kms,
            &ctx(),
            "CreateKey",
            json!({"KeySpec": "ML_DSA_65", "KeyUsage": "SIGN_VERIFY", "Origin": "EXTERNAL"}),
        )
        .await
        .unwrap_err();
        assert_eq!(
            e.message(),
            Some("KeySpec ML_DSA_65 is not supported for Origin EXTERNAL")
        );
        let e = call(
            &kms,
            &ctx(),
            "CreateKey",
            json!({"Tags": [{"TagKey": "aws:x", "TagValue": ""}]}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::Tag);

        let ok = call(&kms, &ctx(), "CreateKey", json!({"KeySpec": "HMAC_384", "KeyUsage": "GENERATE_VERIFY_MAC", "Origin": "EXTERNAL", "Description": "d"})).await.unwrap();
        let md = &ok["KeyMetadata"];
        assert_eq!(md["MacAlgorithms"], json!(["HMAC_SHA_384"]));
        assert!(md.get("EncryptionAlgorithms").is_none());
        assert_eq!(md["Description"], "d");

        let mrk = call(
            &kms,
            &ctx(),
            "CreateKey",
            json!({"MultiRegion": true, "Origin": "EXTERNAL"}),
        )
        .await
        .unwrap();
        let md = &mrk["KeyMetadata"];
        assert!(md["KeyId"].as_str().unwrap().starts_with("mrk-"));
        assert_eq!(md["MultiRegion"], true);
        assert_eq!(
            md["MultiRegionConfiguration"]["MultiRegionKeyType"],
            "PRIMARY"
        );
        assert_eq!(
            md["MultiRegionConfiguration"]["PrimaryKey"]["Region"],
            "us-east-1"
        );
        assert_eq!(md["MultiRegionConfiguration"]["ReplicaKeys"], json!([]));

        let cn = crate::service::RequestContext::new(crate::domain::arn::Scope::new(
            "111122223333",
            "cn-north-1",
        ));
        let sm2 = call(
            &kms,
            &cn,
            "CreateKey",
            json!({"KeySpec": "SM2", "KeyUsage": "SIGN_VERIFY"}),
        )
        .await
        .unwrap();
        assert!(
            sm2["KeyMetadata"]["Arn"]
                .as_str()
                .unwrap()
                .starts_with("arn:aws-cn:kms:cn-north-1:")
        );
        assert_eq!(sm2["KeyMetadata"]["SigningAlgorithms"], json!(["SM2DSA"]));
    }

    #[test]
    fn default_policy_text() {
        let p =
            super::default_key_policy(&crate::domain::arn::Scope::new("111122223333", "us-east-1"));
        let v: serde_json::Value = serde_json::from_str(&p).unwrap();
        assert_eq!(
            v["Statement"][0]["Principal"]["AWS"],
            "arn:aws:iam::111122223333:root"
        );
        assert!(p.contains("\"Id\" : \"key-default-1\""));
    }
}
