"""TagResource, UntagResource, ListResourceTags, UpdateKeyDescription, GenerateRandom and the
custom key store operations, through boto3 and the AWS CLI against AWS's shapes and texts
(kms-api-facts.md §2.1, §2.4, §2.6, §2.9), and through the policy sidecar (permissions,
aws:RequestTag, aws:ResourceTag at once)."""

from __future__ import annotations

import json

import botocore.exceptions
import pytest

from conftest import aws_cli
from sidecar_stack import ProxyStack

ACCOUNT = "111122223333"


def error(call) -> tuple[str, str, int]:
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call()
    r = e.value.response
    return r["Error"]["Code"], r["Error"].get("Message", ""), r["ResponseMetadata"]["HTTPStatusCode"]


def tags(kms, key) -> list:
    return kms.list_resource_tags(KeyId=key)["Tags"]


def test_tags_as_aws_keeps_them(kms):
    key = kms.create_key(Origin="EXTERNAL", Tags=[{"TagKey": "team", "TagValue": "a"}])["KeyMetadata"]["KeyId"]
    out = kms.list_resource_tags(KeyId=key)
    assert (out["Tags"], out["Truncated"], "NextMarker" in out) == ([{"TagKey": "team", "TagValue": "a"}], False, False)
    # Tagging again replaces the value; a new key is added; untagging an absent key is fine.
    kms.tag_resource(KeyId=key, Tags=[{"TagKey": "team", "TagValue": "b"}, {"TagKey": "env", "TagValue": ""}])
    assert tags(kms, key) == [{"TagKey": "team", "TagValue": "b"}, {"TagKey": "env", "TagValue": ""}]
    kms.untag_resource(KeyId=key, TagKeys=["env", "absent"])
    assert tags(kms, key) == [{"TagKey": "team", "TagValue": "b"}]
    untagged = kms.create_key()["KeyMetadata"]["KeyId"]
    out = kms.list_resource_tags(KeyId=untagged)
    assert (out["Tags"], out["Truncated"], "NextMarker" in out) == ([], False, False)


def test_tag_refusals_with_aws_texts(kms):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    arn = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key}"
    many = [{"TagKey": f"k{i}", "TagValue": "v"} for i in range(51)]
    assert error(lambda: kms.create_key(Tags=many)) == ("TagException", "Too many tags", 400)
    kms.tag_resource(KeyId=key, Tags=many[:50])
    assert error(lambda: kms.tag_resource(KeyId=key, Tags=[{"TagKey": "one-more", "TagValue": "v"}])) == (
        "TagException", "Too many tags", 400)
    assert len(tags(kms, key)) == 50, "a refused call changes nothing"
    assert error(lambda: kms.tag_resource(KeyId=key, Tags=[{"TagKey": "d", "TagValue": "1"}, {"TagKey": "d", "TagValue": "2"}])) == (
        "TagException", "Duplicate tag keys", 400)
    for reserved in ("aws:x", "AWS:x"):
        assert error(lambda: kms.tag_resource(KeyId=key, Tags=[{"TagKey": reserved, "TagValue": "v"}])) == (
            "TagException", "Tags beginning with aws: are reserved", 400)
    long = "v" * 257
    assert error(lambda: kms.tag_resource(KeyId=key, Tags=[{"TagKey": "k0", "TagValue": long}])) == (
        "ValidationException",
        f"1 validation error detected: Value '{long}' at 'tags.1.member.tagValue' failed to satisfy constraint: "
        "Member must have length less than or equal to 256", 400)
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    pending = ("KMSInvalidStateException", f"{arn} is pending deletion.", 400)
    assert error(lambda: kms.tag_resource(KeyId=key, Tags=[{"TagKey": "k0", "TagValue": "v"}])) == pending
    assert error(lambda: kms.untag_resource(KeyId=key, TagKeys=["k0"])) == pending
    assert len(tags(kms, key)) == 50, "ListResourceTags has no state rule"
    assert error(lambda: kms.list_resource_tags(KeyId=f"arn:aws:kms:us-east-1:{ACCOUNT}:key/00000000-0000-4000-8000-000000000000"))[0] == "NotFoundException"


