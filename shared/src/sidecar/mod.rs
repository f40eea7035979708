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

use crate::clock::Clock;
use crate::crypto::envelope;
use crate::domain::arn::{Scope, is_valid_region};
use crate::domain::key::KeyRecord;
use crate::endpoint::{CALLER_HEADER, MOCK_PREFIX};
use crate::error::KmsError;
use crate::policy::evaluate::{self, KeyTarget, Request as PolicyRequest};
use crate::policy::{Caller, Environment, Facts, Policy, PolicyKind};
use crate::protocol::operation::Operation;
use crate::protocol::wire::{self, TARGET_HEADER};
use crate::service::{Aliases, KeyRef, resolve_key};
use crate::sigv4::{self, Secret, SignedRequest};
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
    /// The audit record so far; `None` when auditing is off.
    record: Option<Value>,
    /// A key whose cached policy is stale once the endpoint has done the request (PutKeyPolicy).
    invalidate: Option<(Scope, String)>,
}

struct CachedKey {
    at: Instant,
    arn: String,
    record: KeyRecord,
    /// A stored policy that does not parse is kept as one with no statements: nothing allowed.
    policy: Policy,
}

pub struct Sidecar {
    pub config: SidecarConfig,
    store: Arc<dyn KeyStore>,
    keys: DashMap<(Scope, String), Arc<CachedKey>>,
    /// Real time: signatures and `aws:CurrentTime` are the client's clock, not the mock's.
    clock: Clock,
}

/// Who made a request, once authenticated.
struct Identity {
    caller: Caller,
    access_key_id: Option<String>,
    region: String,
}

/// Sets a member of the audit record, when there is one.
fn note(record: &mut Option<Value>, member: &str, value: impl FnOnce() -> Value) {
    if let Some(r) = record {
        r[member] = value();
    }
}

impl Sidecar {
    pub fn new(config: SidecarConfig, store: Arc<dyn KeyStore>) -> Self {
        Self {
            config,
            store,
            keys: DashMap::new(),
            clock: Clock::system(),
        }
    }

    /// Decides a request. `source_ip` is the client's address.
    pub async fn check(&self, req: &Request<Bytes>, source_ip: Option<IpAddr>) -> Checked {
        let done = |record, verdict| Checked {
            verdict,
            record,
            invalidate: None,
        };
        if req.uri().path().starts_with(MOCK_PREFIX) {
            return done(None, Verdict::Forward { caller: None });
        }
        let now = self.clock.now();
        let target = req
            .headers()
            .get(TARGET_HEADER)
            .and_then(|v| v.to_str().ok());
        let op = wire::operation(target).ok();
        let source_ip = source_ip.map(|ip| ip.to_string());
        let mut record = self.config.audit.is_on().then(|| {
            json!({
                "eventVersion": "1.11",
                "eventTime": now.to_rfc3339(),
                "eventSource": "kms.amazonaws.com",
                "eventName": op.map_or_else(
                    || target.and_then(|t| t.strip_prefix("TrentService.")).unwrap_or(""),
                    |o| o.as_str(),
                ),
                "sourceIPAddress": source_ip,
                "userAgent": req.headers().get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()),
                "requestID": uuid::Uuid::new_v4().to_string(),
                "eventID": uuid::Uuid::new_v4().to_string(),
                "eventType": "AwsApiCall",
                "managementEvent": true,
            })
        });

        let identity = match self.authenticate(req, now.whole_seconds()) {
            Ok(i) => i,
            Err(e) => return done(record, Verdict::Refuse(e)),
        };
        note(&mut record, "userIdentity", || {
            audit::user_identity(&identity.caller, identity.access_key_id.as_deref())
        });
        note(&mut record, "awsRegion", || json!(identity.region));
        note(&mut record, "recipientAccountId", || {
            json!(identity.caller.account)
        });
        let forward = Verdict::Forward {
            caller: HeaderValue::from_str(&identity.caller.arn).ok(),
        };
        // Requests the endpoint will refuse anyway (unknown operation, invalid body) go on,
        // so that there is one source of those errors.
        let Some(op) = op else {
            return done(record, forward);
        };
        let Ok(body) = wire::body(op, req.body()) else {
            return done(record, forward);
        };
        note(&mut record, "requestParameters", || audit::redact(&body));

        let caller_scope = Scope::new(identity.caller.account.clone(), identity.region.clone());
        let named = key_parameter(op, &body, &caller_scope);
        let key = match &named {
            Some(input) => self.key(&caller_scope, input).await,
            None => None,
        };
        if let Some(k) = &key {
            note(
                &mut record,
                "resources",
                || json!([{"accountId": k.record.scope.account, "type": "AWS::KMS::Key", "ARN": k.arn}]),
            );
        }

