//! AWS's policy evaluation for KMS: an explicit deny anywhere wins; otherwise the key policy
//! must allow the caller, directly or by delegating to the caller's account (its root
//! principal), in which case an identity policy must allow too. Callers from another account
//! need both, and only for the operations KMS allows across accounts.

use super::condition::Context;
use super::context::{Caller, CallerKind, Facts};
use super::document::{Effect, Policy, Principals, Statement};
use super::pattern::{Pattern, wildcard_match};
use crate::error::{ErrorCode, KmsError};

/// Which policy a statement belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    KeyPolicy,
    /// An identity policy, by its name in the configuration.
    Identity(String),
}

/// The statement that decided a request (for audit records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecidingStatement {
    pub source: PolicySource,
    pub index: usize,
    pub sid: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    ExplicitDenyInKeyPolicy,
    ExplicitDenyInIdentityPolicy,
    NoResourcePolicyAllows,
    NoIdentityPolicyAllows,
    /// The operation is not one KMS allows across accounts.
    NotCrossAccount,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// `by` is the allowing statement; `None` for the root user's implicit permissions.
    Allow { by: Option<DecidingStatement> },
    Deny {
        reason: DenyReason,
        by: Option<DecidingStatement>,
    },
}

/// An identity policy attached to the caller, with the name the configuration gives it.
#[derive(Debug, Clone)]
pub struct NamedPolicy {
    pub name: String,
    pub policy: Policy,
}

/// The key a request acts on, as the evaluator needs it.
#[derive(Debug, Clone, Copy)]
pub struct KeyTarget<'a> {
    pub arn: &'a str,
    pub account: &'a str,
    pub policy: &'a Policy,
}

/// What a request acts on.
#[derive(Debug, Clone, Copy)]
pub enum Resource<'a> {
    /// No resource (CreateKey, ListKeys, ListAliases): `*`, identity policies alone.
    Any,
    /// A key: its key policy, and identity policies where it delegates to them.
    Key(KeyTarget<'a>),
    /// An alias (CreateAlias, UpdateAlias, DeleteAlias): identity policies alone, in the
    /// alias's own account; an alias has no policy of its own.
    Alias { arn: &'a str, account: &'a str },
}

/// One request to decide.
pub struct Request<'a> {
    pub caller: &'a Caller,
    /// `kms:<Operation>`.
    pub action: &'a str,
    pub resource: Resource<'a>,
    pub cross_account: bool,
    pub facts: &'a Facts,
}

/// How a key policy statement names the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum PrincipalMatch {
    /// Through the caller's account root: IAM policies decide.
    Account,
    /// The caller itself, or `*`.
    Direct,
}

impl<'a> Request<'a> {
    fn resource(&self) -> &str {
        match self.resource {
            Resource::Any => "*",
            Resource::Key(k) => k.arn,
            Resource::Alias { arn, .. } => arn,
        }
    }

    fn key(&self) -> Option<KeyTarget<'a>> {
        match self.resource {
            Resource::Key(k) => Some(k),
            _ => None,
        }
    }

    fn same_account(&self) -> bool {
        match self.resource {
            Resource::Any => true,
            Resource::Key(KeyTarget { account, .. }) | Resource::Alias { account, .. } => {
                account == self.caller.account
            }
        }
    }
}

pub fn evaluate(req: &Request, identity: &[NamedPolicy]) -> Decision {
    let deny = |reason, by| Decision::Deny { reason, by };
    if !req.same_account() && !req.cross_account {
        return deny(DenyReason::NotCrossAccount, None);
    }
    let key_statements = req
        .key()
        .map(|k| {
            k.policy
                .statements
                .iter()
                .enumerate()
                .map(move |(i, s)| (k.policy.variables, i, s))
        })
        .into_iter()
        .flatten();

    let mut key_allow: Option<(PrincipalMatch, DecidingStatement)> = None;
    for (variables, index, s) in key_statements {
        let Some(m) = applies(s, variables, req, true) else {
            continue;
        };
        let by = DecidingStatement {
            source: PolicySource::KeyPolicy,
            index,
            sid: s.sid.clone(),
        };
        match s.effect {
            Effect::Deny => return deny(DenyReason::ExplicitDenyInKeyPolicy, Some(by)),
            Effect::Allow => {
                if key_allow.as_ref().is_none_or(|(best, _)| m > *best) {
                    key_allow = Some((m, by));
                }
            }
        }
    }

    let mut identity_allow: Option<DecidingStatement> = None;
    for named in identity {
        for (index, s) in named.policy.statements.iter().enumerate() {
            if applies(s, named.policy.variables, req, false).is_none() {
                continue;
            }
            let by = DecidingStatement {
                source: PolicySource::Identity(named.name.clone()),
                index,
                sid: s.sid.clone(),
            };
            match s.effect {
                Effect::Deny => return deny(DenyReason::ExplicitDenyInIdentityPolicy, Some(by)),
                Effect::Allow => {
                    identity_allow.get_or_insert(by);
                }
            }
        }
    }
    // The root user holds every permission of its own account.
    let identity_allows = req.caller.kind == CallerKind::Root || identity_allow.is_some();

    match (req.key(), key_allow) {
        (None, _) if identity_allows => Decision::Allow { by: identity_allow },
        (None, _) => deny(DenyReason::NoIdentityPolicyAllows, None),
        (Some(_), None) => deny(DenyReason::NoResourcePolicyAllows, None),
        (Some(_), Some((PrincipalMatch::Direct, by))) if req.same_account() => {
            Decision::Allow { by: Some(by) }
        }
        (Some(_), Some((_, by))) if identity_allows => Decision::Allow {
            by: identity_allow.or(Some(by)),
        },
        (Some(_), Some(_)) => deny(DenyReason::NoIdentityPolicyAllows, None),
    }
}

