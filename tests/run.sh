#!/usr/bin/env bash
# Every test of the project, in the order a failure is cheapest to find: formatting, lints, the
# Rust unit and conformance tests, then the end-to-end suite (boto3, the AWS CLI, openssl)
# against the real binaries, then the SAM template lint.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
cargo build --workspace --bins
python3 -m pytest tests/integration -q
cfn-lint template.yaml
