"""Sidecar behaviour that does not depend on how it is deployed, through the local proxy:
requests signed by the AWS CLI, tampered requests, clock skew, presigned requests, quotas,
fault injection, and the switch that turns signature checking off."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from unittest import mock

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import botocore.exceptions
import pytest

from sidecar_stack import ProxyStack

THROTTLED = "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls."


@pytest.fixture
def proxy(request):
    marker = request.node.get_closest_marker("stack_env")
    env = marker.args[0] if marker else {}
    s = ProxyStack(Path(tempfile.mkdtemp(prefix="kms-sidecar-proxy-")), env=env)
    s.start()
    yield s
    s.stop()


def signed(url: str, target: str, body: bytes, secret: str = "test", when=None, presign: bool = False):
    """A request signed by botocore's own signer, as (url, headers, body)."""
    creds = botocore.credentials.Credentials("test", secret)
    req = botocore.awsrequest.AWSRequest(method="POST", url=url, data=body, headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"TrentService.{target}"})
    auth = botocore.auth.SigV4QueryAuth(creds, "kms", "us-east-1", expires=60) if presign \
        else botocore.auth.SigV4Auth(creds, "kms", "us-east-1")
    if when is None:
        auth.add_auth(req)
    else:
        with mock.patch("botocore.auth.get_current_datetime", return_value=when):
            auth.add_auth(req)
    p = req.prepare()
    return p.url, dict(p.headers), body


