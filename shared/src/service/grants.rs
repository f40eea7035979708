//! Grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant, and the
//! grant tokens other operations accept (`kms-api-facts.md` §2.2). A grant lives on its key's
//! record, so every store keeps it with the key; the policy sidecar consults it (grants allow
//! their operations to their grantee, within their constraints; explicit denies still win).
//!
//! Grants take effect at once here (AWS: "usually less than five minutes"), so a grant token
//! only has to name a grant that exists.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::marker;
use super::resolve::{Aliases, not_found_key};
use super::{Empty, Kms, RequestContext, dry_run};
use crate::clock::Timestamp;
use crate::domain::grant::{
    Grant, GrantConstraints, GrantOperation, grant_not_found, retire_refusal, valid_operations,
};
use crate::domain::key::KeyRecord;
use crate::error::{ErrorCode, KmsError, KmsResult};
use crate::policy::context::is_policy_holder;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct CreateGrantRequest {
    key_id: String,
    grantee_principal: String,
    retiring_principal: Option<String>,
    operations: Vec<GrantOperation>,
    constraints: Option<GrantConstraints>,
    #[serde(default)]
    grant_tokens: Vec<String>,
    name: Option<String>,
    dry_run: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct CreateGrantResponse {
    grant_token: String,
    grant_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListGrantsRequest {
    key_id: String,
    limit: Option<u32>,
    marker: Option<String>,
    grant_id: Option<String>,
    grantee_principal: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListRetirableGrantsRequest {
    retiring_principal: String,
    limit: Option<u32>,
    marker: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListGrantsResponse {
    grants: Vec<GrantListEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
    truncated: bool,
}

/// A grant as ListGrants shows it (captured: the key's ARN, whole-second dates).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct GrantListEntry {
    key_id: String,
    grant_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    creation_date: Timestamp,
    grantee_principal: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    retiring_principal: Option<String>,
    issuing_account: String,
    operations: Vec<GrantOperation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    constraints: Option<GrantConstraints>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct RetireGrantRequest {
    grant_token: Option<String>,
    key_id: Option<String>,
    grant_id: Option<String>,
    dry_run: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct RevokeGrantRequest {
    key_id: String,
    grant_id: String,
    dry_run: Option<bool>,
}

/// What a grant token carries: the grant's key and id.
#[derive(Debug, Serialize, Deserialize)]
struct TokenBody {
    k: String,
    g: String,
    n: String,
}

fn new_grant_token(key_arn: &str, grant_id: &str) -> String {
    let mut nonce = [0u8; 16];
    crate::crypto::fill_random(&mut nonce);
    let body = TokenBody {
        k: key_arn.to_string(),
        g: grant_id.to_string(),
        n: hex::encode(nonce),
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&body).expect("token serializes"))
}

/// The key ARN and grant id a token names (`None`: not one of ours).
pub fn read_grant_token(token: &str) -> Option<(String, String)> {
    let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
    let body: TokenBody = serde_json::from_slice(&raw).ok()?;
    Some((body.k, body.g))
}

/// The text AWS sends for an unusable grant token was never captured.
pub fn invalid_token() -> KmsError {
    KmsError::new(
        ErrorCode::InvalidGrantToken,
        "The grant token is not valid.",
    )
}

fn invalid_principal(arn: &str) -> KmsError {
    KmsError::new(
        ErrorCode::InvalidArn,
        format!("ARN does not refer to a valid principal: {arn}"),
    )
}

fn entry(key: &KeyRecord, g: &Grant) -> GrantListEntry {
    GrantListEntry {
        key_id: key.arn(),
        grant_id: g.grant_id.clone(),
        name: g.name.clone(),
        creation_date: g.creation_date,
        grantee_principal: g.grantee_principal.clone(),
        retiring_principal: g.retiring_principal.clone(),
        issuing_account: g.issuing_account.clone(),
        operations: g.operations.clone(),
        constraints: g.constraints.clone(),
    }
}

/// One page of `items` from a `grants:<n>` marker.
fn page<T>(
    items: Vec<T>,
    limit: Option<u32>,
    marker: Option<&str>,
) -> KmsResult<(Vec<T>, Option<String>)> {
    let limit = limit.unwrap_or(50).min(100) as usize;
    let start =
        marker::decode(marker, |s| s.strip_prefix("grants:")?.parse::<usize>().ok())?.unwrap_or(0);
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(start).take(limit).collect();
    let next = start + page.len();
    Ok((
        page,
        (next < total).then(|| marker::encode(&format!("grants:{next}"))),
    ))
}

impl Kms {
    /// Every grant token in a request must name a grant that exists (InvalidGrantToken).
    pub(super) async fn check_grant_tokens(
        &self,
        ctx: &RequestContext,
        tokens: &[String],
    ) -> KmsResult<()> {
        for token in tokens {
            let (arn, id) = read_grant_token(token).ok_or_else(invalid_token)?;
            let key = self
                .resolve(ctx, &arn, Aliases::Refused)
                .await
                .map_err(|_| invalid_token())?;
            if !key.record.grants.iter().any(|g| g.grant_id == id) {
                return Err(invalid_token());
            }
        }
        Ok(())
    }

    pub(super) async fn create_grant(
        &self,
        ctx: &RequestContext,
        r: CreateGrantRequest,
    ) -> KmsResult<CreateGrantResponse> {
        let key = self.resolve(ctx, &r.key_id, Aliases::Refused).await?;
        key.record.require_enabled(self.clock.now())?;
        for principal in std::iter::once(&r.grantee_principal).chain(&r.retiring_principal) {
            if !is_policy_holder(principal) {
                return Err(invalid_principal(principal));
            }
        }
        if r.operations
            .iter()
            .all(|o| *o == GrantOperation::CreateGrant)
        {
            return Err(KmsError::validation(
                "Grants must not contain only the CreateGrant operation.",
            ));
        }
        let allowed = valid_operations(key.record.key_spec, key.record.key_usage);
        if let Some(bad) = r.operations.iter().find(|o| !allowed.contains(o)) {
            // AWS's text was not captured (the model says a validation error).
            return Err(KmsError::validation(format!(
                "Grant operation {bad} is not valid for a {} key with key usage {}.",
                key.record.key_spec, key.record.key_usage
            )));
        }
        self.check_grant_tokens(ctx, &r.grant_tokens).await?;
        dry_run(r.dry_run)?;
        let arn = key.record.arn();
        let now = self.clock.now().truncate_to_secs();
        let mut fresh = [0u8; 32];
        crate::crypto::fill_random(&mut fresh);
        let candidate = Grant {
            grant_id: hex::encode(fresh),
            name: r.name.clone(),
            grantee_principal: r.grantee_principal.clone(),
            retiring_principal: r.retiring_principal.clone(),
            issuing_account: format!(
                "arn:{}:iam::{}:root",
                ctx.scope.partition(),
                ctx.scope.account
            ),
            operations: r.operations.clone(),
            constraints: r.constraints.clone(),
            creation_date: now,
        };
        let (_, grant_id) = self
            .change_key(&key, |k| {
                // A named grant created again with the same parameters is the same grant.
                let same = k.grants.iter().find(|g| {
                    g.name.is_some()
                        && g.name == candidate.name
                        && g.grantee_principal == candidate.grantee_principal
                        && g.retiring_principal == candidate.retiring_principal
                        && g.operations == candidate.operations
                        && g.constraints == candidate.constraints
                });
                if let Some(g) = same {
                    return Ok(g.grant_id.clone());
                }
                k.grants.push(candidate.clone());
                Ok(candidate.grant_id.clone())
            })
            .await?;
        Ok(CreateGrantResponse {
            grant_token: new_grant_token(&arn, &grant_id),
            grant_id,
        })
    }

    pub(super) async fn list_grants(
        &self,
        ctx: &RequestContext,
        r: ListGrantsRequest,
    ) -> KmsResult<ListGrantsResponse> {
        let key = self.resolve(ctx, &r.key_id, Aliases::Refused).await?.record;
        if let Some(p) = &r.grantee_principal
            && !is_policy_holder(p)
        {
            return Err(invalid_principal(p));
        }
        let matching: Vec<GrantListEntry> = key
            .grants
            .iter()
            .filter(|g| r.grant_id.as_ref().is_none_or(|id| &g.grant_id == id))
            .filter(|g| {
                r.grantee_principal
                    .as_ref()
                    .is_none_or(|p| &g.grantee_principal == p)
            })
            .map(|g| entry(&key, g))
            .collect();
        let (grants, next_marker) = page(matching, r.limit, r.marker.as_deref())?;
        Ok(ListGrantsResponse {
            truncated: next_marker.is_some(),
            grants,
            next_marker,
        })
    }

    /// The grants whose retiring principal this is, on the keys of the caller's account and
    /// Region.
    pub(super) async fn list_retirable_grants(
        &self,
        ctx: &RequestContext,
        r: ListRetirableGrantsRequest,
    ) -> KmsResult<ListGrantsResponse> {
        if !is_policy_holder(&r.retiring_principal) {
            return Err(KmsError::not_found(format!(
                "Retiring principal {} could not be found",
                r.retiring_principal
            )));
        }
        let mut matching = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let keys = self
                .store
                .list_keys(&ctx.scope, after.as_deref(), 1000)
                .await?;
            let Some(last) = keys.last() else { break };
            after = Some(last.key_id.clone());
            for key in &keys {
                for g in &key.grants {
                    if g.retiring_principal.as_deref() == Some(r.retiring_principal.as_str()) {
                        matching.push(entry(key, g));
                    }
                }
            }
        }
        let (grants, next_marker) = page(matching, r.limit, r.marker.as_deref())?;
        Ok(ListGrantsResponse {
            truncated: next_marker.is_some(),
            grants,
            next_marker,
        })
    }

    /// By token, or by key ARN and grant id. Who may retire (DG): the retiring principal, the
    /// grantee when the grant lists RetireGrant, or the account the grant was created in.
    pub(super) async fn retire_grant(
        &self,
        ctx: &RequestContext,
        r: RetireGrantRequest,
    ) -> KmsResult<Empty> {
        let (key_id, grant_id) = match (&r.grant_token, &r.key_id, &r.grant_id) {
            (Some(token), _, _) => read_grant_token(token).ok_or_else(invalid_token)?,
            (None, Some(k), Some(g)) => (k.clone(), g.clone()),
            // AWS's text was not captured.
            _ => {
                return Err(KmsError::validation(
                    "Either GrantToken, or KeyId and GrantId, must be given.",
                ));
            }
        };
        let key = self.resolve(ctx, &key_id, Aliases::Refused).await?;
        let grant = key
            .record
            .grants
            .iter()
            .find(|g| g.grant_id == grant_id)
            .cloned()
            .ok_or_else(|| grant_not_found(&grant_id))?;
        let caller = [ctx.caller.arn.as_str(), ctx.caller.principal_arn.as_str()];
        let root = format!(
            "arn:{}:iam::{}:root",
            ctx.scope.partition(),
            ctx.caller.account
        );
        if !grant.may_retire(&caller, &root) {
            return Err(retire_refusal(&ctx.caller.arn));
        }
        dry_run(r.dry_run)?;
        self.remove_grant(&key, &grant_id).await
    }

    pub(super) async fn revoke_grant(
        &self,
        ctx: &RequestContext,
        r: RevokeGrantRequest,
    ) -> KmsResult<Empty> {
        let key = self.resolve(ctx, &r.key_id, Aliases::Refused).await?;
        if !key.record.grants.iter().any(|g| g.grant_id == r.grant_id) {
            return Err(grant_not_found(&r.grant_id));
        }
        dry_run(r.dry_run)?;
        self.remove_grant(&key, &r.grant_id).await
    }

    async fn remove_grant(
        &self,
        key: &crate::store::Versioned<KeyRecord>,
        grant_id: &str,
    ) -> KmsResult<Empty> {
        self.change_key(key, |k| {
            k.grants.retain(|g| g.grant_id != grant_id);
            Ok(())
        })
        .await
        .map_err(|e| match e.code {
            ErrorCode::NotFound => not_found_key(&key.record.arn()),
            _ => e,
        })?;
        Ok(Empty {})
    }
}
