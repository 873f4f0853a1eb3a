#!/usr/bin/env bash
# Quick start, command 1: set up what is missing, build, and run `fusionfb demo`
# (the master on the best available backend — headless without a display — the paint,
# clock and gallery apps, a scripted touch sequence, and fusionfb-demo.png).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --release --bins
exec target/release/fusionfb demo "$@"
