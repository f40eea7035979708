//! Request quotas (token buckets per account, region and quota, with AWS KMS's default rates)
//! and fault injection (chosen operations throttle or fail at a given ratio).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::domain::spec::{DataKeyPairSpec, KeyFamily, KeySpec};
use crate::error::{ErrorCode, KmsError};
use crate::protocol::operation::Operation;

/// The quota a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Quota {
    /// A per-operation request quota.
    Operation(Operation),
    /// The shared quota of cryptographic operations on one kind of key.
    Cryptographic(CryptoKind),
    /// GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext share one quota per
    /// `KeyPairSpec`, apart from the cryptographic ones (the quotas page).
    DataKeyPair(DataKeyPairSpec),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CryptoKind {
    /// Symmetric and HMAC keys.
    Symmetric,
    Rsa,
    /// ECC and SM2 keys.
    Ecc,
    MlDsa,
}

impl Quota {
    /// The quota of an operation on a key of `spec` (when known); a data key pair's counts
    /// against the quota of the `KeyPairSpec` it asks for (when it names one).
    pub fn of(op: Operation, spec: Option<KeySpec>, pair: Option<DataKeyPairSpec>) -> Quota {
        use Operation::*;
        match op {
            GenerateDataKeyPair | GenerateDataKeyPairWithoutPlaintext if pair.is_some() => {
                Quota::DataKeyPair(pair.expect("checked"))
            }
            Encrypt
            | Decrypt
            | GenerateDataKey
            | GenerateDataKeyWithoutPlaintext
            | ReEncrypt
            | GenerateMac
            | VerifyMac
            | Sign
            | Verify
            | DeriveSharedSecret
            // Counted with the symmetric cryptographic operations (quotas page).
            | GenerateRandom => Quota::Cryptographic(match spec.map(KeySpec::family) {
                Some(KeyFamily::Rsa) => CryptoKind::Rsa,
                Some(KeyFamily::Ecc | KeyFamily::Sm2) => CryptoKind::Ecc,
                Some(KeyFamily::MlDsa) => CryptoKind::MlDsa,
                _ => CryptoKind::Symmetric,
            }),
            other => Quota::Operation(other),
        }
    }

    /// The name used in configuration: the operation, `Cryptographic:<Symmetric|RSA|ECC>` or
    /// `DataKeyPair:<KeyPairSpec>`.
    pub fn name(self) -> String {
        match self {
            Quota::Operation(op) => op.as_str().to_string(),
            Quota::Cryptographic(CryptoKind::Symmetric) => "Cryptographic:Symmetric".into(),
            Quota::Cryptographic(CryptoKind::Rsa) => "Cryptographic:RSA".into(),
            Quota::Cryptographic(CryptoKind::Ecc) => "Cryptographic:ECC".into(),
            Quota::Cryptographic(CryptoKind::MlDsa) => "Cryptographic:ML-DSA".into(),
            Quota::DataKeyPair(spec) => format!("DataKeyPair:{spec}"),
        }
    }

    /// Reads a name of [`Quota::name`]; `None` for anything else (an operation whose requests
    /// count against a shared quota is not a quota of its own).
    pub fn from_name(name: &str) -> Option<Quota> {
        let crypto = match name {
            "Cryptographic:Symmetric" => Some(CryptoKind::Symmetric),
            "Cryptographic:RSA" => Some(CryptoKind::Rsa),
            "Cryptographic:ECC" => Some(CryptoKind::Ecc),
            "Cryptographic:ML-DSA" => Some(CryptoKind::MlDsa),
            _ => None,
        };
        if let Some(kind) = crypto {
            return Some(Quota::Cryptographic(kind));
        }
        if let Some(spec) = name.strip_prefix("DataKeyPair:") {
            return spec.parse().ok().map(Quota::DataKeyPair);
        }
        let op: Operation = name.parse().ok()?;
        Some(Quota::of(op, None, None)).filter(|q| *q == Quota::Operation(op))
    }

