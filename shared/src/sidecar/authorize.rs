//! The last stage of a decision: the key policy and identity policies, on every resource the
//! request acts on (no resource: identity policies alone; an alias: identity policies in its
//! account; a key: its key policy, and identity policies where it delegates to them).

use serde_json::Value;

use super::audit::{self, AuditRecord};
use super::targets::Target;
use super::{Sidecar, is_cross_account, note};
use crate::domain::grant::{Grant, GrantOperation, grant_not_found, retire_refusal};
use crate::error::{KmsError, KmsResult};
use crate::policy::evaluate::{
    self, Decision, DenyReason, KeyTarget, Request as PolicyRequest, Resource,
};
use crate::policy::{Caller, Facts};
use crate::protocol::operation::Operation;
use crate::service::{invalid_grant_token, read_grant_token};

impl Sidecar {
    /// Allows the request, or the first refusal (in the order of `targets`), in AWS's words.
    pub(super) fn authorize(
        &self,
        caller: &Caller,
        op: Operation,
        body: &Value,
        targets: &[Target],
        mut facts: Facts,
        record: &mut Option<AuditRecord>,
    ) -> KmsResult<()> {
        // Who may retire a grant is not a policy question (DG: "kms:RetireGrant alone does not
        // allow principals to retire a grant"): the grant decides, as the endpoint's handler
        // decides on the same record.
        if op == Operation::RetireGrant {
            return self.authorize_retire(caller, body, targets, record);
        }
        facts.add_request(op, body);
        if let (Operation::ReEncrypt, [Target::Key(from), Target::Key(to)]) = (op, targets) {
            facts.set(
                "kms:ReEncryptOnSameKey",
                vec![(from.arn == to.arn).to_string()],
            );
        }
        let identity_policies = self
            .config
            .identity_policies
            .get(&caller.principal_arn)
            .or_else(|| self.config.identity_policies.get(&caller.arn))
            .map_or(&[][..], Vec::as_slice);
        // Who the caller is, for a grant's grantee: the caller, or for a session its role.
        let principals = [caller.arn.as_str(), caller.principal_arn.as_str()];
        let mut decide_on = |action: &str, resource: Resource, facts: &Facts, grants: &[Grant]| {
            let preq = PolicyRequest {
                caller,
                action,
                resource,
                cross_account: is_cross_account(op),
                facts,
            };
            let decision = evaluate::evaluate(&preq, identity_policies);
            // A grant allows what the policies leave undecided; an explicit deny still wins.
            if let Decision::Deny { reason, .. } = &decision
                && !matches!(
                    reason,
                    DenyReason::ExplicitDenyInKeyPolicy | DenyReason::ExplicitDenyInIdentityPolicy
                )
                && let Some(g) = granted(grants, &principals, action, body)
            {
                note(record, |r| {
                    r.policy_decision =
                        Some(serde_json::json!({"decision": "Allow", "grant": g.grant_id}))
                });
                return Ok(());
            }
            note(record, |r| {
                r.policy_decision = Some(audit::decision(&decision))
            });
            decision.error(&preq).map_or(Ok(()), Err)
        };
        if targets.is_empty() {
            decide_on(&action(op, 0), Resource::Any, &facts, &[])?;
        }
        let last = targets.len().saturating_sub(1);
        for (i, target) in targets.iter().enumerate() {
            match target {
                // ReplicateKey creates a key in the replica's Region (DG: kms:CreateKey, and
                // kms:TagResource for Tags, in an IAM policy there; kms:PutKeyPolicy for a
                // Policy, as the reading of the permissions table asks).
                Target::ReplicaRegion(region) => {
                    // What the new key will be: the primary's spec, usage and origin, a replica.
                    let mut there = facts.clone();
                    if let Some(Target::Key(primary)) = targets.first() {
                        let k = &primary.record;
                        there.set("kms:KeySpec", vec![k.key_spec.as_str().into()]);
                        there.set("kms:KeyUsage", vec![k.key_usage.as_str().into()]);
                        there.set("kms:KeyOrigin", vec![k.origin.as_str().into()]);
                    }
                    there.set("kms:MultiRegion", vec!["true".into()]);
                    there.set("kms:MultiRegionKeyType", vec!["REPLICA".into()]);
                    there.set("aws:RequestedRegion", vec![region.clone()]);
                    let tags = body
                        .get("Tags")
                        .and_then(Value::as_array)
                        .is_some_and(|t| !t.is_empty());
                    let actions = [
                        Some("kms:CreateKey"),
                        tags.then_some("kms:TagResource"),
                        body.get("Policy").is_some().then_some("kms:PutKeyPolicy"),
                    ];
                    for action in actions.into_iter().flatten() {
                        decide_on(action, Resource::Any, &there, &[])?;
                    }
                }
                Target::Alias(arn) => decide_on(
                    &action(op, i),
                    Resource::Alias {
                        arn,
                        account: &caller.account,
                    },
                    &facts,
                    &[],
                )?,
                Target::Key(k) => {
                    // Each key's own resource keys; the request's are shared.
                    let mut key_facts = if i == last {
                        std::mem::take(&mut facts)
                    } else {
                        facts.clone()
                    };
                    key_facts.add_key(&k.record);
                    let key = KeyTarget {
                        arn: &k.arn,
                        account: &k.record.scope.account,
                        policy: &k.policy,
                    };
                    decide_on(
                        &action(op, i),
                        Resource::Key(key),
                        &key_facts,
                        &k.record.grants,
                    )?;
                }
            }
        }
        Ok(())
    }
}

