#!/usr/bin/env bash
# The Python wheel as a user gets it: built with maturin (release), installed into a fresh
# virtualenv with nothing of the project's, and the example suite of python/example run there
# with the `kms_mock` fixture alone.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d "${TMPDIR:-/tmp}/kms-mock-wheel.XXXXXX")
trap 'rm -rf "$work"' EXIT
(cd python && maturin build --release --quiet --out "$work/wheels")
wheel=$(ls "$work"/wheels/kms_import_mock-*.whl)
echo "wheel: $(basename "$wheel") ($(du -h "$wheel" | cut -f1))"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q --disable-pip-version-check "$wheel" pytest cryptography
# The command the wheel gives, on the venv's PATH.
test -x "$work/venv/bin/kms-import-mock" && test -x "$work/venv/bin/kms-import-mock-endpoint"
# From the checkout's root: the ini file's relative paths (sidecar.json) are its folder's.
"$work/venv/bin/python" -m pytest -q -p no:cacheprovider python/example
# The options: quotas, any variable, a data folder of one's own, which outlives the session.
(cd python/example && "$work/venv/bin/python" -m pytest -q -p no:cacheprovider test_options.py \
  --kms-mock-quotas aws --kms-mock-env KMS_MOCK_QUOTA_RATES=ListKeys=1 --kms-mock-data "$work/data" -rs)
test -s "$work/data/token-secret" || { echo "the given data folder was not kept" >&2; exit 1; }
# Two sessions at once (as pytest-xdist workers start theirs): each its own mock, port and folder.
"$work/venv/bin/python" -m pytest -q -p no:cacheprovider python/example >"$work/one.log" 2>&1 & one=$!
"$work/venv/bin/python" -m pytest -q -p no:cacheprovider python/example >"$work/two.log" 2>&1 & two=$!
wait $one || { cat "$work/one.log"; exit 1; }
wait $two || { cat "$work/two.log"; exit 1; }
echo "two sessions at once: $(tail -1 "$work/one.log"); $(tail -1 "$work/two.log")"
