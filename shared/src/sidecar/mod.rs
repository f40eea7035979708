//! The policy-enforcement sidecar's decisions, independent of how it is deployed (a local
//! reverse proxy, or a Lambda extension proxying the Runtime API): authenticate the request
//! (SigV4), apply quotas and injected faults, evaluate the key policy and identity policies,
//! and write an audit record once the endpoint has answered.

#[cfg(test)]
mod agreement;
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

use crate::clock::{Clock, Timestamp};
use crate::domain::arn::{Scope, is_valid_region};
use crate::domain::key::KeyRecord;
use crate::endpoint::{DecisionHeaders, MOCK_PREFIX, is_open_page};
use crate::error::{KmsError, KmsResult};
use crate::policy::evaluate::{self, KeyTarget, Request as PolicyRequest, Resource};
use crate::policy::{Caller, Environment, Facts, Policy, PolicyKind};
use crate::protocol::operation::Operation;
use crate::protocol::wire::{self, TARGET_HEADER};
use crate::service::{
    Aliases, KeyRef, check_alias_name, decrypt_key_without_key_id, missing_ciphertext, resolve_key,
};
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
    /// Pass it on, with the decision the endpoint will act on (caller and Region).
    Forward(DecisionHeaders),
    /// A read-only page of the mock (`health`, `pool`): passed on unauthenticated, without a
    /// decision; it holds no key data.
    Page,
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

/// One resource a request acts on, resolved as the endpoint will resolve it.
enum Target {
    Key(Arc<CachedKey>),
    /// An alias ARN in the caller's account and Region.
    Alias(String),
}

pub struct Sidecar {
    pub config: SidecarConfig,
    store: Arc<dyn KeyStore>,
    keys: DashMap<(Scope, String), Arc<CachedKey>>,
    /// Real time: signatures and `aws:CurrentTime` are the client's clock, not the mock's.
    clock: Clock,
}

