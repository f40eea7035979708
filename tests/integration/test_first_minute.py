"""The first minute (issue 19): the pool is filled by every core from the first second, demand
first; a miss takes whichever key is ready first; KMS_MOCK_POOL_WARM_SECONDS holds start-up
until the pool is full, for CI jobs that prefer a slower start."""

from __future__ import annotations

from conftest import Endpoint


def test_warm_start_serves_only_once_the_pool_is_full(data_dir):
    ep = Endpoint(data_dir, env={"KMS_MOCK_POOL_WARM_SECONDS": "60", "KMS_MOCK_POOL_RSA_2048": "2",
                                 "KMS_MOCK_POOL_RSA_3072": "1", "KMS_MOCK_POOL_RSA_4096": "2",
                                 "KMS_MOCK_POOL_FILE": "off", "NO_COLOR": "1"}).start()
    try:
        stats = ep.pool_stats()
        assert [(s["spec"], s["ready"] >= s["target"]) for s in stats["specs"]] == [
            ("RSA_2048", True), ("RSA_3072", True), ("RSA_4096", True)], stats
        assert "pool warmed before serving" in ep.log() and "full=true" in ep.log()
        assert stats["refill_threads"] >= 1
        # The first GetParametersForImport takes a ready key.
        kms = ep.client()
        key = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
        kms.get_parameters_for_import(KeyId=key, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_4096")
        s4096 = [s for s in ep.pool_stats()["specs"] if s["spec"] == "RSA_4096"][0]
        assert (s4096["hits"], s4096["misses"]) == (1, 0)
    finally:
        ep.stop()


def test_a_burst_of_fresh_keys_is_never_handed_out_twice(data_dir):
    ep = Endpoint(data_dir, env={"KMS_MOCK_POOL_RSA_2048": "1", "KMS_MOCK_POOL_RSA_3072": "0",
                                 "KMS_MOCK_POOL_RSA_4096": "0", "KMS_MOCK_POOL_FILE": "off"}).start()
    try:
        kms = ep.client()
        key = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
        seen = [kms.get_parameters_for_import(KeyId=key, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                              WrappingKeySpec="RSA_2048")["PublicKey"] for _ in range(12)]
        assert len(set(seen)) == 12, "each call a fresh key pair"
        s = [s for s in ep.pool_stats()["specs"] if s["spec"] == "RSA_2048"][0]
        assert s["hits"] + s["misses"] == 12
    finally:
        ep.stop()