def test_list_resource_tags_pages(kms):
    key = kms.create_key(Tags=[{"TagKey": f"k{i}", "TagValue": str(i)} for i in range(7)])["KeyMetadata"]["KeyId"]
    first = kms.list_resource_tags(KeyId=key, Limit=3)
    assert ([t["TagKey"] for t in first["Tags"]], first["Truncated"]) == (["k0", "k1", "k2"], True)
    second = kms.list_resource_tags(KeyId=key, Limit=3, Marker=first["NextMarker"])
    assert [t["TagKey"] for t in second["Tags"]] == ["k3", "k4", "k5"]
    last = kms.list_resource_tags(KeyId=key, Limit=3, Marker=second["NextMarker"])
    assert ([t["TagKey"] for t in last["Tags"]], last["Truncated"], "NextMarker" in last) == (["k6"], False, False)
    paged = [t for page in kms.get_paginator("list_resource_tags").paginate(KeyId=key, PaginationConfig={"PageSize": 2})
             for t in page["Tags"]]
    assert len(paged) == 7
    assert error(lambda: kms.list_resource_tags(KeyId=key, Marker="bm90LW91cnM"))[:2] == (
        "InvalidMarkerException", "The marker is not valid.")


def test_update_key_description(kms):
    key = kms.create_key(Origin="EXTERNAL", Description="first")["KeyMetadata"]["KeyId"]
    kms.update_key_description(KeyId=key, Description="second")
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["Description"] == "second"
    kms.update_key_description(KeyId=key, Description="")
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["Description"] == ""
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    assert error(lambda: kms.update_key_description(KeyId=key, Description="x")) == (
        "KMSInvalidStateException", f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key} is pending deletion.", 400)


def test_tags_and_description_through_the_aws_cli(endpoint, kms):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    code, _, err = aws_cli(endpoint, "tag-resource", "--key-id", key, "--tags", "TagKey=team,TagValue=payments")
    assert code == 0, err
    code, out, err = aws_cli(endpoint, "list-resource-tags", "--key-id", key)
    assert (code, out["Tags"]) == (0, [{"TagKey": "team", "TagValue": "payments"}]), err
    code, _, err = aws_cli(endpoint, "untag-resource", "--key-id", key, "--tag-keys", "team")
    assert code == 0, err
    code, _, err = aws_cli(endpoint, "update-key-description", "--key-id", key, "--description", "from the CLI")
    assert code == 0, err
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["Description"] == "from the CLI"
    assert tags(kms, key) == []


def test_generate_random(endpoint, kms):
    for n in (1, 32, 1024):
        assert len(kms.generate_random(NumberOfBytes=n)["Plaintext"]) == n
    a, b = (kms.generate_random(NumberOfBytes=32)["Plaintext"] for _ in range(2))
    assert a != b
    assert error(lambda: kms.generate_random()) == ("ValidationException", "NumberOfBytes is required.", 400)
    # botocore refuses these before sending; other clients send them.
    for n, bound in ((0, "greater than or equal to 1"), (1025, "less than or equal to 1024")):
        status, _, body = endpoint.raw("TrentService.GenerateRandom", json.dumps({"NumberOfBytes": n}))
        assert (status, json.loads(body)) == (400, {"__type": "ValidationException", "message":
            f"1 validation error detected: Value '{n}' at 'numberOfBytes' failed to satisfy constraint: "
            f"Member must have value {bound}"})
    assert error(lambda: kms.generate_random(NumberOfBytes=8, CustomKeyStoreId="cks-1234567890abcdef0"))[0] == (
        "CustomKeyStoreNotFoundException")


NO_STORE = ("CustomKeyStoreNotFoundException",
            "The request was rejected because KMS cannot find a custom key store with the specified key store name or ID.", 400)


def test_an_account_without_custom_key_stores(kms):
    assert {k: v for k, v in kms.describe_custom_key_stores().items() if k != "ResponseMetadata"} == {
        "CustomKeyStores": [], "Truncated": False}
    pages = list(kms.get_paginator("describe_custom_key_stores").paginate())
    assert [p["CustomKeyStores"] for p in pages] == [[]]
    store = "cks-1234567890abcdef0"
    assert error(lambda: kms.describe_custom_key_stores(CustomKeyStoreName="mine")) == NO_STORE
    assert error(lambda: kms.describe_custom_key_stores(CustomKeyStoreId=store)) == NO_STORE
    assert error(lambda: kms.connect_custom_key_store(CustomKeyStoreId=store)) == NO_STORE
    assert error(lambda: kms.disconnect_custom_key_store(CustomKeyStoreId=store)) == NO_STORE
    assert error(lambda: kms.update_custom_key_store(CustomKeyStoreId=store, NewCustomKeyStoreName="n")) == NO_STORE
    assert error(lambda: kms.delete_custom_key_store(CustomKeyStoreId=store)) == NO_STORE
    assert error(lambda: kms.create_custom_key_store(
        CustomKeyStoreName="hsm", CloudHsmClusterId="cluster-234abcdefgh", TrustAnchorCertificate="cert",
        KeyStorePassword="kmsPswd1"))[0] == "CloudHsmClusterNotFoundException"
    assert error(lambda: kms.create_custom_key_store(
        CustomKeyStoreName="xks", CustomKeyStoreType="EXTERNAL_KEY_STORE", XksProxyConnectivity="PUBLIC_ENDPOINT",
        XksProxyUriEndpoint="https://xks.example.com", XksProxyUriPath="/kms/xks/v1",
        XksProxyAuthenticationCredential={"AccessKeyId": "A" * 20, "RawSecretAccessKey": "s" * 43}))[0] == (
        "XksProxyUriUnreachableException")
    # Keys in a custom key store, imported material included, cannot be made here.
    assert error(lambda: kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=store)) == NO_STORE
    assert error(lambda: kms.create_key(Origin="EXTERNAL", CustomKeyStoreId=store))[0] == "ValidationException"


