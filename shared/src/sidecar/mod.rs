//! The policy-enforcement sidecar's decisions, independent of how it is deployed (a local
//! reverse proxy, or a Lambda extension proxying the Runtime API): authenticate the request
//! (SigV4), apply quotas and injected faults, evaluate the key policy and identity policies,
//! and write an audit record once the endpoint has answered.

pub mod audit;
pub mod config;
pub mod quota;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use dashmap::DashMap;
use http::{HeaderValue, Request};
use serde_json::{Value, json};

use crate::clock::Timestamp;
use crate::crypto::envelope;
use crate::domain::arn::{Scope, is_valid_region};
use crate::domain::key::KeyRecord;
use crate::endpoint::{CALLER_HEADER, MOCK_PREFIX};
use crate::error::KmsError;
use crate::policy::evaluate::{self, Decision, KeyTarget, Request as PolicyRequest};
use crate::policy::{Caller, Environment, Facts, Policy, PolicyKind};
use crate::protocol::operation::Operation;
use crate::protocol::wire::{self, TARGET_HEADER};
use crate::service::{Aliases, KeyRef, resolve_key};
use crate::sigv4::{self, CredentialScope, Secret, SignedRequest};
use crate::store::KeyStore;
use config::SidecarConfig;
use quota::Quota;

/// How long key metadata and policies are reused before being read from the store again
/// (changes made through this sidecar are seen at once).
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(1);

/// Operations KMS allows on a key in another account (the developer guide's
/// "Cross-account use: Yes").
pub fn is_cross_account(op: Operation) -> bool {
    use Operation::*;
    matches!(
        op,
        DescribeKey
            | GetPublicKey
            | Encrypt
            | Decrypt
            | GenerateDataKey
            | GenerateDataKeyWithoutPlaintext
            | Sign
            | Verify
            | GenerateMac
            | VerifyMac
            | DeriveSharedSecret
            | GetKeyRotationStatus
    )
}

/// What to do with a request.
#[derive(Debug)]
pub enum Verdict {
    /// Pass it on; `caller` is the header value naming the authenticated principal.
    Forward { caller: Option<HeaderValue> },
    /// Answer it with this error; the endpoint never sees it.
    Refuse(KmsError),
}

/// A decided request, and what its audit record will say.
pub struct Checked {
    pub verdict: Verdict,
    draft: Option<Draft>,
}

struct Draft {
    record: Value,
    op: Option<Operation>,
    invalidate: Option<(Scope, String)>,
}

struct CachedKey {
    at: Instant,
    record: KeyRecord,
    policy: Option<Arc<Policy>>,
}

pub struct Sidecar {
    pub config: SidecarConfig,
    store: Arc<dyn KeyStore>,
    keys: DashMap<(Scope, String), Arc<CachedKey>>,
}

fn now_epoch() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Who made a request, once authenticated.
struct Identity {
    caller: Caller,
    access_key_id: Option<String>,
    region: String,
}

impl Sidecar {
    pub fn new(config: SidecarConfig, store: Arc<dyn KeyStore>) -> Self {
        Self {
            config,
            store,
            keys: DashMap::new(),
        }
    }

    /// Decides a request. `source_ip` is the client's address.
    pub async fn check(&self, req: &Request<Bytes>, source_ip: Option<IpAddr>) -> Checked {
        if req.uri().path().starts_with(MOCK_PREFIX) {
            return Checked {
                verdict: Verdict::Forward { caller: None },
                draft: None,
            };
        }
        let started = now_epoch();
        let target = req
            .headers()
            .get(TARGET_HEADER)
            .and_then(|v| v.to_str().ok());
        let op = wire::operation(target).ok();
        let mut record = json!({
            "eventVersion": "1.11",
            "eventTime": rfc3339(started),
            "eventSource": "kms.amazonaws.com",
            "eventName": op.map_or_else(
                || target.and_then(|t| t.strip_prefix("TrentService.")).unwrap_or("").to_string(),
                |o| o.as_str().to_string(),
            ),
            "sourceIPAddress": source_ip.map(|ip| ip.to_string()),
            "userAgent": req.headers().get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()),
            "requestID": uuid::Uuid::new_v4().to_string(),
            "eventID": uuid::Uuid::new_v4().to_string(),
            "eventType": "AwsApiCall",
            "managementEvent": true,
        });
        let audit = self.config.audit.is_on();
        let refuse = |record: Value, e: KmsError| Checked {
            verdict: Verdict::Refuse(e),
            draft: audit.then_some(Draft {
                record,
                op,
                invalidate: None,
            }),
        };

