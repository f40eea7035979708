"""Seed files (KMS_MOCK_SEED): keys with fixed ids, material, aliases and policies at start,
checked through boto3, the AWS CLI, openssl and Python's own hmac; restarts, conflicts, export
and re-seed, bad files, three processes at once, and the policy sidecar in front."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import threading
from pathlib import Path

import botocore.exceptions
import jsonschema
import pytest

from byok import local_hmac, make_material, openssl_verify
from conftest import KMS_API, ROOT, Endpoint, aws_cli

SCHEMA = json.loads((ROOT / "shared" / "seed.schema.json").read_text())
ACCOUNT = "111122223333"


def key_id(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012x}"


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def write_seed(path: Path, seed: dict) -> Path:
    jsonschema.validate(seed, SCHEMA)  # every seed the tests use is one the schema admits
    path.write_text(json.dumps(seed, indent=2))
    return path


SYMMETRIC_V1, SYMMETRIC_V2 = bytes(range(32)), bytes(range(32, 64))
POLICY = json.dumps({"Version": "2012-10-17", "Id": "seeded", "Statement": [
    {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
     "Action": "kms:*", "Resource": "*"}]})
VALID_TO = 4102444800  # 2100-01-01


@pytest.fixture(scope="module")
def materials(tmp_path_factory):
    work = tmp_path_factory.mktemp("seed-material")
    specs = ["HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512", "RSA_2048", "RSA_3072", "RSA_4096",
             "ECC_NIST_P256", "ECC_NIST_P384",
             "ECC_NIST_P521", "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519"]
    return {s: make_material(s, work / s) for s in specs}


def every_spec_seed(materials) -> dict:
    keys = [
        # Imported symmetric material, rotated once, the first version expiring, two aliases.
        {"KeyId": key_id(1), "Origin": "EXTERNAL", "Description": "app data key", "Policy": POLICY,
         "Tags": [{"TagKey": "team", "TagValue": "payments"}], "Aliases": ["alias/app", "alias/app-v2"],
         "KeyMaterial": [{"Material": b64(SYMMETRIC_V1), "ValidTo": VALID_TO, "Description": "first"},
                         {"Material": b64(SYMMETRIC_V2), "Description": "second"}]},
        # Generated material, disabled.
        {"KeyId": key_id(2), "Enabled": False},
        {"KeyId": "mrk-" + "ab" * 16, "Description": "multi-Region, generated"},
        {"KeyId": key_id(3), "KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"},
        {"KeyId": key_id(4), "KeySpec": "ECC_NIST_P256", "KeyUsage": "KEY_AGREEMENT"},
        # An EXTERNAL key without material: a known id waiting for its import.
        {"KeyId": key_id(5), "Origin": "EXTERNAL", "Aliases": ["alias/pending"]},
        {"KeyId": key_id(6), "KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"},
        # A spec the mock makes no material for: the key exists, as CreateKey makes it.
        {"KeyId": key_id(7), "KeySpec": "ML_DSA_44", "KeyUsage": "SIGN_VERIFY"},
    ]
    for n, (spec, m) in enumerate(materials.items(), start=10):
        usage = "GENERATE_VERIFY_MAC" if spec.startswith("HMAC") else "SIGN_VERIFY"
        # Asymmetric keys from the user's PEM file; HMAC bytes inline.
        version = {"MaterialFile": str(m.private_pem)} if m.private_pem else {"Material": b64(m.material)}
        keys.append({"KeyId": key_id(n), "KeySpec": spec, "KeyUsage": usage, "Origin": "EXTERNAL",
                     "KeyMaterial": [version]})
    return {"Keys": keys}


def start(data: Path, seed: Path, **env) -> Endpoint:
    return Endpoint(data, env={"KMS_MOCK_SEED": str(seed), "NO_COLOR": "1", **env}).start()


def run_start(data: Path, seed: Path) -> subprocess.CompletedProcess:
    """Starts kms-api expecting it to refuse the seed: it must exit before serving."""
    env = {**os.environ, "KMS_MOCK_DATA": str(data), "KMS_MOCK_SEED": str(seed), "KMS_MOCK_LISTEN": "127.0.0.1:0",
           "KMS_MOCK_POOL_RSA_2048": "0", "KMS_MOCK_POOL_RSA_3072": "0", "KMS_MOCK_POOL_RSA_4096": "0"}
    return subprocess.run([str(KMS_API)], env=env, capture_output=True, text=True, timeout=60)


def describe_all(kms, ids) -> dict:
    return {k: kms.describe_key(KeyId=k)["KeyMetadata"] for k in ids}


def test_seeded_keys_behave_as_keys_made_through_the_api(tmp_path, materials):
    seed = write_seed(tmp_path / "seed.json", every_spec_seed(materials))
    data = tmp_path / "data"
    ep = start(data, seed)
    ids = [k["KeyId"] for k in json.loads(seed.read_text())["Keys"]]
    try:
        kms = ep.client()
        listed = {k["KeyId"] for k in kms.list_keys(Limit=1000)["Keys"]}
        assert listed == set(ids)
        meta = describe_all(kms, ids)
        app = meta[key_id(1)]
        assert (app["Origin"], app["KeyState"], app["Description"], app["ExpirationModel"]) == (
            "EXTERNAL", "Enabled", "app data key", "KEY_MATERIAL_DOES_NOT_EXPIRE")
        assert app["Arn"] == f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id(1)}"
        assert meta[key_id(2)]["KeyState"] == "Disabled"
        assert meta["mrk-" + "ab" * 16]["MultiRegion"] is True
        assert meta[key_id(5)]["KeyState"] == "PendingImport"
        assert kms.get_key_policy(KeyId=key_id(1), PolicyName="default")["Policy"] == POLICY
        aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
        assert aliases == {"alias/app": key_id(1), "alias/app-v2": key_id(1), "alias/pending": key_id(5)}
        # The rotation history the seed describes: the first version current no more.
        rotations = kms.list_key_rotations(KeyId=key_id(1), IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
        assert [(r["KeyMaterialState"], r["ImportState"], r.get("KeyMaterialDescription")) for r in rotations] == [
            ("NON_CURRENT", "IMPORTED", "first"), ("CURRENT", "IMPORTED", "second")]
        assert rotations[0]["ExpirationModel"] == "KEY_MATERIAL_EXPIRES"
        assert int(rotations[0]["ValidTo"].timestamp()) == VALID_TO
        # The material is the seeded material: the HMAC keys' MACs are Python's.
        for n, (spec, m) in enumerate(materials.items(), start=10):
            kid = key_id(n)
            if spec.startswith("HMAC"):
                mac = kms.generate_mac(KeyId=kid, Message=b"seeded", MacAlgorithm="HMAC_SHA_" + spec[5:])["Mac"]
                assert mac == local_hmac(spec, m.material, b"seeded"), spec
            else:
                assert kms.get_public_key(KeyId=kid)["PublicKey"] == m.public_der, spec
                alg = {"RSA_2048": "RSASSA_PSS_SHA_256", "RSA_3072": "RSASSA_PSS_SHA_384",
                       "RSA_4096": "RSASSA_PSS_SHA_512", "ECC_NIST_P256": "ECDSA_SHA_256", "ECC_NIST_P384": "ECDSA_SHA_384",
                       "ECC_NIST_P521": "ECDSA_SHA_512", "ECC_SECG_P256K1": "ECDSA_SHA_256",
                       "ECC_NIST_EDWARDS25519": "ED25519_SHA_512"}[spec]
                sig = kms.sign(KeyId=kid, Message=b"seeded", MessageType="RAW", SigningAlgorithm=alg)["Signature"]
                (tmp_path / spec).mkdir()
                assert openssl_verify(m.public_pem, alg, b"seeded", sig, tmp_path / spec), spec
        mac = kms.generate_mac(KeyId=key_id(3), Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
        assert kms.verify_mac(KeyId=key_id(3), Message=b"m", Mac=mac, MacAlgorithm="HMAC_SHA_256")["MacValid"]
        sig = kms.sign(KeyId=key_id(6), Message=b"g", MessageType="RAW", SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
        assert kms.verify(KeyId=key_id(6), Message=b"g", MessageType="RAW", Signature=sig,
                          SigningAlgorithm="RSASSA_PSS_SHA_256")["SignatureValid"]
        assert (meta[key_id(7)]["KeySpec"], meta[key_id(7)]["KeyState"]) == ("ML_DSA_44", "Enabled")
        # The AWS CLI, as a user types it, by alias.
        code, out, err = aws_cli(ep, "describe-key", "--key-id", "alias/app")
        assert code == 0, err
        assert out["KeyMetadata"]["KeyId"] == key_id(1)
        before = kms.encrypt(KeyId="alias/app", Plaintext=b"kept across restarts")["CiphertextBlob"]
    finally:
        ep.stop()

    # Again with the same seed: nothing changes, and what was encrypted decrypts.
    ep.start()
    try:
        kms = ep.client()
        assert describe_all(kms, ids) == meta
        assert len(kms.list_keys(Limit=1000)["Keys"]) == len(ids)
        assert kms.decrypt(CiphertextBlob=before)["Plaintext"] == b"kept across restarts"
        assert f"seed applied file={seed} created=0 unchanged={len(ids)} aliases_created=0" in ep.log()
    finally:
        ep.stop()


def test_a_conflicting_seed_stops_start_up_and_leaves_the_store_alone(tmp_path):
    data = tmp_path / "data"
    good = write_seed(tmp_path / "good.json", {"Keys": [
        {"KeyId": key_id(1), "Origin": "EXTERNAL", "KeyMaterial": [{"Material": b64(SYMMETRIC_V1)}]}]})
    ep = start(data, good)
    try:
        ct = ep.client().encrypt(KeyId=key_id(1), Plaintext=b"data")["CiphertextBlob"]
    finally:
        ep.stop()
    other = write_seed(tmp_path / "other.json", {"Keys": [
        {"KeyId": key_id(1), "Origin": "EXTERNAL", "KeyMaterial": [{"Material": b64(SYMMETRIC_V2)}]}]})
    p = run_start(data, other)
    assert p.returncode == 2, p.stderr
    assert p.stderr.splitlines()[-1].startswith(
        f"kms-api: seed file {other}: key {key_id(1)}: Keys[0].KeyMaterial: version 0 of the stored key is other "
        "key material (id "), p.stderr
    assert p.stderr.rstrip().endswith(
        "; a seed never changes a stored key (drop it from the seed, or use another data folder)"), p.stderr
    spec = write_seed(tmp_path / "spec.json", {"Keys": [
        {"KeyId": key_id(1), "KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}]})
    p = run_start(data, spec)
    assert p.returncode == 2
    assert (f"kms-api: seed file {spec}: key {key_id(1)}: Keys[0].KeySpec: the stored key has SYMMETRIC_DEFAULT, "
            "the seed HMAC_256; a seed never changes") in p.stderr, p.stderr
    ep = start(data, good)
    try:
        assert ep.client().decrypt(CiphertextBlob=ct)["Plaintext"] == b"data"
    finally:
        ep.stop()


def test_export_then_seed_a_fresh_folder_gives_the_same_keys(tmp_path, materials):
    data = tmp_path / "data"
    ep = start(data, write_seed(tmp_path / "seed.json", every_spec_seed(materials)))
    try:
        kms = ep.client()
        # And keys made through the API after the seed.
        made = kms.create_key(Description="made by a call", Tags=[{"TagKey": "k", "TagValue": "v"}])["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName="alias/made", TargetKeyId=made)
        ids = [k["KeyId"] for k in kms.list_keys(Limit=1000)["Keys"]]
        before = describe_all(kms, ids)
        sealed = {k: kms.encrypt(KeyId=k, Plaintext=b"across folders")["CiphertextBlob"]
                  for k in ids if before[k]["KeyUsage"] == "ENCRYPT_DECRYPT" and before[k]["KeyState"] == "Enabled"
                  and before[k]["KeySpec"] == "SYMMETRIC_DEFAULT"}
        mac = kms.generate_mac(KeyId=key_id(3), Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    finally:
        ep.stop()
    exported = tmp_path / "exported.json"
    p = subprocess.run([str(KMS_API), "export-seed", "--with-material", "--out", str(exported)],
                       env={**os.environ, "KMS_MOCK_DATA": str(data)}, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert exported.stat().st_mode & 0o777 == 0o600, "it holds key material"
    seed = json.loads(exported.read_text())
    jsonschema.validate(seed, SCHEMA)
    assert {k["KeyId"] for k in seed["Keys"]} == set(ids)
    made_entry = next(k for k in seed["Keys"] if k["KeyId"] == made)
    assert made_entry["Aliases"] == ["alias/made"] and made_entry["Tags"] == [{"TagKey": "k", "TagValue": "v"}]

    fresh = tmp_path / "fresh"
    ep2 = start(fresh, exported)
    try:
        kms = ep2.client()
        assert describe_all(kms, ids) == before
        for k, ct in sealed.items():
            assert kms.decrypt(CiphertextBlob=ct)["Plaintext"] == b"across folders", k
        assert kms.verify_mac(KeyId=key_id(3), Message=b"m", Mac=mac, MacAlgorithm="HMAC_SHA_256")["MacValid"]
        assert {a["AliasName"] for a in kms.list_aliases()["Aliases"]} == {
            "alias/app", "alias/app-v2", "alias/pending", "alias/made"}
    finally:
        ep2.stop()

    # Without --with-material: no key material in the file; KMS's own keys get new material.
    p = subprocess.run([str(KMS_API), "export-seed"], env={**os.environ, "KMS_MOCK_DATA": str(data)},
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    bare = json.loads(p.stdout)
    jsonschema.validate(bare, SCHEMA)
    versions = [v for k in bare["Keys"] for v in k.get("KeyMaterial", [])]
    assert versions and all(v == {"Generate": True} for v in versions), versions
    assert not any("Material" in v for v in versions)


BAD = [
    ("not JSON", "{\"Keys\": [", ": not JSON: EOF while parsing a list at line 1 column 10"),
    ("unknown field", {"Keys": [{"KeyId": key_id(1), "Colour": "red"}]},
     f": key {key_id(1)}: Keys[0].Colour: unknown field `Colour`, expected one of"),
    ("bad key id", {"Keys": [{"KeyId": "alias/app"}]},
     ": key alias/app: Keys[0].KeyId: \"alias/app\" is not a key id: a lowercase UUID"),
    ("bad spec", {"Keys": [{"KeyId": key_id(1), "KeySpec": "AES_256"}]},
     f": key {key_id(1)}: Keys[0].KeySpec: unknown KeySpec AES_256"),
    ("short material", {"Keys": [{"KeyId": key_id(1), "Origin": "EXTERNAL", "KeyMaterial": [{"Material": b64(b"x" * 16)}]}]},
     f": key {key_id(1)}: Keys[0].KeyMaterial[0].Material: SYMMETRIC_DEFAULT material is 32 bytes, not 16"),
    ("missing file", {"Keys": [{"KeyId": key_id(1), "Origin": "EXTERNAL", "KeyMaterial": [{"MaterialFile": "nope.der"}]}]},
     f": key {key_id(1)}: Keys[0].KeyMaterial[0].MaterialFile: cannot read "),
    ("generated import", {"Keys": [{"KeyId": key_id(1), "Origin": "EXTERNAL", "KeyMaterial": [{"Generate": True}]}]},
     f": key {key_id(1)}: Keys[0].KeyMaterial[0].Generate: the material of an EXTERNAL key is imported, never generated"),
    ("bad policy", {"Keys": [{"KeyId": key_id(1), "Policy": "{\"Statement\": 7}"}]},
     f": key {key_id(1)}: Keys[0].Policy: "),
    ("bad alias", {"Keys": [{"KeyId": key_id(1), "Aliases": ["alias/aws/s3"]}]},
     f": key {key_id(1)}: Keys[0].Aliases: Alias cannot begin with 'alias/aws/'"),
    ("duplicate", {"Keys": [{"KeyId": key_id(1)}, {"KeyId": key_id(1)}]},
     f": key {key_id(1)}: Keys[1].KeyId: another key of the seed has this id in the same account and Region"),
]


@pytest.mark.parametrize("name,content,message", BAD, ids=[b[0] for b in BAD])
def test_bad_seed_files_are_refused_before_anything_is_served(tmp_path, name, content, message):
    seed = tmp_path / "seed.json"
    seed.write_text(content if isinstance(content, str) else json.dumps(content))
    if not isinstance(content, str) and name in ("unknown field", "bad key id", "bad spec", "generated import", "duplicate"):
        # The schema refuses what the schema can express too.
        if name not in ("generated import", "duplicate"):
            with pytest.raises(jsonschema.ValidationError):
                jsonschema.validate(content, SCHEMA)
    p = run_start(tmp_path / "data", seed)
    assert p.returncode == 2, p.stderr
    line = p.stderr.strip().splitlines()[-1]
    assert line.startswith(f"kms-api: seed file {seed}"), line
    assert message in line, line
    assert "listening" not in p.stderr


@pytest.mark.parametrize("kind", ["sqlite", "dynamodb"])
def test_three_processes_start_together_with_one_seed(tmp_path, kind):
    """As three processes on one data folder, or three Lambda instances' cold starts on one
    DynamoDB table: each key created once, one material for the generated ones."""
    from test_shared_pool import store_env

    store = store_env(kind)
    seed = write_seed(tmp_path / "seed.json", {"Keys": [
        {"KeyId": key_id(1), "Aliases": ["alias/generated"]},  # generated: one process's material wins
        {"KeyId": key_id(2), "Origin": "EXTERNAL", "KeyMaterial": [{"Material": b64(SYMMETRIC_V1)}]},
        {"KeyId": key_id(3), "KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"},
    ]})
    data = tmp_path / "data"
    eps = [Endpoint(data, env={"KMS_MOCK_SEED": str(seed), "NO_COLOR": "1", **store}) for _ in range(3)]
    errors = []

    def up(ep):
        try:
            ep.start()
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=up, args=(ep,)) for ep in eps]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert errors == []
        for ep in eps:
            assert sorted(k["KeyId"] for k in ep.client().list_keys()["Keys"]) == [key_id(1), key_id(2), key_id(3)]
        # One material for the generated keys, whichever process made it.
        ct = eps[0].client().encrypt(KeyId="alias/generated", Plaintext=b"one key")["CiphertextBlob"]
        pub = {ep.client().get_public_key(KeyId=key_id(3))["PublicKey"] for ep in eps}
        assert len(pub) == 1
        for ep in eps[1:]:
            assert ep.client().decrypt(CiphertextBlob=ct)["Plaintext"] == b"one key"
        created = sum(int(line.split("created=")[1].split()[0]) for ep in eps
                      for line in ep.log().splitlines()
                      if "seed applied" in line)
        assert created == 3, "each key created once"
    finally:
        for ep in eps:
            ep.stop()


def test_the_sidecar_applies_the_seed_and_its_policies(tmp_path):
    from sidecar_stack import ProxyStack

    deny = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "NoEncrypt", "Effect": "Deny", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
         "Action": "kms:Encrypt", "Resource": "*"}]})
    seed = write_seed(tmp_path / "seed.json", {"Keys": [
        {"KeyId": key_id(1), "Policy": deny, "Aliases": ["alias/locked"]},
        {"KeyId": key_id(2), "Aliases": ["alias/open"]}]})
    stack = ProxyStack(tmp_path / "stack", env={"KMS_MOCK_SEED": str(seed)}).start()
    try:
        kms = stack.client()
        assert kms.describe_key(KeyId="alias/locked")["KeyMetadata"]["KeyId"] == key_id(1)
        kms.encrypt(KeyId="alias/open", Plaintext=b"x")
        with pytest.raises(botocore.exceptions.ClientError) as e:
            kms.encrypt(KeyId="alias/locked", Plaintext=b"x")
        arn = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id(1)}"
        assert e.value.response["Error"] == {
            "Code": "AccessDeniedException",
            "Message": f"User: arn:aws:iam::{ACCOUNT}:root is not authorized to perform: kms:Encrypt on resource: "
                       f"{arn} with an explicit deny in a resource-based policy"}
        record = [r for r in stack.audit() if r["eventName"] == "Encrypt"][-1]
        assert record["errorCode"] == "AccessDeniedException"
        assert record["policyDecision"]["statement"]["sid"] == "NoEncrypt"
    finally:
        stack.stop()
