"""ReEncrypt between symmetric and RSA keys, imported and generated, with AWS's texts
(kms-api-facts.md §2.3), and in the sidecar: kms:ReEncryptFrom on the source, kms:ReEncryptTo
on the destination, kms:ReEncryptOnSameKey."""

from __future__ import annotations

import json

import botocore.exceptions
import pytest

from byok import wrap
from sidecar_stack import ProxyStack

ACCOUNT = "111122223333"


def error(call):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call()
    return e.value.response["Error"]["Code"], e.value.response["Error"].get("Message", "")


def imported(kms, tmp_path, material: bytes = bytes(range(32))) -> dict:
    meta = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    p = kms.get_parameters_for_import(KeyId=meta["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
    kms.import_key_material(KeyId=meta["KeyId"], ImportToken=p["ImportToken"], ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
                            EncryptedKeyMaterial=wrap("RSAES_OAEP_SHA_256", p["PublicKey"], material, tmp_path))
    return kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]


def test_symmetric_to_symmetric_with_both_contexts(kms, tmp_path):
    source = imported(kms, tmp_path)
    destination = kms.create_key()["KeyMetadata"]
    ct = kms.encrypt(KeyId=source["KeyId"], Plaintext=b"moving", EncryptionContext={"from": "a"})["CiphertextBlob"]
    out = kms.re_encrypt(CiphertextBlob=ct, SourceEncryptionContext={"from": "a"},
                         DestinationKeyId=destination["KeyId"], DestinationEncryptionContext={"to": "b"})
    assert (out["SourceKeyId"], out["KeyId"], out["SourceEncryptionAlgorithm"], out["DestinationEncryptionAlgorithm"]) == (
        source["Arn"], destination["Arn"], "SYMMETRIC_DEFAULT", "SYMMETRIC_DEFAULT")
    assert (out["SourceKeyMaterialId"], out["DestinationKeyMaterialId"]) == (
        source["CurrentKeyMaterialId"], destination["CurrentKeyMaterialId"])
    plain = kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"to": "b"})
    assert (plain["Plaintext"], plain["KeyId"]) == (b"moving", destination["Arn"])
    assert error(lambda: kms.re_encrypt(CiphertextBlob=ct, DestinationKeyId=destination["KeyId"])) == (
        "InvalidCiphertextException", "")
    assert error(lambda: kms.re_encrypt(CiphertextBlob=ct, SourceEncryptionContext={"from": "a"},
                                        SourceKeyId=destination["KeyId"], DestinationKeyId=destination["KeyId"])) == (
        "IncorrectKeyException", "The key ID in the request does not identify a CMK that can perform this operation.")


def test_onto_the_current_material_after_a_rotation(kms):
    key = kms.create_key()["KeyMetadata"]
    ct = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"old")["CiphertextBlob"]
    kms.rotate_key_on_demand(KeyId=key["KeyId"])
    current = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["CurrentKeyMaterialId"]
    assert current != key["CurrentKeyMaterialId"]
    out = kms.re_encrypt(CiphertextBlob=ct, DestinationKeyId=key["KeyId"])
    assert (out["SourceKeyMaterialId"], out["DestinationKeyMaterialId"]) == (key["CurrentKeyMaterialId"], current)
    assert kms.decrypt(CiphertextBlob=out["CiphertextBlob"])["Plaintext"] == b"old"


