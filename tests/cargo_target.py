"""Where cargo puts what it builds, found the way cargo reports it, so that the tests and load
scripts run wherever the build went (`CARGO_TARGET_DIR`, a workspace setting, a CI cache)."""

from __future__ import annotations

import functools
import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@functools.cache
def target_dir() -> Path:
    """`CARGO_TARGET_DIR` when set, else the `target_directory` of `cargo metadata`."""
    if os.environ.get("CARGO_TARGET_DIR"):
        return Path(os.environ["CARGO_TARGET_DIR"]).resolve()
    out = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps", "--offline"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return Path(json.loads(out)["target_directory"])
