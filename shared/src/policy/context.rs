//! The request context a policy is evaluated against: who calls, from where, when, what the
//! request asks for and what the key is. Values come from the KMS request body and the key's
//! metadata, named by the condition keys AWS documents.

use std::collections::HashMap;

use serde_json::Value;

use super::condition::Context;
use super::pattern::Variables;
use crate::domain::key::KeyRecord;
use crate::protocol::operation::Operation;

/// What kind of IAM identity made the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerKind {
    Root,
    User,
    AssumedRole,
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// As AWS reports it in errors and CloudTrail: the user, root or assumed-role session ARN.
    pub arn: String,
    pub account: String,
    pub kind: CallerKind,
    /// `aws:PrincipalArn`: for an assumed-role session, the role's ARN.
    pub principal_arn: String,
    /// The user name (users) or session name (assumed roles).
    pub name: Option<String>,
}

/// IAM's character set for user, role, path and session names (`[\w+=,.@-]+`): anything else
/// is no principal AWS could name, and could not travel in a header either.
fn is_iam_name(segment: &str) -> bool {
    !segment.is_empty()
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

/// Whether identity policies could be attached to `arn`: a principal [`Caller::from_arn`]
/// reads, or an IAM role (whose sessions they apply to).
pub fn is_policy_holder(arn: &str) -> bool {
    if Caller::from_arn(arn).is_some() {
        return true;
    }
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts[..], ["arn", "aws" | "aws-cn" | "aws-us-gov", "iam", "", account, resource]
        if crate::domain::arn::is_valid_account(account)
            && resource.strip_prefix("role/").is_some_and(|r| r.split('/').all(is_iam_name)))
}

impl Caller {
    /// Reads `arn:<p>:iam::<acct>:root`, `...:user/[path/]name` or
    /// `arn:<p>:sts::<acct>:assumed-role/<role>/<session>`.
    pub fn from_arn(arn: &str) -> Option<Caller> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        if parts.len() != 6 || parts[0] != "arn" || !parts[3].is_empty() {
            return None;
        }
        let (partition, service, account, resource) = (parts[1], parts[2], parts[4], parts[5]);
        if !crate::domain::arn::is_valid_account(account)
            || !matches!(partition, "aws" | "aws-cn" | "aws-us-gov")
            || !resource.split('/').all(is_iam_name)
        {
            return None;
        }
        let caller = |kind, principal_arn: String, name: Option<&str>| Caller {
            arn: arn.to_string(),
            account: account.to_string(),
            kind,
            principal_arn,
            name: name.map(str::to_string),
        };
        match service {
            "iam" if resource == "root" => Some(caller(CallerKind::Root, arn.to_string(), None)),
            "iam" => {
                let name = resource.strip_prefix("user/")?.rsplit('/').next()?;
                (!name.is_empty()).then(|| caller(CallerKind::User, arn.to_string(), Some(name)))
            }
            "sts" => {
                let rest = resource.strip_prefix("assumed-role/")?;
                let (role, session) = rest.rsplit_once('/')?;
                (!role.is_empty() && !session.is_empty()).then(|| {
                    caller(
                        CallerKind::AssumedRole,
                        format!("arn:{partition}:iam::{account}:role/{role}"),
                        Some(session),
                    )
                })
            }
            _ => None,
        }
    }

    /// The root of the caller's account, the principal a key policy delegates to.
    pub fn account_root(&self) -> String {
        format!("arn:aws:iam::{}:root", self.account)
    }
}

/// Condition-key values of one request (names in lower case). Built for every request the
/// sidecar decides, so the map uses a fast hasher: its keys come from this code, not clients.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    values: HashMap<String, Vec<String>, foldhash::fast::RandomState>,
}

impl Variables for Facts {
    fn variable(&self, key: &str) -> Option<String> {
        match self.values.get(&key.to_ascii_lowercase())?.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        }
    }
}

impl Context for Facts {
    fn values(&self, key: &str) -> Option<&[String]> {
        self.values.get(key).map(Vec::as_slice)
    }
}

