#!/usr/bin/env bash
# Quick start, command 2: set up what is missing and run the whole test suite:
# unit and multi-process integration tests, the message-decoder fuzzers for a bounded time,
# and a smoke run of the benchmark binary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo test --workspace
if [ -x scripts/fuzz.sh ]; then
  FUZZ_SECONDS="${FUZZ_SECONDS:-20}" scripts/fuzz.sh
fi
cargo run --release -q -p fusion --bin fusion-bench -- --quick >/dev/null
echo "bench smoke run: ok"
