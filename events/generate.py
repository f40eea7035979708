#!/usr/bin/env python3
"""Writes the sample events in this folder; `--check` fails if a file differs from what it
would write (tests/integration/test_events.py runs that check).

- `kms-api.<operation>.<case>.json`: one KMS call as API Gateway HTTP API (payload format 2.0)
  or a Lambda Function URL delivers it to the `kms-api` function. Both base64 the body of an
  `application/x-amz-json-1.1` request (`isBase64Encoded: true`); the `create-key` events carry
  a plain body, as `sam local start-api` passes it.
- `get-parameters-for-import.<case>.json`: the request JSON itself, for the direct-invoke
  `get-parameters-for-import` function.

Events that act on a key name the placeholder key below (the AWS documentation's example key
ID): as shipped they get NotFoundException; put a real key ID (from the `create-key` events)
in the body to run them for real. Blob fields the user must fill carry placeholders too.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ACCOUNT = "111122223333"
REGION = "us-east-1"
KEY = "1234abcd-12ab-34cd-56ef-1234567890ab"
# A multi-Region primary (the form CreateKey MultiRegion=true gives), for ReplicateKey and
# UpdatePrimaryRegion.
MRK = "mrk-1234abcd12ab34cd56ef1234567890ab"
API_ID = "abcdef1234"
URL_ID = "abcdefghijklmnopqrstuvwxyz012345"
TIME_EPOCH_MS = 1795521600000


def placeholder(text: str) -> str:
    """A base64 blob that says what belongs there."""
    return base64.b64encode(f"<{text}>".encode()).decode()


# (file name, operation, request body, shape, body encoding)
HTTP_EVENTS: list[tuple[str, str, dict, str, str]] = [
    ("create-key.external-symmetric", "CreateKey",
     {"Origin": "EXTERNAL", "Description": "imported from events/"}, "http-api", "plain"),
    ("create-key.external-rsa2048-sign-verify", "CreateKey",
     {"Origin": "EXTERNAL", "KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY",
      "Description": "imported RSA signing key from events/"}, "http-api", "plain"),
    ("create-key.external-hmac256", "CreateKey",
     {"Origin": "EXTERNAL", "KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC",
      "Description": "imported HMAC key from events/"}, "http-api", "plain"),
    ("create-key.external-ecc-p256-key-agreement", "CreateKey",
     {"Origin": "EXTERNAL", "KeySpec": "ECC_NIST_P256", "KeyUsage": "KEY_AGREEMENT",
      "Description": "imported key agreement key from events/"}, "http-api", "plain"),
    ("describe-key", "DescribeKey", {"KeyId": KEY}, "http-api", "base64"),
    ("list-keys.function-url", "ListKeys", {"Limit": 100}, "function-url", "base64"),
    ("get-parameters-for-import.rsa4096-oaep256", "GetParametersForImport",
     {"KeyId": KEY, "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_4096"},
     "http-api", "base64"),
    ("get-parameters-for-import.rsa2048-oaep1", "GetParametersForImport",
     {"KeyId": KEY, "WrappingAlgorithm": "RSAES_OAEP_SHA_1", "WrappingKeySpec": "RSA_2048"},
     "http-api", "base64"),
    ("get-parameters-for-import.rsa3072-aes-key-wrap-sha256", "GetParametersForImport",
     {"KeyId": KEY, "WrappingAlgorithm": "RSA_AES_KEY_WRAP_SHA_256", "WrappingKeySpec": "RSA_3072"},
     "http-api", "base64"),
    ("import-key-material.does-not-expire", "ImportKeyMaterial",
     {"KeyId": KEY, "ImportToken": placeholder("ImportToken from GetParametersForImport"),
      "EncryptedKeyMaterial": placeholder("key material wrapped under its PublicKey"),
      "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}, "http-api", "base64"),
    ("import-key-material.new-key-material", "ImportKeyMaterial",
     {"KeyId": KEY, "ImportToken": placeholder("ImportToken from GetParametersForImport"),
      "EncryptedKeyMaterial": placeholder("new key material wrapped under its PublicKey"),
      "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE", "ImportType": "NEW_KEY_MATERIAL",
      "KeyMaterialDescription": "second material"}, "http-api", "base64"),
    ("encrypt", "Encrypt",
     {"KeyId": KEY, "Plaintext": base64.b64encode(b"hello from events/").decode(),
      "EncryptionContext": {"purpose": "sample"}}, "http-api", "base64"),
    ("decrypt", "Decrypt",
     {"KeyId": KEY, "CiphertextBlob": placeholder("CiphertextBlob from Encrypt"),
      "EncryptionContext": {"purpose": "sample"}}, "http-api", "base64"),
    ("generate-data-key.aes256", "GenerateDataKey", {"KeyId": KEY, "KeySpec": "AES_256"},
     "http-api", "base64"),
    ("generate-data-key-without-plaintext.aes256", "GenerateDataKeyWithoutPlaintext",
     {"KeyId": KEY, "KeySpec": "AES_256"}, "http-api", "base64"),
    ("sign.rsassa-pss-sha256", "Sign",
     {"KeyId": KEY, "Message": base64.b64encode(b"sign me").decode(), "MessageType": "RAW",
      "SigningAlgorithm": "RSASSA_PSS_SHA_256"}, "http-api", "base64"),
    ("verify.rsassa-pss-sha256", "Verify",
     {"KeyId": KEY, "Message": base64.b64encode(b"sign me").decode(), "MessageType": "RAW",
      "Signature": placeholder("Signature from Sign"), "SigningAlgorithm": "RSASSA_PSS_SHA_256"},
     "http-api", "base64"),
    ("get-public-key", "GetPublicKey", {"KeyId": KEY}, "http-api", "base64"),
    ("generate-mac.hmac-sha256", "GenerateMac",
     {"KeyId": KEY, "Message": base64.b64encode(b"mac me").decode(), "MacAlgorithm": "HMAC_SHA_256"},
     "http-api", "base64"),
    ("verify-mac.hmac-sha256", "VerifyMac",
     {"KeyId": KEY, "Message": base64.b64encode(b"mac me").decode(), "MacAlgorithm": "HMAC_SHA_256",
      "Mac": placeholder("Mac from GenerateMac")}, "http-api", "base64"),
    ("derive-shared-secret.ecdh", "DeriveSharedSecret",
     {"KeyId": KEY, "KeyAgreementAlgorithm": "ECDH",
      "PublicKey": placeholder("the peer's DER SubjectPublicKeyInfo on the key's curve")},
     "http-api", "base64"),
    ("create-alias", "CreateAlias", {"AliasName": "alias/imported-example", "TargetKeyId": KEY},
     "http-api", "base64"),
    ("list-aliases", "ListAliases", {"KeyId": KEY}, "http-api", "base64"),
    ("update-alias", "UpdateAlias", {"AliasName": "alias/imported-example", "TargetKeyId": KEY},
     "http-api", "base64"),
    ("delete-alias", "DeleteAlias", {"AliasName": "alias/imported-example"}, "http-api", "base64"),
    ("get-key-policy", "GetKeyPolicy", {"KeyId": KEY, "PolicyName": "default"}, "http-api", "base64"),
    ("list-key-policies", "ListKeyPolicies", {"KeyId": KEY}, "http-api", "base64"),
    ("put-key-policy", "PutKeyPolicy",
     {"KeyId": KEY, "PolicyName": "default", "Policy": json.dumps({
         "Version": "2012-10-17",
         "Statement": [{"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                        "Action": "kms:*", "Resource": "*"}]})},
     "http-api", "base64"),
    ("tag-resource", "TagResource",
     {"KeyId": KEY, "Tags": [{"TagKey": "team", "TagValue": "payments"}]}, "http-api", "base64"),
    ("untag-resource", "UntagResource", {"KeyId": KEY, "TagKeys": ["team"]}, "http-api", "base64"),
    ("list-resource-tags", "ListResourceTags", {"KeyId": KEY}, "http-api", "base64"),
    ("update-key-description", "UpdateKeyDescription",
     {"KeyId": KEY, "Description": "described from events/"}, "http-api", "base64"),
    ("generate-random.32-bytes", "GenerateRandom", {"NumberOfBytes": 32}, "http-api", "base64"),
    ("get-key-last-usage", "GetKeyLastUsage", {"KeyId": KEY}, "http-api", "base64"),
    ("create-grant", "CreateGrant",
     {"KeyId": KEY, "GranteePrincipal": f"arn:aws:iam::{ACCOUNT}:role/app",
      "Operations": ["Decrypt", "GenerateDataKey"], "Constraints": {"EncryptionContextSubset": {"app": "example"}},
      "Name": "example-grant"}, "http-api", "base64"),
    ("list-grants", "ListGrants", {"KeyId": KEY}, "http-api", "base64"),
    ("list-retirable-grants", "ListRetirableGrants",
     {"RetiringPrincipal": f"arn:aws:iam::{ACCOUNT}:role/app"}, "http-api", "base64"),
    ("retire-grant", "RetireGrant", {"KeyId": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{KEY}",
                                      "GrantId": "0" * 64}, "http-api", "base64"),
    ("revoke-grant", "RevokeGrant", {"KeyId": KEY, "GrantId": "0" * 64}, "http-api", "base64"),
    ("re-encrypt", "ReEncrypt",
     {"CiphertextBlob": placeholder("a ciphertext from Encrypt"), "DestinationKeyId": KEY}, "http-api", "base64"),
    ("generate-data-key-pair.ecc-p256", "GenerateDataKeyPair",
     {"KeyId": KEY, "KeyPairSpec": "ECC_NIST_P256", "EncryptionContext": {"purpose": "example"}},
     "http-api", "base64"),
    ("generate-data-key-pair-without-plaintext.rsa2048", "GenerateDataKeyPairWithoutPlaintext",
     {"KeyId": KEY, "KeyPairSpec": "RSA_2048"}, "http-api", "base64"),
    ("describe-custom-key-stores", "DescribeCustomKeyStores", {}, "http-api", "base64"),
    ("create-custom-key-store.cloudhsm", "CreateCustomKeyStore",
     {"CustomKeyStoreName": "example-store", "CloudHsmClusterId": "cluster-234abcdefgh",
      "TrustAnchorCertificate": "<the cluster's trust anchor certificate>", "KeyStorePassword": "kmsPswd1"},
     "http-api", "base64"),
    ("connect-custom-key-store", "ConnectCustomKeyStore", {"CustomKeyStoreId": "cks-1234567890abcdef0"},
     "http-api", "base64"),
    ("disconnect-custom-key-store", "DisconnectCustomKeyStore", {"CustomKeyStoreId": "cks-1234567890abcdef0"},
     "http-api", "base64"),
    ("update-custom-key-store", "UpdateCustomKeyStore",
     {"CustomKeyStoreId": "cks-1234567890abcdef0", "NewCustomKeyStoreName": "renamed-store"}, "http-api", "base64"),
    ("delete-custom-key-store", "DeleteCustomKeyStore", {"CustomKeyStoreId": "cks-1234567890abcdef0"},
     "http-api", "base64"),
    ("replicate-key.us-west-2", "ReplicateKey",
     {"KeyId": MRK, "ReplicaRegion": "us-west-2", "Description": "replica of the imported example",
      "Tags": [{"TagKey": "team", "TagValue": "payments"}]}, "http-api", "base64"),
    ("update-primary-region.us-west-2", "UpdatePrimaryRegion", {"KeyId": MRK, "PrimaryRegion": "us-west-2"},
     "http-api", "base64"),
    ("enable-key-rotation", "EnableKeyRotation", {"KeyId": KEY}, "http-api", "base64"),
    ("disable-key-rotation", "DisableKeyRotation", {"KeyId": KEY}, "http-api", "base64"),
    ("get-key-rotation-status", "GetKeyRotationStatus", {"KeyId": KEY}, "http-api", "base64"),
    ("rotate-key-on-demand", "RotateKeyOnDemand", {"KeyId": KEY}, "http-api", "base64"),
    ("list-key-rotations.all-key-material", "ListKeyRotations",
     {"KeyId": KEY, "IncludeKeyMaterial": "ALL_KEY_MATERIAL"}, "http-api", "base64"),
    ("disable-key", "DisableKey", {"KeyId": KEY}, "http-api", "base64"),
    ("enable-key", "EnableKey", {"KeyId": KEY}, "http-api", "base64"),
    ("delete-imported-key-material", "DeleteImportedKeyMaterial", {"KeyId": KEY},
     "http-api", "base64"),
    ("schedule-key-deletion.7-days", "ScheduleKeyDeletion", {"KeyId": KEY, "PendingWindowInDays": 7},
     "http-api", "base64"),
    ("cancel-key-deletion", "CancelKeyDeletion", {"KeyId": KEY}, "http-api", "base64"),
]

DIRECT_EVENTS: list[tuple[str, dict]] = [
    ("rsa4096-oaep256", {"KeyId": KEY, "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_4096"}),
    ("rsa2048-oaep1", {"KeyId": KEY, "WrappingAlgorithm": "RSAES_OAEP_SHA_1", "WrappingKeySpec": "RSA_2048"}),
    ("rsa3072-aes-key-wrap-sha256",
     {"KeyId": KEY, "WrappingAlgorithm": "RSA_AES_KEY_WRAP_SHA_256", "WrappingKeySpec": "RSA_3072"}),
    ("invalid-wrapping-key-spec",
     {"KeyId": KEY, "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_1024"}),
]


def http_event(operation: str, body: dict, shape: str, encoding: str) -> dict:
    raw = json.dumps(body, separators=(",", ":"))
    if shape == "function-url":
        domain, route, prefix = f"{URL_ID}.lambda-url.{REGION}.on.aws", "$default", URL_ID
        context_extra = {"apiId": URL_ID}
    else:
        domain, route, prefix = f"{API_ID}.execute-api.{REGION}.amazonaws.com", "POST /", API_ID
        context_extra = {"apiId": API_ID, "stage": "$default"}
    return {
        "version": "2.0",
        "routeKey": route,
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {
            "content-type": "application/x-amz-json-1.1",
            "x-amz-target": f"TrentService.{operation}",
            "host": domain,
            "x-amz-date": "20261124T120000Z",
            "authorization": (
                f"AWS4-HMAC-SHA256 Credential=test/20261124/{REGION}/kms/aws4_request, "
                "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature="
                + "0" * 64
            ),
        },
        "requestContext": {
            "accountId": ACCOUNT if shape == "http-api" else "anonymous",
            **context_extra,
            "domainName": domain,
            "domainPrefix": prefix,
            "http": {
                "method": "POST",
                "path": "/",
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "aws-cli/1.45.11",
            },
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "routeKey": route,
            "time": "24/Nov/2026:12:00:00 +0000",
            "timeEpoch": TIME_EPOCH_MS,
        },
        "body": base64.b64encode(raw.encode()).decode() if encoding == "base64" else raw,
        "isBase64Encoded": encoding == "base64",
    }


def files() -> dict[str, str]:
    out = {}
    for name, operation, body, shape, encoding in HTTP_EVENTS:
        out[f"kms-api.{name}.json"] = json.dumps(http_event(operation, body, shape, encoding), indent=2) + "\n"
    for name, body in DIRECT_EVENTS:
        out[f"get-parameters-for-import.{name}.json"] = json.dumps(body, indent=2) + "\n"
    return out


def main() -> int:
    check = "--check" in sys.argv[1:]
    wanted = files()
    stale = [n for n, text in wanted.items() if not (HERE / n).exists() or (HERE / n).read_text() != text]
    extra = sorted(p.name for p in HERE.glob("*.json") if p.name not in wanted)
    if check:
        for n in stale:
            print(f"events/{n} is not what events/generate.py writes", file=sys.stderr)
        for n in extra:
            print(f"events/{n} is not written by events/generate.py", file=sys.stderr)
        return 1 if stale or extra else 0
    for n in stale:
        (HERE / n).write_text(wanted[n])
    for n in extra:
        (HERE / n).unlink()
    print(f"{len(wanted)} events, {len(stale)} written, {len(extra)} removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
