//! Aliases: CreateAlias, UpdateAlias, DeleteAlias, ListAliases. They let operations that
//! accept aliases (DescribeKey, and later the cryptographic ones) find a key by name.

use serde::{Deserialize, Serialize};

use super::marker;
use super::resolve::Aliases;
use super::{Empty, Kms, RequestContext};
use crate::clock::Timestamp;
use crate::domain::key::{AliasRecord, check_alias_name};
use crate::domain::refusal::state_error;
use crate::domain::spec::KeyState;
use crate::error::{ErrorCode, KmsError, KmsResult};
use crate::store::Write;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct AliasTargetRequest {
    alias_name: String,
    target_key_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DeleteAliasRequest {
    alias_name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListAliasesRequest {
    key_id: Option<String>,
    limit: Option<u32>,
    marker: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct AliasListEntry {
    alias_arn: String,
    alias_name: String,
    creation_date: Timestamp,
    last_updated_date: Timestamp,
    target_key_id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListAliasesResponse {
    aliases: Vec<AliasListEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
    truncated: bool,
}

impl Kms {
    /// The target of CreateAlias/UpdateAlias: a key (not an alias) that is not being deleted.
    async fn alias_target_key(&self, ctx: &RequestContext, target: &str) -> KmsResult<String> {
        let key = self.resolve(ctx, target, Aliases::Refused).await?;
        let now = self.clock.now();
        match key.record.state(now) {
            KeyState::PendingDeletion => {
                Err(state_error(&key.record.arn(), KeyState::PendingDeletion))
            }
            _ => Ok(key.record.key_id),
        }
    }

    pub(super) async fn create_alias(
        &self,
        ctx: &RequestContext,
        r: AliasTargetRequest,
    ) -> KmsResult<Empty> {
        check_alias_name(&r.alias_name)?;
        let target_key_id = self.alias_target_key(ctx, &r.target_key_id).await?;
        let now = self.clock.now();
        let alias = AliasRecord {
            alias_name: r.alias_name,
            scope: ctx.scope.clone(),
            target_key_id,
            creation_date: now,
            last_updated_date: now,
        };
        match self.store.insert_alias(&alias).await? {
            Write::Done => Ok(Empty {}),
            Write::Conflict => Err(KmsError::new(
                ErrorCode::AlreadyExists,
                format!("An alias with the name {} already exists", alias.arn()),
            )),
        }
    }

    pub(super) async fn update_alias(
        &self,
        ctx: &RequestContext,
        r: AliasTargetRequest,
    ) -> KmsResult<Empty> {
        check_alias_name(&r.alias_name)?;
        let Some(mut alias) = self.store.get_alias(&ctx.scope, &r.alias_name).await? else {
            return Err(KmsError::not_found(format!(
                "Alias {} is not found.",
                ctx.scope.alias_arn(&r.alias_name)
            )));
        };
        alias.target_key_id = self.alias_target_key(ctx, &r.target_key_id).await?;
        alias.last_updated_date = self.clock.now();
        match self.store.update_alias(&alias).await? {
            Write::Done => Ok(Empty {}),
            Write::Conflict => Err(KmsError::not_found(format!(
                "Alias {} is not found.",
                alias.arn()
            ))),
        }
    }

    pub(super) async fn delete_alias(
        &self,
        ctx: &RequestContext,
        r: DeleteAliasRequest,
    ) -> KmsResult<Empty> {
        check_alias_name(&r.alias_name)?;
        match self.store.delete_alias(&ctx.scope, &r.alias_name).await? {
            Write::Done => Ok(Empty {}),
            Write::Conflict => Err(KmsError::not_found(format!(
                "Alias {} is not found.",
                ctx.scope.alias_arn(&r.alias_name)
            ))),
        }
    }

    pub(super) async fn list_aliases(
        &self,
        ctx: &RequestContext,
        r: ListAliasesRequest,
    ) -> KmsResult<ListAliasesResponse> {
        let limit = r.limit.unwrap_or(100) as usize;
        let filter = match &r.key_id {
            Some(k) => Some(self.resolve(ctx, k, Aliases::Refused).await?.record.key_id),
            None => None,
        };
        let mut after = marker::decode(r.marker.as_deref(), |n| {
            n.starts_with("alias/").then_some(n)
        })?;
        let mut found = Vec::with_capacity(limit + 1);
        while found.len() <= limit {
            let page = self
                .store
                .list_aliases(&ctx.scope, after.as_deref(), limit + 1)
                .await?;
            let exhausted = page.len() <= limit;
            after = page.last().map(|a| a.alias_name.clone());
            found.extend(
                page.into_iter()
                    .filter(|a| filter.as_ref().is_none_or(|k| &a.target_key_id == k)),
            );
            if exhausted {
                break;
            }
        }
        let truncated = found.len() > limit;
        found.truncate(limit);
        Ok(ListAliasesResponse {
            next_marker: truncated
                .then(|| marker::encode(&found.last().expect("limit >= 1").alias_name)),
            aliases: found
                .into_iter()
                .map(|a| AliasListEntry {
                    alias_arn: a.arn(),
                    alias_name: a.alias_name,
                    creation_date: a.creation_date,
                    last_updated_date: a.last_updated_date,
                    target_key_id: a.target_key_id,
                })
                .collect(),
            truncated,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::error::ErrorCode;
    use serde_json::json;

    #[tokio::test]
    async fn alias_lifecycle_and_resolution() {
        let kms = kms();
        let k1 = call(&kms, &ctx(), "CreateKey", json!({"Origin": "EXTERNAL"}))
            .await
            .unwrap();
        let k1 = k1["KeyMetadata"]["KeyId"].as_str().unwrap().to_string();
        let k2 = call(&kms, &ctx(), "CreateKey", json!({"Origin": "EXTERNAL"}))
            .await
            .unwrap();
        let k2 = k2["KeyMetadata"]["KeyId"].as_str().unwrap().to_string();

        call(
            &kms,
            &ctx(),
            "CreateAlias",
            json!({"AliasName": "alias/import", "TargetKeyId": k1}),
        )
        .await
        .unwrap();
        let e = call(
            &kms,
            &ctx(),
            "CreateAlias",
            json!({"AliasName": "alias/import", "TargetKeyId": k2}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::AlreadyExists);
        let e = call(
            &kms,
            &ctx(),
            "CreateAlias",
            json!({"AliasName": "alias/aws/x", "TargetKeyId": k2}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidAliasName);

        for id in [
            "alias/import",
            "arn:aws:kms:us-east-1:111122223333:alias/import",
        ] {
            let d = call(&kms, &ctx(), "DescribeKey", json!({"KeyId": id}))
                .await
                .unwrap();
            assert_eq!(d["KeyMetadata"]["KeyId"], k1.as_str());
        }
        call(
            &kms,
            &ctx(),
            "UpdateAlias",
            json!({"AliasName": "alias/import", "TargetKeyId": k2}),
        )
        .await
        .unwrap();
        let d = call(
            &kms,
            &ctx(),
            "DescribeKey",
            json!({"KeyId": "alias/import"}),
        )
        .await
        .unwrap();
        assert_eq!(d["KeyMetadata"]["KeyId"], k2.as_str());

        let l = call(&kms, &ctx(), "ListAliases", json!({"KeyId": k2}))
            .await
            .unwrap();
        assert_eq!(l["Aliases"][0]["AliasName"], "alias/import");
        assert_eq!(l["Aliases"][0]["TargetKeyId"], k2.as_str());
        assert_eq!(
            l["Aliases"][0]["AliasArn"],
            "arn:aws:kms:us-east-1:111122223333:alias/import"
        );
        let l = call(&kms, &ctx(), "ListAliases", json!({"KeyId": k1}))
            .await
            .unwrap();
        assert_eq!(l["Aliases"], json!([]));

        call(
            &kms,
            &ctx(),
            "DeleteAlias",
            json!({"AliasName": "alias/import"}),
        )
        .await
        .unwrap();
        let e = call(
            &kms,
            &ctx(),
            "DescribeKey",
            json!({"KeyId": "alias/import"}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::NotFound);
        let e = call(
            &kms,
            &ctx(),
            "DeleteAlias",
            json!({"AliasName": "alias/import"}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::NotFound);
    }
}
