"""kms-import-mock from Python: start the mock (the policy sidecar in front of the endpoint, as
the `kms-import-mock` command runs it), get boto3 clients for it, stop it.

    from kms_import_mock import KmsMock

    with KmsMock.start() as mock:
        key = mock.kms.create_key(Origin="EXTERNAL")

The pytest plugin (`kms_import_mock.pytest_plugin`, registered by the wheel) wraps this in the
`kms_mock` fixture.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

__all__ = ["KmsMock", "binary"]

#: The documented credential of the sidecar's default configuration: the root user of
#: `KMS_MOCK_ACCOUNT` (111122223333).
ACCESS_KEY = "test"
SECRET_KEY = "test"

COMMAND = "kms-import-mock"


def binary(name: str = COMMAND) -> str:
    """Where the wheel installed `name` (`kms-import-mock` or `kms-import-mock-endpoint`).

    The wheel puts both in its environment's scripts folder, side by side (the sidecar starts the
    endpoint from beside itself). `KMS_IMPORT_MOCK_BIN_DIR` names the folder that holds them
    instead, and nothing else is searched then. (A cargo build's `target/release` holds the same
    programs as `policy-sidecar` and `kms-api`: pass `command=` to `KmsMock.start` for those.)"""
    if os.environ.get("KMS_IMPORT_MOCK_BIN_DIR"):
        folder = os.environ["KMS_IMPORT_MOCK_BIN_DIR"]
        found = shutil.which(name, path=folder)
        if not found:
            raise FileNotFoundError(f"{name} not found in KMS_IMPORT_MOCK_BIN_DIR={folder}")
        return found
    folders = [sysconfig.get_path("scripts")]
    try:
        user_scheme = sysconfig.get_preferred_scheme("user")
    except (AttributeError, KeyError):  # Python < 3.10
        user_scheme = f"{os.name}_user"
    if user_scheme in sysconfig.get_scheme_names():
        folders.append(sysconfig.get_path("scripts", user_scheme))
    for folder in folders:
        found = shutil.which(name, path=folder)
        if found:
            return found
    found = shutil.which(name)
    if found:
        return found
    raise FileNotFoundError(
        f"{name} not found in {', '.join(folders)} or on PATH: install the kms-import-mock wheel "
        "(pip install kms_import_mock-*.whl; README, 'Install it') or set KMS_IMPORT_MOCK_BIN_DIR")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class KmsMock:
    """A running kms-import-mock: its URL, data folder, log and boto3 clients."""

    def __init__(self, process: subprocess.Popen, url: str, data_dir: Path, log_path: Path,
                 env: dict, owned_dir: Path | None):
        self.process = process
        self.url = url
        self.data_dir = data_dir
        self.log_path = log_path
        self.region = env.get("KMS_MOCK_REGION", "us-east-1")
        self.account = env.get("KMS_MOCK_ACCOUNT", "111122223333")
        self._env = env
        self._owned_dir = owned_dir
        self._kms = None

    @classmethod
    def start(cls, data_dir: str | os.PathLike | None = None, *, sidecar_config: str | os.PathLike | None = None,
              quotas: str | None = None, debug_api: bool = False, env: dict | None = None,
              command: str | None = None, timeout: float = 60) -> "KmsMock":
        """Starts the mock on a free loopback port and waits until it answers.

        `data_dir`: the data folder (store, token secret, pool file); a new temporary folder,
        removed by `stop`, if none. `sidecar_config`: a sidecar configuration file
        (`KMS_MOCK_SIDECAR_CONFIG`: credentials, identity policies, quotas, faults, audit).
        `quotas`: `aws` or `off` (`KMS_MOCK_QUOTAS`). `debug_api`: enables `advance_clock`.
        `env`: any other `KMS_MOCK_*` variables."""
        program = command or binary()
        extra = dict(env or {})
        if sidecar_config is not None:
            extra["KMS_MOCK_SIDECAR_CONFIG"] = str(Path(sidecar_config).resolve())
        if quotas is not None:
            extra["KMS_MOCK_QUOTAS"] = quotas
        if debug_api:
            extra["KMS_MOCK_DEBUG_API"] = "true"
        owned_dir = None
        if data_dir is None:
            owned_dir = Path(tempfile.mkdtemp(prefix="kms-import-mock-"))
            data_dir = owned_dir / "data"
        data_dir = Path(data_dir)
        mock = None
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            log_dir = owned_dir or data_dir
            last_error = ""
            # A port picked free can be taken before the mock binds it (pytest-xdist workers
            # pick at once): try another.
            for _ in range(3):
                port = _free_port()
                full_env = {**os.environ, "KMS_MOCK_DATA": str(data_dir), **extra,
                            "KMS_MOCK_LISTEN": f"127.0.0.1:{port}"}
                log_path = log_dir / f"kms-import-mock-{port}.log"
                with open(log_path, "wb") as log:
                    process = subprocess.Popen([program], env=full_env, stdout=log,
                                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
                mock = cls(process, f"http://127.0.0.1:{port}", data_dir, log_path, full_env, owned_dir)
                if mock._wait_ready(timeout):
                    return mock
                last_error = mock.log()
                mock._terminate()
                mock = None
                if "Address already in use" not in last_error:
                    break
            raise RuntimeError(f"kms-import-mock did not start:\n{last_error}")
        except BaseException:
            if mock is not None:
                mock._terminate()
            if owned_dir is not None:
                shutil.rmtree(owned_dir, ignore_errors=True)
            raise

    def _wait_ready(self, timeout: float) -> bool:
        """Up once our own process logs that it listens on our URL, and the URL answers: a
        health answer alone could come from another mock that holds the port ours failed to
        bind."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            if self.url in self.log():
                try:
                    with urllib.request.urlopen(self.url + "/_kms_mock/health", timeout=1) as r:
                        if r.status == 200 and self.process.poll() is None:
                            return True
                except (OSError, http.client.HTTPException):
                    pass
            time.sleep(0.05)
        return False

    def client(self, service: str = "kms", region_name: str | None = None, *,
               aws_access_key_id: str = ACCESS_KEY, aws_secret_access_key: str = SECRET_KEY, **kwargs):
        """A boto3 client of the mock (the `test` credential unless told otherwise)."""
        import boto3

        return boto3.client(service, endpoint_url=self.url, region_name=region_name or self.region,
                            aws_access_key_id=aws_access_key_id,
                            aws_secret_access_key=aws_secret_access_key, **kwargs)

    @property
    def kms(self):
        """One KMS client in the mock's Region, made on first use."""
        if self._kms is None:
            self._kms = self.client()
        return self._kms

    def _signed(self, method: str, path: str, body: bytes | None = None) -> dict:
        """A request to the mock's own pages, signed with the `test` credential (the sidecar
        wants the debug API signed)."""
        import botocore.auth
        import botocore.awsrequest
        import botocore.credentials

        headers = {"Content-Type": "application/json"}
        request = botocore.awsrequest.AWSRequest(method=method, url=self.url + path, data=body, headers=headers)
        botocore.auth.SigV4Auth(botocore.credentials.Credentials(ACCESS_KEY, SECRET_KEY), "kms",
                                self.region).add_auth(request)
        prepared = request.prepare()
        req = urllib.request.Request(prepared.url, data=body, headers=dict(prepared.headers), method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{method} {path}: {e.code} {e.read().decode(errors='replace')}") from None

    def advance_clock(self, seconds: int) -> dict:
        """Moves the mock's clock forward (started with `debug_api=True`): expiring material and
        import parameters, waiting periods. Returns the clock's state (`now`, `offset_seconds`)."""
        return self._signed("POST", "/_kms_mock/clock", json.dumps({"advance_seconds": int(seconds)}).encode())

    def pool(self) -> dict:
        """The wrapping-key pool's statistics (`GET /_kms_mock/pool`)."""
        with urllib.request.urlopen(self.url + "/_kms_mock/pool", timeout=10) as r:
            return json.load(r)

    def log(self) -> str:
        """What the mock printed so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def _terminate(self, grace: float = 40) -> None:
        # The sidecar's worst case: 10 s to drain its connections, then the endpoint's own
        # 10 s grace and 5 s more (KMS_MOCK_SHUTDOWN_GRACE_SECONDS).
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def stop(self) -> None:
        """Stops the mock (SIGTERM: requests in flight finish, the pool is saved) and removes the
        data folder if it made it."""
        self._terminate()
        if self._owned_dir is not None:
            shutil.rmtree(self._owned_dir, ignore_errors=True)
            self._owned_dir = None

    def __enter__(self) -> "KmsMock":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
