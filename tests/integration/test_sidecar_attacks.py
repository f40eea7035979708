"""Attacks on the policy sidecar, each through the local proxy and (where it applies) the Lambda
extension, as the README runs them. Every one of these got through before the sidecar failed
closed: a request it could not resolve went on unchecked, and the endpoint read the request
another way than the sidecar did."""

from __future__ import annotations

import json
import os
import resource
import socket
import stat
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.exceptions
import pytest

from conftest import free_port, stop_process, wait_port
from sidecar_stack import SIDECAR, STACKS, ProxyStack

ACCOUNT = "111122223333"
PARTNER_ACCOUNT = "444455556666"
ROOT_ARN = f"arn:aws:iam::{ACCOUNT}:root"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
BOB = f"arn:aws:iam::{ACCOUNT}:user/bob"
PARTNER = f"arn:aws:iam::{PARTNER_ACCOUNT}:user/mallory"
PROD_ALIASES = f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/prod-*"


def allow_all():
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}


CONFIG = {
    "credentials": [
        {"access_key_id": "AKIAALICE", "secret_access_key": "alice-secret", "principal": ALICE},
        {"access_key_id": "AKIABOB", "secret_access_key": "bob-secret", "principal": BOB},
        {"access_key_id": "AKIAMALLORY", "secret_access_key": "mallory-secret", "principal": PARTNER},
    ],
    "identity_policies": {
        ALICE: {
            "all": allow_all(),
            "no-prod-aliases": {"Version": "2012-10-17", "Statement": [
                {"Sid": "NoProdAliases", "Effect": "Deny", "Action": ["kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"],
                 "Resource": PROD_ALIASES},
                {"Sid": "NoEncryptThroughProdAliases", "Effect": "Deny", "Action": "kms:Encrypt", "Resource": "*",
                 "Condition": {"StringLike": {"kms:RequestAlias": "alias/prod-*"}}}]},
        },
        BOB: {"all": allow_all()},
        PARTNER: {"all": allow_all()},
    },
}


@pytest.fixture(scope="module", params=["proxy", "extension"])
def stack(request):
    work = Path(tempfile.mkdtemp(prefix=f"kms-attacks-{request.param}-"))
    s = STACKS[request.param](work, config=CONFIG, env={"KMS_MOCK_DEBUG_API": "true"})
    try:
        s.start()
    except Exception:
        s.stop()
        raise
    yield s
    s.stop()


def signed(url: str, target: str, body: dict, key="test", secret="test", region="us-east-1",
           presign=False, expires=60):
    """A request signed by botocore's own signer, as (url, headers, body bytes)."""
    data = json.dumps(body).encode()
    creds = botocore.credentials.Credentials(key, secret)
    req = botocore.awsrequest.AWSRequest(method="POST", url=url, data=data, headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"TrentService.{target}"})
    auth = botocore.auth.SigV4QueryAuth(creds, "kms", region, expires=expires) if presign \
        else botocore.auth.SigV4Auth(creds, "kms", region)
    auth.add_auth(req)
    p = req.prepare()
    return p.url, dict(p.headers), data


def send(url, headers, body, method="POST"):
    req = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def refused(call, code: str, message: str | None = None):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call()
    err = e.value.response["Error"]
    assert err["Code"] == code, err
    if message is not None:
        assert err["Message"] == message
    return err


def private_key(stack) -> str:
    """A key of the account that only its root may use: a deny for everyone else."""
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": ROOT_ARN}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "NobodyElse", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*",
         "Condition": {"StringNotEquals": {"aws:PrincipalArn": ROOT_ARN}}}]}
    return stack.client().create_key(Origin="EXTERNAL", Policy=json.dumps(policy))["KeyMetadata"]["Arn"]


