"""Grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant and grant
tokens against AWS's shapes and texts (kms-api-facts.md §2.2), through boto3 and the AWS CLI;
and grants in the sidecar's decision, in both its modes: a grant allows its operations on its
key to its grantee with no identity policy, within its constraints; an explicit deny beats it;
revoked or retired, it stops allowing at once; never for the import operations."""

from __future__ import annotations

import json
import re

import botocore.exceptions
import pytest

from conftest import aws_cli
from sidecar_stack import started

ACCOUNT = "111122223333"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
APP = f"arn:aws:iam::{ACCOUNT}:role/app"
BOB = f"arn:aws:iam::{ACCOUNT}:user/bob"


def error(call):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call()
    return e.value.response["Error"]["Code"], e.value.response["Error"].get("Message", "")


def test_create_list_retire_revoke(kms, endpoint):
    key = kms.create_key()["KeyMetadata"]
    created = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=APP, RetiringPrincipal=BOB,
                               Operations=["Decrypt", "Encrypt"], Name="app-grant",
                               Constraints={"EncryptionContextSubset": {"tenant": "a"}})
    assert re.fullmatch(r"[0-9a-f]{64}", created["GrantId"])
    # Named: the same request again is the same grant, with a new token.
    again = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=APP, RetiringPrincipal=BOB,
                             Operations=["Decrypt", "Encrypt"], Name="app-grant",
                             Constraints={"EncryptionContextSubset": {"tenant": "a"}})
    assert again["GrantId"] == created["GrantId"] and again["GrantToken"] != created["GrantToken"]
    listed = kms.list_grants(KeyId=key["KeyId"])
    assert listed["Truncated"] is False
    [entry] = listed["Grants"]
    assert {k: v for k, v in entry.items() if k != "CreationDate"} == {
        "KeyId": key["Arn"], "GrantId": created["GrantId"], "Name": "app-grant", "GranteePrincipal": APP,
        "RetiringPrincipal": BOB, "IssuingAccount": ROOT, "Operations": ["Decrypt", "Encrypt"],
        "Constraints": {"EncryptionContextSubset": {"tenant": "a"}}}
    assert entry["CreationDate"].microsecond == 0, "whole seconds, as captured"
    assert kms.list_grants(KeyId=key["KeyId"], GranteePrincipal=BOB)["Grants"] == []
    assert [g["GrantId"] for g in kms.list_retirable_grants(RetiringPrincipal=BOB)["Grants"]] == [created["GrantId"]]
    # A token names its grant; other operations accept it.
    kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", GrantTokens=[created["GrantToken"]])
    assert error(lambda: kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", GrantTokens=["not-a-token"]))[0] == (
        "InvalidGrantTokenException")
    kms.retire_grant(GrantToken=created["GrantToken"])
    assert kms.list_grants(KeyId=key["KeyId"])["Grants"] == []
    assert error(lambda: kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", GrantTokens=[created["GrantToken"]]))[0] == (
        "InvalidGrantTokenException"), "a retired grant's token names nothing"
    second = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=APP, Operations=["DescribeKey"])["GrantId"]
    kms.revoke_grant(KeyId=key["KeyId"], GrantId=second)
    assert error(lambda: kms.revoke_grant(KeyId=key["KeyId"], GrantId=second)) == (
        "InvalidGrantIdException", f"Grant ID {second} not found")
    # The AWS CLI, as a user types it.
    code, out, err = aws_cli(endpoint, "create-grant", "--key-id", key["KeyId"], "--grantee-principal", APP,
                             "--operations", "Decrypt", "GenerateDataKey")
    assert code == 0, err
    code, listed, err = aws_cli(endpoint, "list-grants", "--key-id", key["KeyId"])
    assert (code, [g["GrantId"] for g in listed["Grants"]]) == (0, [out["GrantId"]]), err
    code, _, err = aws_cli(endpoint, "retire-grant", "--key-id", key["Arn"], "--grant-id", out["GrantId"])
    assert code == 0, err


