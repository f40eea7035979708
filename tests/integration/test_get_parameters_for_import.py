"""GetParametersForImport through boto3, the AWS CLI and openssl, against the running binary."""

from __future__ import annotations

import base64
import concurrent.futures
import time

import botocore.exceptions
import pytest

from byok import expected_allowed
from conftest import ACCOUNT, REGION, Endpoint, aws_cli, openssl_public_key_bits

ALGORITHMS = [
    "RSAES_PKCS1_V1_5",
    "RSAES_OAEP_SHA_1",
    "RSAES_OAEP_SHA_256",
    "RSA_AES_KEY_WRAP_SHA_1",
    "RSA_AES_KEY_WRAP_SHA_256",
]
WRAPPING_SPECS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
# DER SubjectPublicKeyInfo sizes and base64 prefixes AWS returned (facts file, table A1b).
SPKI = {
    "RSA_2048": (294, "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"),
    "RSA_3072": (422, "MIIBojANBgkqhkiG9w0BAQEFAAOCAY8AMIIBigKCAYEA"),
    "RSA_4096": (550, "MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEA"),
}
KEY_SPECS = {
    "SYMMETRIC_DEFAULT": "ENCRYPT_DECRYPT",
    "HMAC_256": "GENERATE_VERIFY_MAC",
    "RSA_2048": "SIGN_VERIFY",
    "RSA_4096": "ENCRYPT_DECRYPT",
    "ECC_NIST_P256": "SIGN_VERIFY",
    "ECC_NIST_P384": "KEY_AGREEMENT",
    "ECC_NIST_P521": "SIGN_VERIFY",
    "ECC_SECG_P256K1": "SIGN_VERIFY",
    "ECC_NIST_EDWARDS25519": "SIGN_VERIFY",
}


def create_external(kms, spec="SYMMETRIC_DEFAULT", usage="ENCRYPT_DECRYPT", **kw):
    return kms.create_key(Origin="EXTERNAL", KeySpec=spec, KeyUsage=usage, **kw)["KeyMetadata"]


def error_of(excinfo):
    e = excinfo.value.response["Error"]
    return e["Code"], e.get("Message", "")


