"""Edges of the import flow and of using imported keys, through boto3: expiry bounds, states,
BER-encoded private keys, rotation listings and paging, asymmetric refusals."""

from __future__ import annotations

import base64
import json
import math

import pytest

from byok import make_material, openssl
from conftest import Endpoint
from test_import_lifecycle import A, B, C, Importer, history, refused


@pytest.fixture
def ep(data_dir):
    e = Endpoint(data_dir, env={"KMS_MOCK_DEBUG_API": "true", "KMS_MOCK_POOL_REUSE": "true"}).start()
    yield e
    e.stop()


def indefinite(der: bytes) -> bytes:
    """The PKCS#8 with its outer SEQUENCE in BER's indefinite-length form (as AWS was sent)."""
    assert der[0] == 0x30
    start = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    return b"\x30\x80" + der[start:] + b"\x00\x00"


def test_valid_to_bounds(ep, tmp_path):
    kms = ep.client()
    key = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    imp = Importer(kms, key, tmp_path)
    imp.params_for("tok1")
    now = ep.clock_now()
    # KMS keeps whole seconds: a ValidTo within the current second would be kept in the past.
    assert imp.refused(A, ValidTo=math.floor(now) + 0.999) == (
        "ValidationException",
        "ValidTo must be in the future",
    )
    # A minute over: a request that takes more than a second to arrive (a loaded CI machine)
    # must not slip under the limit, which moves with the clock.
    assert imp.refused(A, ValidTo=now + 365 * 86400 + 60) == (
        "ValidationException",
        "ValidTo must be less than 365 days in the future",
    )
    # Out of any client's range: raw JSON.
    status, _, body = ep.raw(
        "TrentService.ImportKeyMaterial",
        json.dumps({**{k: base64.b64encode(v).decode() for k, v in imp.args(A).items() if k != "KeyId"}, "KeyId": key})[:-1]
        + ', "ValidTo": 1e300}',
    )
    assert (status, json.loads(body)) == (
        400,
        {"__type": "ValidationException", "message": "ValidTo must be less than 365 days in the future"},
    )
    imp.imp(A, ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=now + 365 * 86400 - 1)
    md = kms.describe_key(KeyId=key)["KeyMetadata"]
    assert md["ValidTo"].timestamp() == math.floor(now + 365 * 86400 - 1)


def test_expired_material_is_listed_as_aws_lists_it(ep, tmp_path):
    """#53-54: the key is PendingImport at once, the history still says IMPORTED with the past
    ValidTo; an expired version pending rotation, once rotated in, leaves the key PendingImport."""
    kms = ep.client()
    key = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    imp = Importer(kms, key, tmp_path)
    imp.params_for("tok1")
    valid_to = ep.clock_now() + 20
    a_id = imp.imp(A, ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=valid_to)["KeyMaterialId"]
    ep.advance_clock(30)
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "PendingImport"
    [entry] = history(kms, key)
    assert (entry["KeyMaterialId"], entry["ImportState"], entry["KeyMaterialState"], entry["ExpirationModel"]) == (
        a_id, "IMPORTED", "CURRENT", "KEY_MATERIAL_EXPIRES",
    )
    assert entry["ValidTo"].timestamp() == math.floor(valid_to)

    imp.imp(A)
    b_valid_to = ep.clock_now() + 10
    imp.imp(B, ImportType="NEW_KEY_MATERIAL", ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=b_valid_to)
    ep.advance_clock(15)
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled", "pending expiry does not block the key"
    kms.rotate_key_on_demand(KeyId=key)
    md = kms.describe_key(KeyId=key)["KeyMetadata"]
    assert (md["KeyState"], md["Enabled"]) == ("PendingImport", False)
    assert refused(kms.encrypt, KeyId=key, Plaintext=b"x") == ("KMSInvalidStateException", f"{md['Arn']} is pending import.")


