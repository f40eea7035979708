//! Key policies: PutKeyPolicy, GetKeyPolicy, ListKeyPolicies, and the checks CreateKey and
//! PutKeyPolicy apply to a policy before storing it (well-formed, and AWS's lockout safety
//! check unless the request bypasses it).

use serde::{Deserialize, Serialize};

use super::resolve::Aliases;
use super::{Empty, Kms, RequestContext};
use crate::domain::key::KeyRecord;
use crate::error::{KmsError, KmsResult};
use crate::policy::{self, Environment, Policy, PolicyKind};
use crate::store::update_key;

/// The one policy name KMS keys have.
const DEFAULT_POLICY_NAME: &str = "default";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct PutKeyPolicyRequest {
    key_id: String,
    policy_name: Option<String>,
    policy: String,
    bypass_policy_lockout_safety_check: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct GetKeyPolicyRequest {
    key_id: String,
    policy_name: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct GetKeyPolicyResponse {
    policy: String,
    policy_name: &'static str,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListKeyPoliciesRequest {
    key_id: String,
    #[allow(dead_code)]
    limit: Option<u32>,
    #[allow(dead_code)]
    marker: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListKeyPoliciesResponse {
    policy_names: [&'static str; 1],
    truncated: bool,
}

/// Only `default` exists. AWS's text for another name was not captured.
fn check_policy_name(name: Option<&str>) -> KmsResult<()> {
    match name {
        None | Some(DEFAULT_POLICY_NAME) => Ok(()),
        Some(other) => Err(KmsError::not_found(format!(
            "Policy {other} does not exist. The only policy name is default."
        ))),
    }
}

/// Checks a key policy for a key about to have it.
pub(super) fn check_key_policy(
    ctx: &RequestContext,
    text: &str,
    key: &KeyRecord,
    bypass_lockout_check: bool,
    now_epoch_seconds: i64,
) -> KmsResult<()> {
    let policy = Policy::parse(text, PolicyKind::Key)?;
    if bypass_lockout_check {
        return Ok(());
    }
    let env = Environment {
        source_ip: None,
        epoch_seconds: now_epoch_seconds,
        region: &ctx.scope.region,
        secure_transport: false,
    };
    policy::lockout_check(&policy, &ctx.caller, &key.arn(), &key.scope.account, &env)
}

impl Kms {
    pub(super) async fn put_key_policy(
        &self,
        ctx: &RequestContext,
        r: PutKeyPolicyRequest,
    ) -> KmsResult<Empty> {
        check_policy_name(r.policy_name.as_deref())?;
        let key = self.resolve(ctx, &r.key_id, Aliases::Refused).await?;
        let bypass = r.bypass_policy_lockout_safety_check.unwrap_or(false);
        let now = self.clock.now().whole_seconds();
        check_key_policy(ctx, &r.policy, &key.record, bypass, now)?;
        let scope = key.record.scope.clone();
        update_key(self.store.as_ref(), &scope, &key.record.key_id, |k| {
            k.policy = r.policy.clone();
            Ok(())
        })
        .await?;
        Ok(Empty {})
    }

    pub(super) async fn get_key_policy(
        &self,
        ctx: &RequestContext,
        r: GetKeyPolicyRequest,
    ) -> KmsResult<GetKeyPolicyResponse> {
        check_policy_name(r.policy_name.as_deref())?;
        let key = self.resolve(ctx, &r.key_id, Aliases::Refused).await?;
        Ok(GetKeyPolicyResponse {
            policy: key.record.policy,
            policy_name: DEFAULT_POLICY_NAME,
        })
    }

    pub(super) async fn list_key_policies(
        &self,
        ctx: &RequestContext,
        r: ListKeyPoliciesRequest,
    ) -> KmsResult<ListKeyPoliciesResponse> {
        self.resolve(ctx, &r.key_id, Aliases::Refused).await?;
        Ok(ListKeyPoliciesResponse {
            policy_names: [DEFAULT_POLICY_NAME],
            truncated: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{call, ctx, kms};
    use crate::ErrorCode;
    use serde_json::json;

    #[tokio::test]
    async fn put_get_list() {
        let kms = kms();
        let ctx = ctx();
        let k = call(&kms, &ctx, "CreateKey", json!({"Origin": "EXTERNAL"}))
            .await
            .unwrap();
        let id = k["KeyMetadata"]["KeyId"].as_str().unwrap().to_string();
        let got = call(&kms, &ctx, "GetKeyPolicy", json!({"KeyId": id}))
            .await
            .unwrap();
        assert_eq!(got["PolicyName"], "default");
        assert!(
            got["Policy"]
                .as_str()
                .unwrap()
                .contains("\"Id\" : \"key-default-1\"")
        );
        let listed = call(&kms, &ctx, "ListKeyPolicies", json!({"KeyId": id}))
            .await
            .unwrap();
        assert_eq!(
            listed,
            json!({"PolicyNames": ["default"], "Truncated": false})
        );

        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}"#;
        let out = call(
            &kms,
            &ctx,
            "PutKeyPolicy",
            json!({"KeyId": id, "PolicyName": "default", "Policy": policy}),
        )
        .await
        .unwrap();
        assert_eq!(out, json!({}));
        let got = call(&kms, &ctx, "GetKeyPolicy", json!({"KeyId": id}))
            .await
            .unwrap();
        assert_eq!(got["Policy"], policy);

        let e = call(
            &kms,
            &ctx,
            "PutKeyPolicy",
            json!({"KeyId": id, "Policy": "{"}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::MalformedPolicyDocument);
        let locked = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":"kms:Encrypt","Resource":"*"}]}"#;
        let e = call(
            &kms,
            &ctx,
            "PutKeyPolicy",
            json!({"KeyId": id, "Policy": locked}),
        )
        .await
        .unwrap_err();
        assert_eq!(
            e.message(),
            Some("The new key policy will not allow you to update the key policy in the future.")
        );
        call(
            &kms,
            &ctx,
            "PutKeyPolicy",
            json!({"KeyId": id, "Policy": locked, "BypassPolicyLockoutSafetyCheck": true}),
        )
        .await
        .unwrap();
        let got = call(&kms, &ctx, "GetKeyPolicy", json!({"KeyId": id}))
            .await
            .unwrap();
        assert_eq!(got["Policy"], locked);

        let e = call(
            &kms,
            &ctx,
            "GetKeyPolicy",
            json!({"KeyId": id, "PolicyName": "other"}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::NotFound);
        let e = call(&kms, &ctx, "CreateKey", json!({"Policy": locked}))
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::MalformedPolicyDocument);
    }
}