/// Who made a request, once authenticated (borrowed from the configuration).
struct Identity<'c> {
    caller: &'c Caller,
    caller_header: &'c HeaderValue,
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

    /// Decides a request. `source_ip` is the client's address. Whatever cannot be read,
    /// authenticated, resolved or allowed is refused here with the error AWS gives: the
    /// endpoint only ever sees requests this decided on, with the decision attached.
    pub async fn check(&self, req: &Request<Bytes>, source_ip: Option<IpAddr>) -> Checked {
        if let Some(page) = req.uri().path().strip_prefix(MOCK_PREFIX)
            && is_open_page(req.method(), page)
        {
            return Checked {
                verdict: Verdict::Page,
                record: None,
                invalidate: None,
            };
        }
        let now = self.clock.now();
        let target = req
            .headers()
            .get(TARGET_HEADER)
            .and_then(|v| v.to_str().ok());
        let source_ip = source_ip.map(|ip| ip.to_string());
        let mut record = self.config.audit.is_on().then(|| {
            json!({
                "eventVersion": "1.11",
                "eventTime": now.to_rfc3339(),
                "eventSource": "kms.amazonaws.com",
                "eventName": target.and_then(|t| t.strip_prefix("TrentService.")).unwrap_or(""),
                "sourceIPAddress": source_ip,
                "userAgent": req.headers().get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()),
                "requestID": uuid::Uuid::new_v4().to_string(),
                "eventID": uuid::Uuid::new_v4().to_string(),
                "eventType": "AwsApiCall",
                "managementEvent": true,
            })
        });
        let mut invalidate = None;
        let verdict = match self
            .decide(
                req,
                target,
                now,
                source_ip.as_deref(),
                &mut record,
                &mut invalidate,
            )
            .await
        {
            Ok(headers) => Verdict::Forward(headers),
            Err(e) => Verdict::Refuse(e),
        };
        Checked {
            verdict,
            record,
            invalidate,
        }
    }

    /// The stages of a decision: authenticate, read the operation and body, resolve what it
    /// acts on, quotas and faults, then the policies on each resource.
    async fn decide(
        &self,
        req: &Request<Bytes>,
        target: Option<&str>,
        now: Timestamp,
        source_ip: Option<&str>,
        record: &mut Option<Value>,
        invalidate: &mut Option<(Scope, String)>,
    ) -> KmsResult<DecisionHeaders> {
        let identity = self.authenticate(req, now.whole_seconds())?;
        note(record, "userIdentity", || {
            audit::user_identity(identity.caller, identity.access_key_id.as_deref())
        });
        note(record, "awsRegion", || json!(identity.region));
        note(record, "recipientAccountId", || {
            json!(identity.caller.account)
        });
        // Principal ARNs are made header values at start-up; Regions are checked names.
        let headers = DecisionHeaders {
            caller: identity.caller_header.clone(),
            region: HeaderValue::from_str(&identity.region)
                .map_err(|_| KmsError::internal("the Region is not a header value"))?,
        };
        if req.uri().path().starts_with(MOCK_PREFIX) {
            // The mock's pages that change it (the clock): any configured principal, signed.
            return Ok(headers);
        }
        let op = wire::operation(target)?;
        let body = wire::body(op, req.body())?;
        note(record, "requestParameters", || audit::redact(&body));

        let caller = identity.caller;
        let caller_scope = Scope::new(caller.account.clone(), identity.region.clone());
        let targets = self.targets(op, &body, &caller_scope).await;
        if let Ok(targets) = &targets {
            note(record, "resources", || {
                audit::resources(targets_for_audit(targets))
            });
        }
        let spec = targets.as_ref().ok().and_then(|t| {
            t.iter().find_map(|t| match t {
                Target::Key(k) => Some(k.record.key_spec),
                Target::Alias(_) => None,
            })
        });
        self.config
            .quotas
            .take(&caller.account, &identity.region, Quota::of(op, spec))?;
        self.config.faults.check(op)?;
        let targets = targets?;

        let mut facts = Facts::new(
            caller,
            &Environment {
                source_ip,
                epoch_seconds: now.whole_seconds(),
                region: &identity.region,
                secure_transport: false,
            },
        );
        facts.add_request(op, &body);
        let action = format!("kms:{op}");
        let identity_policies = self
            .config
            .identity_policies
            .get(&caller.principal_arn)
            .or_else(|| self.config.identity_policies.get(&caller.arn))
            .map_or(&[][..], Vec::as_slice);
        let mut decide_on = |resource: Resource, facts: &Facts| {
            let preq = PolicyRequest {
                caller,
                action: &action,
                resource,
                cross_account: is_cross_account(op),
                facts,
            };
            let decision = evaluate::evaluate(&preq, identity_policies);
            note(record, "policyDecision", || audit::decision(&decision));
            decision.error(&preq).map_or(Ok(()), Err)
        };
        if targets.is_empty() {
            decide_on(Resource::Any, &facts)?;
        }
        let last = targets.len().saturating_sub(1);
        for (i, target) in targets.iter().enumerate() {
            match target {
                Target::Alias(arn) => decide_on(
                    Resource::Alias {
                        arn,
                        account: &caller.account,
                    },
                    &facts,
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
                    decide_on(Resource::Key(key), &key_facts)?;
                }
            }
        }
        if op == Operation::PutKeyPolicy
            && let Some(Target::Key(k)) = targets.first()
        {
            let stale = (k.record.scope.clone(), k.record.key_id.clone());
            // Dropped now and again once the endpoint has answered: a request in between must
            // not keep the old policy cached.
            self.keys.remove(&stale);
            *invalidate = Some(stale);
        }
        Ok(headers)
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

    /// Who signed the request, and for which Region, read by the one SigV4 parser. With
    /// checking off the credential is taken as claimed, but a malformed one is still refused:
    /// the endpoint would refuse it too.
    fn authenticate(&self, req: &Request<Bytes>, now: i64) -> KmsResult<Identity<'_>> {
        let headers = req.headers();
        let region = |r: String| {
            if is_valid_region(&r) {
                r
            } else {
                self.config.default_region.clone()
            }
        };
        if !self.config.verify_signatures {
            let claimed = sigv4::parse(headers, req.uri().query())?;
            let (access_key_id, claimed_region) = claimed
                .map(|a| (a.scope.access_key_id, a.scope.region))
                .unzip();
            let (caller, caller_header) = access_key_id
                .as_deref()
                .and_then(|k| self.config.credentials.get(k))
                .map_or(
                    (
                        &self.config.default_caller,
                        &self.config.default_caller_header,
                    ),
                    |c| (&c.caller, &c.caller_header),
                );
            return Ok(Identity {
                caller,
                caller_header,
                access_key_id,
                region: claimed_region.map_or_else(|| self.config.default_region.clone(), region),
            });
        }
        let signed = SignedRequest {
            method: req.method().as_str(),
            path: req.uri().path(),
            query: req.uri().query(),
            headers,
            body: req.body(),
        };
        let verified = sigv4::authenticate(&signed, now, |key| {
            self.config.credentials.get(key).map(|c| Secret {
                secret_access_key: &c.secret_access_key,
                session_token: c.session_token.as_deref(),
            })
        })?;
        let credential = &self.config.credentials[&verified.access_key_id];
        Ok(Identity {
            caller: &credential.caller,
            caller_header: &credential.caller_header,
            access_key_id: Some(verified.access_key_id),
            region: region(verified.region),
        })
    }

    /// What an operation acts on, resolved as its handler resolves it: the same parameter,
    /// the same caller scope, the same alias rule and the same resolver, so the error for a
    /// key that is not there is the endpoint's own.
    async fn targets(&self, op: Operation, body: &Value, scope: &Scope) -> KmsResult<Vec<Target>> {
        let text = |name: &str| body.get(name).and_then(Value::as_str);
        let alias = |name: Option<&str>| -> KmsResult<(String, String)> {
            let name = name.unwrap_or_default();
            check_alias_name(name)?;
            Ok((name.to_string(), scope.alias_arn(name)))
        };
        use Operation::*;
        Ok(match op {
            // Identity policies alone (Resource "*"), as AWS does, even when ListAliases
            // names a key.
            CreateKey | ListKeys | ListAliases => Vec::new(),
            // On the alias (IAM policy) and on the key it will name (key policy).
            CreateAlias => {
                let (_, arn) = alias(text("AliasName"))?;
                let target = text("TargetKeyId").unwrap_or_default();
                vec![
                    Target::Alias(arn),
                    Target::Key(self.key(scope, target, Aliases::Refused).await?),
                ]
            }
            // On the alias, the key it names now, and the key it will name.
            UpdateAlias => {
                let (name, arn) = alias(text("AliasName"))?;
                let target = text("TargetKeyId").unwrap_or_default();
                vec![
                    Target::Alias(arn),
                    Target::Key(self.key(scope, &name, Aliases::Accepted).await?),
                    Target::Key(self.key(scope, target, Aliases::Refused).await?),
                ]
            }
            DeleteAlias => {
                let (name, arn) = alias(text("AliasName"))?;
                vec![
                    Target::Alias(arn),
                    Target::Key(self.key(scope, &name, Aliases::Accepted).await?),
                ]
            }
            Decrypt if text("KeyId").is_none() => {
                // The ciphertext names its key (see crypto::envelope).
                use base64::Engine;
                let blob = text("CiphertextBlob")
                    .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                    .ok_or_else(missing_ciphertext)?;
                let arn =
                    decrypt_key_without_key_id(&blob, text("EncryptionAlgorithm"), &scope.region)?;
                vec![Target::Key(self.key(scope, &arn, Aliases::Accepted).await?)]
            }
            _ => {
                let id = text("KeyId").ok_or_else(|| {
                    KmsError::internal(format!("{op} names no key after validation"))
                })?;
                vec![Target::Key(
                    self.key(scope, id, Aliases::in_key_id(op)).await?,
                )]
            }
        })
    }

    /// The key a request names for a caller in `scope`, from the cache while fresh.
    async fn key(&self, scope: &Scope, input: &str, aliases: Aliases) -> KmsResult<Arc<CachedKey>> {
        // Only what the resolver would find the same way: a key id in the caller's scope, or
        // a key ARN in the caller's Region (one elsewhere is InvalidArnException).
        let direct = match KeyRef::parse(input)? {
            KeyRef::KeyId(id) => Some((scope.clone(), id)),
            KeyRef::KeyArn { scope: s, key_id } if s.region == scope.region => Some((s, key_id)),
            _ => None,
        };
        if let Some(k) = &direct
            && let Some(hit) = self.keys.get(k)
            && hit.at.elapsed() < KEY_CACHE_TTL
        {
            return Ok(hit.clone());
        }
        let found = resolve_key(self.store.as_ref(), self.clock.now(), scope, input, aliases)
            .await?
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
        Ok(cached)
    }
}