/// Where and when the request was made.
#[derive(Debug, Clone)]
pub struct Environment<'a> {
    pub source_ip: Option<&'a str>,
    /// Real time, in epoch seconds.
    pub epoch_seconds: i64,
    pub region: &'a str,
    pub secure_transport: bool,
}

impl Facts {
    pub fn set(&mut self, key: &str, values: Vec<String>) {
        self.values.insert(key.to_ascii_lowercase(), values);
    }

    fn set_one(&mut self, key: &str, value: impl Into<String>) {
        self.set(key, vec![value.into()]);
    }

    /// The keys every request has: caller and environment.
    pub fn new(caller: &Caller, env: &Environment) -> Facts {
        // Room for a request's usual keys, so that the map is not grown while it is filled.
        let mut f = Facts {
            values: HashMap::with_capacity_and_hasher(32, Default::default()),
        };
        f.set_one("aws:PrincipalArn", &caller.principal_arn);
        f.set_one("aws:PrincipalAccount", &caller.account);
        f.set_one("kms:CallerAccount", &caller.account);
        f.set_one(
            "aws:PrincipalType",
            match caller.kind {
                CallerKind::Root => "Account",
                CallerKind::User => "User",
                CallerKind::AssumedRole => "AssumedRole",
            },
        );
        if caller.kind == CallerKind::Root {
            f.set_one("aws:userid", &caller.account);
        }
        if let (CallerKind::User, Some(n)) = (caller.kind, &caller.name) {
            f.set_one("aws:username", n);
        }
        if let Some(ip) = env.source_ip {
            f.set_one("aws:SourceIp", ip);
        }
        f.set_one("aws:EpochTime", env.epoch_seconds.to_string());
        f.set_one(
            "aws:CurrentTime",
            crate::clock::Timestamp::from_secs(env.epoch_seconds).to_rfc3339(),
        );
        f.set_one("aws:SecureTransport", env.secure_transport.to_string());
        f.set_one("aws:RequestedRegion", env.region);
        f
    }

    /// The resource keys of the key a request acts on.
    pub fn add_key(&mut self, key: &KeyRecord) {
        self.set_one("kms:KeyOrigin", key.origin.as_str());
        self.set_one("kms:KeySpec", key.key_spec.as_str());
        self.set_one("kms:KeyUsage", key.key_usage.as_str());
        self.set_one(
            "kms:MultiRegion",
            key.multi_region.is_multi_region().to_string(),
        );
        if let Some(t) = key.multi_region.key_type() {
            self.set_one("kms:MultiRegionKeyType", t);
        }
        for t in &key.tags {
            self.set_one(&format!("aws:ResourceTag/{}", t.tag_key), &t.tag_value);
        }
    }

