//! Key policies and identity policies: parsing (`document`), condition operators
//! (`condition`), the request context (`context`) and AWS's evaluation logic (`evaluate`).
//! Pure functions with no I/O, used by the policy sidecar to decide requests and by the
//! endpoint to check policies it stores.

pub mod condition;
pub mod context;
pub mod document;
pub mod evaluate;
pub mod pattern;

#[cfg(test)]
mod tests;

pub use context::{Caller, CallerKind, Environment, Facts};
pub use document::{Policy, PolicyKind};
pub use evaluate::{Decision, DenyReason, KeyTarget, NamedPolicy, Request, Resource, evaluate};

use crate::error::{ErrorCode, KmsError};

/// AWS's lockout safety check for CreateKey and PutKeyPolicy: the new key policy must let the
/// caller change the policy later (directly, or through its account's root principal).
pub fn lockout_check(
    policy: &Policy,
    caller: &Caller,
    key_arn: &str,
    key_account: &str,
    env: &Environment,
) -> Result<(), KmsError> {
    let facts = Facts::new(caller, env);
    let root = Caller::from_arn(&caller.account_root()).expect("root ARN parses");
    // The caller, or (when the policy delegates to IAM) the account, keeps the permission.
    let keeps = |who: &Caller| {
        let req = Request {
            caller: who,
            action: "kms:PutKeyPolicy",
            resource: Resource::Key(KeyTarget {
                arn: key_arn,
                account: key_account,
                policy,
            }),
            cross_account: false,
            facts: &facts,
        };
        matches!(evaluate(&req, &[]), Decision::Allow { .. })
    };
    if keeps(caller) || keeps(&root) {
        Ok(())
    } else {
        Err(KmsError::new(
            ErrorCode::MalformedPolicyDocument,
            "The new key policy will not allow you to update the key policy in the future.",
        ))
    }
}
