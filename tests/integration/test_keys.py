"""Key lifecycle and aliases through boto3 and the AWS CLI, against the running binary."""

from __future__ import annotations

import datetime
import subprocess

import botocore.exceptions
import pytest

from conftest import ACCOUNT, KMS_API, REGION, Endpoint, aws_cli

# KeySpec -> usages CreateKey accepts (AWS developer guide), and the algorithm lists
# DescribeKey shows for each (facts file A1c).
SPECS = {
    "SYMMETRIC_DEFAULT": {"ENCRYPT_DECRYPT": ("EncryptionAlgorithms", ["SYMMETRIC_DEFAULT"])},
    "HMAC_224": {"GENERATE_VERIFY_MAC": ("MacAlgorithms", ["HMAC_SHA_224"])},
    "HMAC_512": {"GENERATE_VERIFY_MAC": ("MacAlgorithms", ["HMAC_SHA_512"])},
    "RSA_3072": {
        "ENCRYPT_DECRYPT": ("EncryptionAlgorithms", ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]),
        "SIGN_VERIFY": (
            "SigningAlgorithms",
            [
                "RSASSA_PKCS1_V1_5_SHA_256",
                "RSASSA_PKCS1_V1_5_SHA_384",
                "RSASSA_PKCS1_V1_5_SHA_512",
                "RSASSA_PSS_SHA_256",
                "RSASSA_PSS_SHA_384",
                "RSASSA_PSS_SHA_512",
            ],
        ),
    },
    "ECC_NIST_P256": {
        "SIGN_VERIFY": ("SigningAlgorithms", ["ECDSA_SHA_256"]),
        "KEY_AGREEMENT": ("KeyAgreementAlgorithms", ["ECDH"]),
    },
    "ECC_NIST_P521": {"SIGN_VERIFY": ("SigningAlgorithms", ["ECDSA_SHA_512"])},
    "ECC_SECG_P256K1": {"SIGN_VERIFY": ("SigningAlgorithms", ["ECDSA_SHA_256"])},
    "ECC_NIST_EDWARDS25519": {"SIGN_VERIFY": ("SigningAlgorithms", ["ED25519_PH_SHA_512", "ED25519_SHA_512"])},
}
ALGORITHM_FIELDS = {"EncryptionAlgorithms", "SigningAlgorithms", "MacAlgorithms", "KeyAgreementAlgorithms"}


def error_of(excinfo):
    e = excinfo.value.response["Error"]
    return e["Code"], e.get("Message", "")


