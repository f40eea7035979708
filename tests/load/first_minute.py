#!/usr/bin/env python3
"""The first minute of a new user's test suite, replayed against a fresh release `kms-api`.

Each run starts the endpoint on an empty data folder with no pool file, and at once replays the
usual shape of a boto3 suite at its pace: per round, CreateKey (EXTERNAL), DescribeKey,
GetParametersForImport with the default RSA_4096, and an Encrypt under a ready key; 32 rounds in
20 seconds. It reports GetParametersForImport's latency (median, p90, max) and the p99 of the
ordinary calls (CreateKey, DescribeKey, Encrypt) while keys are being generated.

Configurations, in the same run, interleaved by trial:
- `per-request`: no pool and no refill (`KMS_MOCK_POOL_RSA_*=0`): every call generates its key,
  what the mocks we replace do. The baseline.
- `shipped`: the defaults.

    python3 tests/load/first_minute.py [--trials 3] [--rounds 32] [--seconds 20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3
import botocore.config

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from cargo_target import target_dir  # noqa: E402

BIN = target_dir() / "release" / "kms-api"

CONFIGS = {
    "per-request": {"KMS_MOCK_POOL_RSA_2048": "0", "KMS_MOCK_POOL_RSA_3072": "0", "KMS_MOCK_POOL_RSA_4096": "0"},
    "shipped": {},
}
# More configurations to compare, by name (`--also threads=2`): environment settings.
EXTRA = {
    "one-thread": {"KMS_MOCK_POOL_THREADS": "1"},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(env: dict) -> tuple[subprocess.Popen, str, Path]:
    data = Path(tempfile.mkdtemp(prefix="kms-first-minute-"))
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN)],
        env={**os.environ, "KMS_MOCK_LISTEN": f"127.0.0.1:{port}", "KMS_MOCK_DATA": str(data / "data"),
             "KMS_MOCK_POOL_FILE": "off", "KMS_MOCK_LOG": "warn", **env},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/_kms_mock/health", timeout=1).close()
            return proc, url, data
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit("kms-api did not start")
            time.sleep(0.01)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def replay(url: str, rounds: int, seconds: float) -> dict:
    kms = boto3.client("kms", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
                       aws_secret_access_key="test",
                       config=botocore.config.Config(retries={"total_max_attempts": 1}))
    gpfi, ordinary = [], []

    def timed(bucket, call):
        t = time.perf_counter()
        out = call()
        bucket.append((time.perf_counter() - t) * 1000)
        return out

    sym = timed(ordinary, lambda: kms.create_key())["KeyMetadata"]["KeyId"]
    start_at = time.monotonic()
    for i in range(rounds):
        key = timed(ordinary, lambda: kms.create_key(Origin="EXTERNAL"))["KeyMetadata"]["KeyId"]
        timed(ordinary, lambda: kms.describe_key(KeyId=key))
        timed(gpfi, lambda: kms.get_parameters_for_import(
            KeyId=key, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_4096"))
        timed(ordinary, lambda: kms.encrypt(KeyId=sym, Plaintext=b"x"))
        # The suite's own pace: the rounds spread over `seconds`.
        wait = start_at + (i + 1) * seconds / rounds - time.monotonic()
        if wait > 0:
            time.sleep(wait)
    return {"gpfi": gpfi, "ordinary": ordinary, "elapsed": time.monotonic() - start_at}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--also", action="append", default=[], choices=sorted(EXTRA))
    args = ap.parse_args()
    for name in args.also:
        CONFIGS[name] = EXTRA[name]
    if not BIN.exists():
        raise SystemExit(f"{BIN} missing: cargo build --release -p kms-api")
    results: dict[str, dict[str, list[float]]] = {c: {"gpfi": [], "ordinary": []} for c in CONFIGS}
    elapsed: dict[str, list[float]] = {c: [] for c in CONFIGS}
    for _ in range(args.trials):
        for name, env in CONFIGS.items():
            proc, url, data = start(env)
            try:
                r = replay(url, args.rounds, args.seconds)
            finally:
                proc.terminate()
                proc.wait(timeout=15)
                shutil.rmtree(data, ignore_errors=True)
            results[name]["gpfi"] += r["gpfi"]
            results[name]["ordinary"] += r["ordinary"]
            elapsed[name].append(r["elapsed"])
    print(f"{args.trials} trials x {args.rounds} rounds in {args.seconds:.0f} s, fresh data folder, no pool file, "
          f"{os.cpu_count()} cores\n")
    print("| Configuration | GPFI RSA_4096 median | p90 | max | ordinary calls p50 | p99 | suite time |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in CONFIGS:
        g, o = results[name]["gpfi"], results[name]["ordinary"]
        print(f"| {name} | {statistics.median(g):.1f} ms | {pct(g, 90):.1f} ms | {max(g):.0f} ms | "
              f"{statistics.median(o):.2f} ms | {pct(o, 99):.2f} ms | {statistics.median(elapsed[name]):.1f} s |")
    base = statistics.median(results["per-request"]["gpfi"])
    shipped = statistics.median(results["shipped"]["gpfi"])
    print(f"\nGPFI median, shipped / per-request in this run: {shipped / base:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
