"""The sample events in events/, fed to the real function binaries in Lambda mode (what
`sam local invoke -e events/<file>` and `cargo lambda invoke --data-file events/<file>` do)."""

from __future__ import annotations

import base64
import json

import pytest

from conftest import BIN_DIR, ROOT, openssl_public_key_bits
from lambda_runtime import RuntimeApi

EVENTS = ROOT / "events"
PLACEHOLDER_KEY = "1234abcd-12ab-34cd-56ef-1234567890ab"


def load(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def with_key(event: dict, key_id: str) -> dict:
    """The HTTP event with its request's KeyId replaced (the shipped file names a placeholder)."""
    raw = base64.b64decode(event["body"]) if event["isBase64Encoded"] else event["body"].encode()
    body = json.loads(raw)
    body["KeyId"] = key_id
    raw = json.dumps(body).encode()
    return {**event, "body": base64.b64encode(raw).decode() if event["isBase64Encoded"] else raw.decode()}


@pytest.fixture
def lambda_api(data_dir):
    api = RuntimeApi()
    proc = api.start(BIN_DIR / "kms-api", data_dir, KMS_MOCK_POOL_RSA_4096="1")
    yield api
    proc.kill()
    proc.wait()
    api.close()


def kms_response(result) -> tuple[int, dict, dict]:
    kind, out = result
    assert kind == "response", out
    body = base64.b64decode(out["body"]) if out.get("isBase64Encoded") else out["body"].encode()
    return out["statusCode"], out["headers"], json.loads(body)


def test_http_events_through_the_lambda_front_door(lambda_api):
    status, headers, created = kms_response(lambda_api.invoke(load("kms-api.create-key.external-symmetric.json")))
    assert status == 200
    assert headers["content-type"] == "application/x-amz-json-1.1"
    md = created["KeyMetadata"]
    assert (md["KeyState"], md["Origin"], md["Description"]) == ("PendingImport", "EXTERNAL", "imported from events/")
    # The region comes from the event's SigV4 credential scope.
    assert md["Arn"].startswith("arn:aws:kms:us-east-1:111122223333:key/")

    gpfi = load("kms-api.get-parameters-for-import.rsa4096-oaep256.json")
    assert gpfi["isBase64Encoded"], "the Function URL form of a binary content type"
    status, _, out = kms_response(lambda_api.invoke(gpfi))
    assert (status, out) == (
        400,
        {"__type": "NotFoundException", "message": f"Key 'arn:aws:kms:us-east-1:111122223333:key/{PLACEHOLDER_KEY}' does not exist"},
    )
    status, _, out = kms_response(lambda_api.invoke(with_key(gpfi, md["KeyId"])))
    assert status == 200
    assert out["KeyId"] == md["Arn"]
    assert openssl_public_key_bits(base64.b64decode(out["PublicKey"])) == 4096


def test_direct_invoke_event(data_dir):
    api = RuntimeApi()
    proc = api.start(BIN_DIR / "get-parameters-for-import", data_dir, KMS_MOCK_POOL_RSA_4096="0")
    try:
        kind, out = api.invoke(load("get-parameters-for-import.rsa4096-oaep256.json"))
        assert (kind, out["errorType"], out["errorMessage"]) == (
            "error",
            "NotFoundException",
            f"Key 'arn:aws:kms:us-east-1:111122223333:key/{PLACEHOLDER_KEY}' does not exist",
        )
    finally:
        proc.kill()
        proc.wait()
        api.close()
