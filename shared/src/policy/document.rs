//! Policy documents: parsed and checked once, when a policy is stored or configured, into types
//! the evaluator can trust.

use serde_json::{Map, Value};

use super::condition::{Condition, Operator};
use crate::error::{ErrorCode, KmsError};

/// Where a policy is attached; key policies name principals, identity policies must not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    Key,
    Identity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// `Action`/`NotAction`, `Resource`/`NotResource`: a list and whether it is negated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub negated: bool,
    pub patterns: Vec<String>,
}

/// `Principal`/`NotPrincipal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principals {
    pub negated: bool,
    /// `"*"` or `{"AWS": "*"}`.
    pub any: bool,
    /// `AWS` entries: ARNs, or bare account ids (normalized to the account's root ARN).
    pub aws: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub principals: Option<Principals>,
    pub action: Target,
    pub resource: Target,
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub id: Option<String>,
    /// `2012-10-17` enables policy variables; `2008-10-17` (or no version) does not.
    pub variables: bool,
    pub statements: Vec<Statement>,
}

/// Limit of a key policy document, in characters (the model's PolicyType).
pub const MAX_KEY_POLICY_LEN: usize = 32_768;

fn malformed(message: impl Into<String>) -> KmsError {
    KmsError::new(ErrorCode::MalformedPolicyDocument, message.into())
}

// The texts below are the mock's own unless noted: AWS's answers for each malformed form were
// not captured. The principal text is the one KMS is widely seen to send.
const INVALID_PRINCIPALS: &str = "Policy contains a statement with one or more invalid principals.";

impl Policy {
    /// Parses a policy document, refusing what IAM would refuse with
    /// `MalformedPolicyDocumentException`.
    pub fn parse(text: &str, kind: PolicyKind) -> Result<Policy, KmsError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|_| malformed("The policy document is not valid JSON."))?;
        Self::from_value(&value, kind)
    }

    pub fn from_value(value: &Value, kind: PolicyKind) -> Result<Policy, KmsError> {
        let doc = value
            .as_object()
            .ok_or_else(|| malformed("The policy document must be a JSON object."))?;
        for k in doc.keys() {
            if !matches!(k.as_str(), "Version" | "Id" | "Statement") {
                return Err(malformed(format!(
                    "Policy contains an unknown element: {k}."
                )));
            }
        }
        let variables = match doc.get("Version") {
            None => false,
            Some(Value::String(v)) if v == "2012-10-17" => true,
            Some(Value::String(v)) if v == "2008-10-17" => false,
            Some(_) => return Err(malformed("The policy document has an invalid Version.")),
        };
        let id = match doc.get("Id") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(malformed("The policy Id must be a string.")),
        };
        let statements = match doc.get("Statement") {
            Some(Value::Array(items)) if !items.is_empty() => items
                .iter()
                .map(|s| Statement::parse(s, kind))
                .collect::<Result<Vec<_>, _>>()?,
            Some(s @ Value::Object(_)) => vec![Statement::parse(s, kind)?],
            _ => {
                return Err(malformed(
                    "The policy document must contain at least one Statement.",
                ));
            }
        };
        Ok(Policy {
            id,
            variables,
            statements,
        })
    }
}

/// A string or a non-empty list of strings.
fn strings(value: &Value, element: &str) -> Result<Vec<String>, KmsError> {
    let bad = || malformed(format!("Policy statement has an invalid {element}."));
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or_else(bad))
            .collect(),
        _ => Err(bad()),
    }
}

/// Exactly one of `name` / `Not<name>`.
fn one_of<'a>(
    obj: &'a Map<String, Value>,
    name: &str,
    required: bool,
) -> Result<Option<(bool, &'a Value)>, KmsError> {
    let not = format!("Not{name}");
    match (obj.get(name), obj.get(&not)) {
        (Some(_), Some(_)) => Err(malformed(format!(
            "Policy statement cannot contain both {name} and {not}."
        ))),
        (Some(v), None) => Ok(Some((false, v))),
        (None, Some(v)) => Ok(Some((true, v))),
        (None, None) if required => Err(malformed(format!(
            "Policy statement must contain {name} or {not}."
        ))),
        (None, None) => Ok(None),
    }
}

