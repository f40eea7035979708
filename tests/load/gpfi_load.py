#!/usr/bin/env python3
"""HTTP load run of GetParametersForImport against the release kms-api binary, with wrk.

For each wrapping key spec it measures, in one run:
  * warm latency: one connection, the pool answers every call (reuse mode on, so the pool never
    runs dry however fast the load generator is);
  * warm throughput: the same with several connections;
  * fresh: N calls to a process whose pool holds N pre-generated keys, each handed out once
    (what a test suite sees by default);
  * baseline: the pool is off and every request generates its RSA key, as other mocks do.
and prints a Markdown table with p50/p99 latency, requests per second and the warm/baseline
ratios.

Usage: python3 tests/load/gpfi_load.py [--duration 10] [--connections 4]
Needs: wrk (Debian package), a release build (cargo build --release -p kms-api).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from cargo_target import target_dir  # noqa: E402

BIN = target_dir() / "release" / "kms-api"
SPECS = ["RSA_2048", "RSA_3072", "RSA_4096"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, env: dict, directory: Path | None = None):
        self.dir = directory or Path(tempfile.mkdtemp(prefix="kms-load-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [str(BIN)],
            env={**os.environ, "KMS_MOCK_LISTEN": f"127.0.0.1:{self.port}", "KMS_MOCK_DATA": str(self.dir / "data"),
                 "KMS_MOCK_LOG": "warn", **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(300):
            try:
                urllib.request.urlopen(self.url + "/_kms_mock/health", timeout=1)
                break
            except OSError:
                time.sleep(0.05)

    def call(self, op: str, body: dict) -> dict:
        req = urllib.request.Request(
            self.url + "/", data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"TrentService.{op}"},
        )
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.load(r)

    def pool(self) -> dict:
        with urllib.request.urlopen(self.url + "/_kms_mock/pool", timeout=5) as r:
            return {s["spec"]: s for s in json.load(r)["specs"]}

    def wait_full(self, timeout=300):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if all(s["ready"] >= s["target"] for s in self.pool().values()):
                return
            time.sleep(0.2)
        raise TimeoutError("pool did not fill")

    def stop(self, keep_data: bool = False):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        if not keep_data:
            shutil.rmtree(self.dir, ignore_errors=True)


def to_ms(v: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", v)
    n, unit = float(m.group(1)), m.group(2)
    return n * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def wrk(url: str, key_id: str, spec: str, connections: int, duration: str, requests: int | None = None) -> dict:
    body = json.dumps({"KeyId": key_id, "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": spec})
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    script.write(
        'wrk.method = "POST"\n'
        f"wrk.body = '{body}'\n"
        'wrk.headers["Content-Type"] = "application/x-amz-json-1.1"\n'
        'wrk.headers["X-Amz-Target"] = "TrentService.GetParametersForImport"\n'
    )
    if requests:
        # One thread: stop it once it has had its share of responses (the rate it then
        # reports is meaningless; only the latencies are used).
        script.write(
            "local n = 0\n"
            f"response = function() n = n + 1; if n >= {requests} then wrk.thread:stop() end end\n"
        )
    script.close()
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}", "--latency", "-s", script.name, url + "/"],
        capture_output=True, text=True, check=True,
    ).stdout
    os.unlink(script.name)
    if "Non-2xx" in out:
        raise RuntimeError(f"errors under load:\n{out}")
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.M))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    return {"p50": to_ms(lat["50"]), "p99": to_ms(lat["99"]), "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), "n": total}


def external_key(server: Server) -> str:
    return server.call("CreateKey", {"Origin": "EXTERNAL"})["KeyMetadata"]["KeyId"]


def wrk_post(url: str, body: str, headers: dict, connections: int, duration: str) -> dict:
    """POSTs `body` with `headers` for `duration` (one wrk thread); p50, p99 (ms), req/s and
    requests, and an error if any answer was not 2xx."""
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    script.write('wrk.method = "POST"\n' + f"wrk.body = '{body}'\n")
    for k, v in headers.items():
        if k.lower() not in ("content-length", "host"):
            script.write(f'wrk.headers["{k}"] = "{v}"\n')
    script.close()
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{duration}", "--latency", "-s", script.name, url + "/"],
                         capture_output=True, text=True, check=True).stdout
    os.unlink(script.name)
    if "Non-2xx" in out:
        raise RuntimeError(f"errors under load:\n{out}")
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.M))
    return {"p50": to_ms(lat["50"]), "p99": to_ms(lat["99"]),
            "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "requests": int(re.search(r"(\d+) requests in", out).group(1))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", default="10s")
    ap.add_argument("--connections", type=int, default=4, help="connections of the throughput runs")
    ap.add_argument("--fresh", type=int, default=48, help="keys per spec in the fresh-pool run")
    args = ap.parse_args()
    if not BIN.exists():
        raise SystemExit(f"{BIN} missing: cargo build --release -p kms-api")
    results = {}

    warm = Server({"KMS_MOCK_POOL_REUSE": "true", "KMS_MOCK_POOL_FILE": "off"})
    warm.wait_full()
    key = external_key(warm)
    for spec in SPECS:
        wrk(warm.url, key, spec, 1, "2s")  # warm-up
        # Latency: one connection, one request at a time, so no request queues behind another.
        results[(spec, "latency")] = wrk(warm.url, key, spec, 1, args.duration)
        # Throughput: several connections keep both cores busy.
        results[(spec, "throughput")] = wrk(warm.url, key, spec, args.connections, args.duration)
    warm.stop()

    for spec in SPECS:
        # Fill a pool file, then serve from it in a process that does not generate at all, so
        # every answer is a distinct pre-generated key and no generation competes for the CPU.
        env = {f"KMS_MOCK_POOL_{s}": (str(args.fresh) if s == spec else "0") for s in SPECS}
        filler = Server({**env, "KMS_MOCK_POOL_THREADS": "2"})
        filler.wait_full()
        filler.stop(keep_data=True)
        fresh = Server({"KMS_MOCK_POOL_THREADS": "0"}, directory=filler.dir)
        key = external_key(fresh)
        r = wrk(fresh.url, key, spec, 1, "60s", requests=args.fresh)
        stats = fresh.pool()[spec]
        assert (stats["misses"], stats["reused"]) == (0, 0), stats
        results[(spec, "fresh")] = r
        fresh.stop()

    base = Server({"KMS_MOCK_POOL_RSA_2048": "0", "KMS_MOCK_POOL_RSA_3072": "0", "KMS_MOCK_POOL_RSA_4096": "0",
                   "KMS_MOCK_POOL_THREADS": "0", "KMS_MOCK_POOL_FILE": "off"})
    key = external_key(base)
    for spec in SPECS:
        # Two connections: generation is CPU-bound, two keep both cores busy.
        results[(spec, "baseline")] = wrk(base.url, key, spec, 2, args.duration)
    base.stop()

    labels = {
        "latency": "warm pool, 1 connection",
        "throughput": f"warm pool, {args.connections} connections",
        "fresh": f"fresh pool of {args.fresh} keys, 1 connection",
        "baseline": "baseline: generate per request, 2 connections",
    }
    print(f"\nGetParametersForImport over loopback (wrk, {os.cpu_count()} cores, {args.duration} per row)\n")
    print("| Wrapping key spec | Mode | p50 (ms) | p99 (ms) | req/s | requests |")
    print("|---|---|---:|---:|---:|---:|")
    for spec in SPECS:
        for mode in ("latency", "throughput", "fresh", "baseline"):
            r = results[(spec, mode)]
            rps = "-" if mode == "fresh" else f"{r['rps']:.0f}"
            print(f"| {spec} | {labels[mode]} | {r['p50']:.3f} | {r['p99']:.3f} | {rps} | {r['n']} |")
    print("\n| Wrapping key spec | warm req/s / baseline req/s | baseline p50 / warm p50 |")
    print("|---|---:|---:|")
    for spec in SPECS:
        w, b, l = results[(spec, "throughput")], results[(spec, "baseline")], results[(spec, "latency")]
        print(f"| {spec} | {w['rps'] / b['rps']:.0f}x | {b['p50'] / l['p50']:.0f}x |")
    print("\nraw:", json.dumps({f"{k[0]}/{k[1]}": v for k, v in results.items()}))


if __name__ == "__main__":
    main()
