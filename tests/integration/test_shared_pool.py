"""The shared wrapping-key pool across processes: `pool-refill` seals pairs into the store,
several `kms-api` processes with empty in-process pools claim them concurrently, and no pair is
handed out twice; once the shared pool is empty, requests fall back to generation and still
succeed. Runs on the embedded SQLite store and on the DynamoDB store (against the DynamoDB-API
server CI starts, named by KMS_MOCK_TEST_DYNAMODB_ENDPOINT)."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest

from conftest import BIN_DIR, Endpoint

DDB = os.environ.get("KMS_MOCK_TEST_DYNAMODB_ENDPOINT")
PROCESSES = 3
POOLED = 12


def store_env(kind: str) -> dict:
    if kind == "sqlite":
        return {"KMS_MOCK_STORE": "sqlite"}
    if not DDB:
        if os.environ.get("CI"):
            pytest.fail("CI must set KMS_MOCK_TEST_DYNAMODB_ENDPOINT")
        pytest.skip("no DynamoDB-API server (KMS_MOCK_TEST_DYNAMODB_ENDPOINT)")
    table = f"kms-mock-it-{uuid.uuid4()}"
    boto3.client("dynamodb", endpoint_url=DDB, region_name="us-east-1",
                 aws_access_key_id="test", aws_secret_access_key="test").create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
    return {"KMS_MOCK_STORE": "dynamodb", "KMS_MOCK_DYNAMODB_TABLE": table, "AWS_ENDPOINT_URL_DYNAMODB": DDB,
            "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
            # One sealing secret for every process, as a deployed stack's Secrets Manager secret.
            "KMS_MOCK_TOKEN_SECRET": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}


def refill(data_dir, env: dict, rsa_2048: int) -> dict:
    out = subprocess.run([str(BIN_DIR / "pool-refill")], capture_output=True, text=True, timeout=120, env={
        **os.environ, "KMS_MOCK_DATA": str(data_dir), **env, "KMS_MOCK_SHARED_POOL_RSA_2048": str(rsa_2048),
        "KMS_MOCK_SHARED_POOL_RSA_3072": "0", "KMS_MOCK_SHARED_POOL_RSA_4096": "0"})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize("kind", ["sqlite", "dynamodb"])
def test_concurrent_claims_across_processes_never_repeat_a_key(data_dir, kind):
    env = store_env(kind)
    assert refill(data_dir, env, POOLED) == {
        "added": {"RSA_2048": POOLED, "RSA_3072": 0, "RSA_4096": 0},
        "ready": {"RSA_2048": POOLED, "RSA_3072": 0, "RSA_4096": 0},
    }
    assert refill(data_dir, env, POOLED)["added"]["RSA_2048"] == 0, "already at target"
    # Empty in-process pools, no refill threads: a key comes from the shared pool or is generated.
    cold = {**env, "KMS_MOCK_POOL_RSA_2048": "0", "KMS_MOCK_POOL_RSA_3072": "0", "KMS_MOCK_POOL_RSA_4096": "0",
            "KMS_MOCK_POOL_THREADS": "0", "KMS_MOCK_POOL_FILE": "off"}
    endpoints = [Endpoint(data_dir, env=cold).start() for _ in range(PROCESSES)]
    try:
        key = endpoints[0].client().create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]

        def gpfi(i: int) -> bytes:
            return endpoints[i % PROCESSES].client().get_parameters_for_import(
                KeyId=key, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")["PublicKey"]

        with ThreadPoolExecutor(max_workers=POOLED) as ex:
            pooled = list(ex.map(gpfi, range(POOLED)))
        assert len(set(pooled)) == POOLED, "a shared-pool key was handed out twice"
        misses = lambda: sum(s["misses"] for e in endpoints for s in e.pool_stats()["specs"])
        assert misses() == 0, "every key came from the shared pool"
        assert sum(e.pool_stats()["specs"][0]["shared_hits"] for e in endpoints) == POOLED
        assert refill(data_dir, env, 0)["ready"]["RSA_2048"] == 0

        # The shared pool is empty: requests generate and still succeed.
        fallback = [gpfi(i) for i in range(2)]
        assert len(set(fallback) | set(pooled)) == POOLED + 2
        assert misses() == 2
    finally:
        for e in endpoints:
            e.stop()


@pytest.mark.parametrize("kind", ["sqlite", "dynamodb"])
def test_a_process_that_finds_the_shared_pool_low_tops_it_up(data_dir, kind):
    env = {**store_env(kind), "KMS_MOCK_SHARED_POOL_RSA_2048": "4", "KMS_MOCK_SHARED_POOL_RSA_3072": "0",
           "KMS_MOCK_SHARED_POOL_RSA_4096": "0"}
    assert refill(data_dir, env, 4)["ready"]["RSA_2048"] == 4
    cold = {**env, "KMS_MOCK_POOL_RSA_2048": "0", "KMS_MOCK_POOL_THREADS": "0", "KMS_MOCK_POOL_FILE": "off"}
    quiet = Endpoint(data_dir, env=cold).start()
    topping = Endpoint(data_dir, env={**cold, "KMS_MOCK_SHARED_POOL_TOP_UP": "true"}).start()
    try:
        key = quiet.client().create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
        gpfi = lambda e: e.client().get_parameters_for_import(  # noqa: E731
            KeyId=key, WrappingAlgorithm="RSAES_OAEP_SHA_1", WrappingKeySpec="RSA_2048")
        # Without KMS_MOCK_SHARED_POOL_TOP_UP a process only takes: 4 -> 1 is left at 1.
        for _ in range(3):
            gpfi(quiet)
        assert refill(data_dir, env, 0)["ready"]["RSA_2048"] == 1
        # With it, the claim that finds the pool under half its target tops it up to 4.
        gpfi(topping)
        deadline = time.monotonic() + 60
        while (ready := refill(data_dir, env, 0)["ready"]["RSA_2048"]) != 4:
            assert ready < 4 and time.monotonic() < deadline, ready
            time.sleep(0.2)
        assert [s["shared_hits"] for s in topping.pool_stats()["specs"]] == [1, 0, 0]
        assert topping.pool_stats()["specs"][0]["misses"] == 0
        # The pairs it added are claimed by another process (same sealing secret).
        for _ in range(4):
            gpfi(quiet)
        assert [s["shared_hits"] for s in quiet.pool_stats()["specs"]] == [7, 0, 0]
        assert quiet.pool_stats()["specs"][0]["misses"] == 0
    finally:
        quiet.stop()
        topping.stop()


def test_refill_reports_an_unreachable_store(data_dir):
    out = subprocess.run([str(BIN_DIR / "pool-refill")], capture_output=True, text=True, timeout=120, env={
        **os.environ, "KMS_MOCK_DATA": str(data_dir), "KMS_MOCK_STORE": "dynamodb",
        "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1", "AWS_MAX_ATTEMPTS": "1",
        "KMS_MOCK_TOKEN_SECRET": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="})
    assert out.returncode == 1, out
    assert out.stderr.startswith("pool-refill: store: dynamodb: "), out.stderr
    assert out.stdout == ""
