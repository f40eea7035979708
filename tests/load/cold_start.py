#!/usr/bin/env python3
"""Cold start and size of the Lambda functions, under `cargo lambda watch`.

For each store (the embedded SQLite store; DynamoDB through moto's server when `moto_server` is
installed) and each function (`kms-api` with an HTTP API event, the direct-invoke
`get-parameters-for-import`), a fresh function process is started against the emulator's
Runtime API (`cargo lambda watch --only-lambda-apis`), and the time is taken from just before
the process is spawned to the end of the first response, for:

- GetParametersForImport RSA_4096 with a warm shared pool (pairs sealed by `pool-refill`);
- GetParametersForImport RSA_4096 with an empty shared pool (generation in the request): the
  baseline the warm case is reported against;
- ListKeys, the floor: what starting the process and opening the store costs.

Each process runs the deployed stack's settings (template.yaml defaults: per-instance pools
4/2/4 filled by a refill thread from start, no pool file, JSON logs), and its memory is read from
/proc one second after its first response (idle) and at its peak. Binary sizes are those of
`cargo lambda build --release` (stripped; x86_64 with cargo as the linker when zig is missing).

    python3 tests/load/cold_start.py [--trials 7] [--build]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from cargo_target import target_dir  # noqa: E402

LAMBDA_DIR = target_dir() / "lambda"
FUNCTIONS = ["kms-api", "get-parameters-for-import", "pool-refill", "policy-sidecar"]
SECRET = base64.b64encode(bytes(range(32))).decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def memory_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def http_event(target: str, body: dict) -> dict:
    raw = json.dumps(body).encode()
    return {
        "version": "2.0", "routeKey": "POST /", "rawPath": "/", "rawQueryString": "",
        "headers": {"content-type": "application/x-amz-json-1.1", "x-amz-target": f"TrentService.{target}"},
        "requestContext": {"http": {"method": "POST", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
                           "routeKey": "POST /", "stage": "$default"},
        "body": base64.b64encode(raw).decode(), "isBase64Encoded": True,
    }


class Bench:
    def __init__(self, work: Path, store_env: dict):
        self.work = work
        self.port = free_port()
        self.base_env = {
            **os.environ,
            **store_env,
            "KMS_MOCK_TOKEN_SECRET": SECRET,
            "KMS_MOCK_POOL_RSA_2048": "4", "KMS_MOCK_POOL_RSA_3072": "2", "KMS_MOCK_POOL_RSA_4096": "4",
            "KMS_MOCK_POOL_FILE": "off",
            "KMS_MOCK_LOG_FORMAT": "json",
            "KMS_MOCK_LOG": "warn",
        }
        self.watch = subprocess.Popen(
            ["cargo", "lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1", "-P", str(self.port)],
            cwd=ROOT, stdout=open(work / "watch.log", "wb"), stderr=subprocess.STDOUT,
        )
        wait_port(self.port)

    def stop(self) -> None:
        self.watch.terminate()
        self.watch.wait()

    def refill(self, rsa_4096: int) -> dict:
        out = subprocess.run([str(LAMBDA_DIR / "pool-refill" / "bootstrap")], capture_output=True, text=True, env={
            **self.base_env, "KMS_MOCK_SHARED_POOL_RSA_2048": "0", "KMS_MOCK_SHARED_POOL_RSA_3072": "0",
            "KMS_MOCK_SHARED_POOL_RSA_4096": str(rsa_4096)}, check=True)
        return json.loads(out.stdout)

    def first_response(self, function: str, event: dict) -> tuple[float, dict, dict]:
        """Starts the function, invokes it once; returns seconds from spawn to response, the
        response, and the process's memory one second later (idle)."""
        env = {**self.base_env, "AWS_LAMBDA_RUNTIME_API": f"http://127.0.0.1:{self.port}/.rt",
               "AWS_LAMBDA_FUNCTION_NAME": "_", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
               "AWS_LAMBDA_FUNCTION_VERSION": "1"}
        data = json.dumps(event).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/2015-03-31/functions/_/invocations",
                                         data=data, method="POST")
        t0 = time.perf_counter()
        proc = subprocess.Popen([str(LAMBDA_DIR / function / "bootstrap")], env=env,
                                stdout=subprocess.DEVNULL, stderr=open(self.work / f"{function}.log", "ab"))
        try:
            with urllib.request.urlopen(request, timeout=60) as r:
                out = json.load(r)
            elapsed = time.perf_counter() - t0
            time.sleep(1.0)
            mem = memory_kib(proc.pid)
        finally:
            proc.kill()
            proc.wait()
        return elapsed, out, mem

    def create_key(self) -> str:
        _, out, _ = self.first_response("kms-api", http_event("CreateKey", {"Origin": "EXTERNAL"}))
        return json.loads(base64.b64decode(out["body"]) if out.get("isBase64Encoded") else out["body"])["KeyMetadata"]["KeyId"]


