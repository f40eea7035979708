"""Fixtures that run the real kms-api binary and talk to it through real clients.

Every test gets clients for an endpoint started from cargo's `debug/kms-api` (in the target
directory cargo reports, or the binary in $KMS_MOCK_BIN_DIR) with its own data folder and port, so tests never share state unless they
ask to (the `Endpoint.start` helper can start a second process on the same folder).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import botocore.config
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from cargo_target import target_dir  # noqa: E402

BIN_DIR = Path(os.environ["KMS_MOCK_BIN_DIR"]) if os.environ.get("KMS_MOCK_BIN_DIR") else target_dir() / "debug"
KMS_API = BIN_DIR / "kms-api"
ACCOUNT = "111122223333"
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, procs: list, timeout: float = 60) -> None:
    """Waits until something listens on the loopback port; fails early if a process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"{p.args} exited with {p.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def stop_process(proc: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL if it has not exited within the timeout."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Endpoint:
    """A running kms-api process."""

    data_dir: Path
    env: dict = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen | None = None
    log_path: Path | None = None
    # Words in front of the binary: `setpriv ...` to run it as another user, `prlimit ...`.
    prefix: list = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Endpoint":
        self.port = self.port or free_port()
        env = {
            **os.environ,
            "KMS_MOCK_LISTEN": f"127.0.0.1:{self.port}",
            "KMS_MOCK_DATA": str(self.data_dir),
            "KMS_MOCK_LOG": "info",
            # Small pools fill fast; tests that need more say so.
            "KMS_MOCK_POOL_RSA_2048": "4",
            "KMS_MOCK_POOL_RSA_3072": "2",
            "KMS_MOCK_POOL_RSA_4096": "2",
            **self.env,
        }
        self.log_path = self.data_dir.parent / f"kms-api-{self.port}.log"
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([*self.prefix, str(KMS_API)], env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kms-api exited: {self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/_kms_mock/health", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"kms-api did not come up: {self.log()}")

    def stop(self) -> None:
        if self.proc:
            stop_process(self.proc)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def client(self, region: str = REGION, retries: int = 0, connections: int = 10):
        return boto3.client(
            "kms",
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=botocore.config.Config(retries={"max_attempts": retries + 1, "mode": "standard"},
                                          max_pool_connections=connections),
        )

    def advance_clock(self, seconds: float) -> dict:
        """Moves the mock's clock forward (needs KMS_MOCK_DEBUG_API=true)."""
        req = urllib.request.Request(
            self.url + "/_kms_mock/clock",
            data=json.dumps({"advance_seconds": int(seconds)}).encode(),
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.load(r)

    def clock_now(self) -> float:
        """The mock's current time in epoch seconds (needs KMS_MOCK_DEBUG_API=true)."""
        with urllib.request.urlopen(self.url + "/_kms_mock/clock", timeout=5) as r:
            return float(json.load(r)["now"])

    def pool_stats(self) -> dict:
        with urllib.request.urlopen(self.url + "/_kms_mock/pool", timeout=5) as r:
            return json.load(r)

    def wait_pool_full(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(s["ready"] >= s["target"] for s in self.pool_stats()["specs"]):
                return
            time.sleep(0.1)
        raise TimeoutError(f"pool not full: {self.pool_stats()}")

    def raw(self, target: str | None, body: bytes | str, headers: dict | None = None):
        """POSTs a raw request; returns (status, headers, body bytes)."""
        hdrs = {"Content-Type": "application/x-amz-json-1.1", **(headers or {})}
        if target is not None:
            hdrs["X-Amz-Target"] = target
        data = body.encode() if isinstance(body, str) else body
        req = urllib.request.Request(self.url + "/", data=data, headers=hdrs, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()


def pytest_configure(config):
    config.addinivalue_line("markers", "stack_env(env): environment of the sidecar stack a test starts")


@pytest.fixture
def data_dir():
    d = Path(tempfile.mkdtemp(prefix="kms-mock-it-"))
    yield d / "data"
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def endpoint(data_dir):
    ep = Endpoint(data_dir).start()
    yield ep
    ep.stop()


@pytest.fixture
def kms(endpoint):
    return endpoint.client()


def aws_cli(endpoint: Endpoint, *args: str, region: str = REGION):
    """Runs `aws kms <args> --endpoint-url ...`; returns (exit code, parsed JSON or None, stderr)."""
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": region,
        "AWS_PAGER": "",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
    cmd = ["aws", "kms", *args, "--endpoint-url", endpoint.url, "--output", "json"]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    out = json.loads(p.stdout) if p.stdout.strip() else None
    return p.returncode, out, p.stderr


def openssl_public_key_bits(der: bytes) -> int:
    """Parses a DER SubjectPublicKeyInfo with `openssl pkey -pubin -inform DER` and returns the
    RSA modulus size it reports."""
    p = subprocess.run(
        ["openssl", "pkey", "-pubin", "-inform", "DER", "-noout", "-text"],
        input=der,
        capture_output=True,
        check=True,
    )
    first = p.stdout.decode().splitlines()[0]  # "Public-Key: (4096 bit)"
    assert first.startswith("Public-Key: ("), first
    return int(first.split("(")[1].split()[0])