/// The action a request needs on its `i`-th target: the operation's own, except ReEncrypt's,
/// which reads with `kms:ReEncryptFrom` on its source and writes with `kms:ReEncryptTo` on its
/// destination (both in the key policy).
fn action(op: Operation, i: usize) -> String {
    match (op, i) {
        (Operation::ReEncrypt, 0) => "kms:ReEncryptFrom".into(),
        (Operation::ReEncrypt, _) => "kms:ReEncryptTo".into(),
        _ => format!("kms:{op}"),
    }
}

impl Sidecar {
    fn authorize_retire(
        &self,
        caller: &Caller,
        body: &Value,
        targets: &[Target],
        record: &mut Option<AuditRecord>,
    ) -> KmsResult<()> {
        let Some(Target::Key(k)) = targets.first() else {
            return Err(KmsError::internal(
                "RetireGrant names no key after resolution",
            ));
        };
        let grant_id = match body.get("GrantToken").and_then(Value::as_str) {
            Some(token) => read_grant_token(token).ok_or_else(invalid_grant_token)?.1,
            None => body
                .get("GrantId")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        };
        let grant = k
            .record
            .grants
            .iter()
            .find(|g| g.grant_id == grant_id)
            .ok_or_else(|| grant_not_found(&grant_id))?;
        let root = format!(
            "arn:{}:iam::{}:root",
            k.record.scope.partition(),
            caller.account
        );
        if !grant.may_retire(&[caller.arn.as_str(), caller.principal_arn.as_str()], &root) {
            return Err(retire_refusal(&caller.arn));
        }
        note(record, |r| {
            r.policy_decision =
                Some(serde_json::json!({"decision": "Allow", "grant": grant.grant_id}))
        });
        Ok(())
    }
}

/// The grant that allows `action` (`kms:<op>`) to one of `principals`, with the encryption
/// context the request carries for it (ReEncrypt's source and destination have their own).
fn granted<'g>(
    grants: &'g [Grant],
    principals: &[&str],
    action: &str,
    body: &Value,
) -> Option<&'g Grant> {
    let operation: GrantOperation = action.strip_prefix("kms:")?.parse().ok()?;
    let member = match operation {
        GrantOperation::ReEncryptFrom => "SourceEncryptionContext",
        GrantOperation::ReEncryptTo => "DestinationEncryptionContext",
        _ => "EncryptionContext",
    };
    let context: std::collections::BTreeMap<String, String> = body
        .get(member)
        .and_then(|c| serde_json::from_value(c.clone()).ok())
        .unwrap_or_default();
    grants
        .iter()
        .find(|g| g.allows(principals, operation, &context))
}
