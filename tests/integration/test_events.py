"""Every sample event in events/, invoked under `cargo lambda watch` with
`cargo lambda invoke --data-file` (what `sam local invoke -e events/<file>` does where Docker
runs): each as shipped, then the whole import flow with real key IDs and blobs put into them."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from byok import local_hmac, make_material, wrap
from conftest import ACCOUNT, REGION, ROOT, free_port, openssl_public_key_bits, stop_process, wait_port

EVENTS = ROOT / "events"
PLACEHOLDER_KEY = "1234abcd-12ab-34cd-56ef-1234567890ab"
PLACEHOLDER_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{PLACEHOLDER_KEY}"
MRK = "mrk-1234abcd12ab34cd56ef1234567890ab"
NOT_FOUND = {"__type": "NotFoundException", "message": f"Key '{PLACEHOLDER_ARN}' does not exist"}
ALIAS_NOT_FOUND = {
    "__type": "NotFoundException",
    "message": f"Alias arn:aws:kms:{REGION}:{ACCOUNT}:alias/imported-example is not found.",
}
OPERATION_SOURCE = ROOT / "shared" / "src" / "protocol" / "operation.rs"


def kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def event_files(prefix: str) -> list[str]:
    return sorted(p.name for p in EVENTS.glob(f"{prefix}*.json"))


class Watch:
    """`cargo lambda watch` serving this workspace's functions (built by `cargo run` on first
    invoke, as a user runs it), and `cargo lambda invoke` against it."""

    def __init__(self, work: Path):
        self.work = work
        self.port = free_port()
        env_vars = ",".join([
            f"KMS_MOCK_DATA={work / 'data'}",
            "KMS_MOCK_POOL_RSA_2048=1",
            "KMS_MOCK_POOL_RSA_3072=1",
            "KMS_MOCK_POOL_RSA_4096=1",
            "KMS_MOCK_POOL_FILE=off",
        ])
        self.log = open(work / "cargo-lambda-watch.log", "wb")
        self.proc = subprocess.Popen(
            ["cargo", "lambda", "watch", "--ignore-changes", "-A", "127.0.0.1", "-P", str(self.port),
             "--env-var", env_vars],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
        )
        self.files = 0

    def wait_ready(self) -> None:
        try:
            wait_port(self.port, [self.proc], timeout=120)
        except RuntimeError as e:
            raise RuntimeError(f"{e}: {self.logs()}") from None

    def logs(self) -> str:
        return (self.work / "cargo-lambda-watch.log").read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        stop_process(self.proc)
        self.log.close()

    def invoke_file(self, function: str, path: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["cargo", "lambda", "invoke", function, "-A", "127.0.0.1", "-P", str(self.port),
             "--data-file", str(path), "-o", "json"],
            cwd=ROOT, capture_output=True, text=True, timeout=180, env={**os.environ, "NO_COLOR": "1"},
        )

    def write(self, event: dict) -> Path:
        self.files += 1
        path = self.work / f"event-{self.files}.json"
        path.write_text(json.dumps(event))
        return path

    def http(self, path: Path) -> tuple[int, dict, dict]:
        """Invokes kms-api; returns the HTTP status, headers and decoded KMS JSON body."""
        p = self.invoke_file("kms-api", path)
        assert p.returncode == 0, p.stderr + self.logs()
        out = json.loads(p.stdout)
        body = base64.b64decode(out["body"]) if out["isBase64Encoded"] else out["body"].encode()
        return out["statusCode"], out["headers"], json.loads(body)

    def direct(self, path: Path) -> tuple[str, dict | tuple[str, str]]:
        """Invokes get-parameters-for-import; ("ok", payload) or ("error", (type, message)).
        cargo lambda prints a function error as `Error: <errorType>` and the wrapped message."""
        p = self.invoke_file("get-parameters-for-import", path)
        if p.returncode == 0:
            return "ok", json.loads(p.stdout)
        lines = p.stderr.splitlines()
        assert lines[0].startswith("Error: "), p.stderr
        message = []
        for line in lines[1:]:
            stripped = line.strip()
            if stripped.startswith(("×", "│")):
                message.append(stripped[1:].strip())
            elif message:
                break
        return "error", (lines[0][len("Error: "):], " ".join(message))


def same_text(wrapped: str, expected: str) -> bool:
    """cargo lambda wraps error messages at 80 columns, at spaces or after hyphens: the words
    must be the same, in order, with nothing added or lost."""
    return "".join(wrapped.split()) == "".join(expected.split())


@pytest.fixture(scope="module")
def watch():
    work = Path(tempfile.mkdtemp(prefix="kms-mock-events-"))
    w = Watch(work)
    try:
        w.wait_ready()
        yield w
    finally:
        w.stop()


def load(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def with_body(event: dict, **fields) -> dict:
    """The HTTP event with fields of its KMS request replaced, in the event's own body form."""
    raw = base64.b64decode(event["body"]) if event["isBase64Encoded"] else event["body"].encode()
    body = {**json.loads(raw), **fields}
    raw = json.dumps(body).encode()
    return {**event, "body": base64.b64encode(raw).decode() if event["isBase64Encoded"] else raw.decode()}


