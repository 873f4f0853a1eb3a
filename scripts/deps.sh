#!/usr/bin/env bash
# Installs what building and testing fusionfb needs on a Debian machine, when missing.
# Safe to run repeatedly: it installs nothing that is already there.
set -euo pipefail

# System packages the workspace builds against: libpixman-1-dev for the compositor (fusionfb's
# compose module); libudev, libinput, libxkbcommon and libgbm headers for the display
# and input backends (smithay's build scripts probe them with pkg-config, input-sys and
# xkbcommon link them). libgbm-dev must be there before the first build (stack-build.md).
# binutils' objcopy splits the debug info off the board binaries (scripts/dist.sh).
PACKAGES=(pkg-config gcc g++ binutils libpixman-1-dev libudev-dev libinput-dev
  libxkbcommon-dev libgbm-dev)
# Extra packages a script asks for (the tests add Xvfb, QEMU, and weston and wayland-utils
# for the Wayland clients), in EXTRA_PACKAGES.
read -r -a extra <<<"${EXTRA_PACKAGES:-}"
PACKAGES+=("${extra[@]}")

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "deps: cargo is missing; install Rust (https://rustup.rs) and run again" >&2
  exit 1
fi

# Cargo subcommands a script asks for, as CRATE@VERSION in CARGO_TOOLS (scripts/deb.sh asks
# for cargo-deb), installed with `cargo install --locked` unless that version is there.
read -r -a tools <<<"${CARGO_TOOLS:-}"
for t in "${tools[@]}"; do
  crate="${t%@*}" version="${t#*@}"
  if [ "$("$crate" --version 2>/dev/null)" != "$crate $version" ]; then
    echo "deps: cargo install $crate $version" >&2
    cargo install --quiet --locked "$crate" --version "$version"
  fi
done