def gpfi_body(key: str) -> dict:
    return {"KeyId": key, "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_4096"}


def checked(function: str, out: dict) -> None:
    """The response must be a GetParametersForImport (or ListKeys) success."""
    if function == "kms-api":
        assert out["statusCode"] == 200, out
    else:
        assert "PublicKey" in out, out


def run_store(name: str, store_env: dict, trials: int) -> list[dict]:
    work = Path(tempfile.mkdtemp(prefix=f"kms-mock-cold-{name}-"))
    bench = Bench(work, {**store_env, "KMS_MOCK_DATA": str(work / "data")})
    rows = []
    try:
        key = bench.create_key()
        cases = [
            ("ListKeys (floor)", "kms-api", lambda: http_event("ListKeys", {}), 0),
            ("GPFI RSA_4096, warm shared pool", "kms-api", lambda: http_event("GetParametersForImport", gpfi_body(key)), 1),
            ("GPFI RSA_4096, empty shared pool", "kms-api", lambda: http_event("GetParametersForImport", gpfi_body(key)), 0),
            ("GPFI RSA_4096, warm shared pool", "get-parameters-for-import", lambda: gpfi_body(key), 1),
            ("GPFI RSA_4096, empty shared pool", "get-parameters-for-import", lambda: gpfi_body(key), 0),
        ]
        for label, function, event, warm in cases:
            times, idle, peak = [], [], []
            for _ in range(trials):
                # Exactly one pair in the shared pool when warm; none when empty.
                ready = bench.refill(0)["ready"]["RSA_4096"]
                if warm and ready == 0:
                    bench.refill(1)
                elif not warm and ready:
                    raise SystemExit(f"{name}: the shared pool should be empty, it holds {ready}")
                elapsed, out, mem = bench.first_response(function, event())
                checked(function, out)
                times.append(elapsed * 1000)
                idle.append(mem["VmRSS"] / 1024)
                peak.append(mem["VmHWM"] / 1024)
            rows.append({"store": name, "function": function, "case": label,
                         "median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times),
                         "idle_mib": statistics.median(idle), "peak_mib": max(peak)})
            print(f"{name:9} {function:26} {label:34} median {statistics.median(times):7.1f} ms "
                  f"(min {min(times):6.1f}, max {max(times):6.1f})  idle RSS {statistics.median(idle):5.1f} MiB, "
                  f"peak {max(peak):5.1f} MiB", flush=True)
    finally:
        bench.stop()
        shutil.rmtree(work, ignore_errors=True)
    return rows


def start_moto() -> tuple[subprocess.Popen, dict] | None:
    if not shutil.which("moto_server"):
        return None
    port = free_port()
    proc = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    endpoint = f"http://127.0.0.1:{port}"
    table = f"kms-mock-cold-{uuid.uuid4()}"
    import boto3

    boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                 aws_secret_access_key="test").create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
    return proc, {"KMS_MOCK_STORE": "dynamodb", "KMS_MOCK_DYNAMODB_TABLE": table,
                  "AWS_ENDPOINT_URL_DYNAMODB": endpoint, "AWS_ACCESS_KEY_ID": "test",
                  "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1"}


def sizes() -> None:
    print("binary sizes (cargo lambda build --release):")
    for f in FUNCTIONS:
        path = LAMBDA_DIR / f / "bootstrap"
        kind = subprocess.run(["file", "-b", str(path)], capture_output=True, text=True).stdout
        stripped = "stripped" if ", stripped" in kind else "NOT stripped"
        arch = "x86_64" if "x86-64" in kind else ("arm64" if "aarch64" in kind else "?")
        print(f"  {f:26} {path.stat().st_size / 1e6:5.1f} MB ({path.stat().st_size} bytes, {arch}, {stripped})")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=7)
    ap.add_argument("--build", action="store_true", help="run cargo lambda build --release first")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args()
    if args.build:
        arch = [] if shutil.which("zig") else ["--compiler", "cargo"]
        subprocess.run(["cargo", "lambda", "build", "--release", *arch], cwd=ROOT, check=True)
    sizes()
    rows = run_store("sqlite", {"KMS_MOCK_STORE": "sqlite"}, args.trials)
    moto = start_moto()
    if moto:
        try:
            rows += run_store("dynamodb", moto[1], args.trials)
        finally:
            moto[0].terminate()
    else:
        print("moto_server not installed: DynamoDB store skipped", file=sys.stderr)
    for function in ("kms-api", "get-parameters-for-import"):
        for store in ("sqlite", "dynamodb"):
            by = {r["case"]: r for r in rows if r["function"] == function and r["store"] == store}
            if by:
                warm = by["GPFI RSA_4096, warm shared pool"]["median_ms"]
                empty = by["GPFI RSA_4096, empty shared pool"]["median_ms"]
                print(f"{store:9} {function:26} warm/empty = {warm / empty:.3f} ({warm:.1f} / {empty:.1f} ms)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
