#!/usr/bin/env bash
# Quick start, command 1: set up what is missing, build, and run `fusionfb demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --release -p fusionfb --bin fusionfb
exec target/release/fusionfb demo "$@"
