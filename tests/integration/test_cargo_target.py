"""The tests find what cargo built where cargo put it, not in a `target/` they assume."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import BIN_DIR, ROOT

FIND = "import sys; sys.path.insert(0, 'tests'); from cargo_target import target_dir; print(target_dir())"


def test_the_target_directory_is_cargos(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    env = {**os.environ, "CARGO_TARGET_DIR": str(elsewhere)}
    out = subprocess.run([sys.executable, "-c", FIND], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(elsewhere.resolve())
    env.pop("CARGO_TARGET_DIR")
    out = subprocess.run([sys.executable, "-c", FIND], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    meta = json.loads(subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps", "--offline"], cwd=ROOT,
                                     env=env, capture_output=True, text=True, check=True).stdout)
    assert out.stdout.strip() == meta["target_directory"]


def test_the_suite_runs_the_binaries_cargo_built():
    if os.environ.get("KMS_MOCK_BIN_DIR"):
        assert str(BIN_DIR) == os.environ["KMS_MOCK_BIN_DIR"]
    assert (BIN_DIR / "kms-api").is_file() and (BIN_DIR / "policy-sidecar").is_file()
