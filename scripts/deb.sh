#!/usr/bin/env bash
# The Debian package of a board: `cargo deb -p fusionfb` (compositor/Cargo.toml's
# [package.metadata.deb] says what goes in). Usage: scripts/deb.sh [OUT] [-- CARGO-DEB ARGS]
# (default OUT: target/debian, in CARGO_TARGET_DIR when set). Prints the package's absolute
# path on the last line of stdout:
#
#   OUT/fusionfb_<version>_<arch>.deb          the binaries stripped, /etc/fusionfb/*.toml,
#                                              the systemd unit, the udev rules, the group
#   OUT/fusionfb-dbgsym_<version>_<arch>.ddeb  their debug info (/usr/lib/debug/.build-id/)
#
# Installs cargo-deb (pinned) and dpkg-dev (dpkg-shlibdeps, for the Depends line) when
# missing; `scripts/deb.sh --deps-only` does only that. Arguments after `--` go to cargo-deb,
# e.g. `-- --target aarch64-unknown-linux-gnu` (README, "Installing on a board": what
# cross-building needs; scripts/deb-cross.sh does it from a sysroot).
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRA_PACKAGES="dpkg-dev" CARGO_TOOLS="cargo-deb@3.8.0" scripts/deps.sh
[ "${1:-}" != --deps-only ] || exit 0
out="${CARGO_TARGET_DIR:-target}/debian"
if [ $# -gt 0 ] && [ "$1" != -- ]; then
  out="$1"
  shift
fi
[ "${1:-}" != -- ] || shift
mkdir -p "$out"
# cargo-deb prints the paths of what it made, the .deb first.
made="$(cargo deb -p fusionfb --output "$out" "$@")"
deb="$(printf '%s\n' "$made" | grep '\.deb$' | head -1)"
[ -f "$deb" ] || { echo "deb: cargo deb made no .deb (it said: $made)" >&2; exit 1; }
echo "deb: $(du -h "$deb" | cut -f1) $(dpkg-deb -f "$deb" Package Version Architecture | tr '\n' ' ')" >&2
# An absolute path: callers run elsewhere (the board tests run in tests/).
readlink -f "$deb"
