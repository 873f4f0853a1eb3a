#!/usr/bin/env bash
# Boots the emulated board by hand with a shell on this terminal (see README.md).
#
#   tests/board/shell.sh [bochs|virtio] [extra kernel command line words]
#
# The guest is the one the tests boot (prepare.sh's cache) with the workspace's release
# binaries in /opt/fusionfb/bin (built first unless FUSIONFB_BOARD_BIN_DIR names a directory of
# binaries) and configs/*.toml in /opt/fusionfb/configs. The QEMU monitor is reachable with
# Ctrl-A c; Ctrl-A x quits QEMU; `echo o >/proc/sysrq-trigger` powers the guest off.
# FUSIONFB_BOARD_MEMORY sets the guest memory in MB (default 1024).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
gpu="${1:-bochs}"
shift || true
case "$gpu" in
  bochs) display=(-vga std) ;;
  virtio) display=(-vga none -device virtio-gpu-pci) ;;
  *) echo "usage: $0 [bochs|virtio] [kernel command line words]" >&2; exit 2 ;;
esac

board="$("$here/prepare.sh")"
bins="${FUSIONFB_BOARD_BIN_DIR:-}"
if [ -z "$bins" ]; then
  (cd "$repo" && cargo build --release --bins)
  bins="${CARGO_TARGET_DIR:-$repo/target}/release"
fi

run="$(mktemp -d)"
trap 'rm -rf "$run"' EXIT
mkdir -p "$run/stage/opt/fusionfb/bin" "$run/stage/opt/fusionfb/configs"
# Without debug information: the guest keeps its files in RAM.
find "$bins" -maxdepth 1 -type f -perm -u+x -exec sh -c \
  'for b; do strip --strip-debug -o "$0/${b##*/}" "$b" || cp "$b" "$0/"; done' \
  "$run/stage/opt/fusionfb/bin" {} +
cp "$repo"/configs/*.toml "$run/stage/opt/fusionfb/configs/"
# The binaries go in a second archive after the cached one, at a 4-byte boundary.
cp "$board/rootfs.cpio.gz" "$run/initrd"
size=$(stat -c %s "$run/initrd")
head -c $(((4 - size % 4) % 4)) /dev/zero >>"$run/initrd"
(cd "$run/stage" && find opt | cpio -o -H newc --quiet) >>"$run/initrd"

echo "board: booting ($gpu); Ctrl-A x quits QEMU" >&2
qemu-system-x86_64 -accel tcg -cpu max -nodefaults -no-reboot -display none \
  -m "${FUSIONFB_BOARD_MEMORY:-1024}" "${display[@]}" \
  -serial mon:stdio -serial null \
  -kernel "$board/vmlinuz" -initrd "$run/initrd" \
  -append "console=ttyS0 panic=-1 rdinit=/init quiet fusionfb.gpu=$gpu fusionfb.shell=1 $*"
