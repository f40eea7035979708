//! The sidecar's configuration: credentials (access key → principal), identity policies,
//! quotas, faults and audit output, from a JSON file (`KMS_MOCK_SIDECAR_CONFIG`) and
//! `KMS_MOCK_*` variables. A newcomer needs none of it: `test`/`test` is the root user of the
//! configured account.

use std::collections::HashMap;

use http::HeaderValue;
use serde::Deserialize;
use serde_json::Value;

use super::audit::AuditSink;
use super::quota::{Fault, Faults, Quota, Quotas, error_code};
use crate::policy::context::is_policy_holder;
use crate::policy::{Caller, NamedPolicy, Policy, PolicyKind};

/// The documented default credential.
pub const DEFAULT_ACCESS_KEY_ID: &str = "test";
pub const DEFAULT_SECRET_ACCESS_KEY: &str = "test";

#[derive(Debug, Clone)]
pub struct Credential {
    pub secret_access_key: String,
    pub session_token: Option<String>,
    pub caller: Caller,
    /// The caller's ARN as the decision header carries it, made once.
    pub caller_header: HeaderValue,
}

/// The header value of a principal's ARN; IAM's characters always make one.
fn caller_header(caller: &Caller) -> Result<HeaderValue, String> {
    HeaderValue::from_str(&caller.arn)
        .map_err(|_| format!("principal {:?} is not a valid header value", caller.arn))
}

pub struct SidecarConfig {
    /// Off: any credential is accepted; known access keys keep their principal, others are
    /// the root user of the configured account.
    pub verify_signatures: bool,
    pub credentials: HashMap<String, Credential>,
    /// By principal ARN (users) or role ARN (assumed-role sessions).
    pub identity_policies: HashMap<String, Vec<NamedPolicy>>,
    pub quotas: Quotas,
    pub faults: Faults,
    pub audit: AuditSink,
    pub default_caller: Caller,
    pub default_caller_header: HeaderValue,
    pub default_region: String,
    /// `KMS_MOCK_UPSTREAM`: a running endpoint to front (`host:port` or `unix:/path`) instead
    /// of starting one.
    pub upstream: Option<String>,
    /// `KMS_POLICY_PROXY_LISTEN`: where the extension serves its Runtime API proxy.
    pub runtime_proxy_listen: String,
}

