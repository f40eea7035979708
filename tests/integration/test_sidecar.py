"""The policy sidecar end to end: one table of cases, run against the local proxy and against
the Lambda extension under `cargo lambda watch`, through boto3 (botocore's SigV4 signing)."""

from __future__ import annotations

import datetime
import json
import os

import botocore.exceptions
import pytest

from byok import wrap
from conftest import REGION
from sidecar_stack import started

ACCOUNT = "111122223333"
PARTNER_ACCOUNT = "444455556666"
ROOT_ARN = f"arn:aws:iam::{ACCOUNT}:root"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
BOB = f"arn:aws:iam::{ACCOUNT}:user/bob"
IMPORTER_SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/Importer/ci"
PARTNER_SESSION = f"arn:aws:sts::{PARTNER_ACCOUNT}:assumed-role/Partner/run"


def allow_all(sid="all"):
    return {"Version": "2012-10-17", "Statement": [{"Sid": sid, "Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}


CONFIG = {
    "credentials": [
        {"access_key_id": "AKIAALICE", "secret_access_key": "alice-secret", "principal": ALICE},
        {"access_key_id": "AKIABOB", "secret_access_key": "bob-secret", "principal": BOB},
        {"access_key_id": "ASIAIMPORTER", "secret_access_key": "importer-secret",
         "session_token": "session-token-1", "principal": IMPORTER_SESSION},
        {"access_key_id": "AKIAPARTNER", "secret_access_key": "partner-secret", "principal": PARTNER_SESSION},
    ],
    "identity_policies": {
        ALICE: {"read-and-wrap": {"Version": "2012-10-17", "Statement": [
            {"Sid": "ReadAndGetWrappingKeys", "Effect": "Allow",
             "Action": ["kms:Describe*", "kms:List*", "kms:GetParametersForImport"], "Resource": "*"}]}},
        f"arn:aws:iam::{ACCOUNT}:role/Importer": {
            "all": allow_all(),
            "no-small-wrapping-keys": {"Version": "2012-10-17", "Statement": [
                {"Sid": "NoRsa2048", "Effect": "Deny", "Action": "kms:GetParametersForImport", "Resource": "*",
                 "Condition": {"StringEquals": {"kms:WrappingKeySpec": "RSA_2048"}}}]},
        },
        f"arn:aws:iam::{PARTNER_ACCOUNT}:role/Partner": {"all": allow_all()},
    },
}


@pytest.fixture(scope="module", params=["proxy", "extension"])
def stack(request):
    yield from started(request.param, CONFIG, "kms-sidecar")


def refused(call, code: str, message: str | None = None):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call()
    err = e.value.response["Error"]
    assert err["Code"] == code, err
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    if message is not None:
        assert err["Message"] == message
    return err


def denied(user: str, action: str, resource: str, why: str) -> str:
    on = "on this resource" if resource == "this resource" else f"on resource: {resource}"
    return f"User: {user} is not authorized to perform: kms:{action} {on} {why}"


def no_resource(action):
    return f"because no resource-based policy allows the kms:{action} action"


def no_identity(action):
    return f"because no identity-based policy allows the kms:{action} action"


def admin_except(action: str, extra: list) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": ROOT_ARN}, "NotAction": action, "Resource": "*"},
        *extra,
    ]})


