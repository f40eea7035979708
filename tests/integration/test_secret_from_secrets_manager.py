"""The token-sealing secret read from Secrets Manager (KMS_MOCK_TOKEN_SECRET_ID), as a deployed
stack does, against moto's server (KMS_MOCK_TEST_DYNAMODB_ENDPOINT also serves Secrets Manager):
no secret file is written, an import token from one process imports in the next one that reads
the same secret, and an unknown secret stops start-up with a message naming the variable."""

from __future__ import annotations

import os
import subprocess
import uuid

import boto3
import pytest

from byok import wrap
from conftest import KMS_API, Endpoint

MOTO = os.environ.get("KMS_MOCK_TEST_DYNAMODB_ENDPOINT")
CREDS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1"}


@pytest.fixture
def secret_env():
    if not MOTO:
        if os.environ.get("CI"):
            pytest.fail("CI must set KMS_MOCK_TEST_DYNAMODB_ENDPOINT")
        pytest.skip("no moto server (KMS_MOCK_TEST_DYNAMODB_ENDPOINT)")
    name = f"kms-mock-it-{uuid.uuid4()}"
    boto3.client("secretsmanager", endpoint_url=MOTO, region_name="us-east-1", aws_access_key_id="test",
                 aws_secret_access_key="test").create_secret(Name=name, SecretString=uuid.uuid4().hex * 2)
    return {**CREDS, "AWS_ENDPOINT_URL_SECRETS_MANAGER": MOTO, "KMS_MOCK_TOKEN_SECRET_ID": name}


def test_tokens_sealed_with_the_secret_import_in_another_process(data_dir, secret_env, tmp_path):
    first = Endpoint(data_dir, env=secret_env).start()
    try:
        kms = first.client()
        key = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
        params = kms.get_parameters_for_import(KeyId=key, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                               WrappingKeySpec="RSA_2048")
    finally:
        first.stop()
    assert not (data_dir / "token-secret").exists(), "the secret comes from Secrets Manager, not a file"
    second = Endpoint(data_dir, env=secret_env).start()
    try:
        wrapped = wrap("RSAES_OAEP_SHA_256", params["PublicKey"], os.urandom(32), tmp_path)
        second.client().import_key_material(KeyId=key, ImportToken=params["ImportToken"],
                                            EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
        assert second.client().describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"
    finally:
        second.stop()


def test_an_unknown_secret_stops_start_up(data_dir, secret_env):
    env = {**os.environ, **secret_env, "KMS_MOCK_DATA": str(data_dir), "KMS_MOCK_LISTEN": "127.0.0.1:0",
           "KMS_MOCK_TOKEN_SECRET_ID": "no-such-secret"}
    out = subprocess.run([str(KMS_API)], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "KMS_MOCK_TOKEN_SECRET_ID=no-such-secret" in out.stderr
    assert "ResourceNotFoundException" in out.stderr