/// The audit record's `resources`: account, type and ARN of each.
fn targets_for_audit(targets: &[Target]) -> Vec<(&str, &'static str, &str)> {
    targets
        .iter()
        .map(|t| match t {
            Target::Key(k) => (
                k.record.scope.account.as_str(),
                "AWS::KMS::Key",
                k.arn.as_str(),
            ),
            Target::Alias(arn) => (
                arn.split(':').nth(4).unwrap_or_default(),
                "AWS::KMS::Alias",
                arn.as_str(),
            ),
        })
        .collect()
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
            *r.uri_mut() = "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAALICE%2F20261124%2Fus-east-1%2Fkms%2Faws4_request&X-Amz-Date=20261124T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=00"
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
        let Verdict::Forward(decided) = sidecar
            .check(&presigned("ListAliases", json!({"KeyId": arn})), None)
            .await
            .verdict
        else {
            panic!("alice may list aliases");
        };
        assert_eq!(decided.caller, "arn:aws:iam::111122223333:user/alice");
        assert_eq!(decided.region, "us-east-1");
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
        assert!(matches!(checked.verdict, Verdict::Forward(_)));

        let deny = json!({"Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
            {"Effect": "Deny", "Principal": "*", "Action": "kms:DescribeKey", "Resource": "*"}]})
        .to_string();
        let body = json!({"KeyId": arn, "Policy": deny});
        let put = sidecar
            .check(&request("PutKeyPolicy", body.clone()), None)
            .await;
        assert!(matches!(put.verdict, Verdict::Forward(_)));
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
