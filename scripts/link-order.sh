#!/usr/bin/env bash
# Writes compositor/link-order.txt: the functions the release master runs, which
# compositor/build.rs has the linker put together at the front of the binary's code (see
# its docs: the kernel maps code in 64 KiB windows around each page touched, so scattered
# startup code keeps megabytes resident that nothing runs again).
#
# Every function of the release `fusionfb` gets a uprobe (tracefs). A master alone
# (`--no-restart`) is started on the headless backend and left idle, then stopped; then
# `fusionfb run` as boards run it, the supervisor and its master, is left idle too; then two
# Wayland clients and a native one draw for two seconds and a tap is routed. The list has
# what the lone master ran up to idle, then what the supervisor and its master added up to
# idle, then what the frames and the input added, each in the binary's own order; names
# carry the build's hashes, so it is made again when the toolchain or the dependencies
# change (a stale list only costs memory: the linker skips names it does not have).
#
# Usage, as root (uprobes): scripts/link-order.sh. It builds with `cargo build --release
# --bins` first; the README's "Idle memory" has before and after.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "link-order: needs root (it puts uprobes in tracefs)" >&2; exit 1; }
tracing=/sys/kernel/tracing
[ -e "$tracing/uprobe_events" ] || mount -t tracefs none "$tracing" 2>/dev/null || true
[ -w "$tracing/uprobe_events" ] || { echo "link-order: no uprobes in $tracing" >&2; exit 1; }

cargo build --release --bins
release="$(realpath "${CARGO_TARGET_DIR:-target}/release")"
bin="$release/fusionfb"
work="$(mktemp -d)"
chmod 700 "$work"
group="fbo$$"
master=""
cleanup() {
  set +e
  [ -n "$master" ] && { kill -9 "$master"; wait "$master"; } 2>/dev/null
  echo 0 > "$tracing/events/$group/enable" 2>/dev/null || true
  # All at once when the probes are only ours, else one removal per probe (slow: the group
  # has no wildcard removal on every kernel).
  if ! grep -qv "^p:$group/" "$tracing/uprobe_events"; then
    echo > "$tracing/uprobe_events" 2>/dev/null || true
  elif [ -s "$work/probes" ]; then
    sed 's/^p:\([^ ]*\) .*/-:\1/' "$work/probes" | while read -r probe; do
      echo "$probe" >> "$tracing/uprobe_events" 2>/dev/null || true
    done
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# The code segment's file offset and address: a uprobe is placed by file offset.
read -r seg_off seg_va < <(readelf -lW "$bin" | awk '$1 == "LOAD" && $(NF-1) == "E" { print $2, $3 }')
# One probe per function address (aliases share one), named fN; $work/names maps N back.
nm --defined-only "$bin" | awk '$2 ~ /^[tTwW]$/ { print $1, $3 }' | sort -u -k1,1 > "$work/syms"
i=0
while read -r addr name; do
  printf 'p:%s/f%d %s:0x%x\n' "$group" "$i" "$bin" $((0x$addr - seg_va + seg_off))
  echo "$i $addr $name" >> "$work/names"
  i=$((i + 1))
done < "$work/syms" > "$work/probes"
# One probe per write: tracefs refuses a long batch.
while read -r probe; do echo "$probe" >> "$tracing/uprobe_events"; done < "$work/probes"
echo 1 > "$tracing/events/$group/enable"
echo "link-order: $i functions probed"

# The functions hit so far, one number per line.
# (uprobe_profile: file, event name without its group, hits)
hits() {
  awk -v b="$bin" '$1 == b && $2 ~ /^f[0-9]+$/ && $3 > 0 { print substr($2, 2) }' \
    "$tracing/uprobe_profile" | sort
}

export XDG_RUNTIME_DIR="$work/run" FUSIONFB_RUNTIME_DIR="$work/run"
mkdir -m 700 "$XDG_RUNTIME_DIR"
# Starts `fusionfb run $1 --backend headless` in world $2 and waits until it listens and
# has been idle for two seconds.
start() {
  "$bin" run $1 --backend headless --world "$2" > "$work/master.log" 2>&1 &
  master=$!
  socket="$XDG_RUNTIME_DIR/fusionfb-$2"
  for _ in $(seq 300); do [ -S "$socket" ] && break; sleep 0.1; done
  [ -S "$socket" ] || { echo "link-order: the master did not start:" >&2; cat "$work/master.log" >&2; exit 1; }
  sleep 2
}
start --no-restart "alone$$"
hits > "$work/idle"
kill -9 "$master"; wait "$master" 2>/dev/null || true
world="order$$"
start "" "$world"
hits > "$work/supervised"

for x in 0 300; do
  (sleep 2 | "$release/fusionfb-bench" client --role wl-animate --x "$x" --y 100 \
    --socket "$socket" > /dev/null 2>&1) &
done
# (a native frames client draws until the master asks it to leave)
timeout 2 "$release/fusionfb-bench" --world "$world" client --role damage > /dev/null 2>&1 &
sleep 1
"$bin" input --world "$world" tap 640 400 > /dev/null 2>&1 || true
wait $(jobs -p | grep -v "^$master$") 2>/dev/null || true
sleep 0.5
hits > "$work/all"

out=compositor/link-order.txt
{
  echo "# The functions the release master runs, in the order the linker lays them out"
  echo "# (compositor/build.rs). Made by scripts/link-order.sh: do not edit."
  echo "# $(rustc --version); $(grep -c . "$work/idle") up to idle, $(comm -13 "$work/idle" "$work/supervised" | grep -c .) more supervised, $(comm -13 "$work/supervised" "$work/all" | grep -c .) more in frames and input."
  join <(sort "$work/idle") <(sort -k1,1 "$work/names") | sort -k2,2 | awk '{ print $3 }'
  comm -13 "$work/idle" "$work/supervised" | join - <(sort -k1,1 "$work/names") | sort -k2,2 | awk '{ print $3 }'
  comm -13 "$work/supervised" "$work/all" | join - <(sort -k1,1 "$work/names") | sort -k2,2 | awk '{ print $3 }'
} > "$out"
echo "link-order: wrote $out ($(grep -vc '^#' "$out") functions of $i)"
