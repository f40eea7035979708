"""GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext under imported and generated
symmetric keys, checked with `cryptography` (the pair is a real pair) and Decrypt (the private
key's ciphertext opens, with the same encryption context only); kms:DataKeyPairSpec in the
sidecar (kms-api-facts.md §2.5)."""

from __future__ import annotations

import json

import botocore.exceptions
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from byok import wrap
from sidecar_stack import ProxyStack

ACCOUNT = "111122223333"
SPECS = {"RSA_2048": (rsa.RSAPrivateKey, 2048), "RSA_3072": (rsa.RSAPrivateKey, 3072),
         "RSA_4096": (rsa.RSAPrivateKey, 4096), "ECC_NIST_P256": (ec.EllipticCurvePrivateKey, "secp256r1"),
         "ECC_NIST_P384": (ec.EllipticCurvePrivateKey, "secp384r1"),
         "ECC_NIST_P521": (ec.EllipticCurvePrivateKey, "secp521r1"),
         "ECC_SECG_P256K1": (ec.EllipticCurvePrivateKey, "secp256k1"),
         "ECC_NIST_EDWARDS25519": (ed25519.Ed25519PrivateKey, None)}


def imported_key(kms, tmp_path) -> str:
    key = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    p = kms.get_parameters_for_import(KeyId=key, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
    kms.import_key_material(KeyId=key, ImportToken=p["ImportToken"], ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
                            EncryptedKeyMaterial=wrap("RSAES_OAEP_SHA_256", p["PublicKey"], bytes(range(32)), tmp_path))
    return key


def error(call):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call()
    return e.value.response["Error"]["Code"], e.value.response["Error"].get("Message", "")


@pytest.mark.parametrize("spec", sorted(SPECS))
def test_a_real_pair_whose_private_key_decrypts_back(kms, tmp_path, spec):
    key = imported_key(kms, tmp_path)
    context = {"purpose": "test"}
    out = kms.generate_data_key_pair(KeyId=key, KeyPairSpec=spec, EncryptionContext=context)
    assert (out["KeyId"], out["KeyPairSpec"]) == (f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key}", spec)
    assert out["KeyMaterialId"] == kms.describe_key(KeyId=key)["KeyMetadata"]["CurrentKeyMaterialId"]
    private = serialization.load_der_private_key(out["PrivateKeyPlaintext"], password=None)
    kind, size = SPECS[spec]
    assert isinstance(private, kind)
    if kind is rsa.RSAPrivateKey:
        assert private.key_size == size
    elif kind is ec.EllipticCurvePrivateKey:
        assert private.curve.name == size
    public = private.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    assert out["PublicKey"] == public
    opened = kms.decrypt(CiphertextBlob=out["PrivateKeyCiphertextBlob"], EncryptionContext=context)
    assert opened["Plaintext"] == out["PrivateKeyPlaintext"]
    # Without the context: InvalidCiphertextException with no message (AWS-validated).
    assert error(lambda: kms.decrypt(CiphertextBlob=out["PrivateKeyCiphertextBlob"])) == ("InvalidCiphertextException", "")


def test_without_plaintext_and_refusals(kms, tmp_path):
    key = kms.create_key()["KeyMetadata"]["KeyId"]  # generated material qualifies too
    out = kms.generate_data_key_pair_without_plaintext(KeyId=key, KeyPairSpec="ECC_NIST_P256")
    assert "PrivateKeyPlaintext" not in out
    pkcs8 = kms.decrypt(CiphertextBlob=out["PrivateKeyCiphertextBlob"])["Plaintext"]
    private = serialization.load_der_private_key(pkcs8, password=None)
    assert private.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo) == out["PublicKey"]
    signing = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    assert error(lambda: kms.generate_data_key_pair(KeyId=signing, KeyPairSpec="RSA_2048")) == (
        "InvalidKeyUsageException", f"{signing} key usage is SIGN_VERIFY which is not valid for GenerateDataKeyPair.")
    pending = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["Arn"]
    assert error(lambda: kms.generate_data_key_pair(KeyId=pending, KeyPairSpec="RSA_2048")) == (
        "KMSInvalidStateException", f"{pending} is pending import.")
    assert error(lambda: kms.generate_data_key_pair(KeyId=key, KeyPairSpec="SM2"))[0] == "ValidationException"
    assert error(lambda: kms.generate_data_key_pair(KeyId=key, KeyPairSpec="RSA_2048", DryRun=True)) == (
        "DryRunOperationException", "The request would have succeeded, but the DryRun option is set.")
    kms.create_alias(AliasName="alias/pairs", TargetKeyId=key)
    assert kms.generate_data_key_pair(KeyId="alias/pairs", KeyPairSpec="ECC_NIST_P384")["KeyPairSpec"] == "ECC_NIST_P384"


def test_the_sidecar_reads_the_data_key_pair_spec(tmp_path):
    alice = f"arn:aws:iam::{ACCOUNT}:user/alice"
    config = {"credentials": [{"access_key_id": "AKIAALICE", "secret_access_key": "alice-secret", "principal": alice}],
              "identity_policies": {alice: {"p": {"Version": "2012-10-17", "Statement": [
                  {"Effect": "Allow", "Action": "kms:GenerateDataKeyPair", "Resource": "*",
                   "Condition": {"StringEquals": {"kms:DataKeyPairSpec": "ECC_NIST_P256"}}}]}}}}
    stack = ProxyStack(tmp_path, config=config).start()
    try:
        key = stack.client().create_key()["KeyMetadata"]["Arn"]
        client = stack.client(key="AKIAALICE", secret="alice-secret")
        assert client.generate_data_key_pair(KeyId=key, KeyPairSpec="ECC_NIST_P256")["KeyPairSpec"] == "ECC_NIST_P256"
        assert error(lambda: client.generate_data_key_pair(KeyId=key, KeyPairSpec="RSA_2048")) == (
            "AccessDeniedException", f"User: {alice} is not authorized to perform: kms:GenerateDataKeyPair on resource: "
            f"{key} because no identity-based policy allows the kms:GenerateDataKeyPair action")
        record = [r for r in stack.audit() if r["eventName"] == "GenerateDataKeyPair"][-1]
        assert record["errorCode"] == "AccessDeniedException"
        logged = json.dumps(stack.audit()).lower()
        assert "privatekeyplaintext" not in logged and "privatekeyciphertextblob" not in logged, \
            "key material never reaches the audit log"
    finally:
        stack.stop()