def test_rsa_source_and_destination(kms):
    rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    sym = kms.create_key()["KeyMetadata"]
    ct = kms.encrypt(KeyId=rsa["KeyId"], Plaintext=b"asym", EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
    # An RSA ciphertext names no key: SourceKeyId is needed.
    assert error(lambda: kms.re_encrypt(CiphertextBlob=ct, SourceEncryptionAlgorithm="RSAES_OAEP_SHA_256",
                                        DestinationKeyId=sym["KeyId"]))[0] == "InvalidCiphertextException"
    out = kms.re_encrypt(CiphertextBlob=ct, SourceKeyId=rsa["KeyId"], SourceEncryptionAlgorithm="RSAES_OAEP_SHA_256",
                         DestinationKeyId=sym["KeyId"])
    assert "SourceKeyMaterialId" not in out and out["DestinationKeyMaterialId"] == sym["CurrentKeyMaterialId"]
    back = kms.re_encrypt(CiphertextBlob=out["CiphertextBlob"], DestinationKeyId=rsa["KeyId"],
                          DestinationEncryptionAlgorithm="RSAES_OAEP_SHA_1")
    assert kms.decrypt(CiphertextBlob=back["CiphertextBlob"], KeyId=rsa["KeyId"],
                       EncryptionAlgorithm="RSAES_OAEP_SHA_1")["Plaintext"] == b"asym"
    assert error(lambda: kms.re_encrypt(CiphertextBlob=out["CiphertextBlob"], DestinationKeyId=rsa["KeyId"],
                                        DestinationEncryptionAlgorithm="RSAES_OAEP_SHA_1",
                                        DestinationEncryptionContext={"x": "y"}))[0] == "ValidationException"


def test_key_states_and_dry_runs(kms):
    source = kms.create_key()["KeyMetadata"]
    destination = kms.create_key()["KeyMetadata"]
    ct = kms.encrypt(KeyId=source["KeyId"], Plaintext=b"p")["CiphertextBlob"]
    kms.disable_key(KeyId=destination["KeyId"])
    assert error(lambda: kms.re_encrypt(CiphertextBlob=ct, DestinationKeyId=destination["KeyId"])) == (
        "DisabledException", f"{destination['Arn']} is disabled.")
    kms.enable_key(KeyId=destination["KeyId"])
    dry = ("DryRunOperationException", "The request would have succeeded, but the DryRun option is set.")
    assert error(lambda: kms.re_encrypt(CiphertextBlob=ct, DestinationKeyId=destination["KeyId"], DryRun=True)) == dry
    assert error(lambda: kms.re_encrypt(SourceKeyId=source["KeyId"], DestinationKeyId=destination["KeyId"], DryRun=True,
                                        DryRunModifiers=["IGNORE_CIPHERTEXT"])) == dry
    kms.disable_key(KeyId=source["KeyId"])
    assert error(lambda: kms.re_encrypt(CiphertextBlob=ct, DestinationKeyId=destination["KeyId"])) == (
        "DisabledException", f"{source['Arn']} is disabled.")


def test_the_sidecar_authorizes_from_and_to(tmp_path):
    root = f"arn:aws:iam::{ACCOUNT}:root"
    alice = f"arn:aws:iam::{ACCOUNT}:user/alice"
    config = {"credentials": [{"access_key_id": "AKIAALICE", "secret_access_key": "alice-secret", "principal": alice}],
              "identity_policies": {alice: {"p": {"Version": "2012-10-17", "Statement": [
                  {"Effect": "Allow", "Action": ["kms:Encrypt", "kms:ReEncrypt*"], "Resource": "*",
                   "Condition": {"Bool": {"kms:ReEncryptOnSameKey": "true"}}},
                  {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"}]}}}}
    stack = ProxyStack(tmp_path, config=config).start()
    try:
        kms = stack.client()
        open_key = kms.create_key()["KeyMetadata"]["Arn"]
        no_writes = kms.create_key(Policy=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": root}, "NotAction": "kms:ReEncryptTo", "Resource": "*"}]}),
            BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"]["Arn"]
        ct = kms.encrypt(KeyId=open_key, Plaintext=b"p")["CiphertextBlob"]
        assert error(lambda: kms.re_encrypt(CiphertextBlob=ct, DestinationKeyId=no_writes)) == (
            "AccessDeniedException", f"User: {root} is not authorized to perform: kms:ReEncryptTo on resource: "
            f"{no_writes} because no resource-based policy allows the kms:ReEncryptTo action")
        back = kms.re_encrypt(CiphertextBlob=kms.encrypt(KeyId=no_writes, Plaintext=b"q")["CiphertextBlob"],
                              DestinationKeyId=open_key)
        assert back["SourceKeyId"] == no_writes
        a = stack.client(key="AKIAALICE", secret="alice-secret")
        assert a.re_encrypt(CiphertextBlob=ct, DestinationKeyId=open_key)["KeyId"] == open_key
        other = kms.create_key()["KeyMetadata"]["Arn"]
        assert error(lambda: a.re_encrypt(CiphertextBlob=ct, DestinationKeyId=other)) == (
            "AccessDeniedException", f"User: {alice} is not authorized to perform: kms:ReEncryptFrom on resource: "
            f"{open_key} because no identity-based policy allows the kms:ReEncryptFrom action")
    finally:
        stack.stop()
