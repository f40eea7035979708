"""The developer guide's import procedure through boto3, for every wrapping algorithm x wrapping
key spec x key material type that AWS's rules allow (and the refusals of the others): material
made and wrapped with openssl, imported, then used, and the use checked against a local
computation with the same material."""

from __future__ import annotations

import botocore.exceptions
import pytest

from byok import (
    HMAC_LENGTHS,
    WRAPPING_ALGORITHMS,
    WRAPPING_SPECS,
    expected_allowed,
    local_hmac,
    make_material,
    openssl,
    openssl_rsa_decrypt,
    openssl_rsa_encrypt,
    openssl_verify,
    sha,
    wrap,
)
from conftest import Endpoint

# Key spec -> usages imported into it.
KEYS = {
    "SYMMETRIC_DEFAULT": ["ENCRYPT_DECRYPT"],
    "HMAC_224": ["GENERATE_VERIFY_MAC"],
    "HMAC_256": ["GENERATE_VERIFY_MAC"],
    "HMAC_384": ["GENERATE_VERIFY_MAC"],
    "HMAC_512": ["GENERATE_VERIFY_MAC"],
    "RSA_2048": ["SIGN_VERIFY", "ENCRYPT_DECRYPT"],
    "RSA_3072": ["SIGN_VERIFY", "ENCRYPT_DECRYPT"],
    "RSA_4096": ["SIGN_VERIFY", "ENCRYPT_DECRYPT"],
    "ECC_NIST_P256": ["SIGN_VERIFY", "KEY_AGREEMENT"],
    "ECC_NIST_P384": ["SIGN_VERIFY"],
    "ECC_NIST_P521": ["SIGN_VERIFY"],
    "ECC_SECG_P256K1": ["SIGN_VERIFY"],
    "ECC_NIST_EDWARDS25519": ["SIGN_VERIFY"],
}


@pytest.fixture(scope="module")
def materials(tmp_path_factory):
    work = tmp_path_factory.mktemp("materials")
    return {spec: make_material(spec, work / spec) for spec in KEYS}


@pytest.fixture(scope="module")
def endpoint_reuse(tmp_path_factory):
    # Freshness of wrapping keys is tested elsewhere; reuse keeps 150 imports quick.
    ep = Endpoint(tmp_path_factory.mktemp("ep") / "data", env={"KMS_MOCK_POOL_REUSE": "true"}).start()
    yield ep
    ep.stop()


def error_of(excinfo):
    e = excinfo.value.response["Error"]
    return e["Code"], e.get("Message", "")


