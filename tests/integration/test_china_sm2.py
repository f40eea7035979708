"""The China Regions (kms-api-facts.md §4): SM2 wrapping keys (SM2PKE), SM2 keys for signing,
encryption and key agreement, and 128-bit (SM4) symmetric material, with the openssl commands a
user runs: every (material × wrapping algorithm) pair imported and used, or refused; SM2
wrapping refused outside China; the sidecar's condition keys seeing the SM2 names."""

from __future__ import annotations

import base64

import botocore.exceptions
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from byok import local_hmac, make_material, openssl, openssl_verify, sm2_digest, wrap
from sidecar_stack import started

CN = "cn-north-1"
ACCOUNT = "111122223333"
ALGORITHMS = ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256", "SM2PKE"]

# (key spec, key usage): the material types a China Region imports.
MATERIALS = [
    ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
    ("HMAC_256", "GENERATE_VERIFY_MAC"),
    ("RSA_2048", "SIGN_VERIFY"),
    ("ECC_NIST_P256", "SIGN_VERIFY"),
    ("SM2", "SIGN_VERIFY"),
    ("SM2", "ENCRYPT_DECRYPT"),
    ("SM2", "KEY_AGREEMENT"),
]


def error(call):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call()
    return e.value.response["Error"]["Code"], e.value.response["Error"].get("Message", "")


def allowed_in_china(spec: str, algorithm: str) -> bool:
    """The guide's wrapping table for the China Regions, written out independently."""
    if algorithm.startswith("RSA_AES_KEY_WRAP"):
        return False  # "not supported in China Regions"
    if algorithm == "SM2PKE":
        return spec.startswith(("RSA_", "ECC_", "SM2"))
    return not spec.startswith("RSA_")  # RSA keys "must use the SM2PKE wrapping algorithm" there


def wrapping_spec(algorithm: str) -> str:
    return "SM2" if algorithm == "SM2PKE" else "RSA_2048"


@pytest.fixture
def cn(endpoint):
    return endpoint.client(region=CN)


