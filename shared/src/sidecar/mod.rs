//! The policy-enforcement sidecar's decisions, independent of how it is deployed (a local
//! reverse proxy, or a Lambda extension proxying the Runtime API): authenticate the request
//! (SigV4), apply quotas and injected faults, evaluate the key policy and identity policies,
//! and write an audit record once the endpoint has answered.

#[cfg(test)]
mod agreement;
pub mod audit;
mod authenticate;
mod authorize;
pub mod config;
pub mod quota;
mod targets;
#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use dashmap::DashMap;
use http::{HeaderValue, Request};

use crate::clock::{Clock, Timestamp};
use crate::domain::arn::Scope;
use crate::endpoint::{DecisionHeaders, MOCK_PREFIX, is_open_page};
use crate::error::{KmsError, KmsResult};
use crate::policy::{Environment, Facts};
use crate::protocol::operation::Operation;
use crate::protocol::wire::{self, TARGET_HEADER};
use crate::store::KeyStore;
use audit::AuditRecord;
use config::SidecarConfig;
use quota::Quota;
use targets::{CachedKey, Target, targets_for_audit};

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
            | GenerateDataKeyPair
            | GenerateDataKeyPairWithoutPlaintext
            | ReEncrypt
            | Sign
            | Verify
            | GenerateMac
            | VerifyMac
            | DeriveSharedSecret
            | GetKeyRotationStatus
            | CreateGrant
            | ListGrants
            | RevokeGrant
            | RetireGrant
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
    record: Option<AuditRecord>,
    /// A key whose cached policy is stale once the endpoint has done the request (PutKeyPolicy).
    invalidate: Vec<(Scope, String)>,
}

pub struct Sidecar {
    pub config: SidecarConfig,
    store: Arc<dyn KeyStore>,
    keys: DashMap<(Scope, String), Arc<CachedKey>>,
    /// Real time: signatures and `aws:CurrentTime` are the client's clock, not the mock's.
    clock: Clock,
}

/// Fills in the audit record, when there is one.
fn note(record: &mut Option<AuditRecord>, fill: impl FnOnce(&mut AuditRecord)) {
    if let Some(r) = record {
        fill(r);
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
                invalidate: Vec::new(),
            };
        }
        let now = self.clock.now();
        let target = req
            .headers()
            .get(TARGET_HEADER)
            .and_then(|v| v.to_str().ok());
        let source_ip = source_ip.map(|ip| ip.to_string());
        let mut record = self.config.audit.is_on().then(|| {
            AuditRecord::new(
                now.to_rfc3339(),
                target
                    .and_then(|t| t.strip_prefix("TrentService."))
                    .unwrap_or(""),
                source_ip.clone(),
                req.headers()
                    .get(http::header::USER_AGENT)
                    .and_then(|v| v.to_str().ok()),
            )
        });
        let mut invalidate = Vec::new();
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

    /// The stages of a decision: authenticate (`authenticate`), read the operation and body,
    /// resolve what it acts on (`targets`), quotas and faults, then the policies on each
    /// resource (`authorize`); the audit record is filled in along the way.
    async fn decide(
        &self,
        req: &Request<Bytes>,
        target: Option<&str>,
        now: Timestamp,
        source_ip: Option<&str>,
        record: &mut Option<AuditRecord>,
        invalidate: &mut Vec<(Scope, String)>,
    ) -> KmsResult<DecisionHeaders> {
        let identity = self.authenticate(req, now.whole_seconds())?;
        note(record, |r| {
            r.user_identity = Some(audit::user_identity(
                identity.caller,
                identity.access_key_id.as_deref(),
            ));
            r.aws_region = Some(identity.region.clone());
            r.recipient_account_id = Some(identity.caller.account.clone());
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
        note(record, |r| {
            r.request_parameters = Some(audit::redact(&body))
        });

        let caller = identity.caller;
        let caller_scope = Scope::new(caller.account.clone(), identity.region.clone());
        let targets = self.targets(op, &body, &caller_scope).await;
        if let Ok(targets) = &targets {
            note(record, |r| {
                r.resources = Some(audit::resources(targets_for_audit(targets)))
            });
        }
        let spec = targets.as_ref().ok().and_then(|t| {
            t.iter().find_map(|t| match t {
                Target::Key(k) => Some(k.record.key_spec),
                Target::Alias(_) | Target::ReplicaRegion(_) => None,
            })
        });
        let pair = body
            .get("KeyPairSpec")
            .and_then(serde_json::Value::as_str)
            .and_then(|s| s.parse().ok());
        self.config
            .quotas
            .take(&caller.account, &identity.region, Quota::of(op, spec, pair))?;
        self.config.faults.check(op)?;
        let targets = targets?;

        let facts = Facts::new(
            caller,
            &Environment {
                source_ip,
                epoch_seconds: now.whole_seconds(),
                region: &identity.region,
                secure_transport: false,
            },
        );
        self.authorize(caller, op, &body, &targets, facts, record)?;
        // What the decision reads of a key and these change: its policy, its tags
        // (`aws:ResourceTag/*`) and grants, which take effect at once, and the roles of
        // related multi-Region keys.
        if matches!(
            op,
            Operation::PutKeyPolicy
                | Operation::TagResource
                | Operation::UntagResource
                | Operation::CreateGrant
                | Operation::RetireGrant
                | Operation::RevokeGrant
                | Operation::UpdatePrimaryRegion
        ) {
            for t in &targets {
                if let Target::Key(k) = t {
                    let stale = (k.record.scope.clone(), k.record.key_id.clone());
                    // Dropped now and again once the endpoint has answered: a request in
                    // between must not keep the old record cached.
                    self.keys.remove(&stale);
                    invalidate.push(stale);
                }
            }
        }
        Ok(headers)
    }

    /// Completes a checked request: `status` and `body` as the client got them.
    pub fn finish(&self, checked: Checked, status: u16, body: &[u8]) {
        if status == 200 {
            for stale in &checked.invalidate {
                self.keys.remove(stale);
            }
        }
        let Some(mut record) = checked.record else {
            return;
        };
        record.answered(status, body);
        self.config.audit.write(&record);
    }
}
