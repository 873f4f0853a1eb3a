#!/usr/bin/env bash
# Prepares the emulated board (see /work/shared/BOARD.md and tests/board/README.md): Debian's
# kernel and a packed root file system, in a cache directory, once.
#
#   tests/board/prepare.sh            # prints progress on stderr, the board directory on stdout
#
# The cache ($FUSIONFB_BOARD_CACHE, default ${XDG_CACHE_HOME:-$HOME/.cache}/fusionfb-board)
# holds, per kernel version and hash of this script and the guest's init (so editing either
# rebuilds):
#   <kver>-<hash>/vmlinuz           the kernel to boot with `qemu -kernel`
#   <kver>-<hash>/rootfs.cpio.gz    the initramfs: Debian minbase + udev/libinput/... + modules
#   <kver>-<hash>/kernel-version    the kernel version, e.g. 6.1.0-56-amd64
# and, shared between those, the unpacked kernel package and the debootstrapped base system
# (keyed by the package list; the slow step, about 3 minutes). The fusionfb binaries are not in
# here: the harness appends them per run as a second initramfs archive.
#
# Needs root (debootstrap, chroot). Installs debootstrap and cpio through scripts/deps.sh when
# missing. Safe to run concurrently: a lock in the cache serialises builds.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${FUSIONFB_BOARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fusionfb-board}"
suite=bookworm
mirror="${FUSIONFB_BOARD_MIRROR:-http://deb.debian.org/debian}"
include=udev,libinput10,libdrm2,libgbm1,libpixman-1-0,libxkbcommon0,libseat1,evemu-tools,kmod,xkb-data,seatd,libwayland-client0
# The modules the guest loads (fusionfb.gpu=bochs|virtio, input); their dependencies are added.
modules=(bochs virtio-gpu virtio_pci evdev uinput virtio_input)

say() { echo "board: $*" >&2; }

# The kernel: the version the linux-image-amd64 meta package points at.
kpkg="$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')"
if [ -z "$kpkg" ]; then
  say "apt does not know linux-image-amd64 yet: apt-get update"
  apt-get update -qq >&2
  kpkg="$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')"
fi
[ -n "$kpkg" ] || { say "no linux-image-*-amd64 package found"; exit 1; }
kver="${kpkg#linux-image-}"
hash="$(cat "$here/prepare.sh" "$here/init" | sha256sum | cut -c1-12)"
out="$cache/$kver-$hash"
# The tools: QEMU for the harness (not needed here, but this is where a fresh machine gets it;
# when it cannot be installed the board tests skip), debootstrap and cpio for the build below.
missing=()
for tool in qemu-system-x86_64:qemu-system-x86 debootstrap:debootstrap cpio:cpio; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${tool%%:*}" ] || missing+=("${tool#*:}")
done
if ((${#missing[@]})); then
  say "installing ${missing[*]}"
  EXTRA_PACKAGES="${missing[*]}" "$repo/scripts/deps.sh" >&2 || say "could not install ${missing[*]}"
fi
if [ -f "$out/ready" ]; then
  say "cached: $out"
  echo "$out"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  say "building the board needs root (debootstrap, chroot): run sudo $0 once"
  exit 1
fi
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ -f "$out/ready" ]; then
  say "built meanwhile by another run: $out"
  echo "$out"
  exit 0
fi
start=$SECONDS

kdir="$cache/kernel-$kver"
if [ ! -f "$kdir/ready" ]; then
  say "downloading $kpkg"
  rm -rf "$kdir"
  mkdir -p "$kdir/deb"
  (cd "$kdir/deb" && apt-get download -q "$kpkg" >&2)
  dpkg -x "$kdir"/deb/*.deb "$kdir/root"
  rm -rf "$kdir/deb"
  touch "$kdir/ready"
fi

base="$cache/base-$suite-$(echo "$include" | sha256sum | cut -c1-12)"
if [ ! -f "$base/ready" ]; then
  say "debootstrap $suite minbase (+ $include), about 3 minutes"
  rm -rf "$base"
  debootstrap --variant=minbase --include="$include" "$suite" "$base/root" "$mirror" >"$cache/debootstrap.log" 2>&1 || {
    tail -20 "$cache/debootstrap.log" >&2
    say "debootstrap failed (whole log: $cache/debootstrap.log)"
    exit 1
  }
  touch "$base/ready"
fi

say "assembling the root file system"
stage="$cache/stage.$$"
trap 'rm -rf "$stage"' EXIT
rm -rf "$cache"/stage.* "$out"
mkdir -p "$stage"
cp -a "$base/root" "$stage/root"
root="$stage/root"
# What a board never needs and what only slows unpacking.
rm -rf "$root"/usr/share/{doc,man,info,locale,i18n,zoneinfo} "$root"/var/cache/apt/* \
  "$root"/var/lib/apt/lists/* "$root"/usr/share/common-licenses

# Kernel modules: the whole tree goes in, depmod works out what the wanted modules depend on,
# and everything else goes out again.
mdst="$root/lib/modules/$kver"
mkdir -p "$mdst"
cp -a "$kdir/root/lib/modules/$kver/." "$mdst/"
chroot "$root" depmod -a "$kver"
keep="$stage/keep"
for m in "${modules[@]}"; do
  chroot "$root" modprobe -S "$kver" --show-depends "$m" | awk '$1 == "insmod" { print $2 }'
done | sort -u >"$keep"
say "modules kept: $(wc -l <"$keep") ($(sed 's|.*/||; s|\.ko.*||' "$keep" | tr '\n' ' '))"
find "$mdst/kernel" -type f | sed "s|^$root||" | sort | comm -23 - "$keep" | sed "s|^|$root|" | xargs rm -f
find "$mdst/kernel" -type d -empty -delete
chroot "$root" depmod -a "$kver"

install -m 0755 "$here/init" "$root/init"
mkdir -p "$root/opt/fusionfb/bin" "$root/opt/fusionfb/configs"

say "packing rootfs.cpio.gz"
mkdir -p "$out"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$out/rootfs.cpio.gz.tmp"
mv "$out/rootfs.cpio.gz.tmp" "$out/rootfs.cpio.gz"
cp "$kdir/root/boot/vmlinuz-$kver" "$out/vmlinuz"
echo "$kver" >"$out/kernel-version"
touch "$out/ready"
# Older builds of this cache are dead weight now.
for old in "$cache"/[0-9]*-amd64-*; do
  [ "$old" = "$out" ] || rm -rf "$old"
done
say "ready in $((SECONDS - start)) s: $out ($(du -h "$out/rootfs.cpio.gz" | cut -f1) initramfs)"
echo "$out"