impl Statement {
    fn parse(value: &Value, kind: PolicyKind) -> Result<Statement, KmsError> {
        let obj = value
            .as_object()
            .ok_or_else(|| malformed("Each policy statement must be a JSON object."))?;
        for k in obj.keys() {
            if !matches!(
                k.as_str(),
                "Sid"
                    | "Effect"
                    | "Principal"
                    | "NotPrincipal"
                    | "Action"
                    | "NotAction"
                    | "Resource"
                    | "NotResource"
                    | "Condition"
            ) {
                return Err(malformed(format!(
                    "Policy statement contains an unknown element: {k}."
                )));
            }
        }
        let sid = match obj.get("Sid") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(malformed("Policy statement has an invalid Sid.")),
        };
        let effect = match obj.get("Effect").and_then(Value::as_str) {
            Some("Allow") => Effect::Allow,
            Some("Deny") => Effect::Deny,
            _ => {
                return Err(malformed(
                    "Policy statement must have an Effect of Allow or Deny.",
                ));
            }
        };
        let principals = match one_of(obj, "Principal", false)? {
            Some(_) if kind == PolicyKind::Identity => {
                return Err(malformed(
                    "Identity-based policies must not contain Principal or NotPrincipal.",
                ));
            }
            None if kind == PolicyKind::Key => return Err(malformed(INVALID_PRINCIPALS)),
            None => None,
            Some((negated, v)) => Some(Principals::parse(negated, v)?),
        };
        let (negated, actions) = one_of(obj, "Action", true)?.expect("required");
        let action = Target {
            negated,
            patterns: strings(actions, "Action")?,
        };
        for a in &action.patterns {
            let valid = a == "*"
                || a.split_once(':').is_some_and(|(service, name)| {
                    !service.is_empty() && !name.is_empty() && !name.contains(':')
                });
            if !valid {
                return Err(malformed(format!(
                    "Policy statement has an invalid action: {a}."
                )));
            }
        }
        let (negated, resources) = one_of(obj, "Resource", true)?.expect("required");
        let resource = Target {
            negated,
            patterns: strings(resources, "Resource")?,
        };
        let conditions = match obj.get("Condition") {
            None => Vec::new(),
            Some(Value::Object(ops)) => {
                let mut out = Vec::new();
                for (op, block) in ops {
                    let operator = Operator::parse(op).ok_or_else(|| {
                        malformed(format!(
                            "Policy contains an unknown condition operator: {op}."
                        ))
                    })?;
                    let block = block.as_object().ok_or_else(|| {
                        malformed(format!("Condition {op} must map condition keys to values."))
                    })?;
                    for (key, values) in block {
                        out.push(Condition::new(operator, key, condition_values(values, op)?));
                    }
                }
                out
            }
            Some(_) => return Err(malformed("Policy statement has an invalid Condition.")),
        };
        Ok(Statement {
            sid,
            effect,
            principals,
            action,
            resource,
            conditions,
        })
    }
}

/// Condition values: strings, numbers or booleans, alone or in a list.
fn condition_values(value: &Value, op: &str) -> Result<Vec<String>, KmsError> {
    let one = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    let bad = || malformed(format!("Condition {op} has an invalid value."));
    match value {
        Value::Array(items) => items.iter().map(|v| one(v).ok_or_else(bad)).collect(),
        v => one(v).map(|s| vec![s]).ok_or_else(bad),
    }
}

impl Principals {
    fn parse(negated: bool, value: &Value) -> Result<Principals, KmsError> {
        let bad = || malformed(INVALID_PRINCIPALS);
        let mut p = Principals {
            negated,
            any: false,
            aws: Vec::new(),
        };
        match value {
            Value::String(s) if s == "*" => p.any = true,
            Value::Object(map) if !map.is_empty() => {
                for (kind, entries) in map {
                    let entries = strings(entries, "Principal").map_err(|_| bad())?;
                    match kind.as_str() {
                        "AWS" => {
                            for e in entries {
                                if e == "*" {
                                    p.any = true;
                                } else if crate::domain::arn::is_valid_account(&e) {
                                    p.aws.push(format!("arn:aws:iam::{e}:root"));
                                } else if is_principal_arn(&e) {
                                    p.aws.push(e);
                                } else {
                                    return Err(bad());
                                }
                            }
                        }
                        // Never a caller of this mock, but valid in a policy.
                        "Service" | "Federated" | "CanonicalUser" => {}
                        _ => return Err(bad()),
                    }
                }
            }
            _ => return Err(bad()),
        }
        Ok(p)
    }
}

