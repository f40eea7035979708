#!/usr/bin/env bash
# What the tests need, installed if missing (tests/run.sh calls it first; safe to run again):
#   Debian packages openssl and gcc (apt-get, only when missing);
#   the rustfmt and clippy components (rustup);
#   the Python packages of tests/requirements.txt (pip: boto3, the AWS CLI, pytest, moto,
#     cryptography, cfn-lint, cargo-lambda, jsonschema, maturin);
#   cargo-fuzz 0.13.2 (cargo install);
#   the AWS SAM CLI 1.170.0 in a virtualenv of its own ($SAM_VENV, default ~/.venvs/sam: it pins
#     a boto3 the AWS CLI does not accept).
# KMS_MOCK_SKIP_SETUP=1 skips it (a machine set up already, or offline).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ "${KMS_MOCK_SKIP_SETUP:-}" == 1 ]] && exit 0
export DEBIAN_FRONTEND=noninteractive

missing=()
command -v openssl >/dev/null || missing+=(openssl)
command -v cc >/dev/null || missing+=(gcc)
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]} (apt-get)" >&2
  apt-get update -q && apt-get install -y -q "${missing[@]}"
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true
python3 -m pip install -q --disable-pip-version-check -r tests/requirements.txt
if ! command -v cargo-fuzz >/dev/null; then
  echo "setup: installing cargo-fuzz (cargo install)" >&2
  cargo install -q cargo-fuzz --version 0.13.2 --locked
fi
SAM_VENV="${SAM_VENV:-$HOME/.venvs/sam}"
if [[ ! -x "$SAM_VENV/bin/sam" ]]; then
  echo "setup: installing the AWS SAM CLI into $SAM_VENV" >&2
  python3 -m venv "$SAM_VENV"
  "$SAM_VENV/bin/pip" install -q --disable-pip-version-check aws-sam-cli==1.170.0
fi
