//! The sidecar's decision, in-process against the endpoint's own handlers.

use super::*;
use crate::service::testkit;
use serde_json::json;

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
async fn with_checking_off_presigned_callers_keep_their_principal_and_list_aliases_is_iam_only() {
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
