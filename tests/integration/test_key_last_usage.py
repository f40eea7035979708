"""GetKeyLastUsage: the last successful cryptographic operation on a key, with its request id,
recorded by the endpoint (kms-api-facts.md §2.8): per key, across processes sharing a data
folder, kept across a restart, and through the sidecar."""

from __future__ import annotations

import time

import botocore.exceptions
import pytest

from conftest import Endpoint
from sidecar_stack import ProxyStack


def last(kms, key) -> dict:
    out = kms.get_key_last_usage(KeyId=key)
    return {k: v for k, v in out.items() if k != "ResponseMetadata"}


def test_the_last_operation_with_its_request_id(kms):
    key = kms.create_key()["KeyMetadata"]
    other = kms.create_key()["KeyMetadata"]
    fresh = last(kms, key["KeyId"])
    assert fresh["KeyId"] == key["Arn"]
    assert fresh["KeyLastUsage"] == {}
    assert fresh["TrackingStartDate"] == fresh["KeyCreationDate"] == key["CreationDate"]
    enc = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    used = last(kms, key["KeyId"])["KeyLastUsage"]
    assert (used["Operation"], used["KmsRequestId"]) == ("Encrypt", enc["ResponseMetadata"]["RequestId"])
    assert abs(used["Timestamp"].timestamp() - time.time()) < 60
    dec = kms.decrypt(CiphertextBlob=enc["CiphertextBlob"])
    assert last(kms, key["KeyId"])["KeyLastUsage"]["KmsRequestId"] == dec["ResponseMetadata"]["RequestId"]
    # ReEncrypt counts for both keys; a refused call for none.
    re = kms.re_encrypt(CiphertextBlob=enc["CiphertextBlob"], DestinationKeyId=other["KeyId"])
    for k in (key["KeyId"], other["KeyId"]):
        assert last(kms, k)["KeyLastUsage"]["KmsRequestId"] == re["ResponseMetadata"]["RequestId"]
    kms.disable_key(KeyId=key["KeyId"])
    with pytest.raises(botocore.exceptions.ClientError):
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    assert last(kms, key["KeyId"])["KeyLastUsage"]["Operation"] == "ReEncrypt"
    # Management calls are not uses.
    kms.enable_key(KeyId=key["KeyId"])
    kms.describe_key(KeyId=key["KeyId"])
    assert last(kms, key["KeyId"])["KeyLastUsage"]["Operation"] == "ReEncrypt"
    mac_key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    kms.generate_mac(KeyId=mac_key, Message=b"m", MacAlgorithm="HMAC_SHA_256")
    assert last(kms, mac_key)["KeyLastUsage"]["Operation"] == "GenerateMac"


def test_seen_by_another_process_and_after_a_restart(data_dir):
    a = Endpoint(data_dir).start()
    b = Endpoint(data_dir).start()
    try:
        key = a.client().create_key()["KeyMetadata"]["KeyId"]
        sig_key = a.client().create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        signed = a.client().sign(KeyId=sig_key, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
        deadline = time.monotonic() + 5
        while last(b.client(), sig_key)["KeyLastUsage"] == {} and time.monotonic() < deadline:
            time.sleep(0.1)
        seen = last(b.client(), sig_key)["KeyLastUsage"]
        assert (seen["Operation"], seen["KmsRequestId"]) == ("Sign", signed["ResponseMetadata"]["RequestId"])
        enc = a.client().encrypt(KeyId=key, Plaintext=b"x")
    finally:
        a.stop()
        b.stop()
    # A clean stop writes back what was not yet.
    c = Endpoint(data_dir).start()
    try:
        assert last(c.client(), key)["KeyLastUsage"]["KmsRequestId"] == enc["ResponseMetadata"]["RequestId"]
    finally:
        c.stop()


def test_through_the_sidecar(tmp_path):
    stack = ProxyStack(tmp_path).start()
    try:
        kms = stack.client()
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        gdk = kms.generate_data_key(KeyId=key, KeySpec="AES_256")
        used = last(kms, key)["KeyLastUsage"]
        assert (used["Operation"], used["KmsRequestId"]) == ("GenerateDataKey", gdk["ResponseMetadata"]["RequestId"])
        assert any(r["eventName"] == "GetKeyLastUsage" for r in stack.audit())
    finally:
        stack.stop()
