"""The bring-your-own-key flow against the `kms_mock` fixture, as a user of the wheel writes it."""

import os
import time

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding


def wrap(public_key_der: bytes, material: bytes) -> bytes:
    public_key = serialization.load_der_public_key(public_key_der)
    return public_key.encrypt(material, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()),
                                                     algorithm=hashes.SHA256(), label=None))


def import_key(kms, **import_args):
    key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    params = kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                           WrappingKeySpec="RSA_4096")
    kms.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"],
                            EncryptedKeyMaterial=wrap(params["PublicKey"], os.urandom(32)), **import_args)
    return key_id


def test_imported_key_encrypts_and_decrypts(kms_mock):
    kms = kms_mock.kms
    key_id = import_key(kms, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert (meta["KeyState"], meta["Origin"], meta["ExpirationModel"]) == (
        "Enabled", "EXTERNAL", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert meta["Arn"] == f"arn:aws:kms:us-east-1:111122223333:key/{key_id}"
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"secret")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"


def test_expiring_material_expires_when_the_clock_moves(kms_mock):
    kms = kms_mock.kms
    key_id = import_key(kms, ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=time.time() + 3600)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    kms_mock.advance_clock(3601)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"


def test_the_sidecar_is_in_front(kms_mock):
    key_id = kms_mock.kms.create_key()["KeyMetadata"]["KeyId"]
    reader = kms_mock.client(aws_access_key_id="AKIAREADER", aws_secret_access_key="reader-secret")
    assert reader.describe_key(KeyId=key_id)["KeyMetadata"]["KeyId"] == key_id
    with pytest.raises(ClientError) as denied:
        reader.encrypt(KeyId=key_id, Plaintext=b"x")
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert denied.value.response["Error"]["Message"] == (
        "User: arn:aws:iam::111122223333:user/reader is not authorized to perform: kms:Encrypt on resource: "
        f"arn:aws:kms:us-east-1:111122223333:key/{key_id} because no identity-based policy allows the kms:Encrypt action")
    stranger = kms_mock.client(aws_access_key_id="AKIASTRANGER", aws_secret_access_key="x")
    with pytest.raises(ClientError) as unknown:
        stranger.list_keys()
    assert unknown.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_the_data_folder_is_the_fixtures_own(kms_mock):
    assert kms_mock.url.startswith("http://127.0.0.1:")
    assert (kms_mock.data_dir / "token-secret").exists()