/// Where the extension's Runtime API proxy listens unless told otherwise.
pub const DEFAULT_RUNTIME_PROXY_LISTEN: &str = "127.0.0.1:9009";

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    verify_signatures: Option<bool>,
    #[serde(default)]
    credentials: Vec<FileCredential>,
    #[serde(default)]
    identity_policies: HashMap<String, HashMap<String, Value>>,
    quotas: Option<FileQuotas>,
    #[serde(default)]
    faults: Vec<FileFault>,
    audit: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCredential {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    principal: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileQuotas {
    #[serde(default)]
    enabled: bool,
    #[serde(default)]
    rates: HashMap<String, f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFault {
    operation: String,
    error: String,
    ratio: f64,
}

impl SidecarConfig {
    /// Reads the file named by `KMS_MOCK_SIDECAR_CONFIG` (if any) and the variables.
    pub fn load(
        get: impl Fn(&str) -> Option<String>,
        account: &str,
        region: &str,
    ) -> Result<SidecarConfig, String> {
        let var = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let file: File = match var("KMS_MOCK_SIDECAR_CONFIG") {
            None => File::default(),
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("KMS_MOCK_SIDECAR_CONFIG {path}: {e}"))?;
                serde_json::from_str(&text)
                    .map_err(|e| format!("KMS_MOCK_SIDECAR_CONFIG {path}: {e}"))?
            }
        };
        Self::build(file, &var, account, region)
    }

    /// From the JSON text of a configuration file (tests).
    pub fn from_json(text: &str, account: &str, region: &str) -> Result<SidecarConfig, String> {
        let file: File = serde_json::from_str(text).map_err(|e| e.to_string())?;
        Self::build(file, &|_: &str| None, account, region)
    }

    fn build(
        file: File,
        var: &dyn Fn(&str) -> Option<String>,
        account: &str,
        region: &str,
    ) -> Result<SidecarConfig, String> {
        let flag = |name: &str, default: bool| -> Result<bool, String> {
            match var(name) {
                None => Ok(default),
                Some(v) => crate::config::parse_flag(&v)
                    .ok_or_else(|| format!("invalid {name}={v:?}: expected true or false")),
            }
        };
        let default_caller = Caller::from_arn(&format!("arn:aws:iam::{account}:root"))
            .ok_or_else(|| format!("invalid account {account}"))?;

        let mut credentials = HashMap::new();
        credentials.insert(
            DEFAULT_ACCESS_KEY_ID.to_string(),
            Credential {
                secret_access_key: DEFAULT_SECRET_ACCESS_KEY.into(),
                session_token: None,
                caller_header: caller_header(&default_caller)?,
                caller: default_caller.clone(),
            },
        );
        for c in file.credentials {
            let caller = Caller::from_arn(&c.principal).ok_or_else(|| {
                format!(
                    "credential {}: principal {:?} is not an IAM user, root or assumed-role ARN",
                    c.access_key_id, c.principal
                )
            })?;
            credentials.insert(
                c.access_key_id,
                Credential {
                    secret_access_key: c.secret_access_key,
                    session_token: c.session_token,
                    caller_header: caller_header(&caller)?,
                    caller,
                },
            );
        }

        let mut identity_policies = HashMap::new();
        for (principal, policies) in file.identity_policies {
            if !is_policy_holder(&principal) {
                return Err(format!(
                    "identity policies of {principal:?}: not an IAM user, root, role or assumed-role ARN"
                ));
            }
            let mut named = Vec::new();
            let mut names: Vec<_> = policies.into_iter().collect();
            names.sort_by(|a, b| a.0.cmp(&b.0));
            for (name, doc) in names {
                let policy = Policy::from_value(&doc, PolicyKind::Identity).map_err(|e| {
                    format!(
                        "identity policy {name:?} of {principal}: {}",
                        e.message().unwrap_or_default()
                    )
                })?;
                named.push(NamedPolicy { name, policy });
            }
            identity_policies.insert(principal, named);
        }

        let file_quotas = file.quotas.unwrap_or_default();
        let enabled = match var("KMS_MOCK_QUOTAS").as_deref().map(str::trim) {
            None => file_quotas.enabled,
            Some("aws") | Some("on") => true,
            Some("off") => false,
            Some(v) => {
                return Err(format!(
                    "invalid KMS_MOCK_QUOTAS={v:?}: expected aws or off"
                ));
            }
        };
        let mut rates = file_quotas.rates;
        if let Some(list) = var("KMS_MOCK_QUOTA_RATES") {
            for item in list.split(',').filter(|s| !s.trim().is_empty()) {
                let (name, rate) = item.trim().split_once('=').ok_or_else(|| {
                    format!(
                        "invalid KMS_MOCK_QUOTA_RATES item {item:?}: expected <quota>=<per second>"
                    )
                })?;
                let rate = rate
                    .parse()
                    .map_err(|_| format!("invalid KMS_MOCK_QUOTA_RATES rate {rate:?}"))?;
                rates.insert(name.to_string(), rate);
            }
        }
        let mut overrides = HashMap::new();
        for (name, rate) in rates {
            let quota = Quota::from_name(&name).ok_or_else(|| {
                format!(
                    "unknown quota {name:?}; known: {}",
                    Quota::all_names().join(", ")
                )
            })?;
            if rate.is_nan() || rate <= 0.0 {
                return Err(format!("quota {name}: rate must be above 0"));
            }
            overrides.insert(quota, rate);
        }

        let mut faults = Vec::new();
        for f in file.faults {
            let op = match f.operation.as_str() {
                "*" => None,
                name => Some(
                    name.parse()
                        .map_err(|_| format!("fault: unknown operation {name:?}"))?,
                ),
            };
            faults.push(Fault::new(op, error_code(&f.error)?, f.ratio)?);
        }
        if let Some(list) = var("KMS_MOCK_FAULTS") {
            for spec in list.split(',').filter(|s| !s.trim().is_empty()) {
                faults.push(Fault::parse(spec).map_err(|e| format!("KMS_MOCK_FAULTS: {e}"))?);
            }
        }

        let audit_spec = var("KMS_MOCK_AUDIT")
            .or(file.audit)
            .unwrap_or_else(|| "off".into());
        let audit = AuditSink::open(audit_spec.trim())
            .map_err(|e| format!("KMS_MOCK_AUDIT {audit_spec}: {e}"))?;

        Ok(SidecarConfig {
            verify_signatures: flag(
                "KMS_MOCK_VERIFY_SIGNATURES",
                file.verify_signatures.unwrap_or(true),
            )?,
            credentials,
            identity_policies,
            quotas: Quotas::new(enabled, overrides),
            faults: Faults(faults),
            audit,
            default_caller_header: caller_header(&default_caller)?,
            default_caller,
            default_region: region.to_string(),
            upstream: var("KMS_MOCK_UPSTREAM").map(|u| u.trim().to_string()),
            runtime_proxy_listen: var("KMS_POLICY_PROXY_LISTEN").map_or_else(
                || DEFAULT_RUNTIME_PROXY_LISTEN.into(),
                |l| l.trim().to_string(),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_file() {
        let c = SidecarConfig::from_json("{}", "111122223333", "us-east-1").unwrap();
        assert!(c.verify_signatures);
        assert_eq!(
            c.credentials["test"].caller.arn,
            "arn:aws:iam::111122223333:root"
        );
        assert!(!c.quotas.enabled());
        let c = SidecarConfig::from_json(
            r#"{"credentials": [{"access_key_id": "AKIAALICE", "secret_access_key": "s", "principal": "arn:aws:iam::111122223333:user/alice"}],
                "identity_policies": {"arn:aws:iam::111122223333:user/alice": {"import": {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}}}},
                "quotas": {"enabled": true, "rates": {"GetParametersForImport": 3}},
                "faults": [{"operation": "ImportKeyMaterial", "error": "KMSInternalException", "ratio": 0.5}]}"#,
            "111122223333",
            "us-east-1",
        )
        .unwrap();
        assert_eq!(
            c.credentials["AKIAALICE"].caller.name.as_deref(),
            Some("alice")
        );
        assert_eq!(
            c.identity_policies["arn:aws:iam::111122223333:user/alice"][0].name,
            "import"
        );
        assert!(c.quotas.enabled());
        assert_eq!(c.faults.0.len(), 1);
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let err = |t: &str| {
            SidecarConfig::from_json(t, "111122223333", "us-east-1")
                .err()
                .unwrap()
        };
        assert!(err(r#"{"credentials": [{"access_key_id": "a", "secret_access_key": "s", "principal": "bob"}]}"#)
            .contains("is not an IAM user, root or assumed-role ARN"));
        assert!(err(r#"{"identity_policies": {"arn:aws:iam::111122223333:user/p": {"x": {"Statement": {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}}}}}"#)
            .contains("Identity-based policies must not contain Principal"));
        assert!(err(r#"{"quotas": {"rates": {"Nope": 1}}}"#).starts_with("unknown quota \"Nope\""));
        assert!(err(r#"{"faults": [{"operation": "Encrypt", "error": "NotFoundException", "ratio": 1}]}"#)
            .contains("fault error must be"));
        assert!(err(r#"{"bogus": 1}"#).contains("unknown field"));
        // A principal that is no IAM name (and could not travel in a header) stops start-up.
        assert_eq!(
            err(
                r#"{"credentials": [{"access_key_id": "AKIAZOE", "secret_access_key": "s", "principal": "arn:aws:iam::111122223333:user/zoë"}]}"#
            ),
            "credential AKIAZOE: principal \"arn:aws:iam::111122223333:user/zoë\" is not an IAM user, root or assumed-role ARN"
        );
        assert_eq!(
            err(r#"{"identity_policies": {"arn:aws:iam::111122223333:user/zoë": {}}}"#),
            "identity policies of \"arn:aws:iam::111122223333:user/zoë\": not an IAM user, root, role or assumed-role ARN"
        );
        assert!(
            SidecarConfig::from_json(
                r#"{"identity_policies": {"arn:aws:iam::111122223333:role/Importer": {}}}"#,
                "111122223333",
                "us-east-1"
            )
            .is_ok()
        );
    }
}
