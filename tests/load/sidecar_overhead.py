#!/usr/bin/env python3
"""What the policy sidecar costs: GetParametersForImport through the sidecar (SigV4 check,
quota and fault checks, key policy evaluation, forwarding) against the endpoint alone, in the
same run, with wrk over loopback.

Both serve the same data folder: one `kms-api` alone, and one `policy-sidecar` run as the README
runs it (it starts its own `kms-api` behind itself on a Unix socket). A third path is the floor
of any proxy: `byte_proxy` (an example of the policy-sidecar crate) copies bytes between the
client and the sidecar's endpoint, with no HTTP parsing and no decision, so the cost of an extra
process and hop on this machine is measured apart from the sidecar's own.
Pools are empty with no refill thread and reuse on, so key generation never runs during the
measurement: the first request generates one key, every later one reuses it.
Every request is signed by botocore; wrk replays it (a signature stays valid for 5 minutes).
The paths take turns, row by row, for several rounds; the tables give each row's median.
Then, when `perf` is on the PATH, one more run per row counts the CPU time each process spends
per request (`perf stat -e task-clock`, kept out of the timed rounds), and the machine's busy
time per request from /proc/stat, wrk included: where the CPU of two cores goes.

Usage: python3 tests/load/sidecar_overhead.py [--duration 5s] [--rounds 3] [--connections 4]
Needs: wrk, cargo build --release -p kms-api -p policy-sidecar --bins --example byte_proxy
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import botocore.auth
import botocore.awsrequest
import botocore.credentials

from gpfi_load import free_port, target_dir, wrk_post as wrk

ROOT = Path(__file__).resolve().parents[2]
RELEASE = target_dir() / "release"


def start(args: list, env: dict, port: int) -> subprocess.Popen:
    """Starts a process and waits until the endpoint answers through `port` (its own port, or
    the byte proxy's in front of it)."""
    p = subprocess.Popen([str(RELEASE / args[0]), *args[1:]], env={**os.environ, "KMS_MOCK_LOG": "warn", **env},
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_kms_mock/health", timeout=1)
            return p
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{args[0]} did not start")


def signed_headers(url: str, body: str) -> dict:
    req = botocore.awsrequest.AWSRequest(method="POST", url=url, data=body.encode(), headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.GetParametersForImport"})
    botocore.auth.SigV4Auth(botocore.credentials.Credentials("test", "test"), "kms", "us-east-1").add_auth(req)
    return dict(req.prepare().headers)


def machine_busy_seconds() -> float:
    """CPU time all cores have spent busy since boot (/proc/stat: everything but idle and iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def cpu_per_request(url: str, body: str, headers: dict, conns: int, duration: str, pids: dict) -> dict:
    """One wrk run while `perf stat` counts each named process's CPU time: µs per request for
    each, and for the whole machine."""
    perfs = {name: subprocess.Popen(["perf", "stat", "-x", ",", "-e", "task-clock", "-p", str(pid)],
                                    stderr=subprocess.PIPE, text=True) for name, pid in pids.items()}
    time.sleep(0.2)  # perf attached before the first request
    busy, started = machine_busy_seconds(), time.monotonic()
    r = wrk(url, body, headers, conns, duration)
    busy, wall = machine_busy_seconds() - busy, time.monotonic() - started
    out = {"machine": busy * 1e6 / r["requests"], "busy": busy / wall / os.cpu_count()}
    for name, p in perfs.items():
        p.send_signal(signal.SIGINT)
        msec = float(p.communicate()[1].strip().splitlines()[-1].split(",")[0])
        out[name] = msec * 1000 / r["requests"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", default="5s")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--spec", default="RSA_2048")
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="kms-sidecar-load-")) / "data"
    ep_port, sc_port, floor_port = free_port(), free_port(), free_port()
    common = {"KMS_MOCK_DATA": str(data), "KMS_MOCK_POOL_REUSE": "true", "KMS_MOCK_POOL_FILE": "off",
              "KMS_MOCK_POOL_THREADS": "0", "KMS_MOCK_POOL_RSA_2048": "0", "KMS_MOCK_POOL_RSA_3072": "0",
              "KMS_MOCK_POOL_RSA_4096": "0"}
    endpoint = start(["kms-api"], {**common, "KMS_MOCK_LISTEN": f"127.0.0.1:{ep_port}"}, ep_port)
    sidecar = start(["policy-sidecar"], {**common, "KMS_MOCK_LISTEN": f"127.0.0.1:{sc_port}"}, sc_port)
    behind = int(subprocess.run(["pgrep", "-P", str(sidecar.pid), "kms-api"], capture_output=True, text=True,
                                check=True).stdout.split()[0])
    # The endpoint the sidecar started listens in its private directory; this script runs as
    # the same user, so it can read where from the endpoint's environment and go there too.
    environ = dict(v.split("=", 1) for v in Path(f"/proc/{behind}/environ").read_text().split("\0") if "=" in v)
    socket = environ["KMS_MOCK_ENDPOINT_SOCKET"]
    floor = start(["examples/byte_proxy", f"127.0.0.1:{floor_port}", socket], {}, floor_port)
    # Whose CPU each path spends: the processes a request passes through.
    pids = {"endpoint": {"endpoint": endpoint.pid},
            "byte proxy": {"proxy": floor.pid, "endpoint": behind},
            "sidecar": {"proxy": sidecar.pid, "endpoint": behind}}
    cpu: dict = {}
    try:
        ep_url, sc_url = f"http://127.0.0.1:{ep_port}", f"http://127.0.0.1:{sc_port}"
        floor_url = f"http://127.0.0.1:{floor_port}"
        create = urllib.request.Request(ep_url + "/", data=b'{"Origin":"EXTERNAL"}', method="POST", headers={
            "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.CreateKey"})
        key = json.load(urllib.request.urlopen(create))["KeyMetadata"]["KeyId"]
        body = json.dumps({"KeyId": key, "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": args.spec})
        # Signed for the sidecar's address (the host is signed); the other two do not check.
        headers = signed_headers(sc_url + "/", body)
        # The byte proxy copies bytes to the endpoint behind the sidecar, which acts only on a
        # decision: its requests carry the one the sidecar would attach, so the endpoint does
        # the same work on every path.
        decided = {**headers, "x-kms-mock-caller": "arn:aws:iam::111122223333:root", "x-kms-mock-region": "us-east-1"}
        paths = (("endpoint", ep_url, headers), ("byte proxy", floor_url, decided), ("sidecar", sc_url, headers))
        for _, url, h in paths:
            wrk(url, body, h, 1, "2s")  # warm-up
        runs: dict = {}
        for _ in range(args.rounds):
            # Interleaved, so drift on the machine hits every path alike.
            for conns in (1, args.connections):
                for name, url, h in paths:
                    runs.setdefault((name, conns), []).append(wrk(url, body, h, conns, args.duration))
        if shutil.which("perf"):
            for conns in (1, args.connections):
                for name, url, h in paths:
                    cpu[(name, conns)] = cpu_per_request(url, body, h, conns, args.duration, pids[name])
    finally:
        for p in (floor, sidecar, endpoint):
            p.terminate()
            p.wait()
    results = {k: {m: statistics.median(r[m] for r in v) for m in ("p50", "p99", "rps")} for k, v in runs.items()}
    print(f"\nGetParametersForImport ({args.spec}, warm pool) over loopback, {os.cpu_count()} cores, "
          f"median of {args.rounds} rounds of wrk {args.duration} per row\n")
    print("| Path | Connections | p50 (ms) | p99 (ms) | req/s |")
    print("|---|---:|---:|---:|---:|")
    for conns in (1, args.connections):
        for name, *_ in paths:
            r = results[(name, conns)]
            print(f"| {name} | {conns} | {r['p50']:.3f} | {r['p99']:.3f} | {r['rps']:.0f} |")
    print()
    for conns in (1, args.connections):
        e, f, s = (results[(name, conns)] for name, *_ in paths)
        print(f"{conns} connection(s): p50 overhead sidecar {(s['p50'] - e['p50']) * 1000:.0f} µs, "
              f"byte proxy {(f['p50'] - e['p50']) * 1000:.0f} µs; throughput / endpoint alone: "
              f"sidecar {s['rps'] / e['rps']:.2f}, byte proxy {f['rps'] / e['rps']:.2f}; "
              f"sidecar / byte proxy {s['rps'] / f['rps']:.2f}")
    if cpu:
        print("\nCPU per request (µs; one more wrk run per row, perf stat task-clock; machine: busy time "
              "of all cores from /proc/stat, wrk included)\n")
        print("| Path | Connections | proxy | endpoint | machine | cores busy |")
        print("|---|---:|---:|---:|---:|---:|")
        for conns in (1, args.connections):
            for name, *_ in paths:
                c = cpu[(name, conns)]
                proxy = f"{c['proxy']:.0f}" if "proxy" in c else "-"
                print(f"| {name} | {conns} | {proxy} | {c['endpoint']:.0f} | {c['machine']:.0f} | {c['busy']:.0%} |")
        # When the endpoint alone saturates the cores, 0.8 of its rate leaves each request 1/0.8
        # of the machine time it takes alone; what the endpoint behind the proxy and wrk take of
        # that (measured behind the byte proxy) is not the proxy's to spend.
        conns = args.connections
        alone, floor_cpu = cpu[("endpoint", conns)], cpu[("byte proxy", conns)]
        room = alone["machine"] / 0.8 - (floor_cpu["machine"] - floor_cpu["proxy"])
        print(f"\n{conns} connections: the endpoint alone keeps the cores {alone['busy']:.0%} busy. If that is "
              f"saturation, throughput 0.8 of it leaves a proxy {room:.0f} µs of CPU per request; "
              f"the byte proxy takes {floor_cpu['proxy']:.0f}, the sidecar {cpu[('sidecar', conns)]['proxy']:.0f}.")
    print("raw:", json.dumps({f"{k[0]}/{k[1]}": v for k, v in runs.items()}))


if __name__ == "__main__":
    main()