def test_key_pending_deletion_refuses_imports(ep, tmp_path):
    kms = ep.client()
    md = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    imp = Importer(kms, md["KeyId"], tmp_path)
    imp.params_for("tok1")
    imp.imp(A)
    kms.schedule_key_deletion(KeyId=md["KeyId"], PendingWindowInDays=7)
    expected = ("KMSInvalidStateException", f"{md['Arn']} is pending deletion.")
    assert imp.refused(A, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE") == expected
    assert refused(kms.delete_imported_key_material, KeyId=md["KeyId"]) == expected
    assert refused(kms.encrypt, KeyId=md["KeyId"], Plaintext=b"x") == expected


def test_rotation_listing_pages_and_other_key_specs(ep, tmp_path):
    kms = ep.client()
    key = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    imp = Importer(kms, key, tmp_path)
    imp.params_for("tok1")
    ids = [imp.imp(A)["KeyMaterialId"]]
    for material in (B, C):
        ids.append(imp.imp(material, ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"])
        kms.rotate_key_on_demand(KeyId=key)
    seen, marker = [], None
    while True:
        page = kms.list_key_rotations(KeyId=key, IncludeKeyMaterial="ALL_KEY_MATERIAL", Limit=1, **({"Marker": marker} if marker else {}))
        seen += [r["KeyMaterialId"] for r in page["Rotations"]]
        if not page["Truncated"]:
            assert "NextMarker" not in page
            break
        marker = page["NextMarker"]
    assert seen == ids
    only_rotations = kms.list_key_rotations(KeyId=key)["Rotations"]
    assert [(r["KeyMaterialId"], r["RotationType"]) for r in only_rotations] == [(ids[1], "ON_DEMAND"), (ids[2], "ON_DEMAND")]
    assert refused(kms.list_key_rotations, KeyId=key, Marker="bogus") == ("InvalidMarkerException", "The marker is not valid.")

    mac = kms.create_key(Origin="EXTERNAL", KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    for op in (kms.rotate_key_on_demand, kms.list_key_rotations):
        assert refused(op, KeyId=mac["KeyId"]) == (
            "UnsupportedOperationException",
            f"{mac['Arn']} key spec is HMAC_256 which is not valid for this operation.",
        )
    assert refused(kms.delete_imported_key_material, KeyId=mac["KeyId"], KeyMaterialId="0" * 64) == (
        "ValidationException",
        "Input parameter keyMaterialId cannot be used with HMAC_256 imported keys.",
    )


def test_ber_encoded_private_keys(ep, tmp_path):
    """AWS took BER-encoded PKCS#8 for RSA and ECC keys, as the same material, and refused it for
    Ed25519."""
    kms = ep.client()
    for spec, accepted in (("ECC_NIST_P256", True), ("RSA_2048", True), ("ECC_NIST_EDWARDS25519", False)):
        m = make_material(spec, tmp_path / spec)
        md = kms.create_key(Origin="EXTERNAL", KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]
        imp = Importer(kms, md["KeyId"], tmp_path / spec)
        imp.params_for("tok1", "RSA_AES_KEY_WRAP_SHA_256", "RSA_3072")
        imp.imp(m.material)
        kms.delete_imported_key_material(KeyId=md["KeyId"])
        if accepted:
            imp.imp(indefinite(m.material))
            assert kms.get_public_key(KeyId=md["KeyId"])["PublicKey"] == m.public_der
        else:
            assert imp.refused(indefinite(m.material), ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE") == (
                "InvalidCiphertextException", "",
            )


def test_asymmetric_use_edges(ep, tmp_path):
    kms = ep.client()
    # RSA ENCRYPT_DECRYPT: imported, used, deleted.
    m = make_material("RSA_2048", tmp_path / "rsa")
    md = kms.create_key(Origin="EXTERNAL", KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    imp = Importer(kms, md["KeyId"], tmp_path)
    imp.params_for("tok1", "RSA_AES_KEY_WRAP_SHA_1", "RSA_2048")
    imp.imp(m.material)
    ct = kms.encrypt(KeyId=md["KeyId"], Plaintext=b"imported RSA encryption", EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
    assert refused(kms.decrypt, CiphertextBlob=ct, EncryptionAlgorithm="RSAES_OAEP_SHA_256") == ("InvalidCiphertextException", "")
    assert refused(
        kms.encrypt, KeyId=md["KeyId"], Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_1", EncryptionContext={"a": "b"}
    ) == ("ValidationException", "EncryptionContext is not supported when encrypting/decrypting with asymmetric CMKs.")
    assert refused(kms.decrypt, KeyId=md["KeyId"], CiphertextBlob=b"\0" * 256, EncryptionAlgorithm="RSAES_OAEP_SHA_1") == (
        "InvalidCiphertextException", "",
    )
    kms.delete_imported_key_material(KeyId=md["KeyId"])
    assert refused(kms.decrypt, KeyId=md["KeyId"], CiphertextBlob=ct, EncryptionAlgorithm="RSAES_OAEP_SHA_256") == (
        "KMSInvalidStateException", f"{md['Arn']} is pending import.",
    )
    imp.imp(m.material)
    assert kms.decrypt(KeyId=md["KeyId"], CiphertextBlob=ct, EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Plaintext"] == (
        b"imported RSA encryption"
    )

    # ECDH with an imported KEY_AGREEMENT key (A2.4).
    e = make_material("ECC_NIST_P256", tmp_path / "ecdh")
    md = kms.create_key(Origin="EXTERNAL", KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]
    imp = Importer(kms, md["KeyId"], tmp_path / "ecdh")
    imp.params_for("tok1")
    imp.imp(e.material)
    peer = tmp_path / "peer.pem"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(peer))
    peer_public = openssl("pkey", "-in", str(peer), "-pubout", "-outform", "DER")
    args = dict(KeyId=md["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=peer_public)
    assert refused(kms.derive_shared_secret, **args, DryRun=True) == (
        "DryRunOperationException", "The request would have succeeded, but the DryRun option is set.",
    )
    p384 = make_material("ECC_NIST_P384", tmp_path / "p384")
    assert refused(kms.derive_shared_secret, **{**args, "PublicKey": p384.public_der})[0] == "ValidationException"
    secret = kms.derive_shared_secret(**args)["SharedSecret"]
    kms.delete_imported_key_material(KeyId=md["KeyId"])
    assert refused(kms.derive_shared_secret, **args) == ("KMSInvalidStateException", f"{md['Arn']} is pending import.")
    imp.imp(e.material)
    assert kms.derive_shared_secret(**args)["SharedSecret"] == secret, "same secret after reimport"


def test_what_the_mock_cannot_do_is_refused_plainly(ep):
    """The Nitro Enclaves Recipient parameter, and keys the mock has no material for (ML-DSA),
    answer UnsupportedOperationException rather than failing inside."""
    kms = ep.client()
    sym = kms.create_key()["KeyMetadata"]
    recipient = {"KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256", "AttestationDocument": b"doc"}
    assert refused(kms.generate_data_key, KeyId=sym["KeyId"], KeySpec="AES_256", Recipient=recipient) == (
        "UnsupportedOperationException",
        "Recipient (Nitro Enclaves attestation) is not supported by kms-import-mock.",
    )
    ct = kms.encrypt(KeyId=sym["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    assert refused(kms.decrypt, CiphertextBlob=ct, Recipient=recipient)[0] == "UnsupportedOperationException"
    ml = kms.create_key(KeySpec="ML_DSA_44", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    assert refused(kms.sign, KeyId=ml["KeyId"], Message=b"m", SigningAlgorithm="ML_DSA_SHAKE_256") == (
        "UnsupportedOperationException",
        "kms-import-mock has no key material for ML_DSA_44 keys.",
    )
