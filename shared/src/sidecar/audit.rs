//! CloudTrail-shaped audit records, one JSON object per request, written as JSON Lines to a
//! file or stdout so tests can assert what happened. Blobs (key material, tokens, plaintext,
//! ciphertext, signatures) never appear in a record.

use std::io::Write;
use std::sync::Mutex;

use serde_json::{Map, Value, json};

use crate::policy::evaluate::{DecidingStatement, Decision, DenyReason, PolicySource};
use crate::policy::{Caller, CallerKind};

/// Members that carry secrets or bulky binary data: left out of records.
const OMITTED: &[&str] = &[
    "Plaintext",
    "CiphertextBlob",
    "EncryptedKeyMaterial",
    "ImportToken",
    "PublicKey",
    "Signature",
    "Message",
    "Mac",
    "SharedSecret",
    "CiphertextForRecipient",
    "GrantTokens",
    "Recipient",
];

/// CloudTrail's lowerCamelCase for a KMS member name (`KeyId` → `keyId`).
fn camel(name: &str) -> String {
    let mut c = name.chars();
    match c.next() {
        Some(first) => first.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A request or response body as CloudTrail shows it: camelCase names, blobs left out.
pub fn redact(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !OMITTED.contains(&k.as_str()))
                .map(|(k, v)| {
                    // Encryption context keys and tags are data, not member names.
                    let v = if k == "EncryptionContext" {
                        v.clone()
                    } else {
                        redact(v)
                    };
                    (camel(k), v)
                })
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        other => other.clone(),
    }
}

/// `userIdentity` of a record.
/// The `resources` member: `(account, type, ARN)` of each resource a request acts on.
pub fn resources(items: Vec<(&str, &str, &str)>) -> Value {
    Value::Array(
        items
            .into_iter()
            .map(|(account, kind, arn)| json!({"accountId": account, "type": kind, "ARN": arn}))
            .collect(),
    )
}

pub fn user_identity(caller: &Caller, access_key_id: Option<&str>) -> Value {
    let mut v = json!({
        "type": match caller.kind {
            CallerKind::Root => "Root",
            CallerKind::User => "IAMUser",
            CallerKind::AssumedRole => "AssumedRole",
        },
        "arn": caller.arn,
        "accountId": caller.account,
    });
    if let Some(k) = access_key_id {
        v["accessKeyId"] = json!(k);
    }
    if let (CallerKind::User, Some(n)) = (caller.kind, &caller.name) {
        v["userName"] = json!(n);
    }
    if caller.kind == CallerKind::AssumedRole {
        v["sessionContext"] = json!({"sessionIssuer": {"type": "Role", "arn": caller.principal_arn, "accountId": caller.account}});
    }
    v
}

fn statement(s: &DecidingStatement) -> Value {
    json!({
        "policy": match &s.source {
            PolicySource::KeyPolicy => "key-policy".to_string(),
            PolicySource::Identity(name) => format!("identity:{name}"),
        },
        "statementIndex": s.index,
        "sid": s.sid,
    })
}

/// The `policyDecision` member: what was decided and by which statement.
pub fn decision(d: &Decision) -> Value {
    match d {
        Decision::Allow { by } => json!({
            "decision": "Allow",
            "statement": by.as_ref().map(statement),
        }),
        Decision::Deny { reason, by } => json!({
            "decision": match reason {
                DenyReason::ExplicitDenyInKeyPolicy | DenyReason::ExplicitDenyInIdentityPolicy => "ExplicitDeny",
                _ => "ImplicitDeny",
            },
            "reason": format!("{reason:?}"),
            "statement": by.as_ref().map(statement),
        }),
    }
}

/// Where records go.
pub enum AuditSink {
    Off,
    Stdout,
    File(Mutex<std::fs::File>),
}

impl AuditSink {
    /// `off`, `stdout`, or a file path (appended to).
    pub fn open(spec: &str) -> std::io::Result<AuditSink> {
        Ok(match spec {
            "" | "off" => AuditSink::Off,
            "stdout" | "-" => AuditSink::Stdout,
            path => {
                if let Some(dir) = std::path::Path::new(path).parent()
                    && !dir.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(dir)?;
                }
                AuditSink::File(Mutex::new(
                    crate::private_file::options()
                        .create(true)
                        .append(true)
                        .open(path)?,
                ))
            }
        })
    }

    pub fn is_on(&self) -> bool {
        !matches!(self, AuditSink::Off)
    }

    /// Writes one record as one line (a single write, so processes sharing a file do not
    /// interleave).
    pub fn write(&self, record: &Value) {
        let mut line = serde_json::to_vec(record).expect("record serializes");
        line.push(b'\n');
        let result = match self {
            AuditSink::Off => Ok(()),
            AuditSink::Stdout => std::io::stdout().lock().write_all(&line),
            AuditSink::File(f) => f.lock().expect("audit lock").write_all(&line),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not write an audit record");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction() {
        let body = json!({
            "KeyId": "k", "ImportToken": "c2VjcmV0", "EncryptedKeyMaterial": "bWF0ZXJpYWw=",
            "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
            "EncryptionContext": {"Tenant": "a"}, "Plaintext": "aGk=",
            "KeyMetadata": {"KeyId": "k", "KeyState": "Enabled"}
        });
        assert_eq!(
            redact(&body),
            json!({"keyId": "k", "expirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
                   "encryptionContext": {"Tenant": "a"},
                   "keyMetadata": {"keyId": "k", "keyState": "Enabled"}})
        );
    }

    #[test]
    fn identities() {
        let c = Caller::from_arn("arn:aws:sts::111122223333:assumed-role/R/s").unwrap();
        let v = user_identity(&c, Some("AKID"));
        assert_eq!(v["type"], "AssumedRole");
        assert_eq!(
            v["sessionContext"]["sessionIssuer"]["arn"],
            "arn:aws:iam::111122223333:role/R"
        );
        assert_eq!(v["accessKeyId"], "AKID");
    }
}
