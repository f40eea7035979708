"""The developer guide's import procedure with the AWS CLI and openssl, as a user runs it
(tests/integration/byok_walkthrough.sh), against the running binary."""

from __future__ import annotations

import base64
import os
import subprocess

from byok import HMAC_LENGTHS, WRAPPING_ALGORITHMS, WRAPPING_SPECS, local_hmac, make_material, wrap
from conftest import ROOT, aws_cli

MATERIAL_TYPES = {
    "SYMMETRIC_DEFAULT": "ENCRYPT_DECRYPT",
    "HMAC_224": "GENERATE_VERIFY_MAC",
    "HMAC_256": "GENERATE_VERIFY_MAC",
    "HMAC_384": "GENERATE_VERIFY_MAC",
    "HMAC_512": "GENERATE_VERIFY_MAC",
    "RSA_2048": "SIGN_VERIFY",
    "RSA_3072": "ENCRYPT_DECRYPT",
    "RSA_4096": "SIGN_VERIFY",
    "ECC_NIST_P256": "KEY_AGREEMENT",
    "ECC_NIST_P384": "SIGN_VERIFY",
    "ECC_NIST_P521": "SIGN_VERIFY",
    "ECC_SECG_P256K1": "SIGN_VERIFY",
    "ECC_NIST_EDWARDS25519": "SIGN_VERIFY",
}


def test_aws_cli_walkthrough(endpoint):
    env = {
        **os.environ,
        "ENDPOINT": endpoint.url,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
    p = subprocess.run(
        ["bash", str(ROOT / "tests/integration/byok_walkthrough.sh")], env=env, capture_output=True, text=True, timeout=300
    )
    assert p.returncode == 0, p.stdout + p.stderr
    lines = p.stdout.splitlines()
    assert lines[-1] == "walkthrough complete"
    assert sum(line.startswith("ok: ") for line in lines) == 13, p.stdout


def cli_ok(endpoint, *args):
    rc, out, err = aws_cli(endpoint, *args)
    assert rc == 0, err
    return out


def test_aws_cli_every_algorithm_wrapping_spec_and_material_type(endpoint, tmp_path):
    """Through the AWS CLI: every wrapping algorithm with every wrapping key spec (into HMAC_256
    keys, which take all four algorithms), and every material type once; the material wrapped
    with openssl and passed as fileb:// files, as the developer guide does."""
    materials = {spec: make_material(spec, tmp_path / spec) for spec in MATERIAL_TYPES}
    cases = [("HMAC_256", "GENERATE_VERIFY_MAC", alg, wspec) for alg in WRAPPING_ALGORITHMS for wspec in WRAPPING_SPECS]
    cases += [
        (spec, usage, "RSA_AES_KEY_WRAP_SHA_256" if spec.startswith("RSA_") else "RSAES_OAEP_SHA_1", "RSA_3072")
        for spec, usage in MATERIAL_TYPES.items()
    ]
    for i, (spec, usage, alg, wspec) in enumerate(cases):
        work = tmp_path / f"{i}-{spec}-{alg}-{wspec}"
        work.mkdir()
        key = cli_ok(endpoint, "create-key", "--origin", "EXTERNAL", "--key-spec", spec, "--key-usage", usage)["KeyMetadata"]
        params = cli_ok(
            endpoint, "get-parameters-for-import", "--key-id", key["KeyId"],
            "--wrapping-algorithm", alg, "--wrapping-key-spec", wspec,
        )
        (work / "ImportToken.bin").write_bytes(base64.b64decode(params["ImportToken"]))
        public = base64.b64decode(params["PublicKey"])
        (work / "EncryptedKeyMaterial.bin").write_bytes(wrap(alg, public, materials[spec].material, work))
        out = cli_ok(
            endpoint, "import-key-material", "--key-id", key["KeyId"],
            "--encrypted-key-material", f"fileb://{work / 'EncryptedKeyMaterial.bin'}",
            "--import-token", f"fileb://{work / 'ImportToken.bin'}",
            "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE",
        )
        assert out["KeyId"] == key["Arn"]
        md = cli_ok(endpoint, "describe-key", "--key-id", key["KeyId"])["KeyMetadata"]
        assert (md["KeyState"], md["Enabled"]) == ("Enabled", True), (spec, alg, wspec)
        if spec in HMAC_LENGTHS:
            (work / "msg").write_bytes(b"imported HMAC")
            mac = cli_ok(
                endpoint, "generate-mac", "--key-id", key["KeyId"], "--message", f"fileb://{work / 'msg'}",
                "--mac-algorithm", "HMAC_SHA_" + spec[5:],
            )["Mac"]
            assert base64.b64decode(mac) == local_hmac(spec, materials[spec].material, b"imported HMAC")
        elif spec != "SYMMETRIC_DEFAULT":
            pk = cli_ok(endpoint, "get-public-key", "--key-id", key["KeyId"])["PublicKey"]
            assert base64.b64decode(pk) == materials[spec].public_der
    assert len(cases) == 12 + len(MATERIAL_TYPES)