def test_create_grant_refusals(kms):
    sym = kms.create_key()["KeyMetadata"]
    signing = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    assert error(lambda: kms.create_grant(KeyId=sym["KeyId"], GranteePrincipal=APP, Operations=["CreateGrant"])) == (
        "ValidationException", "Grants must not contain only the CreateGrant operation.")
    assert error(lambda: kms.create_grant(KeyId=sym["KeyId"], GranteePrincipal=APP, Operations=["Sign"]))[0] == (
        "ValidationException")
    assert error(lambda: kms.create_grant(KeyId=signing["KeyId"], GranteePrincipal=APP, Operations=["Encrypt"]))[0] == (
        "ValidationException")
    kms.create_grant(KeyId=signing["KeyId"], GranteePrincipal=APP, Operations=["Sign", "GetPublicKey"])
    bad = f"arn:aws:iam::{ACCOUNT}:group/admins"
    assert error(lambda: kms.create_grant(KeyId=sym["KeyId"], GranteePrincipal=bad, Operations=["Decrypt"])) == (
        "InvalidArnException", f"ARN does not refer to a valid principal: {bad}")
    assert error(lambda: kms.create_grant(KeyId=sym["KeyId"], GranteePrincipal=APP, Operations=["Decrypt"], DryRun=True)) == (
        "DryRunOperationException", "The request would have succeeded, but the DryRun option is set.")
    assert kms.list_grants(KeyId=sym["KeyId"])["Grants"] == [], "refused and dry-run grants are not made"
    kms.disable_key(KeyId=sym["KeyId"])
    assert error(lambda: kms.create_grant(KeyId=sym["KeyId"], GranteePrincipal=APP, Operations=["Decrypt"])) == (
        "DisabledException", f"{sym['Arn']} is disabled.")
    pending = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    assert error(lambda: kms.create_grant(KeyId=pending["KeyId"], GranteePrincipal=APP, Operations=["Decrypt"])) == (
        "KMSInvalidStateException", f"{pending['Arn']} is pending import.")


def test_list_grants_pages(kms):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    ids = [kms.create_grant(KeyId=key, GranteePrincipal=APP, Operations=["Decrypt"])["GrantId"] for _ in range(5)]
    first = kms.list_grants(KeyId=key, Limit=2)
    assert (len(first["Grants"]), first["Truncated"]) == (2, True)
    paged = [g["GrantId"] for p in kms.get_paginator("list_grants").paginate(KeyId=key, PaginationConfig={"PageSize": 2})
             for g in p["Grants"]]
    assert paged == ids


CONFIG = {
    "credentials": [
        {"access_key_id": "AKIAAPP", "secret_access_key": "app-secret", "session_token": "app-session",
         "principal": f"arn:aws:sts::{ACCOUNT}:assumed-role/app/run"},
        {"access_key_id": "AKIABOB", "secret_access_key": "bob-secret", "principal": BOB},
        {"access_key_id": "AKIAEVE", "secret_access_key": "eve-secret", "principal": "arn:aws:iam::444455556666:user/eve"},
    ],
    "identity_policies": {},
}


@pytest.fixture(scope="module", params=["proxy", "extension"])
def stack(request):
    yield from started(request.param, CONFIG, "kms-grants")