def test_symmetric_parameters_match_aws_shape(endpoint, kms):
    md = create_external(kms)
    before = time.time()
    for wspec, bits in WRAPPING_SPECS.items():
        out = kms.get_parameters_for_import(
            KeyId=md["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec=wspec
        )
        assert out["KeyId"] == md["Arn"]
        der = out["PublicKey"]
        length, prefix = SPKI[wspec]
        assert len(der) == length
        assert base64.b64encode(der).decode().startswith(prefix)
        assert openssl_public_key_bits(der) == bits
        assert 0 < len(out["ImportToken"]) <= 6144
        valid_to = out["ParametersValidTo"].timestamp()
        assert before + 86400 - 5 <= valid_to <= time.time() + 86400 + 1


def test_every_call_returns_a_fresh_key(endpoint, kms):
    md = create_external(kms)
    keys = {
        kms.get_parameters_for_import(
            KeyId=md["Arn"], WrappingAlgorithm="RSAES_OAEP_SHA_1", WrappingKeySpec="RSA_2048"
        )["PublicKey"]
        for _ in range(6)
    }
    assert len(keys) == 6


@pytest.fixture
def reuse_endpoint(data_dir):
    # The matrix test checks rules, not freshness: reuse keeps it quick.
    ep = Endpoint(data_dir, env={"KMS_MOCK_POOL_REUSE": "true"}).start()
    yield ep
    ep.stop()


def test_compatibility_matrix(reuse_endpoint):
    kms = reuse_endpoint.client()
    checked = 0
    for key_spec, usage in KEY_SPECS.items():
        md = create_external(kms, key_spec, usage)
        for alg in ALGORITHMS:
            for wspec, bits in WRAPPING_SPECS.items():
                args = dict(KeyId=md["KeyId"], WrappingAlgorithm=alg, WrappingKeySpec=wspec)
                if expected_allowed(key_spec, alg, wspec):
                    out = kms.get_parameters_for_import(**args)
                    assert openssl_public_key_bits(out["PublicKey"]) == bits
                else:
                    with pytest.raises(botocore.exceptions.ClientError) as ei:
                        kms.get_parameters_for_import(**args)
                    assert error_of(ei) == (
                        "ValidationException",
                        f"Wrapping algorithm {alg} and wrapping key spec {wspec} cannot be used to import a {key_spec} key.",
                    ), (key_spec, alg, wspec)
                checked += 1
    assert checked == len(KEY_SPECS) * 15


def test_sm2_is_refused_outside_china(endpoint, kms):
    md = create_external(kms)
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        kms.get_parameters_for_import(KeyId=md["KeyId"], WrappingAlgorithm="SM2PKE", WrappingKeySpec="SM2")
    assert error_of(ei) == (
        "ValidationException",
        "Wrapping algorithm SM2PKE and wrapping key spec SM2 cannot be used to import a SYMMETRIC_DEFAULT key.",
    )


def test_state_and_origin_rules(endpoint, kms):
    aws_key = kms.create_key()["KeyMetadata"]
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        kms.get_parameters_for_import(KeyId=aws_key["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
    assert error_of(ei) == (
        "UnsupportedOperationException",
        f"{aws_key['Arn']} origin is AWS_KMS which is not valid for this operation.",
    )

    md = create_external(kms)
    kms.schedule_key_deletion(KeyId=md["KeyId"], PendingWindowInDays=7)
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        kms.get_parameters_for_import(KeyId=md["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
    assert error_of(ei) == ("KMSInvalidStateException", f"{md['Arn']} is pending deletion.")
    kms.cancel_key_deletion(KeyId=md["KeyId"])
    assert kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["KeyState"] == "PendingImport"
    kms.get_parameters_for_import(KeyId=md["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")

    missing = "1234abcd-12ab-34cd-56ef-1234567890ab"
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        kms.get_parameters_for_import(KeyId=missing, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
    assert error_of(ei) == ("NotFoundException", f"Key 'arn:aws:kms:{REGION}:{ACCOUNT}:key/{missing}' does not exist")


def test_parameter_validation(endpoint, kms):
    md = create_external(kms)
    status, _, body = endpoint.raw(
        "TrentService.GetParametersForImport",
        '{"KeyId": "%s", "WrappingAlgorithm": "RSA_OAEP", "WrappingKeySpec": "RSA_1024"}' % md["KeyId"],
    )
    assert status == 400
    assert body.decode() == (
        '{"__type":"ValidationException","message":"2 validation errors detected: '
        "Value 'RSA_OAEP' at 'wrappingAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: "
        "[RSAES_PKCS1_V1_5, RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, RSA_AES_KEY_WRAP_SHA_1, RSA_AES_KEY_WRAP_SHA_256, SM2PKE]; "
        "Value 'RSA_1024' at 'wrappingKeySpec' failed to satisfy constraint: Member must satisfy enum value set: "
        '[RSA_2048, RSA_3072, RSA_4096, SM2]"}'
    )
    status, _, body = endpoint.raw("TrentService.GetParametersForImport", "{}")
    assert status == 400
    assert body.decode().count("Member must not be null") == 3
    assert body.decode().startswith('{"__type":"ValidationException","message":"3 validation errors detected: Value null at \'keyId\'')


def test_aws_cli_session(endpoint):
    rc, created, err = aws_cli(endpoint, "create-key", "--origin", "EXTERNAL")
    assert rc == 0, err
    key_id = created["KeyMetadata"]["KeyId"]
    assert created["KeyMetadata"]["KeyState"] == "PendingImport"
    rc, out, err = aws_cli(
        endpoint,
        "get-parameters-for-import",
        "--key-id", key_id,
        "--wrapping-algorithm", "RSAES_OAEP_SHA_256",
        "--wrapping-key-spec", "RSA_4096",
    )
    assert rc == 0, err
    assert out["KeyId"] == created["KeyMetadata"]["Arn"]
    assert openssl_public_key_bits(base64.b64decode(out["PublicKey"])) == 4096
    assert len(base64.b64decode(out["ImportToken"])) > 0
    assert isinstance(out["ParametersValidTo"], (int, float))
    rc, out, err = aws_cli(
        endpoint,
        "get-parameters-for-import",
        "--key-id", key_id,
        "--wrapping-algorithm", "RSA_AES_KEY_WRAP_SHA_256",
        "--wrapping-key-spec", "RSA_2048",
    )
    assert rc == 255
    assert (
        "An error occurred (ValidationException) when calling the GetParametersForImport operation: "
        "Wrapping algorithm RSA_AES_KEY_WRAP_SHA_256 and wrapping key spec RSA_2048 cannot be used to import a SYMMETRIC_DEFAULT key."
    ) in err


@pytest.fixture
def big_pool_endpoint(data_dir):
    ep = Endpoint(data_dir, env={"KMS_MOCK_POOL_RSA_2048": "64", "KMS_MOCK_POOL_THREADS": "2"}).start()
    ep.wait_pool_full(timeout=120)
    yield ep
    ep.stop()


def test_concurrent_calls_never_share_a_key(big_pool_endpoint):
    ep = big_pool_endpoint
    kms = ep.client()
    key_id = create_external(kms)["KeyId"]

    def one(_):
        c = ep.client()
        return c.get_parameters_for_import(
            KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
        )["PublicKey"]

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as ex:
        keys = list(ex.map(one, range(96)))
    assert len(keys) == 96
    assert len(set(keys)) == 96, "a wrapping key was handed out twice"
    stats = next(s for s in ep.pool_stats()["specs"] if s["spec"] == "RSA_2048")
    assert stats["hits"] + stats["misses"] == 96
    assert stats["reused"] == 0


def test_reuse_mode_repeats_recent_keys_when_dry(data_dir):
    ep = Endpoint(
        data_dir,
        env={"KMS_MOCK_POOL_REUSE": "true", "KMS_MOCK_POOL_RSA_2048": "0", "KMS_MOCK_POOL_THREADS": "0"},
    ).start()
    try:
        kms = ep.client()
        key_id = create_external(kms)["KeyId"]
        keys = [
            kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")["PublicKey"]
            for _ in range(5)
        ]
        assert len(set(keys)) == 1
        stats = next(s for s in ep.pool_stats()["specs"] if s["spec"] == "RSA_2048")
        assert (stats["misses"], stats["reused"], stats["hits"]) == (1, 4, 0)
    finally:
        ep.stop()


def test_pool_survives_kill_9_without_handing_a_key_out_twice(data_dir):
    """The journal: a process killed with -9 leaves its ready keys to the next start, less the
    keys it handed out."""
    env = {"KMS_MOCK_POOL_RSA_2048": "3", "KMS_MOCK_POOL_RSA_3072": "0", "KMS_MOCK_POOL_RSA_4096": "0"}
    ep = Endpoint(data_dir, env=env).start()
    kms = ep.client()
    handed_out = []
    for _ in range(2):
        key_id = create_external(kms)["KeyId"]
        handed_out.append(kms.get_parameters_for_import(
            KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")["PublicKey"])
    ep.wait_pool_full()
    ready = {s["spec"]: s for s in ep.pool_stats()["specs"]}["RSA_2048"]["ready"]
    assert ready >= 3
    pid = ep.proc.pid
    ep.proc.kill()
    ep.proc.wait()
    left = sorted(p.name for p in data_dir.iterdir() if p.name.startswith("wrapping-key-pool"))
    assert len(left) == 1 and left[0].startswith(f"wrapping-key-pool.sealed.live.{pid}."), (
        left, "no pool file: only the journal")
    ep2 = Endpoint(data_dir, env={"KMS_MOCK_POOL_THREADS": "0"}).start()
    try:
        assert "recovered the wrapping keys of processes that were killed" in ep2.log()
        specs = {s["spec"]: s for s in ep2.pool_stats()["specs"]}
        assert specs["RSA_2048"]["ready"] == ready
        assert not (data_dir / left[0]).exists(), "claimed once"
        kms = ep2.client()
        after = []
        for _ in range(ready):
            key_id = create_external(kms)["KeyId"]
            after.append(kms.get_parameters_for_import(
                KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")["PublicKey"])
        specs = {s["spec"]: s for s in ep2.pool_stats()["specs"]}
        assert (specs["RSA_2048"]["hits"], specs["RSA_2048"]["misses"], specs["RSA_2048"]["generated"]) == (ready, 0, 0)
        assert len(set(after)) == ready and not set(after) & set(handed_out)
    finally:
        ep2.stop()
    # A clean exit leaves the pool file, no journal.
    assert sorted(p.name for p in data_dir.iterdir() if p.name.startswith("wrapping-key-pool")) == [
        "wrapping-key-pool.sealed"]


def test_pool_file_survives_restart(data_dir):
    ep = Endpoint(data_dir, env={"KMS_MOCK_POOL_RSA_2048": "3", "KMS_MOCK_POOL_RSA_3072": "0", "KMS_MOCK_POOL_RSA_4096": "1"}).start()
    ep.wait_pool_full()
    ep.stop()
    assert (data_dir / "wrapping-key-pool.sealed").exists()
    # The next process starts with no refill and still answers from the saved keys.
    ep2 = Endpoint(data_dir, env={"KMS_MOCK_POOL_THREADS": "0"}).start()
    try:
        assert not (data_dir / "wrapping-key-pool.sealed").exists(), "the file is claimed"
        specs = {s["spec"]: s for s in ep2.pool_stats()["specs"]}
        assert specs["RSA_4096"]["ready"] == 1 and specs["RSA_2048"]["ready"] == 3
        kms = ep2.client()
        key_id = create_external(kms)["KeyId"]
        kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_4096")
        specs = {s["spec"]: s for s in ep2.pool_stats()["specs"]}
        assert (specs["RSA_4096"]["hits"], specs["RSA_4096"]["misses"], specs["RSA_4096"]["generated"]) == (1, 0, 0)
    finally:
        ep2.stop()
