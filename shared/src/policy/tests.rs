//! A table of policy/request cases with the decision AWS's evaluation logic gives.

use serde_json::{Value, json};

use super::*;
use crate::protocol::operation::Operation;

const KEY_ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const ROOT: &str = "arn:aws:iam::111122223333:root";
const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const BOB: &str = "arn:aws:iam::111122223333:user/bob";
const ROLE_SESSION: &str = "arn:aws:sts::111122223333:assumed-role/Importer/ci";
const OTHER: &str = "arn:aws:sts::444455556666:assumed-role/Partner/run";
const OTHER_ROOT: &str = "arn:aws:iam::444455556666:root";

fn stmt(effect: &str, principal: &str, action: &str, condition: Value) -> Value {
    let mut s = json!({"Effect": effect, "Principal": {"AWS": principal}, "Action": action, "Resource": "*"});
    if !condition.is_null() {
        s["Condition"] = condition;
    }
    s
}

fn key_policy(statements: Vec<Value>) -> Policy {
    Policy::from_value(
        &json!({"Version": "2012-10-17", "Statement": statements}),
        PolicyKind::Key,
    )
    .unwrap()
}

fn identity(name: &str, statements: Value) -> NamedPolicy {
    NamedPolicy {
        name: name.into(),
        policy: Policy::from_value(
            &json!({"Version": "2012-10-17", "Statement": statements}),
            PolicyKind::Identity,
        )
        .unwrap(),
    }
}

fn key_record(tags: &[(&str, &str)]) -> crate::domain::key::KeyRecord {
    use crate::domain::spec::{KeySpec, KeyUsage, Origin};
    crate::domain::key::KeyRecord {
        key_id: "1234abcd-12ab-34cd-56ef-1234567890ab".into(),
        scope: crate::domain::arn::Scope::new("111122223333", "us-east-1"),
        creation_date: crate::clock::Timestamp::from_secs(1_795_000_000),
        description: String::new(),
        key_spec: KeySpec::SymmetricDefault,
        key_usage: KeyUsage::EncryptDecrypt,
        origin: Origin::External,
        multi_region: crate::domain::multi_region::MultiRegion::Single,
        transition: None,
        enabled: false,
        deletion: None,
        policy: String::new(),
        tags: tags
            .iter()
            .map(|(k, v)| crate::domain::key::Tag {
                tag_key: k.to_string(),
                tag_value: v.to_string(),
            })
            .collect(),
        materials: Vec::new(),
        on_demand_rotation: None,
        rotation_period_days: None,
        last_usage: None,
        grants: Vec::new(),
    }
}

struct Case<'a> {
    caller: &'a str,
    op: Operation,
    body: Value,
    key: Option<&'a Policy>,
    identity: Vec<NamedPolicy>,
}

impl Case<'_> {
    fn decide(&self) -> (Decision, Option<String>) {
        let caller = Caller::from_arn(self.caller).unwrap();
        let env = Environment {
            source_ip: Some("10.0.0.7"),
            epoch_seconds: 1_795_000_000, // 2026-11-18T11:06:40Z
            region: "us-east-1",
            secure_transport: false,
        };
        let mut facts = Facts::new(&caller, &env);
        facts.add_request(self.op, &self.body);
        if self.key.is_some() {
            facts.add_key(&key_record(&[("team", "payments")]));
        }
        let action = format!("kms:{}", self.op);
        let req = Request {
            caller: &caller,
            action: &action,
            resource: self.key.map_or(Resource::Any, |policy| {
                Resource::Key(KeyTarget {
                    arn: KEY_ARN,
                    account: "111122223333",
                    policy,
                })
            }),
            cross_account: !matches!(
                self.op,
                Operation::GetParametersForImport
                    | Operation::ImportKeyMaterial
                    | Operation::CreateKey
            ),
            facts: &facts,
        };
        let d = evaluate(&req, &self.identity);
        let msg = d.error(&req).map(|e| e.message().unwrap().to_string());
        (d, msg)
    }

    fn allowed(&self) -> bool {
        matches!(self.decide().0, Decision::Allow { .. })
    }
}

