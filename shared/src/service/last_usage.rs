//! GetKeyLastUsage: the last successful cryptographic operation on each key, recorded by the
//! endpoint itself (so it works with or without the sidecar, in every store).
//!
//! A use is noted in memory at once, and written back to the key record by a task every half
//! second (a store write per Encrypt would halve the cryptographic throughput), and at clean
//! exit. Another process sharing the store sees a use within about that half second.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::resolve::Aliases;
use super::{Kms, RequestContext};
use crate::clock::Timestamp;
use crate::domain::arn::{Arn, Scope};
use crate::domain::key::LastUsage;
use crate::error::KmsResult;
use crate::protocol::operation::Operation;
use crate::store::update_key;

const FLUSH_EVERY: Duration = Duration::from_millis(500);

/// Uses noted by this process: the newest of each key, and those not written back yet.
#[derive(Default)]
pub struct UsageLog {
    newest: Mutex<HashMap<(Scope, String), LastUsage>>,
    pending: Mutex<HashMap<(Scope, String), LastUsage>>,
    flusher: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The operations GetKeyLastUsage reports (the model's `KeyLastUsageTrackingOperation`).
pub fn is_tracked(op: Operation) -> bool {
    use Operation::*;
    matches!(
        op,
        Decrypt
            | DeriveSharedSecret
            | Encrypt
            | GenerateDataKey
            | GenerateDataKeyPair
            | GenerateDataKeyPairWithoutPlaintext
            | GenerateDataKeyWithoutPlaintext
            | GenerateMac
            | ReEncrypt
            | Sign
            | Verify
            | VerifyMac
    )
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct GetKeyLastUsageRequest {
    key_id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct GetKeyLastUsageResponse {
    key_id: String,
    key_last_usage: KeyLastUsage,
    tracking_start_date: Timestamp,
    key_creation_date: Timestamp,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct KeyLastUsage {
    #[serde(skip_serializing_if = "Option::is_none")]
    operation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kms_request_id: Option<String>,
}

fn newer(a: Option<LastUsage>, b: Option<LastUsage>) -> Option<LastUsage> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.timestamp > a.timestamp { b } else { a }),
        (a, b) => a.or(b),
    }
}

impl Kms {
    /// Notes a successful use of the key with this ARN (from the operation's response).
    pub fn record_use(&self, key_arn: &str, op: Operation, request_id: &str) {
        let Some(arn) = Arn::parse(key_arn) else {
            return;
        };
        let Some(key_id) = arn.resource.strip_prefix("key/") else {
            return;
        };
        let entry = (Scope::new(arn.account, arn.region), key_id.to_string());
        let used = LastUsage {
            operation: op.as_str().to_string(),
            timestamp: self.clock.now(),
            request_id: request_id.to_string(),
        };
        lock(&self.usage.newest).insert(entry.clone(), used.clone());
        lock(&self.usage.pending).insert(entry, used);
        if !self.usage.flusher.swap(true, Ordering::SeqCst)
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let kms = self.clone();
            runtime.spawn(async move {
                loop {
                    tokio::time::sleep(FLUSH_EVERY).await;
                    kms.flush_usage().await;
                }
            });
        }
    }

    /// Writes the uses noted since the last flush back to their keys (a newer one stays).
    pub async fn flush_usage(&self) {
        let pending = std::mem::take(&mut *lock(&self.usage.pending));
        for ((scope, key_id), used) in pending {
            let written = update_key(self.store.as_ref(), &scope, &key_id, |k| {
                k.last_usage = newer(k.last_usage.take(), Some(used.clone()));
                Ok(())
            })
            .await;
            if let Err(e) = written {
                tracing::debug!(key = %key_id, error = %e, "key last usage not written back");
            }
        }
    }

    pub(super) async fn get_key_last_usage(
        &self,
        ctx: &RequestContext,
        r: GetKeyLastUsageRequest,
    ) -> KmsResult<GetKeyLastUsageResponse> {
        let key = self.resolve(ctx, &r.key_id, Aliases::Refused).await?.record;
        let noted = lock(&self.usage.newest)
            .get(&(key.scope.clone(), key.key_id.clone()))
            .cloned();
        let last = newer(key.last_usage.clone(), noted);
        Ok(GetKeyLastUsageResponse {
            key_id: key.arn(),
            key_last_usage: KeyLastUsage {
                operation: last.as_ref().map(|u| u.operation.clone()),
                timestamp: last.as_ref().map(|u| u.timestamp),
                kms_request_id: last.map(|u| u.request_id),
            },
            // The mock tracks every key from its creation.
            tracking_start_date: key.creation_date,
            key_creation_date: key.creation_date,
        })
    }
}