    /// AWS KMS's default rate, in requests per second (the developer guide's quotas page, as
    /// current in 2026: the table by operation, and the shared quotas).
    pub fn default_rate(self, region: &str) -> f64 {
        use Operation::*;
        let china = region.starts_with("cn-");
        match self {
            Quota::Cryptographic(CryptoKind::Symmetric) => match region {
                "us-east-1" | "us-west-2" | "eu-west-1" => 100_000.0,
                "us-east-2" | "ap-southeast-1" | "ap-southeast-2" | "ap-northeast-1"
                | "eu-central-1" | "eu-west-2" => 20_000.0,
                _ => 10_000.0,
            },
            Quota::Cryptographic(_) => 1_000.0,
            Quota::DataKeyPair(spec) => match spec {
                DataKeyPairSpec::Rsa2048 if china => 1.0,
                DataKeyPairSpec::Rsa2048 => 20.0,
                DataKeyPairSpec::Rsa3072 if china => 0.5,
                DataKeyPairSpec::Rsa3072 => 4.0,
                DataKeyPairSpec::Rsa4096 if china => 0.1,
                DataKeyPairSpec::Rsa4096 => 1.0,
                DataKeyPairSpec::Sm2 => 25.0,
                _ => 100.0,
            },
            Quota::Operation(op) => match op {
                GetParametersForImport => 1.0,
                CancelKeyDeletion
                | ConnectCustomKeyStore
                | CreateAlias
                | CreateCustomKeyStore
                | CreateKey
                | DeleteCustomKeyStore
                | DescribeCustomKeyStores
                | DisableKey
                | DisableKeyRotation
                | DisconnectCustomKeyStore
                | EnableKey
                | UntagResource
                | UpdateAlias
                | UpdateCustomKeyStore
                | UpdateKeyDescription
                | ReplicateKey
                | UpdatePrimaryRegion
                | GetKeyLastUsage
                | RotateKeyOnDemand => 5.0,
                TagResource => 10.0,
                DeleteAlias
                | EnableKeyRotation
                | PutKeyPolicy
                | ScheduleKeyDeletion
                | DeleteImportedKeyMaterial
                | ImportKeyMaterial => 15.0,
                CreateGrant | RetireGrant | RevokeGrant => 50.0,
                ListGrants | ListKeyPolicies | ListRetirableGrants | ListKeyRotations => 100.0,
                ListAliases | ListKeys => 500.0,
                GetKeyPolicy | GetKeyRotationStatus => 1_000.0,
                DescribeKey | GetPublicKey | ListResourceTags => 2_000.0,
                // The cryptographic operations count against the shared quotas above.
                _ => 1_000.0,
            },
        }
    }

    /// Every quota name the configuration may set.
    pub fn all_names() -> Vec<String> {
        let mut names: Vec<String> = Operation::ALL
            .iter()
            .map(|op| Quota::of(*op, None, None).name())
            .collect();
        names.extend(["RSA", "ECC", "ML-DSA"].map(|k| format!("Cryptographic:{k}")));
        names.extend(
            DataKeyPairSpec::ALL
                .iter()
                .map(|s| Quota::DataKeyPair(*s).name()),
        );
        names.sort();
        names.dedup();
        names
    }
}

