#!/usr/bin/env bash
# Board binaries: the release build stripped of its debug info, which is kept beside it for
# crash reports. Usage: scripts/dist.sh [OUT] (default target/dist).
#
#   OUT/bin/         what a board ships: fusionfb, the demo apps, fusionfb-calibrate,
#                    fusion-status and fusionfb-bench (`fusionfb bench` runs it from beside
#                    fusionfb, to measure on the board itself), without debug info (their symbol tables stay, so a panic's
#                    backtrace still names functions)
#   OUT/bin/.debug/  NAME.debug: the full debug info of each, linked from the binary by a
#                    .gnu_debuglink; gdb and addr2line find it there (or point them at it:
#                    `gdb -s OUT/bin/.debug/fusionfb.debug`), so a core file or a crash
#                    address from a board is read on a desk
#
# It builds with `cargo build --release --bins` first, unless FUSIONFB_DIST_NO_BUILD=1 (use
# the release binaries already built).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/dist}"
if [ "${FUSIONFB_DIST_NO_BUILD:-0}" != 1 ]; then
  cargo build --release --bins
fi
release="${CARGO_TARGET_DIR:-target}/release"
bins=(fusionfb fusionfb-paint fusionfb-clock fusionfb-gallery fusionfb-calibrate fusion-status
  fusionfb-bench)
mkdir -p "$out/bin/.debug"
printf '%-20s %12s %12s %12s\n' binary "release" shipped "debug info"
for b in "${bins[@]}"; do
  src="$release/$b"
  [ -x "$src" ] || { echo "dist: $src is missing (cargo build --release --bins)" >&2; exit 1; }
  objcopy --only-keep-debug "$src" "$out/bin/.debug/$b.debug"
  # The link is made from inside .debug/ so it records the bare file name gdb looks up.
  objcopy --strip-debug "$src" "$out/bin/$b.tmp"
  (cd "$out/bin/.debug" && objcopy --add-gnu-debuglink="$b.debug" "../$b.tmp" "../$b")
  rm -f "$out/bin/$b.tmp"
  chmod 755 "$out/bin/$b"
  size() { stat -c %s "$1" | awk '{ printf "%.1f MB", $1 / 1e6 }'; }
  printf '%-20s %12s %12s %12s\n' "$b" "$(size "$src")" "$(size "$out/bin/$b")" \
    "$(size "$out/bin/.debug/$b.debug")"
done
echo "dist: board binaries in $out/bin, their debug info in $out/bin/.debug"
