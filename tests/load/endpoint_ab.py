#!/usr/bin/env python3
"""Two kms-api binaries under the same load, in one run: a baseline (an older build) and a
candidate (this checkout's release build), so a change to the store or the server loop is
judged by a same-run ratio rather than against numbers from another day.

Workloads (wrk over loopback, the endpoint alone, SQLite store):
  * DescribeKey: a store read per request;
  * CreateKey: a store write per request;
  * GetParametersForImport (RSA_2048, warm pool in reuse mode): a read plus the pool.
Rounds are interleaved (baseline, candidate, baseline, ...) so that drift on the machine hits
both alike; the table gives medians and the candidate / baseline ratio.

Usage: python3 tests/load/endpoint_ab.py --baseline /path/to/old/target/release
           [--candidate <cargo's target directory>/release] [--duration 5s] [--rounds 3] [--connections 4]
Needs: wrk (Debian package) and both release builds (cargo build --release -p kms-api).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from gpfi_load import free_port, target_dir, wrk_post

ROOT = Path(__file__).resolve().parents[2]


class Server:
    def __init__(self, binary: Path):
        self.dir = Path(tempfile.mkdtemp(prefix="kms-ab-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "KMS_MOCK_LISTEN": f"127.0.0.1:{self.port}", "KMS_MOCK_DATA": str(self.dir / "data"),
               "KMS_MOCK_LOG": "warn", "KMS_MOCK_POOL_REUSE": "true", "KMS_MOCK_POOL_FILE": "off",
               "KMS_MOCK_POOL_RSA_2048": "4", "KMS_MOCK_POOL_RSA_3072": "0", "KMS_MOCK_POOL_RSA_4096": "0"}
        self.proc = subprocess.Popen([str(binary)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(600):
            try:
                urllib.request.urlopen(self.url + "/_kms_mock/health", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError(f"{binary} did not start")

    def call(self, target: str, body: dict) -> dict:
        req = urllib.request.Request(self.url + "/", data=json.dumps(body).encode(), method="POST", headers={
            "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"TrentService.{target}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)
        shutil.rmtree(self.dir, ignore_errors=True)


def wrk(url: str, target: str, body: dict, connections: int, duration: str) -> dict:
    return wrk_post(url, json.dumps(body), {"Content-Type": "application/x-amz-json-1.1",
                                            "X-Amz-Target": f"TrentService.{target}"}, connections, duration)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", required=True, type=Path, help="folder with the baseline kms-api")
    ap.add_argument("--candidate", default=target_dir() / "release", type=Path)
    ap.add_argument("--duration", default="5s")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=4)
    args = ap.parse_args()
    servers = {"baseline": Server(args.baseline / "kms-api"), "candidate": Server(args.candidate / "kms-api")}
    try:
        workloads = {}
        for name, s in servers.items():
            key = s.call("CreateKey", {"Origin": "EXTERNAL"})["KeyMetadata"]["KeyId"]
            workloads[name] = [
                ("DescribeKey", {"KeyId": key}),
                ("CreateKey", {}),
                ("GetParametersForImport", {"KeyId": key, "WrappingAlgorithm": "RSAES_OAEP_SHA_256",
                                            "WrappingKeySpec": "RSA_2048"}),
            ]
            for target, body in workloads[name]:
                wrk(s.url, target, body, 1, "1s")  # warm-up
        runs: dict = {}
        for _ in range(args.rounds):
            for i in range(3):
                for conns in (1, args.connections):
                    for name, s in servers.items():
                        target, body = workloads[name][i]
                        runs.setdefault((target, conns, name), []).append(wrk(s.url, target, body, conns, args.duration))
    finally:
        for s in servers.values():
            s.stop()
    med = {k: {m: statistics.median(r[m] for r in v) for m in ("p50", "p99", "rps")} for k, v in runs.items()}
    print(f"\nkms-api alone over loopback, {os.cpu_count()} cores, median of {args.rounds} interleaved rounds "
          f"of wrk {args.duration}; baseline {args.baseline}, candidate {args.candidate}\n")
    print("| Operation | Conns | baseline p50 / p99 (ms) | candidate p50 / p99 (ms) | baseline req/s | candidate req/s | candidate ÷ baseline |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for target in ("DescribeKey", "CreateKey", "GetParametersForImport"):
        for conns in (1, args.connections):
            b, c = med[(target, conns, "baseline")], med[(target, conns, "candidate")]
            print(f"| {target} | {conns} | {b['p50']:.3f} / {b['p99']:.3f} | {c['p50']:.3f} / {c['p99']:.3f} | "
                  f"{b['rps']:.0f} | {c['rps']:.0f} | {c['rps'] / b['rps']:.2f} |")


if __name__ == "__main__":
    main()