SIDECAR_CONFIG = {
    "credentials": [
        {"access_key_id": "AKIAALICE", "secret_access_key": "alice-secret", "principal": f"arn:aws:iam::{ACCOUNT}:user/alice"},
    ],
    "identity_policies": {
        f"arn:aws:iam::{ACCOUNT}:user/alice": {"p": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["kms:GenerateRandom", "kms:DescribeCustomKeyStores"], "Resource": "*"},
            {"Effect": "Allow", "Action": "kms:TagResource", "Resource": "*",
             "Condition": {"StringEquals": {"aws:RequestTag/team": "payments"}}},
            {"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*",
             "Condition": {"StringEquals": {"aws:ResourceTag/team": "payments"}}},
        ]}},
    },
}


def test_the_sidecar_decides_the_new_operations(tmp_path):
    stack = ProxyStack(tmp_path, config=SIDECAR_CONFIG).start()
    try:
        root = stack.client()
        alice = stack.client(key="AKIAALICE", secret="alice-secret")
        alice_arn = f"arn:aws:iam::{ACCOUNT}:user/alice"
        key = root.create_key()["KeyMetadata"]["KeyId"]
        arn = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key}"
        # IAM policy only, resource *.
        assert len(alice.generate_random(NumberOfBytes=16)["Plaintext"]) == 16
        assert alice.describe_custom_key_stores()["CustomKeyStores"] == []
        # Key policy (root delegates to IAM): the identity policy allows only this tag value.
        assert error(lambda: alice.tag_resource(KeyId=key, Tags=[{"TagKey": "team", "TagValue": "other"}])) == (
            "AccessDeniedException", f"User: {alice_arn} is not authorized to perform: kms:TagResource on resource: "
            f"{arn} because no identity-based policy allows the kms:TagResource action", 400)
        # Not tagged yet: DescribeKey is refused; tagged, it is allowed at once (ABAC).
        assert error(lambda: alice.describe_key(KeyId=key))[0] == "AccessDeniedException"
        alice.tag_resource(KeyId=key, Tags=[{"TagKey": "team", "TagValue": "payments"}])
        assert alice.describe_key(KeyId=key)["KeyMetadata"]["KeyId"] == key
        root.untag_resource(KeyId=key, TagKeys=["team"])
        assert error(lambda: alice.describe_key(KeyId=key))[0] == "AccessDeniedException"
        assert error(lambda: alice.list_resource_tags(KeyId=key))[0] == "AccessDeniedException"
        # Not cross-account operations: a key of another account is refused as AWS refuses it.
        events = {r["eventName"] for r in stack.audit()}
        assert {"GenerateRandom", "DescribeCustomKeyStores", "TagResource", "UntagResource"} <= events
    finally:
        stack.stop()


def test_every_operation_of_the_model_is_served(kms):
    """No operation of botocore's model answers UnsupportedOperationException for not being
    built (UnknownOperationException is what an unserved X-Amz-Target gets)."""
    import gzip
    import os
    import urllib.request

    import botocore

    model = json.load(gzip.open(os.path.join(os.path.dirname(botocore.__file__), "data/kms/2014-11-01/service-2.json.gz")))
    served = json.loads(json.dumps(sorted(model["operations"])))
    missing = []
    url = kms.meta.endpoint_url + "/"
    for op in served:
        req = urllib.request.Request(url, data=b"{}", method="POST", headers={
            "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"TrentService.{op}"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                body = json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            body = json.loads(e.read() or b"{}")
        if body.get("__type") in ("UnknownOperationException", "UnsupportedOperationException"):
            missing.append(op)
    assert len(served) == 54
    assert missing == [], "every operation of the model is served"