@pytest.mark.parametrize("origin", ["EXTERNAL", "AWS_KMS"])
def test_create_and_describe_every_spec(kms, origin):
    for spec, usages in SPECS.items():
        for usage, (field, algorithms) in usages.items():
            md = kms.create_key(KeySpec=spec, KeyUsage=usage, Origin=origin, Description=f"{spec} {usage}")["KeyMetadata"]
            assert md == kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]
            assert md["Arn"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{md['KeyId']}"
            assert md["AWSAccountId"] == ACCOUNT
            assert (md["KeySpec"], md["KeyUsage"], md["Origin"], md["KeyManager"]) == (spec, usage, origin, "CUSTOMER")
            assert md.get("CustomerMasterKeySpec") == (None if spec == "ECC_NIST_EDWARDS25519" else spec)
            assert md[field] == algorithms
            assert not (ALGORITHM_FIELDS - {field}) & md.keys()
            assert md["MultiRegion"] is False
            assert md["Description"] == f"{spec} {usage}"
            assert isinstance(md["CreationDate"], datetime.datetime)
            if origin == "EXTERNAL":
                assert (md["KeyState"], md["Enabled"]) == ("PendingImport", False)
            else:
                assert (md["KeyState"], md["Enabled"]) == ("Enabled", True)
            for absent in ("ExpirationModel", "ValidTo", "DeletionDate"):
                assert absent not in md


def test_create_key_refusals(kms):
    cases = [
        (dict(KeySpec="ML_DSA_44", KeyUsage="SIGN_VERIFY", Origin="EXTERNAL"),
         ("ValidationException", "KeySpec ML_DSA_44 is not supported for Origin EXTERNAL")),
    ]
    for args, expected in cases:
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            kms.create_key(**args)
        assert error_of(ei) == expected
    for args in [
        dict(KeySpec="HMAC_256"),
        dict(KeySpec="RSA_2048", KeyUsage="GENERATE_VERIFY_MAC"),
        dict(KeySpec="SYMMETRIC_DEFAULT", KeyUsage="SIGN_VERIFY"),
        dict(KeySpec="ECC_SECG_P256K1", KeyUsage="KEY_AGREEMENT"),
        dict(KeySpec="SM2", KeyUsage="SIGN_VERIFY"),
    ]:
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            kms.create_key(**args)
        assert error_of(ei)[0] == "ValidationException", args


def test_china_region_uses_the_china_partition(endpoint):
    cn = endpoint.client(region="cn-north-1")
    md = cn.create_key(Origin="EXTERNAL", KeySpec="SM2", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    assert md["Arn"] == f"arn:aws-cn:kms:cn-north-1:{ACCOUNT}:key/{md['KeyId']}"
    assert md["EncryptionAlgorithms"] == ["SM2PKE"]
    # Keys are regional: the default region does not see it.
    us = endpoint.client()
    assert md["KeyId"] not in [k["KeyId"] for k in us.list_keys()["Keys"]]
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        us.describe_key(KeyId=md["KeyId"])
    assert error_of(ei) == ("NotFoundException", f"Key 'arn:aws:kms:{REGION}:{ACCOUNT}:key/{md['KeyId']}' does not exist")


def test_multi_region_primary(kms):
    md = kms.create_key(Origin="EXTERNAL", MultiRegion=True)["KeyMetadata"]
    assert md["KeyId"].startswith("mrk-") and len(md["KeyId"]) == 36
    assert md["MultiRegion"] is True
    assert md["MultiRegionConfiguration"] == {
        "MultiRegionKeyType": "PRIMARY",
        "PrimaryKey": {"Arn": md["Arn"], "Region": REGION},
        "ReplicaKeys": [],
    }


def test_lifecycle(kms):
    md = kms.create_key()["KeyMetadata"]
    key_id, arn = md["KeyId"], md["Arn"]
    kms.disable_key(KeyId=key_id)
    assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "Disabled"
    kms.enable_key(KeyId=arn)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"

    out = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert (out["KeyId"], out["KeyState"], out["PendingWindowInDays"]) == (arn, "PendingDeletion", 7)
    described = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert described["DeletionDate"] == out["DeletionDate"]
    assert (described["KeyState"], described["Enabled"]) == ("PendingDeletion", False)
    for call in (kms.enable_key, kms.disable_key, kms.schedule_key_deletion):
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            call(KeyId=key_id)
        assert error_of(ei) == ("KMSInvalidStateException", f"{arn} is pending deletion.")
    assert kms.cancel_key_deletion(KeyId=key_id)["KeyId"] == arn
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        kms.cancel_key_deletion(KeyId=key_id)
    assert error_of(ei)[0] == "KMSInvalidStateException"

    assert kms.schedule_key_deletion(KeyId=key_id)["PendingWindowInDays"] == 30


def test_pending_import_key_refuses_enable_and_disable(kms):
    md = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    for call in (kms.enable_key, kms.disable_key):
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            call(KeyId=md["KeyId"])
        assert error_of(ei) == ("KMSInvalidStateException", f"{md['Arn']} is pending import.")


def test_list_keys_pages_through_everything(kms):
    ids = sorted(kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"] for _ in range(7))
    seen, marker, pages = [], None, 0
    while True:
        args = {"Limit": 3, **({"Marker": marker} if marker else {})}
        page = kms.list_keys(**args)
        pages += 1
        seen += [k["KeyId"] for k in page["Keys"]]
        for k in page["Keys"]:
            assert k["KeyArn"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{k['KeyId']}"
        if not page["Truncated"]:
            assert "NextMarker" not in page
            break
        marker = page["NextMarker"]
    assert (seen, pages) == (ids, 3)
    paginated = [k["KeyId"] for p in kms.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": 2}) for k in p["Keys"]]
    assert paginated == ids


def test_aliases_resolve(kms):
    md = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    kms.create_alias(AliasName="alias/byok", TargetKeyId=md["KeyId"])
    assert kms.describe_key(KeyId="alias/byok")["KeyMetadata"]["KeyId"] == md["KeyId"]
    alias_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/byok"
    assert kms.describe_key(KeyId=alias_arn)["KeyMetadata"]["KeyId"] == md["KeyId"]
    aliases = kms.list_aliases(KeyId=md["KeyId"])["Aliases"]
    assert [(a["AliasName"], a["AliasArn"], a["TargetKeyId"]) for a in aliases] == [("alias/byok", alias_arn, md["KeyId"])]
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        kms.create_alias(AliasName="alias/byok", TargetKeyId=md["KeyId"])
    assert error_of(ei)[0] == "AlreadyExistsException"
    kms.delete_alias(AliasName="alias/byok")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        kms.describe_key(KeyId="alias/byok")
    assert error_of(ei)[0] == "NotFoundException"


def test_aws_cli_lifecycle(endpoint):
    rc, out, err = aws_cli(endpoint, "create-key", "--origin", "EXTERNAL", "--description", "from the cli",
                           "--tags", "TagKey=team,TagValue=byok")
    assert rc == 0, err
    key_id = out["KeyMetadata"]["KeyId"]
    rc, out, err = aws_cli(endpoint, "describe-key", "--key-id", key_id)
    assert rc == 0, err
    assert out["KeyMetadata"]["Description"] == "from the cli"
    rc, out, err = aws_cli(endpoint, "list-keys")
    assert rc == 0 and key_id in [k["KeyId"] for k in out["Keys"]]
    rc, out, err = aws_cli(endpoint, "describe-key", "--key-id", "1234abcd-12ab-34cd-56ef-1234567890ab")
    assert rc == 255
    assert "An error occurred (NotFoundException) when calling the DescribeKey operation: Key " in err


def test_two_processes_share_the_embedded_store(data_dir, endpoint):
    """A second process on the same data folder (as a sidecar or `sam local invoke` would be)
    sees the keys the first created, and its changes are seen back."""
    first = endpoint.client()
    md = first.create_key(Origin="EXTERNAL")["KeyMetadata"]
    other = Endpoint(data_dir).start()
    try:
        second = other.client()
        assert second.describe_key(KeyId=md["KeyId"])["KeyMetadata"] == md
        second.schedule_key_deletion(KeyId=md["KeyId"], PendingWindowInDays=7)
        assert first.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["KeyState"] == "PendingDeletion"
    finally:
        other.stop()


def test_bad_configuration_stops_start_up(data_dir):
    for var, value in [("KMS_MOCK_REGION", "mars"), ("KMS_MOCK_POOL_RSA_4096", "lots"), ("KMS_MOCK_LISTEN", "here")]:
        p = subprocess.run([str(KMS_API)], env={"KMS_MOCK_DATA": str(data_dir), var: value},
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 2
        assert p.stderr.startswith(f"kms-api: invalid {var}=\"{value}\": "), p.stderr
