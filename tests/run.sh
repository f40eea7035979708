#!/usr/bin/env bash
# Every test of the project, after installing what they need (tests/setup.sh), in the order a
# failure is cheapest to find: formatting, lints, the Rust unit, conformance and property tests and the AWS SDK for Rust tests, then the end-to-end
# suite (boto3, the AWS CLI, openssl) against the real binaries, then the SAM template lint.
set -euo pipefail
cd "$(dirname "$0")/.."
# What the tests need, installed if missing (see tests/setup.sh for the list).
tests/setup.sh

# A DynamoDB-API server (moto) on loopback for the DynamoDB store's tests, stopped on exit.
moto_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
moto_server -H 127.0.0.1 -p "$moto_port" >/tmp/kms-mock-moto.log 2>&1 &
moto_pid=$!
trap 'kill $moto_pid 2>/dev/null || true' EXIT
export KMS_MOCK_TEST_DYNAMODB_ENDPOINT="http://127.0.0.1:$moto_port"
python3 - <<'PY'
import os, time, urllib.request
for _ in range(100):
    try:
        urllib.request.urlopen(os.environ["KMS_MOCK_TEST_DYNAMODB_ENDPOINT"] + "/moto-api/", timeout=1)
        break
    except OSError:
        time.sleep(0.2)
else:
    raise SystemExit("moto_server did not start")
PY

cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
# The binaries first: the AWS SDK for Rust tests (tests/rust-sdk) start kms-api.
cargo build --workspace --bins
cargo test --workspace
python3 -m pytest tests/integration -q
# The Python wheel (maturin), installed into a fresh virtualenv, and its example suite.
tests/wheel.sh
# 200,000 libFuzzer runs each of the SigV4 verifier and the policy parser: no panic.
tests/fuzz.sh
cfn-lint template.yaml
# SAM: lint, and a real build of every function and the sidecar layer with cargo lambda
# (x86_64 with cargo as the linker: no zig or Docker here).
sam="${SAM_VENV:-$HOME/.venvs/sam}/bin/sam"
export SAM_CLI_TELEMETRY=0
"$sam" validate --lint --region us-east-1
CARGO_LAMBDA_COMPILER=cargo LAMBDA_ARCH_FLAG=--x86-64 \
  "$sam" build --build-in-source --parameter-overrides Architecture=x86_64 --build-dir "${SAM_BUILD_DIR:-.aws-sam/build}"
for artifact in KmsApiFunction/bootstrap GetParametersForImportFunction/bootstrap \
  PoolRefillFunction/bootstrap PolicySidecarLayer/extensions/policy-sidecar; do
  test -x "${SAM_BUILD_DIR:-.aws-sam/build}/$artifact" || { echo "sam build left no $artifact" >&2; exit 1; }
done
