"""The import lifecycle of a symmetric key through boto3, replaying what real AWS KMS returned
(../shared/aws-kms-import-facts.md, A2.1, numbers in the comments), with the clock moved through
the debug API instead of waiting; then tokens, concurrency and the use of keys."""

from __future__ import annotations

import concurrent.futures
import datetime

import botocore.exceptions
import pytest

from byok import make_material, openssl, openssl_verify, wrap
from conftest import Endpoint

A, B, C = b"A" * 32, b"B" * 32, b"C" * 32


@pytest.fixture
def ep(data_dir):
    e = Endpoint(data_dir, env={"KMS_MOCK_DEBUG_API": "true", "KMS_MOCK_POOL_REUSE": "true"}).start()
    yield e
    e.stop()


def error_of(excinfo):
    e = excinfo.value.response["Error"]
    return e["Code"], e.get("Message", "")


def refused(call, **kw):
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        call(**kw)
    return error_of(ei)


class Importer:
    """GetParametersForImport results of one key, and imports that wrap with openssl."""

    def __init__(self, kms, key_id, workdir):
        self.kms, self.key_id, self.work = kms, key_id, workdir
        self.params = {}

    def params_for(self, name, alg="RSAES_OAEP_SHA_256", spec="RSA_2048"):
        self.params[name] = (alg, self.kms.get_parameters_for_import(KeyId=self.key_id, WrappingAlgorithm=alg, WrappingKeySpec=spec))
        return self.params[name][1]

    def args(self, material, token="tok1", **kw):
        alg, p = self.params[token]
        return dict(
            KeyId=self.key_id,
            ImportToken=p["ImportToken"],
            EncryptedKeyMaterial=wrap(alg, p["PublicKey"], material, self.work / token),
            **kw,
        )

    def imp(self, material, token="tok1", **kw):
        kw.setdefault("ExpirationModel", "KEY_MATERIAL_DOES_NOT_EXPIRE")
        return self.kms.import_key_material(**self.args(material, token, **kw))

    def refused(self, material, token="tok1", **kw):
        return refused(self.kms.import_key_material, **self.args(material, token, **kw))


def history(kms, key_id):
    return kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]


