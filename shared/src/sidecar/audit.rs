//! CloudTrail-shaped audit records, one JSON object per request, written as JSON Lines to a
//! file or stdout so tests can assert what happened. Blobs (key material, tokens, plaintext,
//! ciphertext, signatures) never appear in a record.

use std::io::Write;
use std::sync::Mutex;

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::policy::evaluate::{DecidingStatement, Decision, DenyReason, PolicySource};
use crate::policy::{Caller, CallerKind};

/// Members that carry secrets or bulky binary data: left out of records.
const OMITTED: &[&str] = &[
    "Plaintext",
    "PrivateKeyPlaintext",
    "PrivateKeyCiphertextBlob",
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

/// The `resources` member: `(account, type, ARN)` of each resource a request acts on.
pub fn resources(items: Vec<(&str, &str, &str)>) -> Value {
    Value::Array(
        items
            .into_iter()
            .map(|(account, kind, arn)| json!({"accountId": account, "type": kind, "ARN": arn}))
            .collect(),
    )
}

/// `userIdentity` of a record.
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

/// One request's record, in CloudTrail's shape. Members after `managementEvent` appear once
/// the decision has reached them: a request refused at authentication has no `userIdentity`
/// and no `policyDecision`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    pub event_version: &'static str,
    pub event_time: String,
    pub event_source: &'static str,
    pub event_name: String,
    #[serde(rename = "sourceIPAddress")]
    pub source_ip_address: Option<String>,
    pub user_agent: Option<String>,
    #[serde(rename = "requestID")]
    pub request_id: String,
    #[serde(rename = "eventID")]
    pub event_id: String,
    pub event_type: &'static str,
    pub management_event: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_identity: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient_account_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_parameters: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_decision: Option<Value>,
    /// On success: the redacted response, or `null` for an empty one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_elements: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
}

impl AuditRecord {
    /// A record of a request as it arrived, before any decision.
    pub fn new(
        event_time: String,
        event_name: &str,
        source_ip_address: Option<String>,
        user_agent: Option<&str>,
    ) -> Self {
        Self {
            event_version: "1.11",
            event_time,
            event_source: "kms.amazonaws.com",
            event_name: event_name.to_string(),
            source_ip_address,
            user_agent: user_agent.map(str::to_string),
            request_id: uuid::Uuid::new_v4().to_string(),
            event_id: uuid::Uuid::new_v4().to_string(),
            event_type: "AwsApiCall",
            management_event: true,
            user_identity: None,
            aws_region: None,
            recipient_account_id: None,
            request_parameters: None,
            resources: None,
            policy_decision: None,
            response_elements: None,
            error_code: None,
            error_message: None,
            http_status: None,
        }
    }

    /// Completes the record with the answer the client got.
    pub fn answered(&mut self, status: u16, body: &[u8]) {
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        if status == 200 {
            self.response_elements = Some(match &parsed {
                Some(v) if v.as_object().is_some_and(|m| !m.is_empty()) => redact(v),
                _ => Value::Null,
            });
        } else if let Some(v) = parsed {
            self.error_code = Some(v["__type"].as_str().unwrap_or("").to_string());
            self.error_message = v.get("message").or_else(|| v.get("Message")).cloned();
        }
        self.http_status = Some(status);
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
    pub fn write(&self, record: &AuditRecord) {
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