/// An IAM or STS principal ARN: `arn:<partition>:iam::<account>:<root|user/..|role/..>` or
/// `arn:<partition>:sts::<account>:assumed-role/<role>/<session>`.
fn is_principal_arn(s: &str) -> bool {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || !parts[3].is_empty() {
        return false;
    }
    let account_ok = crate::domain::arn::is_valid_account(parts[4]);
    match parts[2] {
        "iam" => {
            account_ok
                && (parts[5] == "root"
                    || ["user/", "role/", "group/"]
                        .iter()
                        .any(|p| parts[5].len() > p.len() && parts[5].starts_with(p)))
        }
        "sts" => account_ok && parts[5].starts_with("assumed-role/"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str, kind: PolicyKind) -> String {
        let e = Policy::parse(text, kind).unwrap_err();
        assert_eq!(e.code, ErrorCode::MalformedPolicyDocument);
        e.message().unwrap().to_string()
    }

    #[test]
    fn parses_the_default_key_policy() {
        let p = Policy::parse(
            &crate::service::default_key_policy(&crate::domain::arn::Scope::new(
                "111122223333",
                "us-east-1",
            )),
            PolicyKind::Key,
        )
        .unwrap();
        assert_eq!(p.id.as_deref(), Some("key-default-1"));
        assert!(p.variables);
        let s = &p.statements[0];
        assert_eq!(s.sid.as_deref(), Some("Enable IAM User Permissions"));
        assert_eq!(s.effect, Effect::Allow);
        assert_eq!(
            s.principals.as_ref().unwrap().aws,
            ["arn:aws:iam::111122223333:root"]
        );
        assert_eq!(s.action.patterns, ["kms:*"]);
    }

    #[test]
    fn refuses_malformed_documents() {
        let stmt = |s: &str| format!(r#"{{"Version":"2012-10-17","Statement":[{s}]}}"#);
        assert_eq!(
            err("{", PolicyKind::Key),
            "The policy document is not valid JSON."
        );
        assert_eq!(
            err(
                &stmt(r#"{"Effect":"Allow","Action":"kms:*","Resource":"*"}"#),
                PolicyKind::Key
            ),
            INVALID_PRINCIPALS
        );
        assert_eq!(
            err(
                &stmt(
                    r#"{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"kms:*","Resource":"*"}"#
                ),
                PolicyKind::Key
            ),
            INVALID_PRINCIPALS
        );
        assert_eq!(
            err(
                &stmt(
                    r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEqualz":{"a":"b"}}}"#
                ),
                PolicyKind::Key
            ),
            "Policy contains an unknown condition operator: StringEqualz."
        );
        assert_eq!(
            err(
                &stmt(
                    r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","NotAction":"kms:Decrypt","Resource":"*"}"#
                ),
                PolicyKind::Key
            ),
            "Policy statement cannot contain both Action and NotAction."
        );
        assert_eq!(
            err(
                &stmt(r#"{"Effect":"Permit","Principal":"*","Action":"kms:*","Resource":"*"}"#),
                PolicyKind::Key
            ),
            "Policy statement must have an Effect of Allow or Deny."
        );
        assert_eq!(
            err(
                &stmt(r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}"#),
                PolicyKind::Identity
            ),
            "Identity-based policies must not contain Principal or NotPrincipal."
        );
        assert_eq!(
            err(
                &stmt(r#"{"Effect":"Allow","Action":"kms","Resource":"*"}"#),
                PolicyKind::Identity
            ),
            "Policy statement has an invalid action: kms."
        );
        assert_eq!(
            err(r#"{"Statement":[]}"#, PolicyKind::Key),
            "The policy document must contain at least one Statement."
        );
    }

    #[test]
    fn principal_forms() {
        let p = Policy::parse(
            r#"{"Statement":{"Effect":"Deny","NotPrincipal":{"AWS":["444455556666","arn:aws:sts::444455556666:assumed-role/R/s"],"Service":"logs.amazonaws.com"},"NotAction":"kms:Get*","NotResource":"arn:aws:kms:*:*:key/x"}}"#,
            PolicyKind::Key,
        )
        .unwrap();
        assert!(!p.variables);
        let s = &p.statements[0];
        let pr = s.principals.as_ref().unwrap();
        assert!(pr.negated && !pr.any);
        assert_eq!(
            pr.aws,
            [
                "arn:aws:iam::444455556666:root",
                "arn:aws:sts::444455556666:assumed-role/R/s"
            ]
        );
        assert!(s.action.negated && s.resource.negated);
    }
}
