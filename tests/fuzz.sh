#!/usr/bin/env bash
# Fuzzes the SigV4 verifier and the policy parser/evaluator with cargo fuzz (libFuzzer) for a
# fixed number of runs: any panic fails. The toolchain is stable; RUSTC_BOOTSTRAP lets
# cargo fuzz use the sanitizer flags it needs. FUZZ_RUNS sets the runs per target.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
runs="${FUZZ_RUNS:-200000}"
export RUSTC_BOOTSTRAP=1
for target in sigv4 policy; do
  corpus="$(mktemp -d)"
  cargo fuzz run --sanitizer none "$target" "$corpus" "seeds/$target" -- -runs="$runs" -max_len=4096
  rm -rf "$corpus"
done