    /// The request keys of an operation, from its (validated) JSON body. Parameters the
    /// request omits are absent from the context (so `Null` conditions see them missing).
    pub fn add_request(&mut self, op: Operation, body: &Value) {
        let text = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_string);
        let mut copy = |param: &str, key: &str| {
            if let Some(v) = text(param) {
                self.set_one(key, v);
            }
        };
        use Operation::*;
        match op {
            GetParametersForImport => {
                copy("WrappingAlgorithm", "kms:WrappingAlgorithm");
                copy("WrappingKeySpec", "kms:WrappingKeySpec");
            }
            ImportKeyMaterial => {
                copy("ExpirationModel", "kms:ExpirationModel");
                if let Some(n) = body.get("ValidTo").and_then(Value::as_f64) {
                    self.set_one("kms:ValidTo", format_number(n));
                }
            }
            CreateKey => {
                let or = |name: &str, default: &str| text(name).unwrap_or_else(|| default.into());
                self.set_one("kms:KeyOrigin", or("Origin", "AWS_KMS"));
                let spec = text("KeySpec")
                    .or_else(|| text("CustomerMasterKeySpec"))
                    .unwrap_or_else(|| "SYMMETRIC_DEFAULT".into());
                self.set_one("kms:KeySpec", spec);
                self.set_one("kms:KeyUsage", or("KeyUsage", "ENCRYPT_DECRYPT"));
                let multi = body
                    .get("MultiRegion")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                self.set_one("kms:MultiRegion", multi.to_string());
                self.add_bypass(body);
                self.add_request_tags(body);
            }
            PutKeyPolicy => self.add_bypass(body),
            ReplicateKey => {
                copy("ReplicaRegion", "kms:ReplicaRegion");
                self.add_bypass(body);
                self.add_request_tags(body);
            }
            UpdatePrimaryRegion => copy("PrimaryRegion", "kms:PrimaryRegion"),
            TagResource => self.add_request_tags(body),
            CreateGrant => {
                copy("GranteePrincipal", "kms:GranteePrincipal");
                copy("RetiringPrincipal", "kms:RetiringPrincipal");
                self.add_grant_request(body);
            }
            UntagResource => {
                if let Some(Value::Array(keys)) = body.get("TagKeys") {
                    let keys = keys.iter().filter_map(Value::as_str).map(str::to_string);
                    self.set("aws:TagKeys", keys.collect());
                }
            }
            GenerateDataKeyPair | GenerateDataKeyPairWithoutPlaintext => {
                copy("KeyPairSpec", "kms:DataKeyPairSpec");
                self.add_encryption_context(body);
            }
            Encrypt | Decrypt | GenerateDataKey | GenerateDataKeyWithoutPlaintext => {
                copy("EncryptionAlgorithm", "kms:EncryptionAlgorithm");
                self.add_encryption_context(body);
            }
            Sign | Verify => {
                copy("SigningAlgorithm", "kms:SigningAlgorithm");
                copy("MessageType", "kms:MessageType");
            }
            GenerateMac | VerifyMac => copy("MacAlgorithm", "kms:MacAlgorithm"),
            DeriveSharedSecret => copy("KeyAgreementAlgorithm", "kms:KeyAgreementAlgorithm"),
            _ => {}
        }
        // However the alias is named: `alias/x`, or its ARN (the condition sees `alias/x`).
        if let Some(alias) = text("KeyId").as_deref().and_then(alias_name) {
            self.set_one("kms:RequestAlias", alias);
        }
    }

    /// CreateGrant's `kms:GrantOperations`, `kms:GrantConstraintType` and
    /// `kms:GrantIsForAWSResource`.
    fn add_grant_request(&mut self, body: &Value) {
        if let Some(Value::Array(ops)) = body.get("Operations") {
            let ops = ops.iter().filter_map(Value::as_str).map(str::to_string);
            self.set("kms:GrantOperations", ops.collect());
        }
        if let Some(Value::Object(c)) = body.get("Constraints") {
            self.set("kms:GrantConstraintType", c.keys().cloned().collect());
        }
        // Grants the mock's callers make are never an AWS service's.
        self.set_one("kms:GrantIsForAWSResource", "false");
    }

    /// `kms:EncryptionContext:<key>` and `kms:EncryptionContextKeys`.
    fn add_encryption_context(&mut self, body: &Value) {
        if let Some(Value::Object(ctx)) = body.get("EncryptionContext") {
            let mut keys = Vec::with_capacity(ctx.len());
            for (k, v) in ctx {
                if let Some(v) = v.as_str() {
                    self.set_one(&format!("kms:EncryptionContext:{k}"), v);
                }
                keys.push(k.clone());
            }
            self.set("kms:EncryptionContextKeys", keys);
        }
    }

    fn add_bypass(&mut self, body: &Value) {
        let bypass = body
            .get("BypassPolicyLockoutSafetyCheck")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        self.set_one("kms:BypassPolicyLockoutSafetyCheck", bypass.to_string());
    }

    fn add_request_tags(&mut self, body: &Value) {
        let Some(Value::Array(tags)) = body.get("Tags") else {
            return;
        };
        let mut keys = Vec::new();
        for t in tags {
            if let (Some(k), Some(v)) = (
                t.get("TagKey").and_then(Value::as_str),
                t.get("TagValue").and_then(Value::as_str),
            ) {
                self.set_one(&format!("aws:RequestTag/{k}"), v);
                keys.push(k.to_string());
            }
        }
        self.set("aws:TagKeys", keys);
    }
}