fn case<'a>(caller: &'a str, op: Operation, body: Value, key: Option<&'a Policy>) -> Case<'a> {
    Case {
        caller,
        op,
        body,
        key,
        identity: Vec::new(),
    }
}

fn gpfi(alg: &str, spec: &str) -> Value {
    json!({"KeyId": KEY_ARN, "WrappingAlgorithm": alg, "WrappingKeySpec": spec})
}

#[test]
fn wrapping_key_spec_and_algorithm() {
    let p = key_policy(vec![stmt(
        "Allow",
        ROOT,
        "kms:GetParametersForImport",
        json!({"StringEquals": {"kms:WrappingKeySpec": "RSA_4096", "kms:WrappingAlgorithm": "RSAES_OAEP_SHA_256"}}),
    )]);
    let c = |alg, spec| {
        case(
            ROOT,
            Operation::GetParametersForImport,
            gpfi(alg, spec),
            Some(&p),
        )
    };
    assert!(c("RSAES_OAEP_SHA_256", "RSA_4096").allowed());
    let (d, msg) = c("RSAES_OAEP_SHA_256", "RSA_2048").decide();
    assert_eq!(
        d,
        Decision::Deny {
            reason: DenyReason::NoResourcePolicyAllows,
            by: None
        }
    );
    assert_eq!(
        msg.unwrap(),
        format!(
            "User: {ROOT} is not authorized to perform: kms:GetParametersForImport on resource: {KEY_ARN} because no resource-based policy allows the kms:GetParametersForImport action"
        )
    );
    assert!(!c("RSAES_OAEP_SHA_1", "RSA_4096").allowed());
}

#[test]
fn expiration_model_and_valid_to() {
    let p = key_policy(vec![stmt(
        "Allow",
        ROOT,
        "kms:ImportKeyMaterial",
        json!({"StringEquals": {"kms:ExpirationModel": "KEY_MATERIAL_EXPIRES"},
               "NumericLessThanEquals": {"kms:ValidTo": "1546257599.0"}}),
    )]);
    let c = |body| case(ROOT, Operation::ImportKeyMaterial, body, Some(&p));
    assert!(
        c(json!({"KeyId": KEY_ARN, "ExpirationModel": "KEY_MATERIAL_EXPIRES", "ValidTo": 1546257599}))
            .allowed()
    );
    assert!(
        !c(json!({"KeyId": KEY_ARN, "ExpirationModel": "KEY_MATERIAL_EXPIRES", "ValidTo": 1546257600}))
            .allowed()
    );
    // The keys apply when the parameters are absent: the request is refused.
    assert!(!c(json!({"KeyId": KEY_ARN})).allowed());
    assert!(!c(json!({"KeyId": KEY_ARN, "ValidTo": 1})).allowed());

    // The guide's Null example: allowed only when the request has no ExpirationModel.
    let p = key_policy(vec![stmt(
        "Allow",
        ROOT,
        "kms:ImportKeyMaterial",
        json!({"Null": {"kms:ExpirationModel": true}}),
    )]);
    let c = |body| case(ROOT, Operation::ImportKeyMaterial, body, Some(&p));
    assert!(c(json!({"KeyId": KEY_ARN})).allowed());
    assert!(
        !c(json!({"KeyId": KEY_ARN, "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"})).allowed()
    );
}

