#!/usr/bin/env bash
# Every test of the project, in the order a failure is cheapest to find: formatting, lints, the
# Rust unit, conformance and property tests and the AWS SDK for Rust tests, then the end-to-end
# suite (boto3, the AWS CLI, openssl) against the real binaries, then the SAM template lint.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
# The binaries first: the AWS SDK for Rust tests (tests/rust-sdk) start kms-api.
cargo build --workspace --bins
cargo test --workspace
python3 -m pytest tests/integration -q
# 200,000 libFuzzer runs each of the SigV4 verifier and the policy parser: no panic.
tests/fuzz.sh
cfn-lint template.yaml
