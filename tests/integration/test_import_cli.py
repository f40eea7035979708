"""The developer guide's import procedure with the AWS CLI and openssl, as a user runs it
(tests/integration/byok_walkthrough.sh), against the running binary."""

from __future__ import annotations

import os
import subprocess

from conftest import ROOT


def test_aws_cli_walkthrough(endpoint):
    env = {
        **os.environ,
        "ENDPOINT": endpoint.url,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
    p = subprocess.run(
        ["bash", str(ROOT / "tests/integration/byok_walkthrough.sh")], env=env, capture_output=True, text=True, timeout=300
    )
    assert p.returncode == 0, p.stdout + p.stderr
    lines = p.stdout.splitlines()
    assert lines[-1] == "walkthrough complete"
    assert sum(line.startswith("ok: ") for line in lines) == 13, p.stdout