def test_region_confusion_is_refused(stack):
    """Signed for an unused Region, with the real Region's credential put in front: the endpoint
    used to act on the real key while the sidecar found no key and forwarded unchecked."""
    arn = private_key(stack)
    key_id = arn.split("/")[-1]
    policy_before = stack.client().get_key_policy(KeyId=arn, PolicyName="default")["Policy"]
    takeover = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": PARTNER}, "Action": "kms:*", "Resource": "*"}]})
    for key, secret, who in [("AKIABOB", "bob-secret", BOB), ("AKIAMALLORY", "mallory-secret", PARTNER)]:
        for target, body in [("DescribeKey", {"KeyId": arn}),
                             ("PutKeyPolicy", {"KeyId": arn, "PolicyName": "default", "Policy": takeover,
                                               "BypassPolicyLockoutSafetyCheck": True}),
                             ("DisableKey", {"KeyId": arn}),
                             ("ScheduleKeyDeletion", {"KeyId": arn, "PendingWindowInDays": 7})]:
            # The key named by id (the endpoint used to find it in us-east-1) and by ARN.
            for named in [{**body, "KeyId": key_id}, body]:
                url, headers, data = signed(stack.url, target, named, key=key, secret=secret, region="ap-nowhere-9")
                auth = headers["Authorization"]
                date = auth.split("Credential=")[1].split("/")[1]
                front = f"Credential={key}/{date}/us-east-1/kms/aws4_request, "
                two = auth.replace("Credential=", front + "Credential=", 1)
                status, answer = send(url, {**headers, "Authorization": two}, data)
                assert (status, answer) == (400, {
                    "__type": "IncompleteSignatureException",
                    "message": f"Authorization header has more than one 'Credential' parameter. Authorization={two}"}), target
            url, headers, data = signed(stack.url, target, body, key=key, secret=secret, region="ap-nowhere-9")
            # Signed honestly for the other Region: the key is not there, and the sidecar says so.
            status, answer = send(url, headers, data)
            assert (status, answer) == (400, {"__type": "InvalidArnException", "message": f"Invalid arn {arn}"}), target
            url, headers, data = signed(stack.url, target, {**body, "KeyId": key_id}, key=key, secret=secret,
                                        region="ap-nowhere-9")
            own_account = who.split(":")[4]
            assert send(url, headers, data) == (400, {
                "__type": "NotFoundException",
                "message": f"Key 'arn:aws:kms:ap-nowhere-9:{own_account}:key/{key_id}' does not exist"}), target
    meta = stack.client().describe_key(KeyId=arn)["KeyMetadata"]
    assert (meta["KeyState"], meta["Enabled"]) == ("PendingImport", False)
    assert stack.client().get_key_policy(KeyId=arn, PolicyName="default")["Policy"] == policy_before
    # A request whose operation or body the sidecar cannot read is refused by the sidecar.
    url, headers, data = signed(stack.url, "NoSuchOperation", {})
    assert send(url, headers, data) == (400, {"__type": "UnknownOperationException"})
    url, headers, data = signed(stack.url, "DescribeKey", {"KeyId": 7})
    status, answer = send(url, headers, data)
    assert (status, answer) == (400, {"__type": "SerializationException",
                                      "message": "Unexpected value type at 'keyId': expected a string"})


def test_update_alias_needs_the_current_key_too(stack):
    """Bob repoints the owner's alias to his own key: AWS requires kms:UpdateAlias on the alias,
    on the key it names now and on the new key."""
    owner = stack.client()
    owners = private_key(stack)
    owner.create_alias(AliasName="alias/payments", TargetKeyId=owners)
    bob = stack.client(key="AKIABOB", secret="bob-secret")
    bobs = bob.create_key()["KeyMetadata"]["Arn"]
    refused(lambda: bob.update_alias(AliasName="alias/payments", TargetKeyId=bobs), "AccessDeniedException",
            f"User: {BOB} is not authorized to perform: kms:UpdateAlias on resource: {owners} "
            "with an explicit deny in a resource-based policy")
    refused(lambda: bob.delete_alias(AliasName="alias/payments"), "AccessDeniedException",
            f"User: {BOB} is not authorized to perform: kms:DeleteAlias on resource: {owners} "
            "with an explicit deny in a resource-based policy")
    aliases = {a["AliasName"]: a["TargetKeyId"] for a in owner.list_aliases()["Aliases"]}
    assert aliases["alias/payments"] == owners.split("/")[-1]
    # The other way round: the owner may not point his alias at a key that denies him... and
    # bob may repoint his own alias between his own keys.
    bob.create_alias(AliasName="alias/bobs", TargetKeyId=bobs)
    refused(lambda: bob.update_alias(AliasName="alias/bobs", TargetKeyId=owners), "AccessDeniedException",
            f"User: {BOB} is not authorized to perform: kms:UpdateAlias on resource: {owners} "
            "with an explicit deny in a resource-based policy")
    other = bob.create_key()["KeyMetadata"]["Arn"]
    bob.update_alias(AliasName="alias/bobs", TargetKeyId=other)
    # An alias that does not exist is the endpoint's NotFoundException, from the sidecar.
    refused(lambda: bob.update_alias(AliasName="alias/nope", TargetKeyId=other), "NotFoundException",
            f"Alias arn:aws:kms:us-east-1:{ACCOUNT}:alias/nope is not found.")