        let quota = Quota::of(op, key.as_ref().map(|k| k.record.key_spec));
        if let Err(e) = self
            .config
            .quotas
            .take(&identity.caller.account, &identity.region, quota)
            .and_then(|()| self.config.faults.check(op))
        {
            return done(record, Verdict::Refuse(e));
        }
        // A key the request names but that cannot be found is the endpoint's to refuse.
        if named.is_some() && key.is_none() {
            return done(record, forward);
        }

        let mut facts = Facts::new(
            &identity.caller,
            &Environment {
                source_ip: source_ip.as_deref(),
                epoch_seconds: now.whole_seconds(),
                region: &identity.region,
                secure_transport: false,
            },
        );
        facts.add_request(op, &body);
        if let Some(k) = &key {
            facts.add_key(&k.record);
        }
        let action = format!("kms:{op}");
        let preq = PolicyRequest {
            caller: &identity.caller,
            action: &action,
            key: key.as_ref().map(|k| KeyTarget {
                arn: &k.arn,
                account: &k.record.scope.account,
                policy: &k.policy,
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
        note(&mut record, "policyDecision", || audit::decision(&decision));
        if let Some(e) = decision.error(&preq) {
            return done(record, Verdict::Refuse(e));
        }
        let invalidate = key
            .filter(|_| op == Operation::PutKeyPolicy)
            .map(|k| (k.record.scope.clone(), k.record.key_id.clone()));
        if let Some(stale) = &invalidate {
            // Dropped now and again once the endpoint has answered: a request in between must
            // not keep the old policy cached.
            self.keys.remove(stale);
        }
        Checked {
            verdict: forward,
            record,
            invalidate,
        }
    }

    /// Completes a checked request: `status` and `body` as the client got them.
    pub fn finish(&self, checked: Checked, status: u16, body: &[u8]) {
        if let Some(stale) = &checked.invalidate
            && status == 200
        {
            self.keys.remove(stale);
        }
        let Some(mut record) = checked.record else {
            return;
        };
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        if status == 200 {
            record["responseElements"] = match &parsed {
                Some(v) if v.as_object().is_some_and(|m| !m.is_empty()) => audit::redact(v),
                _ => Value::Null,
            };
        } else if let Some(v) = parsed {
            record["errorCode"] = json!(v["__type"].as_str().unwrap_or(""));
            if let Some(m) = v.get("message").or_else(|| v.get("Message")) {
                record["errorMessage"] = m.clone();
            }
        }
        record["httpStatus"] = json!(status);
        self.config.audit.write(&record);
    }

    fn authenticate(&self, req: &Request<Bytes>, now: i64) -> Result<Identity, KmsError> {
        let headers = req.headers();
        let region = |r: Option<String>| {
            r.filter(|r| is_valid_region(r))
                .unwrap_or_else(|| self.config.default_region.clone())
        };
        if !self.config.verify_signatures {
            let claimed = sigv4::with_credential(headers, req.uri().query(), |c| {
                (c.access_key_id.to_string(), c.region.to_string())
            });
            let (access_key_id, claimed_region) = claimed.unzip();
            let caller = access_key_id
                .as_deref()
                .and_then(|k| self.config.credentials.get(k))
                .map_or_else(|| self.config.default_caller.clone(), |c| c.caller.clone());
            return Ok(Identity {
                caller,
                access_key_id,
                region: region(claimed_region),
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
            region: region(Some(verified.region)),
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
        let found = resolve_key(
            self.store.as_ref(),
            self.clock.now(),
            caller_scope,
            input,
            Aliases::Accepted,
        )
        .await
        .ok()?
        .record;
        let arn = found.arn();
        let policy = Policy::parse(&found.policy, PolicyKind::Key).unwrap_or_else(|e| {
            tracing::warn!(key = %arn, error = ?e.message(), "stored key policy does not parse; nothing is allowed");
            Policy {
                id: None,
                variables: false,
                statements: Vec::new(),
            }
        });
        let cached = Arc::new(CachedKey {
            at: Instant::now(),
            arn,
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
        // Authorized by identity policies alone (Resource "*"), as AWS does, even when
        // ListAliases names a key.
        CreateKey | ListKeys | ListAliases => None,
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

/// Sets the caller header on a request the sidecar forwards, replacing any the client sent.
pub fn set_caller(headers: &mut http::HeaderMap, caller: Option<HeaderValue>) {
    headers.remove(CALLER_HEADER);
    if let Some(c) = caller {
        headers.insert(CALLER_HEADER, c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testkit;

    fn request(op: &str, body: serde_json::Value) -> Request<Bytes> {
        Request::post("/")
            .header(TARGET_HEADER, format!("TrentService.{op}"))
            .body(Bytes::from(body.to_string()))
            .unwrap()
    }

    /// A key created through the endpoint's handler; its ARN.
    async fn create_key(kms: &crate::service::Kms, body: serde_json::Value) -> String {
        testkit::call(kms, &testkit::ctx(), "CreateKey", body)
            .await
            .unwrap()["KeyMetadata"]["Arn"]
            .as_str()
            .unwrap()
            .to_string()
    }

    #[tokio::test]
    async fn with_checking_off_presigned_callers_keep_their_principal_and_list_aliases_is_iam_only()
    {
        let kms = testkit::kms();
        // A key whose policy does not delegate to the account: no IAM policy can grant alice
        // anything on it.
        let policy = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/Admin"}, "Action": "kms:*", "Resource": "*"},
            {"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::111122223333:user/alice"}, "Action": "kms:DescribeKey", "Resource": "*"}]});
        let arn = create_key(
            &kms,
            json!({"Policy": policy.to_string(), "BypassPolicyLockoutSafetyCheck": true}),
        )
        .await;
        let config = SidecarConfig::from_json(
            r#"{"verify_signatures": false,
                "credentials": [{"access_key_id": "AKIAALICE", "secret_access_key": "s", "principal": "arn:aws:iam::111122223333:user/alice"}],
                "identity_policies": {"arn:aws:iam::111122223333:user/alice": {"p": {"Statement": {"Effect": "Allow", "Action": ["kms:ListAliases", "kms:DescribeKey"], "Resource": "*"}}}}}"#,
            "111122223333",
            "us-east-1",
        )
        .unwrap();
        let sidecar = Sidecar::new(config, kms.store.clone());
        let presigned = |op: &str, body: serde_json::Value| {
            let mut r = request(op, body);
            *r.uri_mut() = "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAALICE%2F20261124%2Fus-east-1%2Fkms%2Faws4_request&X-Amz-Signature=00"
                .parse()
                .unwrap();
            r
        };
        // The presigned credential names alice: the key policy's deny of her applies.
        let Verdict::Refuse(e) = sidecar
            .check(&presigned("DescribeKey", json!({"KeyId": arn})), None)
            .await
            .verdict
        else {
            panic!("alice is denied DescribeKey");
        };
        assert_eq!(
            e.message(),
            Some(format!("User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:DescribeKey on resource: {arn} with an explicit deny in a resource-based policy").as_str())
        );
        // ListAliases with that key's id: her identity policy is enough.
        let Verdict::Forward { caller } = sidecar
            .check(&presigned("ListAliases", json!({"KeyId": arn})), None)
            .await
            .verdict
        else {
            panic!("alice may list aliases");
        };
        assert_eq!(caller.unwrap(), "arn:aws:iam::111122223333:user/alice");
    }

    #[tokio::test]
    async fn a_policy_change_through_the_sidecar_is_seen_at_once_with_audit_off() {
        let kms = testkit::kms();
        let ctx = testkit::ctx();
        let arn = create_key(&kms, json!({"Origin": "EXTERNAL"})).await;
        let config = SidecarConfig::from_json(
            r#"{"verify_signatures": false}"#,
            "111122223333",
            "us-east-1",
        )
        .unwrap();
        assert!(!config.audit.is_on());
        let sidecar = Sidecar::new(config, kms.store.clone());
        let describe = request("DescribeKey", json!({"KeyId": arn}));
        let checked = sidecar.check(&describe, None).await;
        assert!(matches!(checked.verdict, Verdict::Forward { .. }));

        let deny = json!({"Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
            {"Effect": "Deny", "Principal": "*", "Action": "kms:DescribeKey", "Resource": "*"}]})
        .to_string();
        let body = json!({"KeyId": arn, "Policy": deny});
        let put = sidecar
            .check(&request("PutKeyPolicy", body.clone()), None)
            .await;
        assert!(matches!(put.verdict, Verdict::Forward { .. }));
        // The key is read (and cached) again while the endpoint stores the new policy.
        let _ = sidecar.check(&describe, None).await;
        testkit::call(&kms, &ctx, "PutKeyPolicy", body)
            .await
            .unwrap();
        sidecar.finish(put, 200, b"{}");

        let Verdict::Refuse(e) = sidecar.check(&describe, None).await.verdict else {
            panic!("the new policy denies DescribeKey");
        };
        assert_eq!(
            e.message(),
            Some(format!("User: arn:aws:iam::111122223333:root is not authorized to perform: kms:DescribeKey on resource: {arn} with an explicit deny in a resource-based policy").as_str())
        );
    }
}