/// The alias name a `KeyId` parameter names, by name or by alias ARN.
fn alias_name(key_id: &str) -> Option<&str> {
    if key_id.starts_with("alias/") {
        return Some(key_id);
    }
    crate::domain::arn::Arn::parse(key_id)
        .map(|a| a.resource)
        .filter(|r| r.starts_with("alias/"))
}

/// A JSON number as a condition value: whole numbers without a fraction.
fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callers() {
        let c = Caller::from_arn("arn:aws:sts::444455556666:assumed-role/Importer/ci-run").unwrap();
        assert_eq!(c.kind, CallerKind::AssumedRole);
        assert_eq!(c.principal_arn, "arn:aws:iam::444455556666:role/Importer");
        assert_eq!(c.name.as_deref(), Some("ci-run"));
        assert_eq!(c.account_root(), "arn:aws:iam::444455556666:root");
        let u = Caller::from_arn("arn:aws:iam::111122223333:user/team/alice").unwrap();
        assert_eq!(
            (u.kind, u.name.as_deref()),
            (CallerKind::User, Some("alice"))
        );
        assert_eq!(
            Caller::from_arn("arn:aws:iam::111122223333:root")
                .unwrap()
                .kind,
            CallerKind::Root
        );
        for bad in [
            "arn:aws:iam::1111:root",
            "arn:aws:iam::111122223333:role/R",
            "arn:aws:sts::111122223333:assumed-role/R",
            "arn:aws:s3:::bucket",
            "arn:aws:iam::111122223333:user/zoë",
            "arn:aws:iam::111122223333:user/a b",
            "arn:aws:iam::111122223333:user//alice",
            "arn:aws:sts::111122223333:assumed-role/R/s\n",
            "arn:aws-xx:iam::111122223333:root",
        ] {
            assert_eq!(Caller::from_arn(bad), None, "{bad}");
        }
    }

    #[test]
    fn request_keys() {
        let caller = Caller::from_arn("arn:aws:iam::111122223333:user/alice").unwrap();
        let env = Environment {
            source_ip: Some("127.0.0.1"),
            epoch_seconds: 1_795_000_000,
            region: "us-east-1",
            secure_transport: false,
        };
        let mut f = Facts::new(&caller, &env);
        f.add_request(
            Operation::ImportKeyMaterial,
            &serde_json::json!({"KeyId": "alias/x", "ValidTo": 1546257599.0}),
        );
        assert_eq!(f.values("kms:validto").unwrap(), ["1546257599"]);
        assert_eq!(f.values("kms:expirationmodel"), None);
        assert_eq!(f.values("kms:requestalias").unwrap(), ["alias/x"]);
        let mut by_arn = Facts::new(&caller, &env);
        by_arn.add_request(
            Operation::Encrypt,
            &serde_json::json!({"KeyId": "arn:aws:kms:us-east-1:111122223333:alias/prod-x"}),
        );
        assert_eq!(by_arn.values("kms:requestalias").unwrap(), ["alias/prod-x"]);
        assert_eq!(
            f.values("aws:currenttime").unwrap(),
            ["2026-11-18T11:06:40Z"]
        );
        assert_eq!(f.variable("aws:username").as_deref(), Some("alice"));
        f.add_request(
            Operation::CreateKey,
            &serde_json::json!({"Origin": "EXTERNAL", "Tags": [{"TagKey": "team", "TagValue": "a"}]}),
        );
        assert_eq!(f.values("kms:keyorigin").unwrap(), ["EXTERNAL"]);
        assert_eq!(f.values("kms:keyspec").unwrap(), ["SYMMETRIC_DEFAULT"]);
        assert_eq!(f.values("aws:requesttag/team").unwrap(), ["a"]);
        assert_eq!(f.values("aws:tagkeys").unwrap(), ["team"]);
    }
}