def test_signatures(stack):
    assert "Keys" in stack.client().list_keys()
    refused(lambda: stack.client(secret="wrong").list_keys(), "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
    refused(lambda: stack.client(key="AKIANOBODY").list_keys(), "UnrecognizedClientException",
            "The security token included in the request is invalid.")
    # Session tokens: the right one, a wrong one, none.
    importer = stack.client(key="ASIAIMPORTER", secret="importer-secret", token="session-token-1")
    assert "Keys" in importer.list_keys()
    refused(lambda: stack.client(key="ASIAIMPORTER", secret="importer-secret", token="other").list_keys(),
            "UnrecognizedClientException")
    refused(lambda: stack.client(key="ASIAIMPORTER", secret="importer-secret").list_keys(),
            "UnrecognizedClientException")
    # A request refused before any policy is read is audited too, with AWS's error.
    record = [r for r in stack.audit() if r.get("errorCode") == "InvalidSignatureException"][-1]
    assert record["eventName"] == "ListKeys" and record["httpStatus"] == 400
    assert record["errorMessage"].startswith("The request signature we calculated does not match")
    assert "userIdentity" not in record and "policyDecision" not in record


def test_gpfi_only_rsa4096_oaep256(stack):
    policy = admin_except("kms:GetParametersForImport", [
        {"Sid": "ImportWithRsa4096Oaep256Only", "Effect": "Allow", "Principal": {"AWS": ROOT_ARN},
         "Action": "kms:GetParametersForImport", "Resource": "*",
         "Condition": {"StringEquals": {"kms:WrappingKeySpec": "RSA_4096", "kms:WrappingAlgorithm": "RSAES_OAEP_SHA_256"}}},
    ])
    kms = stack.client()
    arn = kms.create_key(Origin="EXTERNAL", Policy=policy)["KeyMetadata"]["Arn"]
    ok = kms.get_parameters_for_import(KeyId=arn, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_4096")
    assert ok["KeyId"] == arn and len(ok["PublicKey"]) > 500
    for alg, spec in [("RSAES_OAEP_SHA_256", "RSA_2048"), ("RSAES_OAEP_SHA_1", "RSA_4096")]:
        refused(lambda: kms.get_parameters_for_import(KeyId=arn, WrappingAlgorithm=alg, WrappingKeySpec=spec),
                "AccessDeniedException",
                denied(ROOT_ARN, "GetParametersForImport", arn, no_resource("GetParametersForImport")))
    record = [r for r in stack.audit() if r.get("errorCode") == "AccessDeniedException"][-1]
    assert record["eventName"] == "GetParametersForImport"
    assert record["requestParameters"] == {"keyId": arn, "wrappingAlgorithm": "RSAES_OAEP_SHA_1", "wrappingKeySpec": "RSA_4096"}
    assert record["policyDecision"] == {"decision": "ImplicitDeny", "reason": "NoResourcePolicyAllows", "statement": None}
    assert record["userIdentity"]["arn"] == ROOT_ARN and record["httpStatus"] == 400
    assert record["errorMessage"] == denied(ROOT_ARN, "GetParametersForImport", arn, no_resource("GetParametersForImport"))
    assert record["sourceIPAddress"] == "127.0.0.1"
    at = datetime.datetime.strptime(record["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    assert abs((datetime.datetime.now(datetime.timezone.utc) - at).total_seconds()) < 60
    assert record["eventSource"] == "kms.amazonaws.com" and record["awsRegion"] == REGION
    allowed = [r for r in stack.audit() if r["eventName"] == "GetParametersForImport" and "errorCode" not in r][-1]
    assert allowed["policyDecision"]["statement"] == {"policy": "key-policy", "statementIndex": 1, "sid": "ImportWithRsa4096Oaep256Only"}
    assert "importToken" not in allowed["responseElements"] and "publicKey" not in allowed["responseElements"]
    assert allowed["responseElements"]["keyId"] == arn


def test_import_must_set_expiring_material(stack, tmp_path):
    policy = admin_except("kms:ImportKeyMaterial", [
        {"Sid": "ExpiringMaterialOnly", "Effect": "Allow", "Principal": {"AWS": ROOT_ARN},
         "Action": "kms:ImportKeyMaterial", "Resource": "*",
         "Condition": {"StringEquals": {"kms:ExpirationModel": "KEY_MATERIAL_EXPIRES"}}},
    ])
    kms = stack.client()
    arn = kms.create_key(Origin="EXTERNAL", Policy=policy)["KeyMetadata"]["Arn"]
    params = kms.get_parameters_for_import(KeyId=arn, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
    wrapped = wrap("RSAES_OAEP_SHA_256", params["PublicKey"], os.urandom(32), tmp_path)
    # The parameter is absent: the condition key applies anyway, and the request is refused.
    refused(lambda: kms.import_key_material(KeyId=arn, ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped),
            "AccessDeniedException", denied(ROOT_ARN, "ImportKeyMaterial", arn, no_resource("ImportKeyMaterial")))
    refused(lambda: kms.import_key_material(KeyId=arn, ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped,
                                            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE"),
            "AccessDeniedException")
    assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "PendingImport"
    valid_to = kms.describe_key(KeyId=arn)["KeyMetadata"]["CreationDate"].timestamp() + 86400 * 30
    kms.import_key_material(KeyId=arn, ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped,
                            ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=valid_to)
    assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "Enabled"


def test_iam_users_through_root_delegation(stack):
    arn = stack.client().create_key(Origin="EXTERNAL")["KeyMetadata"]["Arn"]  # default key policy
    alice = stack.client(key="AKIAALICE", secret="alice-secret")
    assert alice.describe_key(KeyId=arn)["KeyMetadata"]["Arn"] == arn
    alice.get_parameters_for_import(KeyId=arn, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
    refused(lambda: alice.disable_key(KeyId=arn), "AccessDeniedException",
            denied(ALICE, "DisableKey", arn, no_identity("DisableKey")))
    bob = stack.client(key="AKIABOB", secret="bob-secret")
    refused(lambda: bob.describe_key(KeyId=arn), "AccessDeniedException",
            denied(BOB, "DescribeKey", arn, no_identity("DescribeKey")))
    refused(lambda: bob.create_key(), "AccessDeniedException", denied(BOB, "CreateKey", "*", no_identity("CreateKey")))
    # A key policy that names bob needs no identity policy.
    stack.client().put_key_policy(KeyId=arn, PolicyName="default", Policy=admin_except("kms:DescribeKey", [
        {"Effect": "Allow", "Principal": {"AWS": [ROOT_ARN, BOB]}, "Action": "kms:DescribeKey", "Resource": "*"}]))
    assert bob.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "PendingImport"
    got = json.loads(stack.client().get_key_policy(KeyId=arn, PolicyName="default")["Policy"])
    assert got["Statement"][1]["Principal"]["AWS"] == [ROOT_ARN, BOB]


def test_explicit_deny_beats_allow(stack):
    kms = stack.client()
    arn = kms.create_key(Origin="EXTERNAL", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": ROOT_ARN}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "NoDescribeForAlice", "Effect": "Deny", "Principal": {"AWS": ALICE}, "Action": "kms:Describe*", "Resource": "*"},
    ]}))["KeyMetadata"]["Arn"]
    alice = stack.client(key="AKIAALICE", secret="alice-secret")
    refused(lambda: alice.describe_key(KeyId=arn), "AccessDeniedException",
            denied(ALICE, "DescribeKey", arn, "with an explicit deny in a resource-based policy"))
    record = [r for r in stack.audit() if r["eventName"] == "DescribeKey" and r.get("errorCode")][-1]
    assert record["policyDecision"]["decision"] == "ExplicitDeny"
    assert record["policyDecision"]["statement"]["sid"] == "NoDescribeForAlice"
    importer = stack.client(key="ASIAIMPORTER", secret="importer-secret", token="session-token-1")
    refused(lambda: importer.get_parameters_for_import(KeyId=arn, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"),
            "AccessDeniedException",
            denied(IMPORTER_SESSION, "GetParametersForImport", arn, "with an explicit deny in an identity-based policy"))
    importer.get_parameters_for_import(KeyId=arn, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_4096")


def test_cross_account(stack):
    kms = stack.client()
    shared = kms.create_key(Origin="EXTERNAL", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": ROOT_ARN}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "Partner", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{PARTNER_ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"},
    ]}))["KeyMetadata"]["Arn"]
    partner = stack.client(key="AKIAPARTNER", secret="partner-secret")
    # Not a cross-account operation: refused although both policies allow it.
    refused(lambda: partner.get_parameters_for_import(KeyId=shared, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_4096"),
            "AccessDeniedException",
            denied(PARTNER_SESSION, "GetParametersForImport", "this resource", no_resource("GetParametersForImport")))
    assert partner.describe_key(KeyId=shared)["KeyMetadata"]["Arn"] == shared
    private = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["Arn"]
    refused(lambda: partner.describe_key(KeyId=private), "AccessDeniedException",
            denied(PARTNER_SESSION, "DescribeKey", "this resource", no_resource("DescribeKey")))
    # The partner's own keys live in its own account.
    own = partner.create_key(Origin="EXTERNAL")["KeyMetadata"]
    assert own["AWSAccountId"] == PARTNER_ACCOUNT and own["Arn"].startswith(f"arn:aws:kms:us-east-1:{PARTNER_ACCOUNT}:key/")
    assert [k["KeyArn"] for k in partner.list_keys()["Keys"]] == [own["Arn"]]