def send(url, headers, body):
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def test_aws_cli_requests_are_accepted_and_checked(proxy):
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
    cli = ["aws", "kms", "--endpoint-url", proxy.url, "--output", "json"]
    p = subprocess.run([*cli, "create-key", "--origin", "EXTERNAL"], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    key_id = json.loads(p.stdout)["KeyMetadata"]["KeyId"]
    p = subprocess.run([*cli, "describe-key", "--key-id", key_id], env={**env, "AWS_SECRET_ACCESS_KEY": "nope"},
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 255
    assert "An error occurred (InvalidSignatureException) when calling the DescribeKey operation: The request signature we calculated does not match" in p.stderr


def test_a_changed_byte_is_refused(proxy):
    url, headers, body = signed(proxy.url + "/", "ListKeys", b'{"Limit":10}')
    assert send(url, headers, body) == (200, {"Keys": [], "Truncated": False})
    bad = {"__type": "InvalidSignatureException", "message": "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}
    assert send(url, headers, b'{"Limit":11}') == (400, bad)
    assert send(url, {**headers, "X-Amz-Target": "TrentService.ListAliases"}, body) == (400, bad)
    # An unsigned x-amz-content-sha256 naming the signed body's hash does not carry another body.
    claimed = {**headers, "X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()}
    assert send(url, claimed, body)[0] == 200
    assert send(url, claimed, b'{"Limit":11}') == (400, bad)
    sig = headers["Authorization"]
    flipped = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    assert send(url, {**headers, "Authorization": flipped}, body) == (400, bad)
    unsigned = {k: v for k, v in headers.items() if k != "Authorization"}
    assert send(url, unsigned, body) == (400, {"__type": "MissingAuthenticationTokenException", "message": "Missing Authentication Token"})


def test_clock_skew(proxy):
    now = datetime.datetime.now(datetime.timezone.utc)
    assert send(*signed(proxy.url + "/", "ListKeys", b"{}", when=now - datetime.timedelta(minutes=4)))[0] == 200
    status, body = send(*signed(proxy.url + "/", "ListKeys", b"{}", when=now - datetime.timedelta(minutes=6)))
    assert status == 400 and body["__type"] == "InvalidSignatureException"
    assert body["message"].startswith("Signature expired: ") and body["message"].endswith(" - 5 min.)")
    status, body = send(*signed(proxy.url + "/", "ListKeys", b"{}", when=now + datetime.timedelta(minutes=6)))
    assert body["message"].startswith("Signature not yet current: ") and body["message"].endswith(" + 5 min.)")


def test_presigned_requests(proxy):
    url, headers, body = signed(proxy.url + "/", "ListKeys", b"{}", presign=True)
    assert "X-Amz-Signature=" in url and "Authorization" not in headers
    assert send(url, headers, body)[0] == 200
    assert send(url.replace("X-Amz-Expires=60", "X-Amz-Expires=61"), headers, body)[1]["__type"] == "InvalidSignatureException"


@pytest.mark.stack_env({"KMS_MOCK_QUOTAS": "aws"})
def test_quotas_follow_aws_defaults(proxy):
    kms = proxy.client()
    arn = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["Arn"]
    kms.get_parameters_for_import(KeyId=arn, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
    # GetParametersForImport: 1 request per second.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        kms.get_parameters_for_import(KeyId=arn, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
    assert e.value.response["Error"] == {"Code": "ThrottlingException", "Message": THROTTLED}
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # DisableKey: 5 per second, counted apart from GetParametersForImport.
    generated = kms.create_key()["KeyMetadata"]["KeyId"]
    outcomes = []
    started = time.monotonic()
    for _ in range(20):
        try:
            kms.disable_key(KeyId=generated)
            outcomes.append("ok")
        except botocore.exceptions.ClientError as err:
            outcomes.append(err.response["Error"]["Code"])
    elapsed = time.monotonic() - started
    # A full bucket of 5, then 5 more each second.
    assert outcomes[:5] == ["ok"] * 5, outcomes
    assert "ThrottlingException" in outcomes
    assert outcomes.count("ok") <= 5 + int(5 * elapsed) + 1, (outcomes, elapsed)
    # botocore's standard retry mode retries throttling, and gets through once the bucket refills.
    patient = boto3.client("kms", endpoint_url=proxy.url, region_name="us-east-1", aws_access_key_id="test",
                           aws_secret_access_key="test",
                           config=botocore.config.Config(retries={"max_attempts": 10, "mode": "standard"}))
    # The bucket emptied again, so that the patient client's first attempt is throttled.
    with pytest.raises(botocore.exceptions.ClientError):
        for _ in range(3):
            kms.get_parameters_for_import(KeyId=arn, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
    got = patient.get_parameters_for_import(KeyId=arn, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                            WrappingKeySpec="RSA_2048")
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert got["ResponseMetadata"]["RetryAttempts"] >= 1


@pytest.mark.stack_env({"KMS_MOCK_QUOTAS": "aws", "KMS_MOCK_QUOTA_RATES": "ListKeys=3"})
def test_quota_rates_can_be_set(proxy):
    kms = proxy.client()
    codes = []
    for _ in range(4):  # well within the 333 ms one token takes to come back
        try:
            kms.list_keys()
            codes.append("ok")
        except botocore.exceptions.ClientError as err:
            codes.append(err.response["Error"]["Code"])
    assert codes == ["ok", "ok", "ok", "ThrottlingException"]


@pytest.mark.stack_env({"KMS_MOCK_FAULTS": "CreateKey:KMSInternalException:0.5,DescribeKey:DependencyTimeoutException:1"})
def test_fault_injection(proxy):
    kms = proxy.client()
    results = []
    for _ in range(4):
        try:
            kms.create_key()
            results.append("ok")
        except botocore.exceptions.ClientError as err:
            results.append((err.response["Error"]["Code"], err.response["ResponseMetadata"]["HTTPStatusCode"]))
    assert results == ["ok", ("KMSInternalException", 500), "ok", ("KMSInternalException", 500)]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        kms.describe_key(KeyId="alias/anything")
    assert e.value.response["Error"]["Code"] == "DependencyTimeoutException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    # Failed requests never reached the endpoint: two keys exist.
    assert len(kms.list_keys()["Keys"]) == 2
    faults = [r for r in proxy.audit() if r.get("errorCode") == "KMSInternalException"]
    assert len(faults) == 2 and all(r["httpStatus"] == 500 for r in faults)


@pytest.mark.stack_env({"KMS_MOCK_VERIFY_SIGNATURES": "false", "KMS_MOCK_ACCOUNT": "999988887777"})
def test_signature_checking_can_be_switched_off(proxy):
    kms = proxy.client(key="whoever", secret="whatever")
    meta = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    assert meta["AWSAccountId"] == "999988887777"
    status, body = send(proxy.url + "/", {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.ListKeys"}, b"{}")
    assert status == 200 and body["Keys"][0]["KeyArn"] == meta["Arn"]


def test_clients_cannot_name_their_own_caller(proxy):
    url, headers, body = signed(proxy.url + "/", "CreateKey", b"{}")
    status, out = send(url, {**headers, "X-Kms-Mock-Caller": "arn:aws:iam::444455556666:root"}, body)
    assert status == 200 and out["KeyMetadata"]["AWSAccountId"] == "111122223333"