def prove(kms, md: dict, usage: str, m, work) -> None:
    """Uses the imported key and checks the result with the user's own copy of the material."""
    key, spec = md["KeyId"], md["KeySpec"]
    if spec == "SYMMETRIC_DEFAULT":
        ctx = {"purpose": "byok-test"}
        out = kms.encrypt(KeyId=key, Plaintext=b"import lifecycle", EncryptionContext=ctx)
        back = kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext=ctx)
        assert back["Plaintext"] == b"import lifecycle"
        assert back["KeyId"] == md["Arn"]
        assert out["CiphertextBlob"][:5] == bytes([1, 2, 2, 0, 0x78])
        assert out["CiphertextBlob"][5:37].hex() == back["KeyMaterialId"]
        return
    if spec in HMAC_LENGTHS:
        alg = "HMAC_SHA_" + spec[5:]
        out = kms.generate_mac(KeyId=key, Message=b"imported HMAC", MacAlgorithm=alg)
        assert out["Mac"] == local_hmac(spec, m.material, b"imported HMAC")
        assert kms.verify_mac(KeyId=key, Message=b"imported HMAC", MacAlgorithm=alg, Mac=out["Mac"])["MacValid"]
        return
    public = kms.get_public_key(KeyId=key)
    assert public["PublicKey"] == m.public_der, "GetPublicKey is the public half of the imported key"
    if usage == "SIGN_VERIFY":
        for alg in md["SigningAlgorithms"]:
            if alg == "ED25519_PH_SHA_512":
                # openssl 3.0 has no Ed25519ph; KMS's own Verify checks it (and a unit test
                # checks the signer against RFC 8032's vector).
                digest = sha("SHA_512", b"msg")
                sig = kms.sign(KeyId=key, Message=digest, MessageType="DIGEST", SigningAlgorithm=alg)["Signature"]
                assert kms.verify(KeyId=key, Message=digest, MessageType="DIGEST", Signature=sig, SigningAlgorithm=alg)[
                    "SignatureValid"
                ]
                continue
            sig = kms.sign(KeyId=key, Message=b"imported asymmetric signing", SigningAlgorithm=alg)["Signature"]
            assert openssl_verify(m.public_pem, alg, b"imported asymmetric signing", sig, work), alg
    elif usage == "ENCRYPT_DECRYPT":
        for alg in md["EncryptionAlgorithms"]:
            ct = kms.encrypt(KeyId=key, Plaintext=b"imported RSA encryption", EncryptionAlgorithm=alg)["CiphertextBlob"]
            assert openssl_rsa_decrypt(m.private_pem, alg, ct) == b"imported RSA encryption"
            ct = openssl_rsa_encrypt(m.public_pem, alg, b"from openssl")
            assert kms.decrypt(KeyId=key, CiphertextBlob=ct, EncryptionAlgorithm=alg)["Plaintext"] == b"from openssl"
    elif usage == "KEY_AGREEMENT":
        peer = work / "peer.pem"
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(peer))
        peer_public = openssl("pkey", "-in", str(peer), "-pubout", "-outform", "DER")
        out = kms.derive_shared_secret(KeyId=key, KeyAgreementAlgorithm="ECDH", PublicKey=peer_public)
        expected = openssl("pkeyutl", "-derive", "-inkey", str(peer), "-peerkey", str(m.public_pem))
        assert out["SharedSecret"] == expected
        assert out["KeyOrigin"] == "EXTERNAL"


def test_every_allowed_combination_imports_and_works(endpoint_reuse, materials, tmp_path):
    kms = endpoint_reuse.client()
    imported = refused = 0
    for spec, usages in KEYS.items():
        m = materials[spec]
        for usage in usages:
            for alg in WRAPPING_ALGORITHMS:
                for wspec in WRAPPING_SPECS:
                    md = kms.create_key(Origin="EXTERNAL", KeySpec=spec, KeyUsage=usage)["KeyMetadata"]
                    args = dict(KeyId=md["KeyId"], WrappingAlgorithm=alg, WrappingKeySpec=wspec)
                    if not expected_allowed(spec, alg, wspec):
                        with pytest.raises(botocore.exceptions.ClientError) as ei:
                            kms.get_parameters_for_import(**args)
                        assert error_of(ei) == (
                            "ValidationException",
                            f"Wrapping algorithm {alg} and wrapping key spec {wspec} cannot be used to import a {spec} key.",
                        )
                        refused += 1
                        continue
                    params = kms.get_parameters_for_import(**args)
                    work = tmp_path / f"{spec}-{usage}-{alg}-{wspec}"
                    encrypted = wrap(alg, params["PublicKey"], m.material, work)
                    out = kms.import_key_material(
                        KeyId=md["KeyId"],
                        ImportToken=params["ImportToken"],
                        EncryptedKeyMaterial=encrypted,
                        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
                    )
                    assert out["KeyId"] == md["Arn"]
                    assert ("KeyMaterialId" in out) == (spec == "SYMMETRIC_DEFAULT")
                    after = kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]
                    assert (after["KeyState"], after["Enabled"], after["ExpirationModel"]) == (
                        "Enabled",
                        True,
                        "KEY_MATERIAL_DOES_NOT_EXPIRE",
                    ), (spec, alg, wspec)
                    prove(kms, after, usage, m, work)
                    imported += 1
    # Allowed: symmetric 2 algorithms x 3 sizes; HMAC 4 x 12; RSA 3 specs x 2 usages x 6 (the
    # RSA_AES ones); ECC 12 each for P-256 (two usages), P-384, secp256k1, and 10 for P-521
    # and Ed25519 (not RSAES with RSA_2048). The rest are refused.
    assert (imported, refused) == (6 + 48 + 36 + 12 * 4 + 10 * 2, 6 + 36 + 2 * 2)