def test_alias_resources_are_authorized(stack):
    """An identity-policy Deny on alias/prod-* stops CreateAlias, DeleteAlias and UpdateAlias of
    those aliases, and kms:RequestAlias sees an alias named by its ARN."""
    alice = stack.client(key="AKIAALICE", secret="alice-secret")
    key = alice.create_key()["KeyMetadata"]["Arn"]
    prod = f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/prod-payments"
    refused(lambda: alice.create_alias(AliasName="alias/prod-payments", TargetKeyId=key), "AccessDeniedException",
            f"User: {ALICE} is not authorized to perform: kms:CreateAlias on resource: {prod} "
            "with an explicit deny in an identity-based policy")
    alice.create_alias(AliasName="alias/dev-payments", TargetKeyId=key)
    stack.client().create_alias(AliasName="alias/prod-payments", TargetKeyId=key)
    refused(lambda: alice.delete_alias(AliasName="alias/prod-payments"), "AccessDeniedException",
            f"User: {ALICE} is not authorized to perform: kms:DeleteAlias on resource: {prod} "
            "with an explicit deny in an identity-based policy")
    refused(lambda: alice.update_alias(AliasName="alias/prod-payments", TargetKeyId=key), "AccessDeniedException")
    # Encrypt through the prod alias is denied however the alias is named.
    for key_id in ["alias/prod-payments", prod]:
        refused(lambda: alice.encrypt(KeyId=key_id, Plaintext=b"x"), "AccessDeniedException",
                f"User: {ALICE} is not authorized to perform: kms:Encrypt on resource: {key} "
                "with an explicit deny in an identity-based policy")
    assert alice.encrypt(KeyId="alias/dev-payments", Plaintext=b"x")["KeyId"] == key
    alice.delete_alias(AliasName="alias/dev-payments")
    record = [r for r in stack.audit() if r["eventName"] == "DeleteAlias" and not r.get("errorCode")][-1]
    assert record["resources"] == [
        {"accountId": ACCOUNT, "type": "AWS::KMS::Alias", "ARN": f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/dev-payments"},
        {"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": key}]


def test_a_client_cannot_send_the_decision(stack):
    """Decision headers a client sends are replaced by the sidecar's."""
    url, headers, data = signed(stack.url, "CreateKey", {})
    spoofed = {**headers, "x-kms-mock-caller": f"arn:aws:iam::{PARTNER_ACCOUNT}:root", "x-kms-mock-region": "eu-west-1"}
    status, answer = send(url, spoofed, data)
    assert status == 200
    assert answer["KeyMetadata"]["Arn"].startswith(f"arn:aws:kms:us-east-1:{ACCOUNT}:key/")


def test_presigned_requests_live_a_week_at_most(stack):
    url, headers, data = signed(stack.url, "ListKeys", {}, presign=True, expires=604800)
    assert send(url, headers, data)[0] == 200
    url, headers, data = signed(stack.url, "ListKeys", {}, presign=True, expires=604801)
    assert send(url, headers, data) == (400, {
        "__type": "IncompleteSignatureException",
        "message": "X-Amz-Expires must be less than a week (in seconds) that is 604800"})


def test_the_debug_clock_needs_a_signed_request(stack):
    clock = stack.url.rstrip("/") + "/_kms_mock/clock"
    body = json.dumps({"advance_seconds": 0}).encode()
    assert send(clock, {"Content-Type": "application/json"}, body) == (400, {
        "__type": "MissingAuthenticationTokenException", "message": "Missing Authentication Token"})
    creds = botocore.credentials.Credentials("test", "test")
    req = botocore.awsrequest.AWSRequest(method="POST", url=clock, data=body, headers={"Content-Type": "application/json"})
    botocore.auth.SigV4Auth(creds, "kms", "us-east-1").add_auth(req)
    p = req.prepare()
    status, answer = send(p.url, dict(p.headers), body)
    assert status == 200 and answer["offset_seconds"] == 0
    # Health and pool stats stay open: they hold no key data.
    with urllib.request.urlopen(stack.url.rstrip("/") + "/_kms_mock/health", timeout=10) as r:
        assert json.loads(r.read()) == {"status": "ok"}


def test_the_extension_fails_events_it_cannot_read(stack):
    if stack.mode != "extension":
        pytest.skip("Lambda events only reach the extension")
    url = stack.url.rstrip("/") + "/2015-03-31/functions/_/invocations"
    req = urllib.request.Request(url, data=json.dumps({"KeyId": "x"}).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            answer = json.loads(r.read())
    except urllib.error.HTTPError as e:
        answer = json.loads(e.read())
    assert answer["errorType"] == "Runtime.InvalidEvent", answer
    assert "did not see it" in answer["errorMessage"]
    # The function still serves HTTP events afterwards.
    assert "Keys" in stack.client().list_keys()


# The proxy's own process: its endpoint, its files, its connections.

def endpoint_pid(sidecar_pid: int) -> int:
    children = Path(f"/proc/{sidecar_pid}/task/{sidecar_pid}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def test_the_endpoint_socket_is_private_and_watched(tmp_path):
    s = ProxyStack(tmp_path).start()
    try:
        sidecar = s.procs[0]
        child = endpoint_pid(sidecar.pid)
        env = dict(v.split("=", 1) for v in Path(f"/proc/{child}/environ").read_text().split("\0") if "=" in v)
        sock = Path(env["KMS_MOCK_ENDPOINT_SOCKET"])
        mode = stat.S_IMODE(sock.parent.stat().st_mode)
        assert mode == 0o700, oct(mode)
        name = sock.parent.name
        assert name.startswith("kms-mock-sidecar-") and len(name) == len("kms-mock-sidecar-") + 32, name
        assert str(child) not in name and str(sidecar.pid) not in name
        # Data files: owner only.
        s.client().create_key()
        data = tmp_path / "data"
        for f in ["store.sqlite3", "store.sqlite3-wal", "token-secret"]:
            assert stat.S_IMODE((data / f).stat().st_mode) == 0o600, f
        assert stat.S_IMODE(s.audit_path.stat().st_mode) == 0o600
        # The endpoint itself, reached past the sidecar (as its own user can): a request without
        # the sidecar's decision is refused, whatever it claims.
        with socket.socket(socket.AF_UNIX) as u:
            u.connect(str(sock))
            body = b"{}"
            u.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: TrentService.ListKeys\r\n"
                      b"x-kms-mock-caller: arn:aws:iam::111122223333:root\r\n"
                      b"Content-Type: application/x-amz-json-1.1\r\nContent-Length: 2\r\n\r\n" + body)
            answer = u.recv(65536).decode()
        assert answer.startswith("HTTP/1.1 400"), answer
        assert answer.endswith('{"__type":"AccessDeniedException","message":"This endpoint serves the policy sidecar '
                               'only, and the request did not come through it."}'), answer
        # The endpoint dies: the sidecar exits, saying why, and removes the directory.
        os.kill(child, 9)
        assert sidecar.wait(timeout=15) == 1
        log = (tmp_path / "sidecar.log").read_text()
        assert "policy-sidecar: kms-api, the endpoint behind the sidecar, exited: signal: 9 (SIGKILL)" in log, log
        assert not sock.parent.exists()
    finally:
        s.stop()
    # The pool file the endpoint saves on its way out (SIGKILL saves none: start and stop).
    s = ProxyStack(tmp_path).start()
    s.stop()
    assert stat.S_IMODE((tmp_path / "data" / "wrapping-key-pool.sealed").stat().st_mode) == 0o600


def test_a_principal_that_is_no_iam_name_stops_start_up(tmp_path):
    config = {"credentials": [{"access_key_id": "AKIAZOE", "secret_access_key": "s",
                               "principal": f"arn:aws:iam::{ACCOUNT}:user/zoë"}]}
    path = tmp_path / "sidecar.json"
    path.write_text(json.dumps(config))
    p = subprocess.run([str(SIDECAR)], env={**os.environ, "KMS_MOCK_SIDECAR_CONFIG": str(path),
                                            "KMS_MOCK_DATA": str(tmp_path / "data"),
                                            "KMS_MOCK_LISTEN": f"127.0.0.1:{free_port()}"},
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2
    assert p.stderr.strip() == (f'policy-sidecar: credential AKIAZOE: principal "arn:aws:iam::{ACCOUNT}:user/zoë" '
                                "is not an IAM user, root or assumed-role ARN")


def flood(port: int, n: int) -> list[socket.socket]:
    conns = []
    for _ in range(n):
        c = socket.socket()
        c.settimeout(5)
        try:
            c.connect(("127.0.0.1", port))
        except OSError:
            c.close()
            continue
        conns.append(c)
    return conns


def test_a_connection_flood_is_bounded_and_service_resumes(tmp_path):
    s = ProxyStack(tmp_path, env={"KMS_MOCK_MAX_CONNECTIONS": "32", "KMS_MOCK_HEADER_TIMEOUT_SECONDS": "2"}).start()
    try:
        port = int(s.url.rsplit(":", 1)[1])
        time.sleep(0.5)  # the start-up probe's connection has ended: all 32 places are free
        conns = flood(port, 100)
        time.sleep(0.5)

        def closed_by_server(c):
            try:
                return c.recv(1) == b""
            except OSError:
                return True

        # Past the limit, connections are closed at once: all but 32 read EOF straight away.
        for c in conns:
            c.setblocking(False)
        still_open = []
        for c in conns:
            try:
                if c.recv(1) == b"":
                    continue
            except BlockingIOError:
                still_open.append(c)
            except OSError:
                continue
        assert len(still_open) == 32, len(still_open)
        # The idle ones within the limit are closed by the header-read timeout.
        time.sleep(2.5)
        for c in still_open:
            c.setblocking(True)
            c.settimeout(5)
            assert closed_by_server(c)
        for c in conns:
            c.close()
        assert "Keys" in s.client().list_keys()
        log = (tmp_path / "sidecar.log").read_text()
        assert log.count("connection limit reached") == 1, log[-2000:]
    finally:
        s.stop()


def test_out_of_descriptors_backs_off_and_logs_once(tmp_path):
    work = tmp_path
    port = free_port()
    env = {**os.environ, "KMS_MOCK_DATA": str(work / "data"), "KMS_MOCK_LISTEN": f"127.0.0.1:{port}",
           "KMS_MOCK_POOL_RSA_2048": "0", "KMS_MOCK_POOL_RSA_3072": "0", "KMS_MOCK_POOL_RSA_4096": "0",
           "KMS_MOCK_HEADER_TIMEOUT_SECONDS": "60",
           # Given, the limit is kept as is (the default is fitted to the open-file limit, which
           # keeps accept from failing at all: test_faults.py): accept then runs out of files.
           "KMS_MOCK_MAX_CONNECTIONS": "1024"}
    log_path = work / "sidecar.log"

    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    with open(log_path, "wb") as log:
        p = subprocess.Popen([str(SIDECAR)], env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=low_limit)
    try:
        wait_port(port, [p])
        conns = flood(port, 120)
        time.sleep(2)
        size = log_path.stat().st_size
        text = log_path.read_text()
        assert text.count("accept failed") == 1, text[-2000:]
        assert size < 20_000, size
        for c in conns:
            c.close()
        # Service resumes once the flood ends; after a quiet second the episode is over.
        deadline = time.monotonic() + 15
        while True:
            try:
                st, _ = send(*signed(f"http://127.0.0.1:{port}/", "ListKeys", {}))
            except OSError as e:  # not served yet: counts as not yet
                st = e
            again = "accepting connections again" in log_path.read_text()
            if (st == 200 and again) or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert st == 200 and again
    finally:
        stop_process(p)
