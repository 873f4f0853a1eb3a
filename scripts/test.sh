#!/usr/bin/env bash
# Quick start, command 2: set up what is missing and run the whole test suite:
# unit and multi-process integration tests, the message-decoder fuzzers for a bounded time,
# and a smoke run of the benchmark binary. Ends with one line: "tests: N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
# The emulated board (tests/board/README.md) needs QEMU, debootstrap and cpio, and runs the
# release binaries; the window backend's tests need Xvfb; the Wayland tests run Debian's own
# Wayland clients (weston's demo clients, wayland-utils' wayland-info, grim, gtk3-demo from
# gtk-3-examples, the wvkbd on-screen keyboard, wtype). Without them those
# tests say SKIPPED (listed at the end).
EXTRA_PACKAGES="qemu-system-x86 debootstrap cpio xvfb weston wayland-utils grim gtk-3-examples wvkbd wtype" scripts/deps.sh ||
  echo "tests: could not install the test-only packages; the tests needing them will skip" >&2
# The Debian package's tests (tests/tests/board_deb.rs) build it with cargo-deb, and read it
# with dpkg-deb and binutils' readelf.
scripts/deb.sh --deps-only ||
  echo "tests: could not install cargo-deb or dpkg-dev; the package's tests will fail" >&2
if [ "${FUSIONFB_BOARD:-1}" != 0 ]; then
  cargo build --release --bins
fi
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
# --no-fail-fast: one failing test binary must not hide the crates after it.
cargo test --workspace --no-fail-fast 2>&1 | tee "$log" || status=$?
count() { awk -v f="$1" '/^test result:/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ "^" f) n += $i } END { print n + 0 }' "$log"; }
passed=$(count passed)
failed=$(count failed)
if grep -q '^SKIPPED:' "$log"; then
  grep '^SKIPPED:' "$log" | sort -u
fi
if [ "$status" -ne 0 ]; then
  echo "tests: ${passed:-0} passed, ${failed:-1} failed"
  exit "$status"
fi
if [ -x scripts/fuzz.sh ]; then
  FUZZ_SECONDS="${FUZZ_SECONDS:-20}" scripts/fuzz.sh
fi
# The GBM allocator is behind a feature the default build leaves out: lint it too.
cargo clippy -q -p gfx-drivers --features gbm -- -D warnings
echo "gbm feature lint: ok"
# Public items are documented, and their docs link only to what readers can reach.
RUSTDOCFLAGS="-D warnings" cargo doc -q --no-deps --workspace
echo "docs: ok"
cargo run --release -q -p fusion --bin fusion-bench -- --quick >/dev/null
echo "bench smoke run: ok"
echo "tests: ${passed} passed, ${failed} failed"