def test_grants_decide_in_the_sidecar(stack):
    root = stack.client()
    app = stack.client(key="AKIAAPP", secret="app-secret", token="app-session")
    session = f"arn:aws:sts::{ACCOUNT}:assumed-role/app/run"
    key = root.create_key()["KeyMetadata"]["Arn"]
    ct = root.encrypt(KeyId=key, Plaintext=b"secret", EncryptionContext={"tenant": "a"})["CiphertextBlob"]
    no_grant = (f"User: {session} is not authorized to perform: kms:Decrypt on resource: {key} "
                "because no identity-based policy allows the kms:Decrypt action")
    assert error(lambda: app.decrypt(CiphertextBlob=ct, EncryptionContext={"tenant": "a"})) == ("AccessDeniedException", no_grant)
    # A grant to the role allows its sessions, with no identity policy, within its constraints.
    grant = root.create_grant(KeyId=key, GranteePrincipal=APP, RetiringPrincipal=BOB, Operations=["Decrypt", "DescribeKey"],
                              Constraints={"EncryptionContextSubset": {"tenant": "a"}})
    assert app.decrypt(CiphertextBlob=ct, EncryptionContext={"tenant": "a"})["Plaintext"] == b"secret"
    assert app.describe_key(KeyId=key)["KeyMetadata"]["Arn"] == key, "DescribeKey is exempt from constraints"
    record = [r for r in stack.audit() if r["eventName"] == "Decrypt" and not r.get("errorCode")][-1]
    assert record["policyDecision"] == {"decision": "Allow", "grant": grant["GrantId"]}
    other = root.encrypt(KeyId=key, Plaintext=b"other", EncryptionContext={"tenant": "b"})["CiphertextBlob"]
    assert error(lambda: app.decrypt(CiphertextBlob=other, EncryptionContext={"tenant": "b"}))[0] == "AccessDeniedException"
    assert error(lambda: app.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext={"tenant": "a"}))[0] == (
        "AccessDeniedException"), "only the operations it lists"
    # Never the import operations, whatever a grant says (there is no such grant operation).
    assert error(lambda: app.get_parameters_for_import(KeyId=key, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                                       WrappingKeySpec="RSA_4096"))[0] == "AccessDeniedException"
    # Someone the grant does not name, from another account, may not retire it: the sidecar
    # refuses on the grant itself, before the endpoint.
    eve = stack.client(key="AKIAEVE", secret="eve-secret")
    assert error(lambda: eve.retire_grant(KeyId=key, GrantId=grant["GrantId"])) == (
        "AccessDeniedException", "User: arn:aws:iam::444455556666:user/eve is not authorized to perform: "
        "kms:RetireGrant on this resource because it is neither the grant's retiring principal nor its grantee with RetireGrant")
    refused = [r for r in stack.audit() if r["eventName"] == "RetireGrant"][-1]
    assert refused["errorCode"] == "AccessDeniedException" and "policyDecision" not in refused
    assert error(lambda: eve.retire_grant(KeyId=key, GrantId="0" * 64)) == (
        "InvalidGrantIdException", f"Grant ID {'0' * 64} not found")
    # Retired by its retiring principal: it stops allowing at once.
    stack.client(key="AKIABOB", secret="bob-secret").retire_grant(KeyId=key, GrantId=grant["GrantId"])
    retired = [r for r in stack.audit() if r["eventName"] == "RetireGrant"][-1]
    assert retired["policyDecision"] == {"decision": "Allow", "grant": grant["GrantId"]}
    assert error(lambda: app.decrypt(CiphertextBlob=ct, EncryptionContext={"tenant": "a"})) == ("AccessDeniedException", no_grant)
    # An explicit deny in the key policy beats a grant.
    denied = root.create_key(Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "NoApp", "Effect": "Deny", "Principal": {"AWS": APP}, "Action": "kms:Decrypt", "Resource": "*"}]}))["KeyMetadata"]["Arn"]
    ct2 = root.encrypt(KeyId=denied, Plaintext=b"p")["CiphertextBlob"]
    g2 = root.create_grant(KeyId=denied, GranteePrincipal=APP, Operations=["Decrypt"])["GrantId"]
    assert error(lambda: app.decrypt(CiphertextBlob=ct2)) == (
        "AccessDeniedException", f"User: {session} is not authorized to perform: kms:Decrypt on resource: {denied} "
        "with an explicit deny in a resource-based policy")
    # Revoked: gone at once.
    root.revoke_grant(KeyId=denied, GrantId=g2)
    assert root.list_grants(KeyId=denied)["Grants"] == []