/// AWS's throttling answer.
pub fn throttled() -> KmsError {
    KmsError::new(
        ErrorCode::Throttling,
        "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.",
    )
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets holding one second's worth of requests.
pub struct Quotas {
    enabled: bool,
    overrides: HashMap<Quota, f64>,
    buckets: Mutex<HashMap<(String, String, Quota), Bucket>>,
}

impl Quotas {
    pub fn new(enabled: bool, overrides: HashMap<Quota, f64>) -> Self {
        Self {
            enabled,
            overrides,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn rate(&self, quota: Quota, region: &str) -> f64 {
        self.overrides
            .get(&quota)
            .copied()
            .unwrap_or_else(|| quota.default_rate(region))
    }

    /// Takes one request from the caller's bucket; `ThrottlingException` when empty.
    pub fn take(&self, account: &str, region: &str, quota: Quota) -> Result<(), KmsError> {
        self.take_at(account, region, quota, Instant::now())
    }

    fn take_at(
        &self,
        account: &str,
        region: &str,
        quota: Quota,
        now: Instant,
    ) -> Result<(), KmsError> {
        if !self.enabled {
            return Ok(());
        }
        let rate = self.rate(quota, region);
        let mut buckets = self.buckets.lock().expect("quota lock");
        let b = buckets
            .entry((account.to_string(), region.to_string(), quota))
            .or_insert(Bucket {
                tokens: rate.max(1.0),
                at: now,
            });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(rate.max(1.0));
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(throttled())
        }
    }
}

/// One injected fault: `error` for `ratio` of the requests to `operation` (all when `None`).
pub struct Fault {
    pub operation: Option<Operation>,
    pub error: ErrorCode,
    pub ratio: f64,
    seen: AtomicU64,
}

impl Fault {
    /// `error` must be ThrottlingException, KMSInternalException or DependencyTimeoutException.
    pub fn new(
        operation: Option<Operation>,
        error: ErrorCode,
        ratio: f64,
    ) -> Result<Fault, String> {
        if !matches!(
            error,
            ErrorCode::Throttling | ErrorCode::KmsInternal | ErrorCode::DependencyTimeout
        ) {
            return Err(format!(
                "fault error must be ThrottlingException, KMSInternalException or DependencyTimeoutException, not {}",
                error.wire_name()
            ));
        }
        if !(0.0..=1.0).contains(&ratio) {
            return Err(format!("fault ratio must be from 0 to 1, not {ratio}"));
        }
        Ok(Fault {
            operation,
            error,
            ratio,
            seen: AtomicU64::new(0),
        })
    }

    /// Parses `<Operation|*>:<ErrorCode>:<ratio>`.
    pub fn parse(spec: &str) -> Result<Fault, String> {
        let parts: Vec<&str> = spec.trim().split(':').collect();
        let [op, error, ratio] = parts.as_slice() else {
            return Err(format!(
                "expected <Operation|*>:<Exception>:<ratio>, got {spec:?}"
            ));
        };
        let operation = match *op {
            "*" => None,
            name => Some(
                name.parse::<Operation>()
                    .map_err(|_| format!("unknown operation {name:?}"))?,
            ),
        };
        let error = error_code(error)?;
        let ratio = ratio
            .parse::<f64>()
            .map_err(|_| format!("bad ratio {ratio:?}"))?;
        Fault::new(operation, error, ratio)
    }

    /// Deterministic: exactly `floor(n × ratio)` of the first `n` matching requests fail, spread
    /// evenly, so tests can count them.
    fn fires(&self, op: Operation) -> bool {
        if self.operation.is_some_and(|o| o != op) {
            return false;
        }
        let n = self.seen.fetch_add(1, Ordering::Relaxed) as f64;
        ((n + 1.0) * self.ratio).floor() > (n * self.ratio).floor()
    }
}

pub fn error_code(name: &str) -> Result<ErrorCode, String> {
    match name {
        "ThrottlingException" => Ok(ErrorCode::Throttling),
        "KMSInternalException" => Ok(ErrorCode::KmsInternal),
        "DependencyTimeoutException" => Ok(ErrorCode::DependencyTimeout),
        other => Err(format!(
            "fault error must be ThrottlingException, KMSInternalException or DependencyTimeoutException, not {other:?}"
        )),
    }
}

/// The injected faults, first match wins.
#[derive(Default)]
pub struct Faults(pub Vec<Fault>);

impl Faults {
    pub fn check(&self, op: Operation) -> Result<(), KmsError> {
        for f in &self.0 {
            if f.fires(op) {
                return Err(match f.error {
                    ErrorCode::Throttling => throttled(),
                    // The model's descriptions of these errors; AWS's texts were not captured.
                    ErrorCode::DependencyTimeout => KmsError::new(
                        ErrorCode::DependencyTimeout,
                        "The system timed out while trying to fulfill the request. You can retry the request.",
                    ),
                    _ => KmsError::new(
                        ErrorCode::KmsInternal,
                        "The request was rejected because an internal exception occurred. The request can be retried.",
                    ),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn default_rates() {
        let q = |op| Quota::of(op, None, None).default_rate("us-east-1");
        assert_eq!(q(Operation::GetParametersForImport), 1.0);
        assert_eq!(q(Operation::ImportKeyMaterial), 15.0);
        assert_eq!(q(Operation::CreateKey), 5.0);
        assert_eq!(q(Operation::CreateGrant), 50.0);
        assert_eq!(q(Operation::RevokeGrant), 50.0);
        assert_eq!(q(Operation::TagResource), 10.0);
        assert_eq!(q(Operation::ListResourceTags), 2_000.0);
        assert_eq!(q(Operation::ReplicateKey), 5.0);
        assert_eq!(q(Operation::Encrypt), 100_000.0);
        assert_eq!(q(Operation::GenerateRandom), 100_000.0);
        assert_eq!(
            Quota::of(Operation::Encrypt, None, None).default_rate("eu-north-1"),
            10_000.0
        );
        assert_eq!(
            Quota::of(Operation::Sign, Some(KeySpec::Rsa2048), None).name(),
            "Cryptographic:RSA"
        );
        assert_eq!(
            Quota::of(Operation::Sign, Some(KeySpec::EccNistP256), None).default_rate("us-east-1"),
            1_000.0
        );
        let pair = |spec, region| {
            Quota::of(
                Operation::GenerateDataKeyPair,
                Some(KeySpec::SymmetricDefault),
                Some(spec),
            )
            .default_rate(region)
        };
        assert_eq!(pair(DataKeyPairSpec::Rsa2048, "us-east-1"), 20.0);
        assert_eq!(pair(DataKeyPairSpec::Rsa4096, "cn-north-1"), 0.1);
        assert_eq!(pair(DataKeyPairSpec::EccNistP256, "us-east-1"), 100.0);
        assert_eq!(pair(DataKeyPairSpec::Sm2, "cn-north-1"), 25.0);
        for name in Quota::all_names() {
            assert_eq!(Quota::from_name(&name).map(Quota::name), Some(name));
        }
        assert_eq!(Quota::from_name("Encrypt"), None);
        assert_eq!(Quota::from_name("Nope"), None);
    }

    #[test]
    fn buckets_refill_per_second() {
        let q = Quotas::new(
            true,
            HashMap::from([(Quota::Operation(Operation::ImportKeyMaterial), 2.0)]),
        );
        let t0 = Instant::now();
        let gpfi = Quota::Operation(Operation::GetParametersForImport);
        assert!(q.take_at("1", "us-east-1", gpfi, t0).is_ok());
        assert_eq!(
            q.take_at("1", "us-east-1", gpfi, t0).unwrap_err(),
            throttled()
        );
        // Another account and another region have their own buckets.
        assert!(q.take_at("2", "us-east-1", gpfi, t0).is_ok());
        assert!(q.take_at("1", "eu-west-1", gpfi, t0).is_ok());
        assert!(
            q.take_at("1", "us-east-1", gpfi, t0 + Duration::from_millis(999))
                .is_err()
        );
        assert!(
            q.take_at("1", "us-east-1", gpfi, t0 + Duration::from_millis(2000))
                .is_ok()
        );
        let ikm = Quota::Operation(Operation::ImportKeyMaterial);
        assert!(q.take_at("1", "us-east-1", ikm, t0).is_ok());
        assert!(q.take_at("1", "us-east-1", ikm, t0).is_ok());
        assert!(q.take_at("1", "us-east-1", ikm, t0).is_err());
        let off = Quotas::new(false, HashMap::new());
        for _ in 0..10 {
            assert!(off.take_at("1", "us-east-1", gpfi, t0).is_ok());
        }
    }

    #[test]
    fn faults_fire_at_their_ratio() {
        let f = Faults(vec![
            Fault::parse("ImportKeyMaterial:KMSInternalException:0.25").unwrap(),
        ]);
        let fired = (0..100)
            .filter(|_| f.check(Operation::ImportKeyMaterial).is_err())
            .count();
        assert_eq!(fired, 25);
        assert!(f.check(Operation::Encrypt).is_ok());
        let all = Faults(vec![
            Fault::parse("*:DependencyTimeoutException:1").unwrap(),
        ]);
        let e = all.check(Operation::CreateKey).unwrap_err();
        assert_eq!(
            (e.code, e.code.http_status()),
            (ErrorCode::DependencyTimeout, 503)
        );
        assert!(Fault::parse("Encrypt:NotFoundException:1").is_err());
        assert!(Fault::parse("Encrypt:KMSInternalException:2").is_err());
        assert!(Fault::parse("Nope:KMSInternalException:1").is_err());
    }
}