        let identity = match self.authenticate(req, started) {
            Ok(i) => i,
            Err(e) => return refuse(record, e),
        };
        record["userIdentity"] =
            audit::user_identity(&identity.caller, identity.access_key_id.as_deref());
        record["awsRegion"] = json!(identity.region);
        record["recipientAccountId"] = json!(identity.caller.account);
        let caller_header = HeaderValue::from_str(&identity.caller.arn).ok();
        let forward = |record: Value, invalidate| Checked {
            verdict: Verdict::Forward {
                caller: caller_header.clone(),
            },
            draft: audit.then_some(Draft {
                record,
                op,
                invalidate,
            }),
        };
        // Requests the endpoint will refuse anyway (unknown operation, invalid body) go on,
        // so that there is one source of those errors.
        let Some(op) = op else {
            return forward(record, None);
        };
        let Ok(body) = wire::body(op, req.body()) else {
            return forward(record, None);
        };
        if audit {
            record["requestParameters"] = audit::redact(&body);
        }

        let caller_scope = Scope::new(identity.caller.account.clone(), identity.region.clone());
        let key = match key_parameter(op, &body, &caller_scope) {
            Some(input) => self.key(&caller_scope, &input).await,
            None => None,
        };
        if let Some(k) = &key {
            record["resources"] = json!([{"accountId": k.record.scope.account, "type": "AWS::KMS::Key", "ARN": k.record.arn()}]);
        }

        if let Err(e) = self.config.quotas.take(
            &identity.caller.account,
            &identity.region,
            Quota::of(op, key.as_ref().map(|k| k.record.key_spec)),
        ) {
            return refuse(record, e);
        }
        if let Err(e) = self.config.faults.check(op) {
            return refuse(record, e);
        }