/// Whether a statement applies to the request; for key policies, how it names the caller.
fn applies(
    s: &Statement,
    variables: bool,
    req: &Request,
    key_policy: bool,
) -> Option<PrincipalMatch> {
    let action_hit = s
        .action
        .patterns
        .iter()
        .any(|p| wildcard_match(p, req.action, true));
    if action_hit == s.action.negated {
        return None;
    }
    let resource = req.resource();
    let resource_hit = s.resource.patterns.iter().any(|p| {
        p == "*"
            || Pattern::compile(p, variables, req.facts).is_some_and(|p| p.matches(resource, false))
    });
    if resource_hit == s.resource.negated {
        return None;
    }
    let principal = if key_policy {
        principal_match(s.principals.as_ref()?, req.caller)?
    } else {
        PrincipalMatch::Direct
    };
    let ctx: &dyn Context = req.facts;
    s.conditions
        .iter()
        .all(|c| c.holds(ctx, variables))
        .then_some(principal)
}

fn principal_match(p: &Principals, caller: &Caller) -> Option<PrincipalMatch> {
    let is_root_of = |entry: &str, account: &str| {
        entry.starts_with("arn:")
            && entry
                .strip_suffix(":root")
                .is_some_and(|e| e.ends_with(&format!("::{account}")))
    };
    let direct = p.any
        || p.aws.iter().any(|e| {
            *e == caller.arn
                || *e == caller.principal_arn
                || (caller.kind == CallerKind::Root && is_root_of(e, &caller.account))
        });
    if p.negated {
        return (!direct).then_some(PrincipalMatch::Direct);
    }
    if direct {
        return Some(PrincipalMatch::Direct);
    }
    p.aws
        .iter()
        .any(|e| is_root_of(e, &caller.account))
        .then_some(PrincipalMatch::Account)
}

/// AWS's AccessDeniedException for a refusal, no trailing period. A caller from another
/// account reads "this resource" instead of the key's ARN.
pub fn access_denied(
    caller: &Caller,
    action: &str,
    resource: &str,
    same_account: bool,
    reason: DenyReason,
) -> KmsError {
    let on = if same_account {
        format!("on resource: {resource}")
    } else {
        "on this resource".to_string()
    };
    let why = match reason {
        DenyReason::ExplicitDenyInKeyPolicy => {
            "with an explicit deny in a resource-based policy".to_string()
        }
        DenyReason::ExplicitDenyInIdentityPolicy => {
            "with an explicit deny in an identity-based policy".to_string()
        }
        // A cross-account call of an operation KMS keeps in the account: AWS's text was not
        // captured; the key policy cannot grant it, hence the resource-based wording.
        DenyReason::NoResourcePolicyAllows | DenyReason::NotCrossAccount => {
            format!("because no resource-based policy allows the {action} action")
        }
        DenyReason::NoIdentityPolicyAllows => {
            format!("because no identity-based policy allows the {action} action")
        }
    };
    KmsError::new(
        ErrorCode::AccessDenied,
        format!(
            "User: {} is not authorized to perform: {action} {on} {why}",
            caller.arn
        ),
    )
}

impl Decision {
    /// The error to answer, or `None` when allowed.
    pub fn error(&self, req: &Request) -> Option<KmsError> {
        match self {
            Decision::Allow { .. } => None,
            Decision::Deny { reason, .. } => Some(access_denied(
                req.caller,
                req.action,
                req.resource(),
                req.same_account(),
                *reason,
            )),
        }
    }
}