def test_the_files_are_what_the_generator_writes():
    p = subprocess.run([sys.executable, str(EVENTS / "generate.py"), "--check"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def test_every_operation_has_an_http_event():
    operations = re.findall(r'^\s+(\w+) = "\w+",$', OPERATION_SOURCE.read_text(), re.M)
    assert len(operations) == 54
    covered = {name.split(".")[1] for name in event_files("kms-api.")}
    assert sorted(kebab(op) for op in operations if kebab(op) not in covered) == []


def test_http_events_have_the_shape_api_gateway_and_function_urls_deliver():
    for name in event_files("kms-api."):
        e = load(name)
        assert (e["version"], e["rawPath"], e["requestContext"]["http"]["method"]) == ("2.0", "/", "POST"), name
        assert e["headers"]["content-type"] == "application/x-amz-json-1.1", name
        op = e["headers"]["x-amz-target"].removeprefix("TrentService.")
        assert kebab(op) == name.split(".")[1], name
        # Both front doors base64 a binary content type; sam local start-api passes it as text.
        assert e["isBase64Encoded"] == (not name.startswith("kms-api.create-key.")), name
        expected_route = "$default" if name.endswith(".function-url.json") else "POST /"
        assert e["routeKey"] == expected_route, name


NO_CUSTOM_KEY_STORE = {"__type": "CustomKeyStoreNotFoundException", "message":
                       "The request was rejected because KMS cannot find a custom key store with the specified key "
                       "store name or ID."}


@pytest.mark.parametrize("name", event_files("kms-api."))
def test_http_event_as_shipped(watch, name):
    status, headers, body = watch.http(EVENTS / name)
    assert headers["content-type"] == "application/x-amz-json-1.1"
    if name.startswith("kms-api.create-key."):
        request = json.loads(load(name)["body"])
        md = body["KeyMetadata"]
        assert status == 200
        assert (md["KeyState"], md["Origin"], md["Description"]) == ("PendingImport", "EXTERNAL", request["Description"])
        assert md["KeySpec"] == request.get("KeySpec", "SYMMETRIC_DEFAULT")
        # The region comes from the event's SigV4 credential scope.
        assert md["Arn"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{md['KeyId']}"
    elif name == "kms-api.list-keys.function-url.json":
        assert status == 200
        assert body["Truncated"] is False
        assert all(k["KeyArn"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{k['KeyId']}" for k in body["Keys"])
    elif name in ("kms-api.delete-alias.json", "kms-api.update-alias.json"):
        assert (status, body) == (400, ALIAS_NOT_FOUND)
    elif name == "kms-api.generate-random.32-bytes.json":
        assert status == 200 and len(base64.b64decode(body["Plaintext"])) == 32
    elif name == "kms-api.list-retirable-grants.json":
        assert (status, body) == (200, {"Grants": [], "Truncated": False})
    elif name == "kms-api.describe-custom-key-stores.json":
        assert (status, body) == (200, {"CustomKeyStores": [], "Truncated": False})
    elif name == "kms-api.create-custom-key-store.cloudhsm.json":
        assert (status, body["__type"]) == (400, "CloudHsmClusterNotFoundException")
    elif "custom-key-store" in name:
        assert (status, body) == (400, NO_CUSTOM_KEY_STORE)
    elif name.startswith(("kms-api.replicate-key.", "kms-api.update-primary-region.")):
        # The multi-Region example key (test_the_multi_region_events makes a real one).
        assert (status, body) == (400, {"__type": "NotFoundException", "message":
                                        f"Key 'arn:aws:kms:{REGION}:{ACCOUNT}:key/{MRK}' does not exist"})
    else:
        assert (status, body) == (400, NOT_FOUND)


@pytest.mark.parametrize("name", event_files("get-parameters-for-import."))
def test_direct_invoke_event_as_shipped(watch, name):
    kind, (error_type, message) = watch.direct(EVENTS / name)
    assert kind == "error"
    if name == "get-parameters-for-import.invalid-wrapping-key-spec.json":
        assert error_type == "ValidationException"
        assert same_text(message, (
            "1 validation error detected: Value 'RSA_1024' at 'wrappingKeySpec' failed to satisfy "
            "constraint: Member must satisfy enum value set: [RSA_2048, RSA_3072, RSA_4096, SM2]"
        )), message
    else:
        assert error_type == "NotFoundException"
        assert same_text(message, NOT_FOUND["message"]), message


class Flow:
    """Runs the kms-api events with real values put in."""

    def __init__(self, watch: Watch, tmp: Path):
        self.watch, self.tmp = watch, tmp

    def call(self, name: str, **fields) -> tuple[int, dict]:
        event = load(f"kms-api.{name}.json")
        status, _, body = self.watch.http(self.watch.write(with_body(event, **fields) if fields else event))
        return status, body

    def ok(self, name: str, **fields) -> dict:
        status, body = self.call(name, **fields)
        assert status == 200, (name, body)
        return body

    def create(self, case: str) -> str:
        return self.ok(f"create-key.{case}")["KeyMetadata"]["KeyId"]

    def import_material(self, key_id: str, gpfi_case: str, algorithm: str, material: bytes,
                        case: str = "does-not-expire") -> dict:
        params = self.ok(f"get-parameters-for-import.{gpfi_case}", KeyId=key_id)
        wrapped = wrap(algorithm, base64.b64decode(params["PublicKey"]), material, self.tmp / key_id)
        return self.ok(
            f"import-key-material.{case}", KeyId=key_id, ImportToken=params["ImportToken"],
            EncryptedKeyMaterial=base64.b64encode(wrapped).decode(),
        )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_the_import_flow_from_the_events(watch, tmp_path):
    flow = Flow(watch, tmp_path)
    arn = lambda key_id: f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}"  # noqa: E731

    # Symmetric: import, use, rotate onto new material, disable/enable.
    sym = flow.create("external-symmetric")
    assert flow.ok("describe-key", KeyId=sym)["KeyMetadata"]["KeyState"] == "PendingImport"
    assert {"KeyId": sym, "KeyArn": arn(sym)} in flow.ok("list-keys.function-url")["Keys"]
    params = flow.ok("get-parameters-for-import.rsa4096-oaep256", KeyId=sym)
    assert params["KeyId"] == arn(sym)
    assert openssl_public_key_bits(base64.b64decode(params["PublicKey"])) == 4096
    material = make_material("SYMMETRIC_DEFAULT", tmp_path).material
    wrapped = wrap("RSAES_OAEP_SHA_256", base64.b64decode(params["PublicKey"]), material, tmp_path / "sym")
    imported = flow.ok("import-key-material.does-not-expire", KeyId=sym, ImportToken=params["ImportToken"],
                       EncryptedKeyMaterial=b64(wrapped))
    assert imported["KeyId"] == arn(sym) and len(imported["KeyMaterialId"]) == 64
    md = flow.ok("describe-key", KeyId=sym)["KeyMetadata"]
    assert (md["KeyState"], md["Enabled"], md["ExpirationModel"]) == ("Enabled", True, "KEY_MATERIAL_DOES_NOT_EXPIRE")

    encrypted = flow.ok("encrypt", KeyId=sym)
    assert encrypted["KeyId"] == arn(sym) and encrypted["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    decrypted = flow.ok("decrypt", KeyId=sym, CiphertextBlob=encrypted["CiphertextBlob"])
    assert base64.b64decode(decrypted["Plaintext"]) == b"hello from events/"
    assert decrypted["KeyMaterialId"] == imported["KeyMaterialId"]
    # The event's encryption context is part of the ciphertext: another one does not decrypt.
    status, body = flow.call("decrypt", KeyId=sym, CiphertextBlob=encrypted["CiphertextBlob"],
                             EncryptionContext={"purpose": "other"})
    assert (status, body["__type"]) == (400, "InvalidCiphertextException")
    data_key = flow.ok("generate-data-key.aes256", KeyId=sym)
    assert len(base64.b64decode(data_key["Plaintext"])) == 32
    unwrapped = flow.ok("decrypt", KeyId=sym, CiphertextBlob=data_key["CiphertextBlob"], EncryptionContext={})
    assert unwrapped["Plaintext"] == data_key["Plaintext"]
    without = flow.ok("generate-data-key-without-plaintext.aes256", KeyId=sym)
    assert set(without) == {"CiphertextBlob", "KeyId", "KeyMaterialId"} and without["KeyId"] == arn(sym)

    for name in ("enable-key-rotation", "disable-key-rotation"):
        assert flow.call(name, KeyId=sym) == (400, {
            "__type": "UnsupportedOperationException",
            "message": f"{arn(sym)} origin is EXTERNAL which is not valid for this operation.",
        })
    assert flow.ok("get-key-rotation-status", KeyId=sym) == {"KeyRotationEnabled": False, "KeyId": arn(sym)}
    assert flow.call("rotate-key-on-demand", KeyId=sym) == (400, {
        "__type": "KMSInvalidStateException",
        "message": f"No available key material pending rotation for the key: {arn(sym)}.",
    })
    second = flow.import_material(sym, "rsa2048-oaep1", "RSAES_OAEP_SHA_1",
                                  make_material("SYMMETRIC_DEFAULT", tmp_path).material, case="new-key-material")
    history = flow.ok("list-key-rotations.all-key-material", KeyId=sym)["Rotations"]
    assert [(r["KeyMaterialId"], r["KeyMaterialState"]) for r in history] == [
        (imported["KeyMaterialId"], "CURRENT"), (second["KeyMaterialId"], "PENDING_ROTATION")]
    assert history[1]["KeyMaterialDescription"] == "second material"
    assert flow.ok("rotate-key-on-demand", KeyId=sym) == {"KeyId": arn(sym)}
    deadline = time.monotonic() + 30
    while True:
        states = [(r["KeyMaterialId"], r["KeyMaterialState"])
                  for r in flow.ok("list-key-rotations.all-key-material", KeyId=sym)["Rotations"]]
        if states == [(imported["KeyMaterialId"], "NON_CURRENT"), (second["KeyMaterialId"], "CURRENT")]:
            break
        assert time.monotonic() < deadline, states
        time.sleep(0.5)
    # Old ciphertexts still decrypt after the rotation.
    assert flow.ok("decrypt", KeyId=sym, CiphertextBlob=encrypted["CiphertextBlob"])["Plaintext"] == b64(b"hello from events/")

    assert flow.ok("disable-key", KeyId=sym) == {}
    assert flow.ok("describe-key", KeyId=sym)["KeyMetadata"]["KeyState"] == "Disabled"
    status, body = flow.call("encrypt", KeyId=sym)
    assert (status, body) == (400, {"__type": "DisabledException", "message": f"{arn(sym)} is disabled."})
    assert flow.ok("enable-key", KeyId=sym) == {}

    # Aliases and key policies.
    sym2 = flow.create("external-symmetric")
    assert flow.ok("create-alias", TargetKeyId=sym) == {}
    aliases = flow.ok("list-aliases", KeyId=sym)["Aliases"]
    assert [(a["AliasName"], a["TargetKeyId"]) for a in aliases] == [("alias/imported-example", sym)]
    assert flow.ok("update-alias", TargetKeyId=sym2) == {}
    assert [a["AliasName"] for a in flow.ok("list-aliases", KeyId=sym2)["Aliases"]] == ["alias/imported-example"]
    assert flow.ok("list-aliases", KeyId=sym)["Aliases"] == []
    assert flow.ok("describe-key", KeyId="alias/imported-example")["KeyMetadata"]["KeyId"] == sym2
    assert flow.ok("delete-alias") == {}
    assert flow.call("delete-alias") == (400, ALIAS_NOT_FOUND)
    assert flow.ok("list-key-policies", KeyId=sym) == {"PolicyNames": ["default"], "Truncated": False}
    policy = json.loads(json.loads(base64.b64decode(load("kms-api.put-key-policy.json")["body"]))["Policy"])
    assert flow.ok("put-key-policy", KeyId=sym) == {}
    assert json.loads(flow.ok("get-key-policy", KeyId=sym)["Policy"]) == policy
    assert flow.ok("get-key-policy", KeyId=sym)["PolicyName"] == "default"

    # RSA signing key: import the user's private key, sign, verify, and the public key matches.
    rsa = flow.create("external-rsa2048-sign-verify")
    rsa_material = make_material("RSA_2048", tmp_path / "rsa")
    flow.import_material(rsa, "rsa3072-aes-key-wrap-sha256", "RSA_AES_KEY_WRAP_SHA_256", rsa_material.material)
    public = flow.ok("get-public-key", KeyId=rsa)
    assert base64.b64decode(public["PublicKey"]) == rsa_material.public_der
    assert (public["KeySpec"], public["KeyUsage"]) == ("RSA_2048", "SIGN_VERIFY")
    assert "RSASSA_PSS_SHA_256" in public["SigningAlgorithms"]
    signed = flow.ok("sign.rsassa-pss-sha256", KeyId=rsa)
    assert (signed["KeyId"], signed["SigningAlgorithm"]) == (arn(rsa), "RSASSA_PSS_SHA_256")
    user_public = serialization.load_der_public_key(rsa_material.public_der)
    user_public.verify(base64.b64decode(signed["Signature"]), b"sign me",
                       padding.PSS(padding.MGF1(hashes.SHA256()), hashes.SHA256().digest_size), hashes.SHA256())
    assert flow.ok("verify.rsassa-pss-sha256", KeyId=rsa, Signature=signed["Signature"])["SignatureValid"] is True
    status, body = flow.call("verify.rsassa-pss-sha256", KeyId=rsa)  # the placeholder signature
    assert (status, body["__type"]) == (400, "KMSInvalidSignatureException")

    # HMAC key: the MAC equals the user's own HMAC of the message with the material.
    mac_key = flow.create("external-hmac256")
    mac_material = make_material("HMAC_256", tmp_path).material
    flow.import_material(mac_key, "rsa2048-oaep1", "RSAES_OAEP_SHA_1", mac_material)
    mac = flow.ok("generate-mac.hmac-sha256", KeyId=mac_key)
    assert base64.b64decode(mac["Mac"]) == local_hmac("HMAC_256", mac_material, b"mac me")
    assert flow.ok("verify-mac.hmac-sha256", KeyId=mac_key, Mac=mac["Mac"])["MacValid"] is True

    # Key agreement: KMS's shared secret equals the peer's own ECDH result.
    agree = flow.create("external-ecc-p256-key-agreement")
    ecc_material = make_material("ECC_NIST_P256", tmp_path / "ecc")
    flow.import_material(agree, "rsa3072-aes-key-wrap-sha256", "RSA_AES_KEY_WRAP_SHA_256", ecc_material.material)
    peer = ec.generate_private_key(ec.SECP256R1())
    peer_public = peer.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
    derived = flow.ok("derive-shared-secret.ecdh", KeyId=agree, PublicKey=b64(peer_public))
    expected = peer.exchange(ec.ECDH(), serialization.load_der_public_key(ecc_material.public_der))
    assert base64.b64decode(derived["SharedSecret"]) == expected

    # Deleting material, scheduling and cancelling deletion.
    assert flow.ok("delete-imported-key-material", KeyId=mac_key) == {"KeyId": arn(mac_key)}
    assert flow.ok("describe-key", KeyId=mac_key)["KeyMetadata"]["KeyState"] == "PendingImport"
    scheduled = flow.ok("schedule-key-deletion.7-days", KeyId=rsa)
    assert (scheduled["KeyId"], scheduled["KeyState"], scheduled["PendingWindowInDays"]) == (
        arn(rsa), "PendingDeletion", 7)
    assert flow.ok("cancel-key-deletion", KeyId=rsa) == {"KeyId": arn(rsa)}
    assert flow.ok("describe-key", KeyId=rsa)["KeyMetadata"]["KeyState"] == "Disabled"


def test_the_multi_region_events(watch, tmp_path):
    """ReplicateKey and UpdatePrimaryRegion as shipped, on a real imported multi-Region key."""
    flow = Flow(watch, tmp_path)
    # KMS's own material, so that the replica is usable without an import into us-west-2.
    mrk = flow.ok("create-key.external-symmetric", MultiRegion=True, Origin="AWS_KMS")["KeyMetadata"]["KeyId"]
    out = flow.ok("replicate-key.us-west-2", KeyId=mrk)
    replica = f"arn:aws:kms:us-west-2:{ACCOUNT}:key/{mrk}"
    assert (out["ReplicaKeyMetadata"]["Arn"], out["ReplicaKeyMetadata"]["KeyState"]) == (replica, "Creating")
    assert out["ReplicaTags"] == [{"TagKey": "team", "TagValue": "payments"}]
    status, body = flow.call("update-primary-region.us-west-2", KeyId=mrk)
    assert (status, body["message"]) == (400, f"{replica} is Creating."), "the replica is still being created"
    time.sleep(2.1)  # the default multi-Region delay
    assert flow.ok("update-primary-region.us-west-2", KeyId=mrk) == {}
    md = flow.ok("describe-key", KeyId=mrk)["KeyMetadata"]
    assert (md["KeyState"], md["MultiRegionConfiguration"]["PrimaryKey"]) == (
        "Updating", {"Arn": replica, "Region": "us-west-2"})
    assert md["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA"


def test_direct_invoke_events_for_a_real_key(watch, tmp_path):
    flow = Flow(watch, tmp_path)
    key = flow.create("external-symmetric")
    for name, bits, algorithm in [
        ("rsa4096-oaep256", 4096, "RSAES_OAEP_SHA_256"),
        ("rsa2048-oaep1", 2048, "RSAES_OAEP_SHA_1"),
        ("rsa3072-aes-key-wrap-sha256", 3072, None),
    ]:
        event = {**load(f"get-parameters-for-import.{name}.json"), "KeyId": key}
        kind, out = watch.direct(watch.write(event))
        if algorithm is None:
            # A symmetric key takes only the RSAES_OAEP algorithms.
            assert kind == "error", out
            assert out[0] == "ValidationException"
            assert same_text(out[1], "Wrapping algorithm RSA_AES_KEY_WRAP_SHA_256 and wrapping key spec RSA_3072 "
                                     "cannot be used to import a SYMMETRIC_DEFAULT key."), out
            continue
        assert kind == "ok", out
        assert set(out) == {"ImportToken", "KeyId", "ParametersValidTo", "PublicKey"}
        assert out["KeyId"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key}"
        assert openssl_public_key_bits(base64.b64decode(out["PublicKey"])) == bits
        # The direct function shares the store with kms-api: its token imports there.
        material = make_material("SYMMETRIC_DEFAULT", tmp_path).material
        wrapped = wrap(algorithm, base64.b64decode(out["PublicKey"]), material, tmp_path / name)
        case = "does-not-expire" if name == "rsa4096-oaep256" else "new-key-material"
        flow.ok(f"import-key-material.{case}", KeyId=key, ImportToken=out["ImportToken"],
                EncryptedKeyMaterial=b64(wrapped))