def test_symmetric_lifecycle_as_aws_returned_it(ep, tmp_path):
    kms = ep.client()
    md = kms.create_key(Origin="EXTERNAL", KeySpec="SYMMETRIC_DEFAULT", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    key, arn = md["KeyId"], md["Arn"]
    # 1-9: a key waiting for its material.
    assert not {"ExpirationModel", "ValidTo", "CurrentKeyMaterialId", "DeletionDate"} & md.keys()
    assert kms.list_key_rotations(KeyId=key, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"] == []
    out = kms.delete_imported_key_material(KeyId=key)
    assert {k: v for k, v in out.items() if k != "ResponseMetadata"} == {"KeyId": arn}
    for op in (kms.enable_key, kms.disable_key, kms.rotate_key_on_demand):
        assert refused(op, KeyId=key) == ("KMSInvalidStateException", f"{arn} is pending import.")
    for op in (kms.enable_key_rotation, kms.disable_key_rotation):
        assert refused(op, KeyId=key) == (
            "UnsupportedOperationException",
            f"{arn} origin is EXTERNAL which is not valid for this operation.",
        )
    assert kms.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"] is False

    # 12-17: parameters, then the expiry and material checks.
    imp = Importer(kms, key, tmp_path)
    imp.params_for("tok1", "RSAES_OAEP_SHA_256", "RSA_2048")
    imp.params_for("tok2", "RSAES_OAEP_SHA_1", "RSA_3072")
    now = ep.clock_now()
    assert refused(kms.import_key_material, **imp.args(A)) == (
        "ValidationException",
        "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES",
    )
    assert imp.refused(A, ValidTo=now - 60) == ("ValidationException", "ValidTo must be in the future")
    assert imp.refused(A, ValidTo=now + 367 * 86400) == (
        "ValidationException",
        "ValidTo must be less than 365 days in the future",
    )
    assert imp.refused(b"A" * 16, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE") == ("InvalidCiphertextException", "")

    # 18-27: the first import, with the older token; reimports; the id checks.
    first = imp.imp(A, KeyMaterialDescription="first material")
    a_id = first["KeyMaterialId"]
    assert len(a_id) == 64 and first["KeyId"] == arn
    md = kms.describe_key(KeyId=key)["KeyMetadata"]
    assert (md["KeyState"], md["Enabled"], md["ExpirationModel"], md["CurrentKeyMaterialId"]) == (
        "Enabled", True, "KEY_MATERIAL_DOES_NOT_EXPIRE", a_id,
    )
    assert "ValidTo" not in md
    assert history(kms, key) == [
        {
            "KeyId": arn,
            "KeyMaterialId": a_id,
            "KeyMaterialDescription": "first material",
            "ImportState": "IMPORTED",
            "KeyMaterialState": "CURRENT",
            "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
        }
    ]
    assert imp.imp(A)["KeyMaterialId"] == a_id
    assert imp.imp(A, token="tok2")["KeyMaterialId"] == a_id
    assert imp.refused(A, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE", ValidTo=now + 3600) == (
        "ValidationException",
        "A validTo date cannot be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE",
    )
    assert imp.refused(B, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE") == (
        "IncorrectKeyMaterialException",
        f"Imported key material does not have the expected identifier ({a_id}).",
    )
    assert imp.refused(A, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE", ImportType="NEW_KEY_MATERIAL") == (
        "IncorrectKeyMaterialException",
        f"Key material (id: {a_id}) being imported as NEW_KEY_MATERIAL is already associated with KMS key {arn}.",
    )
    assert imp.refused(A, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE", KeyMaterialId="0" * 64) == (
        "IncorrectKeyMaterialException",
        f"Imported key material does not have the expected identifier ({'0' * 64}).",
    )
    assert imp.refused(
        B, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE", ImportType="NEW_KEY_MATERIAL", KeyMaterialId=a_id
    ) == ("ValidationException", "Input parameter keyMaterialId cannot be used with NEW_KEY_MATERIAL importType.")

    # 28-32.
    a_ciphertext = kms.encrypt(KeyId=key, Plaintext=b"import lifecycle")["CiphertextBlob"]
    assert a_ciphertext[:5] == bytes([1, 2, 2, 0, 0x78]) and a_ciphertext[5:37].hex() == a_id
    assert refused(kms.rotate_key_on_demand, KeyId=key) == (
        "KMSInvalidStateException",
        f"No available key material pending rotation for the key: {arn}.",
    )

    # 33-41: stage B, refuse C while B is pending, delete B, stage it again, rotate.
    b_id = imp.imp(B, ImportType="NEW_KEY_MATERIAL", KeyMaterialDescription="pending second")["KeyMaterialId"]
    assert [(h["KeyMaterialId"], h["KeyMaterialState"]) for h in history(kms, key)] == [
        (a_id, "CURRENT"), (b_id, "PENDING_ROTATION"),
    ]
    code, message = imp.refused(C, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE", ImportType="NEW_KEY_MATERIAL")
    assert code == "KMSInvalidStateException"
    assert message.startswith("New key material (id: ") and message.endswith(
        f") cannot be imported into KMS key {arn}, because another key material (id: {b_id}) is pending rotation."
    )
    out = kms.delete_imported_key_material(KeyId=key, KeyMaterialId=b_id)
    assert (out["KeyId"], out["KeyMaterialId"]) == (arn, b_id)
    assert [h["KeyMaterialId"] for h in history(kms, key)] == [a_id]
    assert imp.imp(B, ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"] == b_id
    assert kms.rotate_key_on_demand(KeyId=key)["KeyId"] == arn
    rotations = history(kms, key)
    assert [(h["KeyMaterialId"], h["KeyMaterialState"]) for h in rotations] == [(a_id, "NON_CURRENT"), (b_id, "CURRENT")]
    assert rotations[1]["RotationType"] == "ON_DEMAND" and "RotationDate" in rotations[1]
    assert "KeyMaterialDescription" not in rotations[1], "a description is not restored"
    assert [r["KeyMaterialId"] for r in kms.list_key_rotations(KeyId=key)["Rotations"]] == [b_id]
    back = kms.decrypt(CiphertextBlob=a_ciphertext)
    assert (back["Plaintext"], back["KeyMaterialId"]) == (b"import lifecycle", a_id)
    assert kms.encrypt(KeyId=key, Plaintext=b"x")["CiphertextBlob"][5:37].hex() == b_id

    # 42-46: a missing non-current version blocks the whole key until it is back.
    assert kms.delete_imported_key_material(KeyId=key, KeyMaterialId=a_id)["KeyMaterialId"] == a_id
    md = kms.describe_key(KeyId=key)["KeyMetadata"]
    assert (md["KeyState"], md["Enabled"], md["CurrentKeyMaterialId"]) == ("PendingImport", False, b_id)
    assert "ExpirationModel" not in md
    assert refused(kms.encrypt, KeyId=key, Plaintext=b"x") == ("KMSInvalidStateException", f"{arn} is pending import.")
    assert refused(kms.decrypt, CiphertextBlob=a_ciphertext) == ("KMSInvalidStateException", f"{arn} is pending import.")
    missing = history(kms, key)[0]
    assert (missing["ImportState"], missing["KeyMaterialState"]) == ("PENDING_IMPORT", "NON_CURRENT")
    assert "ExpirationModel" not in missing
    imp.imp(A, KeyMaterialId=a_id)
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"

    # 47-50: a reimport into a disabled key enables it.
    kms.disable_key(KeyId=key)
    assert refused(kms.encrypt, KeyId=key, Plaintext=b"x") == ("DisabledException", f"{arn} is disabled.")
    kms.get_parameters_for_import(KeyId=key, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
    imp.imp(B)
    md = kms.describe_key(KeyId=key)["KeyMetadata"]
    assert (md["KeyState"], md["Enabled"]) == ("Enabled", True)

    # 52-55: expiry (the clock is moved, not waited for), then reimport.
    valid_to = ep.clock_now() + 20.9567
    imp.imp(B, ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=valid_to)
    md = kms.describe_key(KeyId=key)["KeyMetadata"]
    assert md["ExpirationModel"] == "KEY_MATERIAL_EXPIRES"
    assert md["ValidTo"].timestamp() == int(valid_to), "whole seconds, truncated"
    ep.advance_clock(21)
    md = kms.describe_key(KeyId=key)["KeyMetadata"]
    assert (md["KeyState"], md["Enabled"], md["CurrentKeyMaterialId"]) == ("PendingImport", False, b_id)
    assert not {"ExpirationModel", "ValidTo"} & md.keys()
    assert refused(kms.encrypt, KeyId=key, Plaintext=b"x") == ("KMSInvalidStateException", f"{arn} is pending import.")
    imp.imp(B)
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"

    # 56-61: deleting the current material, twice; an unknown id; deletion scheduled and cancelled.
    for _ in range(2):
        out = kms.delete_imported_key_material(KeyId=key)
        assert (out["KeyId"], out["KeyMaterialId"]) == (arn, b_id)
    assert refused(kms.delete_imported_key_material, KeyId=key, KeyMaterialId="0" * 64) == (
        "ValidationException",
        f"Key material (id: {'0' * 64}) has never been imported into KMS key {arn}.",
    )
    out = kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    assert (out["KeyState"], out["PendingWindowInDays"]) == ("PendingDeletion", 7)
    kms.cancel_key_deletion(KeyId=key)
    md = kms.describe_key(KeyId=key)["KeyMetadata"]
    assert (md["KeyState"], md["Enabled"], md["CurrentKeyMaterialId"]) == ("PendingImport", False, b_id)


def test_rotation_with_a_delay(data_dir, tmp_path):
    ep = Endpoint(
        data_dir, env={"KMS_MOCK_DEBUG_API": "true", "KMS_MOCK_POOL_REUSE": "true", "KMS_MOCK_ROTATION_DELAY_SECONDS": "150"}
    ).start()
    try:
        kms = ep.client()
        key = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
        imp = Importer(kms, key, tmp_path)
        imp.params_for("tok1")
        a_id = imp.imp(A)["KeyMaterialId"]
        b_id = imp.imp(B, ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
        kms.rotate_key_on_demand(KeyId=key)
        status = kms.get_key_rotation_status(KeyId=key)
        assert isinstance(status["OnDemandRotationStartDate"], datetime.datetime)
        assert [h["KeyMaterialState"] for h in history(kms, key)] == ["CURRENT", "PENDING_ROTATION"]
        assert refused(kms.rotate_key_on_demand, KeyId=key)[0] == "ConflictException"
        # The staged material is replaced before the rotation completes: the replacement rotates.
        kms.delete_imported_key_material(KeyId=key, KeyMaterialId=b_id)
        c_id = imp.imp(C, ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
        ep.advance_clock(150)
        assert "OnDemandRotationStartDate" not in kms.get_key_rotation_status(KeyId=key)
        assert [(h["KeyMaterialId"], h["KeyMaterialState"]) for h in history(kms, key)] == [
            (a_id, "NON_CURRENT"), (c_id, "CURRENT"),
        ]
        assert kms.describe_key(KeyId=key)["KeyMetadata"]["CurrentKeyMaterialId"] == c_id
    finally:
        ep.stop()


def test_tokens(ep, tmp_path, data_dir):
    kms = ep.client()
    key = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    other = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    imp = Importer(kms, key, tmp_path)
    p = imp.params_for("tok1")
    token = bytearray(p["ImportToken"])
    for position in (0, 1, len(token) // 2, len(token) - 1):
        bad = bytearray(token)
        bad[position] ^= 0x01
        args = imp.args(A)
        args["ImportToken"] = bytes(bad)
        assert refused(kms.import_key_material, **args, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE") == (
            "InvalidImportTokenException",
            "",
        ), position
    # A token for another key, with material wrapped under this key's public key.
    theirs = kms.get_parameters_for_import(KeyId=other, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
    args = imp.args(A)
    args["ImportToken"] = theirs["ImportToken"]
    assert refused(kms.import_key_material, **args, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE") == (
        "InvalidImportTokenException",
        "",
    )
    # Garbage, as in the capture (32 x "x").
    args["ImportToken"] = b"x" * 32
    assert refused(kms.import_key_material, **args, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")[0] == (
        "InvalidImportTokenException"
    )
    # Ciphertext that does not decrypt (256 x "x", the right length for RSA_2048).
    args = imp.args(A)
    args["EncryptedKeyMaterial"] = b"x" * 256
    assert refused(kms.import_key_material, **args, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE") == (
        "InvalidCiphertextException",
        "",
    )
    # Tokens are stateless: a restarted process (same data folder, same secret) accepts them.
    ep.stop()
    ep.start()
    imp.imp(A)
    # ... until ParametersValidTo.
    ep.advance_clock(24 * 3600)
    assert imp.refused(A, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")[0] == "ExpiredImportTokenException"


def test_concurrent_imports_one_wins(ep, tmp_path):
    """Racing first imports of different material: exactly one succeeds and the key holds it."""
    kms = ep.client()
    key = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    imp = Importer(kms, key, tmp_path)
    imp.params_for("tok1")
    materials = [bytes([65 + i]) * 32 for i in range(12)]
    requests = [imp.args(m, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE") for m in materials]

    def one(args):
        try:
            return "ok", ep.client().import_key_material(**args)["KeyMaterialId"]
        except botocore.exceptions.ClientError as e:
            return e.response["Error"]["Code"], None

    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(one, requests))
    winners = [mid for code, mid in results if code == "ok"]
    assert len(winners) == 1, results
    assert sorted(code for code, _ in results if code != "ok") == ["IncorrectKeyMaterialException"] * 11
    md = kms.describe_key(KeyId=key)["KeyMetadata"]
    assert (md["KeyState"], md["CurrentKeyMaterialId"]) == ("Enabled", winners[0])
    assert len(history(kms, key)) == 1

    # Racing NEW_KEY_MATERIAL stagings: one is pending, the others are refused.
    staged = [imp.args(bytes([97 + i]) * 32, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE", ImportType="NEW_KEY_MATERIAL") for i in range(8)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, staged))
    assert [code for code, _ in results].count("ok") == 1, results
    assert [code for code, _ in results].count("KMSInvalidStateException") == 7
    assert [h["KeyMaterialState"] for h in history(kms, key)] == ["CURRENT", "PENDING_ROTATION"]


def test_using_keys_is_refused_as_aws_refuses(ep, tmp_path):
    kms = ep.client()
    pending = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    arn = pending["Arn"]
    assert refused(kms.encrypt, KeyId=pending["KeyId"], Plaintext=b"x") == (
        "KMSInvalidStateException", f"{arn} is pending import.",
    )
    assert refused(kms.generate_data_key, KeyId=pending["KeyId"], KeySpec="AES_256")[0] == "KMSInvalidStateException"

    sym = kms.create_key()["KeyMetadata"]
    mac = kms.create_key(KeySpec="HMAC_224", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    ecc = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    assert refused(kms.sign, KeyId=sym["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256") == (
        "InvalidKeyUsageException", f"{sym['Arn']} key usage is ENCRYPT_DECRYPT which is not valid for Sign.",
    )
    assert refused(kms.encrypt, KeyId=ecc["KeyId"], Plaintext=b"m") == (
        "InvalidKeyUsageException", f"{ecc['Arn']} key usage is SIGN_VERIFY which is not valid for Encrypt.",
    )
    assert refused(kms.generate_mac, KeyId=mac["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_256") == (
        "InvalidKeyUsageException", "Algorithm HMAC_SHA_256 is incompatible with key spec HMAC_224.",
    )
    assert refused(kms.encrypt, KeyId=rsa["KeyId"], Plaintext=b"m") == (
        "InvalidKeyUsageException", "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048.",
    )
    assert refused(kms.encrypt, KeyId=rsa["KeyId"], Plaintext=b"m" * 191, EncryptionAlgorithm="RSAES_OAEP_SHA_256") == (
        "ValidationException", "Algorithm RSAES_OAEP_SHA_256 and key spec RSA_2048 cannot encrypt data larger than 190 bytes.",
    )
    assert refused(kms.generate_data_key, KeyId=rsa["KeyId"], KeySpec="AES_256") == (
        "InvalidKeyUsageException", "You cannot generate a data key with an asymmetric CMK",
    )
    assert refused(kms.generate_data_key, KeyId=sym["KeyId"]) == (
        "ValidationException", "Please specify either number of bytes or key spec.",
    )
    assert refused(kms.get_public_key, KeyId=sym["KeyId"])[0] == "UnsupportedOperationException"

    m = kms.generate_mac(KeyId=mac["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_224")["Mac"]
    assert refused(kms.verify_mac, KeyId=mac["KeyId"], Message=b"n", MacAlgorithm="HMAC_SHA_224", Mac=m) == (
        "KMSInvalidMacException", "",
    )
    sig = kms.sign(KeyId=ecc["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    assert refused(kms.verify, KeyId=ecc["KeyId"], Message=b"n", Signature=sig, SigningAlgorithm="ECDSA_SHA_256") == (
        "KMSInvalidSignatureException", "",
    )
    assert refused(kms.sign, KeyId=ecc["KeyId"], Message=b"\0" * 31, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256") == (
        "ValidationException", "Digest is invalid length for algorithm ECDSA_SHA_256.",
    )
    assert refused(kms.sign, KeyId=ecc["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256", DryRun=True) == (
        "DryRunOperationException", "The request would have succeeded, but the DryRun option is set.",
    )
    # A KMS-made key signs too, and its public key checks the signature with openssl.
    pem = tmp_path / "ecc.pem"
    pem.write_bytes(openssl("pkey", "-pubin", "-inform", "DER", "-pubout", data=kms.get_public_key(KeyId=ecc["KeyId"])["PublicKey"]))
    assert openssl_verify(pem, "ECDSA_SHA_256", b"m", sig, tmp_path)

    ct = kms.encrypt(KeyId=sym["KeyId"], Plaintext=b"secret", EncryptionContext={"k": "v"})["CiphertextBlob"]
    assert refused(kms.decrypt, CiphertextBlob=ct) == ("InvalidCiphertextException", "")
    assert refused(kms.decrypt, CiphertextBlob=ct, EncryptionContext={"k": "w"}) == ("InvalidCiphertextException", "")
    assert refused(kms.decrypt, CiphertextBlob=b"garbage" * 20) == ("InvalidCiphertextException", "")
    other = kms.create_key()["KeyMetadata"]
    assert refused(kms.decrypt, CiphertextBlob=ct, EncryptionContext={"k": "v"}, KeyId=other["KeyId"]) == (
        "IncorrectKeyException", "The key ID in the request does not identify a CMK that can perform this operation.",
    )
    kms.create_alias(AliasName="alias/sym", TargetKeyId=sym["KeyId"])
    assert kms.decrypt(CiphertextBlob=ct, EncryptionContext={"k": "v"}, KeyId="alias/sym")["Plaintext"] == b"secret"
    # On-demand rotation of a KMS-made key: old ciphertext keeps decrypting.
    kms.rotate_key_on_demand(KeyId=sym["KeyId"])
    assert kms.decrypt(CiphertextBlob=ct, EncryptionContext={"k": "v"})["Plaintext"] == b"secret"
    assert [r["KeyMaterialState"] for r in history(kms, sym["KeyId"])] == ["NON_CURRENT", "CURRENT"]
    kms.disable_key(KeyId=sym["KeyId"])
    assert refused(kms.decrypt, CiphertextBlob=ct, EncryptionContext={"k": "v"}) == (
        "DisabledException", f"{sym['Arn']} is disabled.",
    )


def test_asymmetric_and_hmac_keys_take_only_their_material_again(ep, tmp_path):
    kms = ep.client()
    m = make_material("ECC_NIST_P384", tmp_path / "m")
    other = make_material("ECC_NIST_P384", tmp_path / "o")
    md = kms.create_key(Origin="EXTERNAL", KeySpec="ECC_NIST_P384", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    imp = Importer(kms, md["KeyId"], tmp_path)
    imp.params_for("tok1", "RSAES_OAEP_SHA_256", "RSA_3072")
    assert imp.refused(m.material, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE", ImportType="EXISTING_KEY_MATERIAL") == (
        "ValidationException", "Input parameter importType cannot be used with ECC_NIST_P384 imported keys.",
    )
    assert imp.refused(m.material, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE", KeyMaterialDescription="d") == (
        "ValidationException", "Input parameter keyMaterialDescription cannot be used with ECC_NIST_P384 imported keys.",
    )
    assert imp.imp(m.material).keys() - {"ResponseMetadata"} == {"KeyId"}
    md = kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]
    assert "CurrentKeyMaterialId" not in md
    assert refused(kms.list_key_rotations, KeyId=md["KeyId"], IncludeKeyMaterial="ALL_KEY_MATERIAL") == (
        "ValidationException", "Input parameter includeKeyMaterial can only be used with symmetric keys.",
    )
    assert kms.delete_imported_key_material(KeyId=md["KeyId"]).keys() - {"ResponseMetadata"} == {"KeyId"}
    assert refused(kms.get_public_key, KeyId=md["KeyId"]) == ("KMSInvalidStateException", f"{md['Arn']} is pending import.")
    code, message = imp.refused(other.material, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert code == "IncorrectKeyMaterialException"
    assert message.startswith("Imported key material does not have the expected identifier (")
    imp.imp(m.material)
    assert kms.get_public_key(KeyId=md["KeyId"])["PublicKey"] == m.public_der
