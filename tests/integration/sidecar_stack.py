"""The policy sidecar in front of the endpoint, in its two ways to run.

- `ProxyStack`: `policy-sidecar` as a local reverse proxy; it starts `kms-api` behind it.
- `LambdaStack`: `cargo lambda watch --only-lambda-apis` as the Runtime and Extensions API,
  `policy-sidecar` registered with it as an extension proxying the Runtime API, and `kms-api`
  as the function, pointed at the proxy with `KMS_POLICY_PROXY`. Clients call the emulator's
  URL, which invokes the function with a Function URL event.

Both expose `url`, `client(...)` and `audit()` so one table of cases runs against each.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import boto3
import botocore.config

from conftest import BIN_DIR, KMS_API, REGION, ROOT, free_port, stop_process, wait_port

SIDECAR = BIN_DIR / "policy-sidecar"

SMALL_POOLS = {
    "KMS_MOCK_POOL_RSA_2048": "2",
    "KMS_MOCK_POOL_RSA_3072": "1",
    "KMS_MOCK_POOL_RSA_4096": "2",
    "KMS_MOCK_LOG": "info",
}


class Stack:
    url: str
    audit_path: Path

    def __init__(self, work: Path, env: dict | None = None, config: dict | None = None):
        self.work = work
        self.work.mkdir(parents=True, exist_ok=True)
        self.audit_path = work / "audit.jsonl"
        self.env = {**os.environ, **SMALL_POOLS, "KMS_MOCK_DATA": str(work / "data"),
                    "KMS_MOCK_AUDIT": str(self.audit_path), **(env or {})}
        if config is not None:
            path = work / "sidecar.json"
            path.write_text(json.dumps(config))
            self.env["KMS_MOCK_SIDECAR_CONFIG"] = str(path)
        self.procs: list[subprocess.Popen] = []

    def spawn(self, args: list, env: dict, name: str, cwd: Path | None = None) -> subprocess.Popen:
        log = open(self.work / f"{name}.log", "wb")
        p = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=cwd)
        self.procs.append(p)
        return p

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.work.glob("*.log"))

    def stop(self) -> None:
        for p in reversed(self.procs):
            stop_process(p, timeout=10)

    def client(self, key: str = "test", secret: str = "test", token: str | None = None, region: str = REGION,
               connections: int = 10):
        return boto3.client(
            "kms",
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            aws_session_token=token,
            config=botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"},
                                          max_pool_connections=connections),
        )

    def audit(self) -> list[dict]:
        if not self.audit_path.exists():
            return []
        return [json.loads(line) for line in self.audit_path.read_text().splitlines() if line.strip()]


class ProxyStack(Stack):
    mode = "proxy"

    def start(self) -> "ProxyStack":
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.spawn([str(SIDECAR)], {**self.env, "KMS_MOCK_LISTEN": f"127.0.0.1:{port}"}, "sidecar")
        wait_port(port, self.procs)
        return self


class LambdaStack(Stack):
    mode = "extension"

    def start(self) -> "LambdaStack":
        api_port, proxy_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{api_port}/"
        self.spawn(
            ["cargo", "lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1", "-P", str(api_port)],
            self.env, "cargo-lambda", cwd=ROOT,
        )
        wait_port(api_port, self.procs)
        self.spawn(
            [str(SIDECAR)],
            {**self.env, "AWS_LAMBDA_RUNTIME_API": f"http://127.0.0.1:{api_port}/.rt",
             "KMS_POLICY_PROXY_LISTEN": f"127.0.0.1:{proxy_port}"},
            "extension",
        )
        wait_port(proxy_port, self.procs)
        self.spawn(
            [str(KMS_API)],
            {**self.env, "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{api_port}/.rt",
             "KMS_POLICY_PROXY": f"127.0.0.1:{proxy_port}", "AWS_LAMBDA_FUNCTION_NAME": "_",
             "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "4096", "AWS_LAMBDA_FUNCTION_VERSION": "1"},
            "function",
        )
        # Ready once a call goes through end to end.
        deadline = time.monotonic() + 60
        while True:
            try:
                self.client().list_keys()
                return self
            except Exception:
                if time.monotonic() > deadline:
                    raise RuntimeError(self.logs())
                time.sleep(0.2)


STACKS = {"proxy": ProxyStack, "extension": LambdaStack}


def started(mode: str, config: dict, prefix: str):
    """A stack of `mode` with `config` in a fresh folder, started; a generator for module
    fixtures (stopped when the module's tests are done)."""
    import tempfile

    work = Path(tempfile.mkdtemp(prefix=f"{prefix}-{mode}-"))
    s = STACKS[mode](work, config=config)
    try:
        s.start()
    except Exception:
        s.stop()
        raise
    yield s
    s.stop()
