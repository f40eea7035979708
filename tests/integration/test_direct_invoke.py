"""The direct-invoke `get-parameters-for-import` function, run as a real Lambda binary against a
small Lambda Runtime API served here, sharing the embedded store with a running endpoint."""

from __future__ import annotations

import base64

from conftest import BIN_DIR, openssl_public_key_bits
from lambda_runtime import RuntimeApi

FUNCTION = BIN_DIR / "get-parameters-for-import"


def test_direct_invoke_shares_keys_with_the_endpoint(endpoint, kms, data_dir):
    md = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    api = RuntimeApi()
    proc = api.start(
        FUNCTION, data_dir, KMS_MOCK_POOL_RSA_2048="1", KMS_MOCK_POOL_RSA_3072="0", KMS_MOCK_POOL_RSA_4096="0"
    )
    try:
        kind, out = api.invoke({"KeyId": md["KeyId"], "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_3072"})
        assert kind == "response", out
        assert sorted(out) == ["ImportToken", "KeyId", "ParametersValidTo", "PublicKey"]
        assert out["KeyId"] == md["Arn"]
        assert openssl_public_key_bits(base64.b64decode(out["PublicKey"])) == 3072
        assert isinstance(out["ParametersValidTo"], float)

        kind, out = api.invoke({"KeyId": md["KeyId"], "WrappingAlgorithm": "RSA_AES_KEY_WRAP_SHA_1", "WrappingKeySpec": "RSA_2048"})
        assert (kind, out["errorType"], out["errorMessage"]) == (
            "error",
            "ValidationException",
            "Wrapping algorithm RSA_AES_KEY_WRAP_SHA_1 and wrapping key spec RSA_2048 cannot be used to import a SYMMETRIC_DEFAULT key.",
        )
        kind, out = api.invoke({"KeyId": md["KeyId"]})
        assert (kind, out["errorType"]) == ("error", "ValidationException")
        assert out["errorMessage"].startswith("2 validation errors detected: Value null at 'wrappingAlgorithm'")
        kind, out = api.invoke({"KeyId": "alias/none", "WrappingAlgorithm": "RSAES_OAEP_SHA_1", "WrappingKeySpec": "RSA_2048"})
        assert (kind, out["errorType"]) == ("error", "NotFoundException")
    finally:
        proc.kill()
        proc.wait()
        api.close()
