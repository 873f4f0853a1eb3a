#!/usr/bin/env bash
# The Debian package for an ARM board, cross-built on a Debian bookworm x86-64 machine from a
# sysroot (README, "Building for arm64 and armhf"). Usage:
#
#   scripts/deb-cross.sh arm64|armhf [--smoke]
#
# Installs what is missing — the Rust target (rustup), Debian's cross compiler, and, with
# --smoke, qemu-user — and debootstraps the target's libraries once into
# target/cross/sysroot-<arch> (`--foreign`: download and unpack only, no ARM code runs; nothing is
# installed for the ARM architecture system-wide). Then scripts/deb.sh builds the package with
# `--target <triple> --variant cross` and prints its path on the last line of stdout.
# --smoke then runs the package's binaries under QEMU's user mode: a headless master,
# fusionfb-paint joining it, a tap, a screenshot (OUT/<arch>-smoke.png beside the package).
set -euo pipefail
cd "$(dirname "$0")/.."
arch="${1:-}"
case "$arch" in
  arm64) triple=aarch64-unknown-linux-gnu gnu=aarch64-linux-gnu qemu=qemu-aarch64 ;;
  armhf) triple=armv7-unknown-linux-gnueabihf gnu=arm-linux-gnueabihf qemu=qemu-arm ;;
  *) echo "usage: scripts/deb-cross.sh arm64|armhf [--smoke]" >&2; exit 2 ;;
esac
smoke=0
[ "${2:-}" != --smoke ] || smoke=1
say() { echo "deb-cross: $*" >&2; }

extra="gcc-$gnu debootstrap"
[ "$smoke" = 0 ] || extra="$extra qemu-user"
EXTRA_PACKAGES="$extra" scripts/deps.sh
rustup target list --installed | grep -qx "$triple" || rustup target add "$triple" >&2

target="${CARGO_TARGET_DIR:-target}"
S="$(mkdir -p "$target/cross" && cd "$target/cross" && pwd)/sysroot-$arch"
if [ ! -f "$S/ready" ]; then
  say "debootstrap $arch libraries into $S (once)"
  rm -rf "$S"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO debootstrap --arch="$arch" --foreign --variant=minbase \
    --include=libudev-dev,libinput-dev,libxkbcommon-dev,libpixman-1-dev,libgbm-dev,libc6-dev \
    bookworm "$S" "${FUSIONFB_BOARD_MIRROR:-http://deb.debian.org/debian}" >&2
  # The first stage unpacks the base system only; the -dev packages wait in its cache.
  for d in "$S"/var/cache/apt/archives/*.deb; do $SUDO dpkg-deb -x "$d" "$S"; done
  $SUDO touch "$S/ready"
fi

var="${triple//-/_}"
deb="$(env PKG_CONFIG_SYSROOT_DIR="$S" \
  PKG_CONFIG_LIBDIR="$S/usr/lib/$gnu/pkgconfig:$S/usr/share/pkgconfig" \
  "CARGO_TARGET_${var^^}_RUSTFLAGS=-C link-arg=--sysroot=$S" \
  "CC_$var=$gnu-gcc" "CFLAGS_$var=--sysroot=$S" \
  scripts/deb.sh -- --target "$triple" --variant cross | tail -1)"

if [ "$smoke" = 1 ]; then
  run="$(mktemp -d)"
  master="" paint=""
  trap '[ -z "$master$paint" ] || kill $master $paint 2>/dev/null || true; rm -rf "$run"' EXIT
  dpkg-deb -x "$deb" "$run/root"
  mkdir -m 700 "$run/xdg"
  export XDG_RUNTIME_DIR="$run/xdg"
  bin="$run/root/usr/bin"
  q() { timeout 120 "$qemu" -L "$S" "$bin/$1" "${@:2}"; }
  # Waits up to a minute for `fusionfb status` to print a line matching $1.
  status_shows() {
    for _ in $(seq 60); do
      q fusionfb --world smoke status 2>/dev/null | grep -q "$1" && return 0
      sleep 1
    done
    echo "deb-cross: the master's status never showed $1; the logs:" >&2
    cat "$run/master.log" "$run/paint.log" >&2 2>/dev/null
    exit 1
  }
  # (Simple commands, so that $! is the process itself, not a subshell.)
  timeout 120 "$qemu" -L "$S" "$bin/fusionfb" --world smoke run --no-restart --backend headless \
    --config "$run/root/etc/fusionfb/headless.toml" >"$run/master.log" 2>&1 &
  master=$!
  status_shows '^world "smoke"'
  timeout 120 "$qemu" -L "$S" "$bin/fusionfb-paint" --world smoke >"$run/paint.log" 2>&1 &
  paint=$!
  status_shows '^windows (1)'
  q fusionfb --world smoke input tap 400 300 >&2
  sleep 2
  shot="$(dirname "$deb")/$arch-smoke.png"
  q fusionfb --world smoke screenshot "$shot" >&2
  # SIGTERM: the master asks its slaves to leave, and both end with status 0.
  kill -TERM "$master"
  wait "$master" || { cat "$run/master.log" >&2; exit 1; }
  wait "$paint" || { cat "$run/paint.log" >&2; exit 1; }
  master="" paint=""
  say "the $arch binaries ran under $qemu; $shot shows the paint canvas with a dot at 400,300"
fi
echo "$deb"