def test_material_that_does_not_fit_the_key_is_refused(endpoint_reuse, materials, tmp_path):
    """Wrong length or wrong type of material: InvalidCiphertextException, no message."""
    kms = endpoint_reuse.client()
    cases = [
        ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", b"A" * 16),
        ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", b"A" * 33),
        ("HMAC_256", "GENERATE_VERIFY_MAC", b"A" * 31),
        ("HMAC_224", "GENERATE_VERIFY_MAC", b"A" * 129),
        ("RSA_2048", "SIGN_VERIFY", materials["RSA_3072"].material),
        ("RSA_3072", "SIGN_VERIFY", materials["ECC_NIST_P256"].material),
        ("ECC_NIST_P256", "SIGN_VERIFY", materials["ECC_NIST_P384"].material),
        ("ECC_NIST_P384", "SIGN_VERIFY", materials["ECC_SECG_P256K1"].material),
        ("ECC_NIST_EDWARDS25519", "SIGN_VERIFY", materials["ECC_NIST_P256"].material),
        ("ECC_NIST_P256", "SIGN_VERIFY", b"A" * 32),
    ]
    for spec, usage, material in cases:
        md = kms.create_key(Origin="EXTERNAL", KeySpec=spec, KeyUsage=usage)["KeyMetadata"]
        alg = "RSAES_OAEP_SHA_256" if spec in ("SYMMETRIC_DEFAULT",) or spec.startswith("HMAC") else "RSA_AES_KEY_WRAP_SHA_256"
        params = kms.get_parameters_for_import(KeyId=md["KeyId"], WrappingAlgorithm=alg, WrappingKeySpec="RSA_3072")
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            kms.import_key_material(
                KeyId=md["KeyId"],
                ImportToken=params["ImportToken"],
                EncryptedKeyMaterial=wrap(alg, params["PublicKey"], material, tmp_path / spec),
                ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
            )
        assert error_of(ei) == ("InvalidCiphertextException", ""), (spec, len(material))
        assert kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["KeyState"] == "PendingImport"


def test_ciphertext_is_aes_gcm_under_the_imported_material(endpoint_reuse, materials, tmp_path):
    """The symmetric ciphertext really is produced with the imported 32 bytes: it decrypts
    locally (AES-256-GCM; layout documented in shared/src/crypto/envelope.rs)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    kms = endpoint_reuse.client()
    m = materials["SYMMETRIC_DEFAULT"]
    md = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    params = kms.get_parameters_for_import(KeyId=md["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_1", WrappingKeySpec="RSA_4096")
    kms.import_key_material(
        KeyId=md["KeyId"],
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap("RSAES_OAEP_SHA_1", params["PublicKey"], m.material, tmp_path),
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
    )
    blob = kms.encrypt(KeyId=md["KeyId"], Plaintext=b"secret", EncryptionContext={"b": "2", "a": "1"})["CiphertextBlob"]
    aad = blob[:59]
    for k, v in sorted({"a": "1", "b": "2"}.items()):
        for part in (k, v):
            aad += len(part).to_bytes(4, "big") + part.encode()
    assert AESGCM(m.material).decrypt(blob[59:71], blob[71:], aad) == b"secret"
    data_key = kms.generate_data_key(KeyId=md["KeyId"], KeySpec="AES_256")
    assert len(data_key["Plaintext"]) == 32
    assert kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"] == data_key["Plaintext"]
    assert data_key["KeyMaterialId"] == blob[5:37].hex()
    without = kms.generate_data_key_without_plaintext(KeyId=md["KeyId"], NumberOfBytes=64)
    assert "Plaintext" not in without
    assert len(kms.decrypt(CiphertextBlob=without["CiphertextBlob"])["Plaintext"]) == 64