#[test]
fn key_metadata_keys() {
    let allow_if = |cond: Value| key_policy(vec![stmt("Allow", ROOT, "kms:*", cond)]);
    let describe = json!({"KeyId": KEY_ARN});
    for (cond, want) in [
        (json!({"StringEquals": {"kms:KeyOrigin": "EXTERNAL"}}), true),
        (json!({"StringEquals": {"kms:KeyOrigin": "AWS_KMS"}}), false),
        (
            json!({"StringEquals": {"kms:KeySpec": "SYMMETRIC_DEFAULT"}}),
            true,
        ),
        (
            json!({"StringEquals": {"kms:KeyUsage": "SIGN_VERIFY"}}),
            false,
        ),
        (
            json!({"StringEquals": {"kms:CallerAccount": "111122223333"}}),
            true,
        ),
        (
            json!({"StringEquals": {"aws:ResourceTag/team": "payments"}}),
            true,
        ),
        (
            json!({"StringEquals": {"aws:ResourceTag/team": "risk"}}),
            false,
        ),
        (
            json!({"StringEquals": {"aws:PrincipalAccount": "444455556666"}}),
            false,
        ),
        (json!({"ArnEquals": {"aws:PrincipalArn": ROOT}}), true),
        (json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/24"}}), true),
        (
            json!({"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}),
            false,
        ),
        (
            json!({"DateLessThan": {"aws:CurrentTime": "2026-12-01T00:00:00Z"}}),
            true,
        ),
        (
            json!({"DateGreaterThan": {"aws:CurrentTime": "2026-12-01T00:00:00Z"}}),
            false,
        ),
        (json!({"Bool": {"kms:MultiRegion": "false"}}), true),
    ] {
        let p = allow_if(cond.clone());
        assert_eq!(
            case(ROOT, Operation::DescribeKey, describe.clone(), Some(&p)).allowed(),
            want,
            "{cond}"
        );
    }
}

#[test]
fn encryption_context_and_request_tags() {
    let p = key_policy(vec![stmt(
        "Allow",
        ROOT,
        "kms:Encrypt",
        json!({"StringEquals": {"kms:EncryptionContext:tenant": "t1"}}),
    )]);
    let enc = |ctx: Value| {
        case(
            ROOT,
            Operation::Encrypt,
            json!({"KeyId": KEY_ARN, "Plaintext": "aGk=", "EncryptionContext": ctx}),
            Some(&p),
        )
    };
    assert!(enc(json!({"tenant": "t1"})).allowed());
    assert!(!enc(json!({"tenant": "t2"})).allowed());
    assert!(!enc(json!({})).allowed());

    let id = identity(
        "create-tagged",
        json!([{"Effect": "Allow", "Action": "kms:CreateKey", "Resource": "*",
                "Condition": {"StringEquals": {"aws:RequestTag/team": "payments", "kms:KeyOrigin": "EXTERNAL"}}}]),
    );
    let mut c = case(
        ALICE,
        Operation::CreateKey,
        json!({"Origin": "EXTERNAL", "Tags": [{"TagKey": "team", "TagValue": "payments"}]}),
        None,
    );
    c.identity = vec![id.clone()];
    assert!(c.allowed());
    let mut c = case(
        ALICE,
        Operation::CreateKey,
        json!({"Origin": "EXTERNAL"}),
        None,
    );
    c.identity = vec![id];
    let (d, msg) = c.decide();
    assert!(matches!(
        d,
        Decision::Deny {
            reason: DenyReason::NoIdentityPolicyAllows,
            ..
        }
    ));
    assert_eq!(
        msg.unwrap(),
        format!(
            "User: {ALICE} is not authorized to perform: kms:CreateKey on resource: * because no identity-based policy allows the kms:CreateKey action"
        )
    );
}

#[test]
fn delegation_to_the_account_needs_an_identity_policy() {
    let default = key_policy(vec![stmt("Allow", ROOT, "kms:*", Value::Null)]);
    // The root user itself is allowed.
    assert!(
        case(
            ROOT,
            Operation::GetParametersForImport,
            gpfi("RSAES_OAEP_SHA_256", "RSA_4096"),
            Some(&default)
        )
        .allowed()
    );
    // A user with no identity policy is refused, naming the identity-based policy.
    let (_, msg) = case(
        ALICE,
        Operation::DescribeKey,
        json!({"KeyId": KEY_ARN}),
        Some(&default),
    )
    .decide();
    assert_eq!(
        msg.unwrap(),
        format!(
            "User: {ALICE} is not authorized to perform: kms:DescribeKey on resource: {KEY_ARN} because no identity-based policy allows the kms:DescribeKey action"
        )
    );
    // With one, allowed; its statement decided.
    let mut c = case(
        ALICE,
        Operation::DescribeKey,
        json!({"KeyId": KEY_ARN}),
        Some(&default),
    );
    c.identity = vec![identity(
        "read",
        json!({"Effect": "Allow", "Action": ["kms:Describe*", "kms:List*"], "Resource": "arn:aws:kms:*:111122223333:key/*"}),
    )];
    let (d, _) = c.decide();
    assert_eq!(
        d,
        Decision::Allow {
            by: Some(evaluate::DecidingStatement {
                source: evaluate::PolicySource::Identity("read".into()),
                index: 0,
                sid: None
            })
        }
    );
    // An identity policy whose resource names other keys does not help.
    c.identity = vec![identity(
        "other",
        json!({"Effect": "Allow", "Action": "kms:*", "Resource": "arn:aws:kms:*:111122223333:key/other"}),
    )];
    assert!(!c.allowed());
    // Policy variables: a user may act on keys tagged with their own name.
    let p = key_policy(vec![stmt("Allow", ROOT, "kms:*", Value::Null)]);
    let mut c = case(
        ALICE,
        Operation::DescribeKey,
        json!({"KeyId": KEY_ARN}),
        Some(&p),
    );
    c.identity = vec![identity(
        "own",
        json!({"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*", "Condition": {"StringEquals": {"aws:username": "${aws:username}", "aws:ResourceTag/team": "payments"}}}),
    )];
    assert!(c.allowed());
    // A key policy naming the user directly needs no identity policy.
    let p = key_policy(vec![stmt("Allow", ALICE, "kms:DescribeKey", Value::Null)]);
    assert!(
        case(
            ALICE,
            Operation::DescribeKey,
            json!({"KeyId": KEY_ARN}),
            Some(&p)
        )
        .allowed()
    );
    assert!(
        !case(
            BOB,
            Operation::DescribeKey,
            json!({"KeyId": KEY_ARN}),
            Some(&p)
        )
        .allowed()
    );
    // A role in the principal covers its sessions.
    let p = key_policy(vec![stmt(
        "Allow",
        "arn:aws:iam::111122223333:role/Importer",
        "kms:*",
        Value::Null,
    )]);
    assert!(
        case(
            ROLE_SESSION,
            Operation::GetParametersForImport,
            gpfi("RSAES_OAEP_SHA_256", "RSA_2048"),
            Some(&p)
        )
        .allowed()
    );
}

#[test]
fn explicit_deny_wins() {
    let p = key_policy(vec![
        stmt("Allow", ROOT, "kms:*", Value::Null),
        json!({"Sid": "NoSmallWrappingKeys", "Effect": "Deny", "Principal": "*", "Action": "kms:GetParametersForImport", "Resource": "*",
               "Condition": {"StringEquals": {"kms:WrappingKeySpec": "RSA_2048"}}}),
    ]);
    let (d, msg) = case(
        ROOT,
        Operation::GetParametersForImport,
        gpfi("RSAES_OAEP_SHA_256", "RSA_2048"),
        Some(&p),
    )
    .decide();
    assert_eq!(
        d,
        Decision::Deny {
            reason: DenyReason::ExplicitDenyInKeyPolicy,
            by: Some(evaluate::DecidingStatement {
                source: evaluate::PolicySource::KeyPolicy,
                index: 1,
                sid: Some("NoSmallWrappingKeys".into())
            })
        }
    );
    assert_eq!(
        msg.unwrap(),
        format!(
            "User: {ROOT} is not authorized to perform: kms:GetParametersForImport on resource: {KEY_ARN} with an explicit deny in a resource-based policy"
        )
    );
    assert!(
        case(
            ROOT,
            Operation::GetParametersForImport,
            gpfi("RSAES_OAEP_SHA_256", "RSA_3072"),
            Some(&p)
        )
        .allowed()
    );

    let mut c = case(
        ALICE,
        Operation::Encrypt,
        json!({"KeyId": KEY_ARN}),
        Some(&p),
    );
    c.identity = vec![
        identity(
            "all",
            json!({"Effect": "Allow", "Action": "kms:*", "Resource": "*"}),
        ),
        identity(
            "no-encrypt",
            json!({"Effect": "Deny", "NotAction": ["kms:Describe*", "kms:Decrypt"], "Resource": "*"}),
        ),
    ];
    let (_, msg) = c.decide();
    assert_eq!(
        msg.unwrap(),
        format!(
            "User: {ALICE} is not authorized to perform: kms:Encrypt on resource: {KEY_ARN} with an explicit deny in an identity-based policy"
        )
    );
    c.op = Operation::Decrypt;
    assert!(c.allowed());
}

#[test]
fn cross_account() {
    let p = key_policy(vec![
        stmt("Allow", ROOT, "kms:*", Value::Null),
        stmt("Allow", OTHER_ROOT, "kms:*", Value::Null),
    ]);
    // Not a cross-account operation: refused whatever the key policy says.
    let mut c = case(
        OTHER,
        Operation::GetParametersForImport,
        gpfi("RSAES_OAEP_SHA_256", "RSA_4096"),
        Some(&p),
    );
    c.identity = vec![identity(
        "all",
        json!({"Effect": "Allow", "Action": "kms:*", "Resource": "*"}),
    )];
    let (d, msg) = c.decide();
    assert!(matches!(
        d,
        Decision::Deny {
            reason: DenyReason::NotCrossAccount,
            ..
        }
    ));
    assert_eq!(
        msg.unwrap(),
        format!(
            "User: {OTHER} is not authorized to perform: kms:GetParametersForImport on this resource because no resource-based policy allows the kms:GetParametersForImport action"
        )
    );
    // A cross-account operation needs both policies.
    c.op = Operation::Encrypt;
    assert!(c.allowed());
    c.identity.clear();
    let (_, msg) = c.decide();
    assert_eq!(
        msg.unwrap(),
        format!(
            "User: {OTHER} is not authorized to perform: kms:Encrypt on this resource because no identity-based policy allows the kms:Encrypt action"
        )
    );
    let only_own = key_policy(vec![stmt("Allow", ROOT, "kms:*", Value::Null)]);
    let mut c = case(
        OTHER,
        Operation::Encrypt,
        json!({"KeyId": KEY_ARN}),
        Some(&only_own),
    );
    c.identity = vec![identity(
        "all",
        json!({"Effect": "Allow", "Action": "kms:*", "Resource": "*"}),
    )];
    let (_, msg) = c.decide();
    assert_eq!(
        msg.unwrap(),
        format!(
            "User: {OTHER} is not authorized to perform: kms:Encrypt on this resource because no resource-based policy allows the kms:Encrypt action"
        )
    );
}

#[test]
fn not_principal_and_not_resource() {
    let p = key_policy(vec![
        stmt("Allow", ROOT, "kms:*", Value::Null),
        json!({"Effect": "Deny", "NotPrincipal": {"AWS": ALICE}, "Action": "kms:ImportKeyMaterial", "Resource": "*"}),
    ]);
    let ikm = json!({"KeyId": KEY_ARN});
    let id = || {
        vec![identity(
            "all",
            json!({"Effect": "Allow", "Action": "kms:*", "NotResource": "arn:aws:kms:*:*:alias/*"}),
        )]
    };
    let mut alice = case(ALICE, Operation::ImportKeyMaterial, ikm.clone(), Some(&p));
    alice.identity = id();
    assert!(alice.allowed());
    let mut bob = case(BOB, Operation::ImportKeyMaterial, ikm, Some(&p));
    bob.identity = id();
    assert!(!bob.allowed());
}

#[test]
fn lockout_safety_check() {
    let caller = Caller::from_arn(ALICE).unwrap();
    let env = Environment {
        source_ip: None,
        epoch_seconds: 0,
        region: "us-east-1",
        secure_transport: false,
    };
    let ok = key_policy(vec![stmt("Allow", ROOT, "kms:*", Value::Null)]);
    assert!(lockout_check(&ok, &caller, KEY_ARN, "111122223333", &env).is_ok());
    let direct = key_policy(vec![stmt("Allow", ALICE, "kms:PutKeyPolicy", Value::Null)]);
    assert!(lockout_check(&direct, &caller, KEY_ARN, "111122223333", &env).is_ok());
    let locked = key_policy(vec![stmt("Allow", BOB, "kms:Encrypt", Value::Null)]);
    let e = lockout_check(&locked, &caller, KEY_ARN, "111122223333", &env).unwrap_err();
    assert_eq!(e.code, crate::ErrorCode::MalformedPolicyDocument);
    assert_eq!(
        e.message(),
        Some("The new key policy will not allow you to update the key policy in the future.")
    );
}