        let mut facts = Facts::new(
            &identity.caller,
            &Environment {
                source_ip: source_ip.map(|ip| ip.to_string()).as_deref(),
                epoch_seconds: started,
                region: &identity.region,
                secure_transport: false,
            },
        );
        facts.add_request(op, &body);
        // A key the request names but that cannot be found is the endpoint's to refuse.
        let needs_key = key_parameter(op, &body, &caller_scope).is_some();
        if needs_key && key.is_none() {
            return forward(record, None);
        }
        if let Some(k) = &key {
            facts.add_key(&k.record);
        }
        let arn = key.as_ref().map(|k| k.record.arn());
        let empty = Policy {
            id: None,
            variables: false,
            statements: Vec::new(),
        };
        let action = format!("kms:{op}");
        let preq = PolicyRequest {
            caller: &identity.caller,
            action: &action,
            key: key.as_ref().map(|k| KeyTarget {
                arn: arn.as_deref().expect("key has an ARN"),
                account: &k.record.scope.account,
                policy: k.policy.as_deref().unwrap_or(&empty),
            }),
            cross_account: is_cross_account(op),
            facts: &facts,
        };
        let identity_policies = self
            .config
            .identity_policies
            .get(&identity.caller.principal_arn)
            .or_else(|| self.config.identity_policies.get(&identity.caller.arn))
            .map_or(&[][..], Vec::as_slice);
        let decision = evaluate::evaluate(&preq, identity_policies);
        if audit {
            record["policyDecision"] = audit::decision(&decision);
        }
        match decision.error(&preq) {
            Some(e) => refuse(record, e),
            None => {
                let invalidate = (op == Operation::PutKeyPolicy)
                    .then(|| {
                        key.as_ref()
                            .map(|k| (k.record.scope.clone(), k.record.key_id.clone()))
                    })
                    .flatten();
                if let (Decision::Allow { .. }, Some(inv)) = (&decision, &invalidate) {
                    // Drop the cached policy now too: a concurrent request must not use it
                    // once the endpoint has stored the new one.
                    self.keys.remove(inv);
                }
                forward(record, invalidate)
            }
        }
    }

    /// Records the outcome of a checked request: `status` and `body` as the client got them.
    pub fn finish(&self, checked: Checked, status: u16, body: &[u8]) {
        let Some(mut draft) = checked.draft else {
            return;
        };
        if let Some(key) = &draft.invalidate
            && status == 200
        {
            self.keys.remove(key);
        }
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        if status == 200 {
            draft.record["responseElements"] = match (&parsed, draft.op) {
                (Some(v), Some(_)) if v.as_object().is_some_and(|m| !m.is_empty()) => {
                    audit::redact(v)
                }
                _ => Value::Null,
            };
        } else if let Some(v) = parsed {
            let code = v["__type"].as_str().unwrap_or("").to_string();
            draft.record["errorCode"] = json!(code);
            if let Some(m) = v.get("message").or_else(|| v.get("Message")) {
                draft.record["errorMessage"] = m.clone();
            }
        }
        draft.record["httpStatus"] = json!(status);
        self.config.audit.write(&draft.record);
    }

    fn authenticate(&self, req: &Request<Bytes>, now: i64) -> Result<Identity, KmsError> {
        let headers = req.headers();
        let scope_region = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(CredentialScope::from_authorization)
            .map(|c| (c.access_key_id.to_string(), c.region.to_string()));
        if !self.config.verify_signatures {
            let (caller, key, region) = match scope_region {
                Some((key, region)) => {
                    let caller = self
                        .config
                        .credentials
                        .get(&key)
                        .map_or_else(|| self.config.default_caller.clone(), |c| c.caller.clone());
                    (caller, Some(key), region)
                }
                None => (
                    self.config.default_caller.clone(),
                    None,
                    self.config.default_region.clone(),
                ),
            };
            return Ok(Identity {
                caller,
                access_key_id: key,
                region: Some(region)
                    .filter(|r| is_valid_region(r))
                    .unwrap_or_else(|| self.config.default_region.clone()),
            });
        }
        let signed = SignedRequest {
            method: req.method().as_str(),
            path: req.uri().path(),
            query: req.uri().query(),
            headers,
            body: req.body(),
        };
        let verified = sigv4::verify(&signed, now, |key| {
            self.config.credentials.get(key).map(|c| Secret {
                secret_access_key: &c.secret_access_key,
                session_token: c.session_token.as_deref(),
            })
        })?;
        let credential = &self.config.credentials[&verified.access_key_id];
        Ok(Identity {
            caller: credential.caller.clone(),
            access_key_id: Some(verified.access_key_id),
            region: Some(verified.region)
                .filter(|r| is_valid_region(r))
                .unwrap_or_else(|| self.config.default_region.clone()),
        })
    }

    /// The key a request names, from the cache while fresh.
    async fn key(&self, caller_scope: &Scope, input: &str) -> Option<Arc<CachedKey>> {
        let direct = match KeyRef::parse(input).ok()? {
            KeyRef::KeyId(id) => Some((caller_scope.clone(), id)),
            KeyRef::KeyArn { scope, key_id } => Some((scope, key_id)),
            _ => None,
        };
        if let Some(k) = &direct
            && let Some(hit) = self.keys.get(k)
            && hit.at.elapsed() < KEY_CACHE_TTL
        {
            return Some(hit.clone());
        }
        let now = Timestamp::from_millis(now_epoch() * 1000);
        let found = resolve_key(
            self.store.as_ref(),
            now,
            caller_scope,
            input,
            Aliases::Accepted,
        )
        .await
        .ok()?
        .record;
        let policy = match Policy::parse(&found.policy, PolicyKind::Key) {
            Ok(p) => Some(Arc::new(p)),
            Err(e) => {
                tracing::warn!(key = %found.arn(), error = ?e.message(), "stored key policy does not parse; nothing is allowed");
                None
            }
        };
        let cached = Arc::new(CachedKey {
            at: Instant::now(),
            record: found,
            policy,
        });
        self.keys.insert(
            (cached.record.scope.clone(), cached.record.key_id.clone()),
            cached.clone(),
        );
        Some(cached)
    }
}

/// The `KeyId`-like parameter naming the key an operation acts on, if it has one.
fn key_parameter(op: Operation, body: &Value, caller_scope: &Scope) -> Option<String> {
    let text = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_string);
    use Operation::*;
    match op {
        CreateKey | ListKeys => None,
        CreateAlias | UpdateAlias => text("TargetKeyId"),
        DeleteAlias => text("AliasName"),
        Decrypt => text("KeyId").or_else(|| {
            // The ciphertext names its key (see crypto::envelope).
            use base64::Engine;
            let blob = base64::engine::general_purpose::STANDARD
                .decode(body.get("CiphertextBlob")?.as_str()?)
                .ok()?;
            let header = envelope::read_header(&blob)?;
            Some(Scope::new(header.account, caller_scope.region.clone()).key_arn(&header.key_id))
        }),
        _ => text("KeyId"),
    }
}

fn rfc3339(epoch: i64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp(epoch)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

/// Sets the caller header on a request the sidecar forwards, replacing any the client sent.
pub fn set_caller(headers: &mut http::HeaderMap, caller: Option<HeaderValue>) {
    headers.remove(CALLER_HEADER);
    if let Some(c) = caller {
        headers.insert(CALLER_HEADER, c);
    }
}