def use_and_check(cn, key_id: str, spec: str, usage: str, material, tmp_path):
    """Uses an imported key and checks its output with the user's own copy of the key."""
    if spec == "SYMMETRIC_DEFAULT":
        ct = cn.encrypt(KeyId=key_id, Plaintext=b"sm4 data", EncryptionContext={"a": "b"})["CiphertextBlob"]
        assert cn.decrypt(CiphertextBlob=ct, EncryptionContext={"a": "b"})["Plaintext"] == b"sm4 data"
    elif spec.startswith("HMAC_"):
        mac = cn.generate_mac(KeyId=key_id, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
        assert mac == local_hmac(spec, material.material, b"m")
    elif usage == "SIGN_VERIFY":
        alg = {"RSA_2048": "RSASSA_PSS_SHA_256", "ECC_NIST_P256": "ECDSA_SHA_256", "SM2": "SM2DSA"}[spec]
        sig = cn.sign(KeyId=key_id, Message=b"signed in China", SigningAlgorithm=alg)["Signature"]
        if spec == "ECC_NIST_P256":
            # An independent ECDSA implementation.
            public = serialization.load_der_public_key(material.public_der)
            public.verify(sig, b"signed in China", ec.ECDSA(hashes.SHA256()))
        else:
            assert openssl_verify(material.public_pem, alg, b"signed in China", sig, tmp_path)
        assert cn.verify(KeyId=key_id, Message=b"signed in China", Signature=sig, SigningAlgorithm=alg)["SignatureValid"]
    elif usage == "ENCRYPT_DECRYPT":
        # KMS encrypts, openssl decrypts with the user's private key; and the other way.
        ct = cn.encrypt(KeyId=key_id, Plaintext=b"sm2 data", EncryptionAlgorithm="SM2PKE")["CiphertextBlob"]
        assert openssl("pkeyutl", "-decrypt", "-inkey", str(material.private_pem), data=ct) == b"sm2 data"
        theirs = openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", str(material.public_pem), data=b"from openssl")
        assert cn.decrypt(KeyId=key_id, CiphertextBlob=theirs, EncryptionAlgorithm="SM2PKE")["Plaintext"] == b"from openssl"
    if spec != "SYMMETRIC_DEFAULT" and not spec.startswith("HMAC_"):
        assert cn.get_public_key(KeyId=key_id)["PublicKey"] == material.public_der, "the SPKI of the imported key"


@pytest.mark.parametrize("spec,usage", MATERIALS, ids=[f"{s}-{u}" for s, u in MATERIALS])
def test_every_material_and_wrapping_algorithm_in_china(cn, spec, usage, tmp_path):
    material = make_material(spec, tmp_path)
    if spec == "SYMMETRIC_DEFAULT":
        material.material = material.material[:16]  # `openssl rand 16`: 128-bit SM4 material
    for algorithm in ALGORITHMS:
        key = cn.create_key(Origin="EXTERNAL", KeySpec=spec, KeyUsage=usage)["KeyMetadata"]
        assert key["Arn"] == f"arn:aws-cn:kms:{CN}:{ACCOUNT}:key/{key['KeyId']}"
        ask = lambda: cn.get_parameters_for_import(  # noqa: E731
            KeyId=key["KeyId"], WrappingAlgorithm=algorithm, WrappingKeySpec=wrapping_spec(algorithm))
        if not allowed_in_china(spec, algorithm):
            assert error(ask) == ("ValidationException", f"Wrapping algorithm {algorithm} and wrapping key spec "
                                  f"{wrapping_spec(algorithm)} cannot be used to import a {spec} key."), algorithm
            continue
        params = ask()
        if algorithm == "SM2PKE":
            pub = tmp_path / "wrapping.der"
            pub.write_bytes(params["PublicKey"])
            text = openssl("pkey", "-pubin", "-inform", "DER", "-in", str(pub), "-noout", "-text").decode()
            assert "ASN1 OID: SM2" in text, text
            assert base64.b64encode(params["PublicKey"]).startswith(b"MFkwEwYHKoZIzj0CAQYIKoEcz1UBgi0DQgAE")
        wrapped = wrap(algorithm, params["PublicKey"], material.material, tmp_path / algorithm)
        out = cn.import_key_material(KeyId=key["KeyId"], ImportToken=params["ImportToken"],
                                     EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
        assert out["KeyId"] == key["Arn"], algorithm
        assert cn.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"
        use_and_check(cn, key["KeyId"], spec, usage, material, tmp_path)


def test_china_material_sizes_and_altered_ciphertext(cn, tmp_path):
    key = cn.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    params = cn.get_parameters_for_import(KeyId=key, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
    # 32-byte (AES-256) material is not an SM4 key.
    wrapped = wrap("RSAES_OAEP_SHA_256", params["PublicKey"], b"\x01" * 32, tmp_path)
    assert error(lambda: cn.import_key_material(KeyId=key, ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped,
                                                ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE"))[0] == "InvalidCiphertextException"
    # An SM2-wrapped key whose ciphertext is altered anywhere never imports.
    sm2_key = cn.create_key(Origin="EXTERNAL", KeySpec="SM2", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    material = make_material("SM2", tmp_path)
    params = cn.get_parameters_for_import(KeyId=sm2_key, WrappingAlgorithm="SM2PKE", WrappingKeySpec="SM2")
    wrapped = wrap("SM2PKE", params["PublicKey"], material.material, tmp_path / "sm2")
    for i in (0, 5, 40, 75, len(wrapped) - 1):
        bad = bytearray(wrapped)
        bad[i] ^= 0x01
        assert error(lambda: cn.import_key_material(
            KeyId=sm2_key, ImportToken=params["ImportToken"], EncryptedKeyMaterial=bytes(bad),
            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE"))[0] == "InvalidCiphertextException", i
    assert cn.describe_key(KeyId=sm2_key)["KeyMetadata"]["KeyState"] == "PendingImport"
    cn.import_key_material(KeyId=sm2_key, ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped,
                           ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    # SM2 material wrapped for an ECC key is not an ECC key.
    ecc = cn.create_key(Origin="EXTERNAL", KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    params = cn.get_parameters_for_import(KeyId=ecc, WrappingAlgorithm="SM2PKE", WrappingKeySpec="SM2")
    wrapped = wrap("SM2PKE", params["PublicKey"], material.material, tmp_path / "ecc")
    assert error(lambda: cn.import_key_material(KeyId=ecc, ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped,
                                                ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE"))[0] == "InvalidCiphertextException"


def test_sm2_outside_china_is_refused(endpoint, tmp_path):
    east = endpoint.client()
    key = east.create_key(Origin="EXTERNAL", KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    assert error(lambda: east.get_parameters_for_import(KeyId=key, WrappingAlgorithm="SM2PKE", WrappingKeySpec="SM2")) == (
        "ValidationException", "Wrapping algorithm SM2PKE and wrapping key spec SM2 cannot be used to import a "
                               "ECC_NIST_P256 key.")
    assert error(lambda: east.create_key(KeySpec="SM2", KeyUsage="SIGN_VERIFY")) == (
        "ValidationException", "KeySpec SM2 is not supported in this region.")
    # 32-byte symmetric keys outside China, as ever.
    sym = east.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    params = east.get_parameters_for_import(KeyId=sym, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
    wrapped = wrap("RSAES_OAEP_SHA_256", params["PublicKey"], b"\x02" * 16, tmp_path)
    assert error(lambda: east.import_key_material(KeyId=sym, ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped,
                                                  ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE"))[0] == "InvalidCiphertextException"


def test_kms_made_sm2_keys_and_sm4_keys(cn, tmp_path):
    # Signing: RAW with the fixed distinguishing ID, and DIGEST as e = SM3(Z_A || M).
    signer = cn.create_key(KeySpec="SM2", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    assert (signer["SigningAlgorithms"], signer["KeyState"]) == (["SM2DSA"], "Enabled")
    public = cn.get_public_key(KeyId=signer["KeyId"])
    assert (public["KeySpec"], public["SigningAlgorithms"]) == ("SM2", ["SM2DSA"])
    pem = tmp_path / "signer.pem"
    der = tmp_path / "signer.der"
    der.write_bytes(public["PublicKey"])
    openssl("pkey", "-pubin", "-inform", "DER", "-in", str(der), "-out", str(pem))
    sig = cn.sign(KeyId=signer["KeyId"], Message=b"raw message", SigningAlgorithm="SM2DSA")["Signature"]
    assert openssl_verify(pem, "SM2DSA", b"raw message", sig, tmp_path)
    assert not openssl_verify(pem, "SM2DSA", b"another message", sig, tmp_path)
    e = sm2_digest(public["PublicKey"], b"raw message")
    by_digest = cn.sign(KeyId=signer["KeyId"], Message=e, MessageType="DIGEST", SigningAlgorithm="SM2DSA")["Signature"]
    assert openssl_verify(pem, "SM2DSA", b"raw message", by_digest, tmp_path), "DIGEST signs SM3(Z_A || M)"
    assert cn.verify(KeyId=signer["KeyId"], Message=e, MessageType="DIGEST", Signature=sig,
                     SigningAlgorithm="SM2DSA")["SignatureValid"]
    assert error(lambda: cn.sign(KeyId=signer["KeyId"], Message=e[:20], MessageType="DIGEST", SigningAlgorithm="SM2DSA")) == (
        "ValidationException", "Digest is invalid length for algorithm SM2DSA.")
    assert error(lambda: cn.sign(KeyId=signer["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")) == (
        "InvalidKeyUsageException", "Algorithm ECDSA_SHA_256 is incompatible with key spec SM2.")

    # Encryption: openssl encrypts to the public key, KMS decrypts; KMS's own round trip.
    enc = cn.create_key(KeySpec="SM2", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    assert enc["EncryptionAlgorithms"] == ["SM2PKE"]
    der.write_bytes(cn.get_public_key(KeyId=enc["KeyId"])["PublicKey"])
    theirs = openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", str(der), "-keyform", "DER", data=b"to kms")
    assert cn.decrypt(KeyId=enc["KeyId"], CiphertextBlob=theirs, EncryptionAlgorithm="SM2PKE")["Plaintext"] == b"to kms"
    ct = cn.encrypt(KeyId=enc["KeyId"], Plaintext=b"x" * 1024, EncryptionAlgorithm="SM2PKE")["CiphertextBlob"]
    assert cn.decrypt(KeyId=enc["KeyId"], CiphertextBlob=ct, EncryptionAlgorithm="SM2PKE")["Plaintext"] == b"x" * 1024
    assert error(lambda: cn.encrypt(KeyId=enc["KeyId"], Plaintext=b"x" * 1025, EncryptionAlgorithm="SM2PKE"))[0] == (
        "ValidationException")

    # Key agreement: each side derives the same secret from the other's public key.
    a, b = (cn.create_key(KeySpec="SM2", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]["KeyId"] for _ in range(2))
    pub = {k: cn.get_public_key(KeyId=k)["PublicKey"] for k in (a, b)}
    ab = cn.derive_shared_secret(KeyId=a, KeyAgreementAlgorithm="ECDH", PublicKey=pub[b])["SharedSecret"]
    ba = cn.derive_shared_secret(KeyId=b, KeyAgreementAlgorithm="ECDH", PublicKey=pub[a])["SharedSecret"]
    assert ab == ba and len(ab) == 32

    # Symmetric keys are SM4 here: 16-byte material, the mock's own ciphertext format.
    sym = cn.create_key()["KeyMetadata"]["KeyId"]
    ct = cn.encrypt(KeyId=sym, Plaintext=b"p", EncryptionContext={"c": "d"})["CiphertextBlob"]
    assert cn.decrypt(CiphertextBlob=ct, EncryptionContext={"c": "d"})["Plaintext"] == b"p"
    data_key = cn.generate_data_key(KeyId=sym, KeySpec="AES_128")
    assert cn.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"] == data_key["Plaintext"]

    # SM2 data key pairs in China: the private key (PKCS#8) is openssl's to read.
    pair = cn.generate_data_key_pair(KeyId=sym, KeyPairSpec="SM2")
    assert pair["KeyPairSpec"] == "SM2"
    priv = tmp_path / "pair.der"
    priv.write_bytes(pair["PrivateKeyPlaintext"])
    assert openssl("pkey", "-inform", "DER", "-in", str(priv), "-pubout", "-outform", "DER") == pair["PublicKey"]
    assert cn.decrypt(CiphertextBlob=pair["PrivateKeyCiphertextBlob"])["Plaintext"] == pair["PrivateKeyPlaintext"]


CONFIG = {
    "credentials": [{"access_key_id": "AKIACN", "secret_access_key": "cn-secret",
                     "principal": f"arn:aws-cn:iam::{ACCOUNT}:user/importer"}],
    "identity_policies": {
        f"arn:aws-cn:iam::{ACCOUNT}:user/importer": {"cn": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "kms:GetParametersForImport", "Resource": "*",
             "Condition": {"StringEquals": {"kms:WrappingAlgorithm": "SM2PKE", "kms:WrappingKeySpec": "SM2"}}},
            {"Effect": "Deny", "Action": "kms:Sign", "Resource": "*",
             "Condition": {"StringEquals": {"kms:SigningAlgorithm": "SM2DSA"}}},
            {"Effect": "Deny", "Action": "kms:Encrypt", "Resource": "*",
             "Condition": {"StringEquals": {"kms:EncryptionAlgorithm": "SM2PKE"}}}]}},
    },
}


@pytest.fixture(scope="module")
def stack():
    yield from started("proxy", CONFIG, "kms-china")


def test_sidecar_sees_the_sm2_names(stack):
    user = stack.client(key="AKIACN", secret="cn-secret", region=CN)
    arn_user = f"arn:aws-cn:iam::{ACCOUNT}:user/importer"
    ecc = user.create_key(Origin="EXTERNAL", KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    deny = lambda action, arn: ("AccessDeniedException", f"User: {arn_user} is not authorized to perform: {action} "  # noqa: E731
                                f"on resource: {arn} with an explicit deny in an identity-based policy")
    assert error(lambda: user.get_parameters_for_import(KeyId=ecc["KeyId"], WrappingAlgorithm="SM2PKE",
                                                        WrappingKeySpec="SM2")) == deny("kms:GetParametersForImport", ecc["Arn"])
    assert user.get_parameters_for_import(KeyId=ecc["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                          WrappingKeySpec="RSA_2048")["KeyId"] == ecc["Arn"]
    signer = user.create_key(KeySpec="SM2", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    assert error(lambda: user.sign(KeyId=signer["KeyId"], Message=b"m", SigningAlgorithm="SM2DSA")) == (
        deny("kms:Sign", signer["Arn"]))
    enc = user.create_key(KeySpec="SM2", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    assert error(lambda: user.encrypt(KeyId=enc["KeyId"], Plaintext=b"m", EncryptionAlgorithm="SM2PKE")) == (
        deny("kms:Encrypt", enc["Arn"]))
    record = [r for r in stack.audit() if r["eventName"] == "GetParametersForImport"][0]
    assert record["requestParameters"]["wrappingAlgorithm"] == "SM2PKE" and record["awsRegion"] == CN
