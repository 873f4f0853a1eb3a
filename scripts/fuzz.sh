#!/usr/bin/env bash
# Fuzzes fusion's decoders for a bounded time: the cargo-fuzz targets in fusion/fuzz/.
#
#   scripts/fuzz.sh                      # every target, 30 s each
#   FUZZ_SECONDS=300 scripts/fuzz.sh     # longer
#   scripts/fuzz.sh --long               # every target to 10 million executions (FUZZ_RUNS),
#                                        # then the corpus minimised into the checked-in
#                                        # fusion/fuzz/corpus-long/<target> (a benchmark, not CI)
#   scripts/fuzz.sh decode               # only the named target(s)
#   FUZZ_ARGS='-max_len=70000' scripts/fuzz.sh decode   # extra libFuzzer flags
#
# Works on the stable toolchain: cargo-fuzz only needs nightly for `-Zsanitizer`, and the
# targets are built with `--sanitizer none` (safe Rust: a panic, an overflow caught by
# debug assertions, a stack overflow or an abort is what a crash looks like). libFuzzer's C++
# part is compiled by libfuzzer-sys with the machine's C++ compiler (g++ or clang++).
#
# Installs cargo-fuzz $CARGO_FUZZ_VERSION from crates.io if `cargo fuzz` is missing or another
# version; needs no other network. Builds into fusion/fuzz/target (git-ignored), keeps the
# growing corpus in fusion/fuzz/corpus/<target> (git-ignored), starts from the checked-in
# seeds in fusion/fuzz/seeds/<target>, and writes crashing inputs to
# fusion/fuzz/artifacts/<target>/ and the full libFuzzer log to fusion/fuzz/artifacts/<target>.log.
# Prints one summary line per target; exits non-zero if any target crashed (or failed to build).
#
# Reproduce a crash:  cd fusion && cargo fuzz run -s none <target> fuzz/artifacts/<target>/crash-…
# Minimise it:        cd fusion && cargo fuzz tmin -s none <target> fuzz/artifacts/<target>/crash-…
set -euo pipefail

FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
FUZZ_RUNS="${FUZZ_RUNS:-10000000}"
long=0
if [[ "${1:-}" == "--long" ]]; then
    long=1
    shift
fi
CARGO_FUZZ_VERSION="${CARGO_FUZZ_VERSION:-0.13.2}"
FUZZ_ARGS="${FUZZ_ARGS:-}"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fuzz_dir="$root/fusion/fuzz"
export CARGO_TARGET_DIR="$fuzz_dir/target"

if ! [[ "$FUZZ_SECONDS" =~ ^[0-9]+$ ]] || ((FUZZ_SECONDS < 1)); then
    echo "fuzz.sh: FUZZ_SECONDS must be a positive integer, not '$FUZZ_SECONDS'" >&2
    exit 2
fi

have="$(cargo fuzz --version 2>/dev/null || true)"
if [[ "$have" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
    echo "fuzz.sh: installing cargo-fuzz $CARGO_FUZZ_VERSION (found: ${have:-none})"
    start=$SECONDS
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --quiet
    echo "fuzz.sh: installed cargo-fuzz in $((SECONDS - start)) s"
fi

cd "$root/fusion"
if (($# > 0)); then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

start=$SECONDS
mkdir -p "$CARGO_TARGET_DIR"
build_log="$CARGO_TARGET_DIR/fuzz-build.log"
# One build for all targets (they share every dependency); `cargo fuzz run` below reuses it.
cargo fuzz build --sanitizer none >"$build_log" 2>&1 || {
    cat "$build_log" >&2
    echo "fuzz.sh: build failed" >&2
    exit 1
}
echo "fuzz.sh: built ${targets[*]} in $((SECONDS - start)) s"

failed=0
for t in "${targets[@]}"; do
    mkdir -p "$fuzz_dir/corpus/$t" "$fuzz_dir/artifacts/$t"
    seeds=()
    [[ -d "$fuzz_dir/seeds/$t" ]] && seeds=("$fuzz_dir/seeds/$t")
    kept="$fuzz_dir/corpus-long/$t"
    [[ -d "$kept" ]] && seeds+=("$kept")
    if ((long)); then
        limit=(-runs="$FUZZ_RUNS")
    else
        limit=(-max_total_time="$FUZZ_SECONDS")
    fi
    log="$fuzz_dir/artifacts/$t.log"
    start=$SECONDS
    # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
    rc=0
    # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
    cargo fuzz run --sanitizer none "$t" "$fuzz_dir/corpus/$t" "${seeds[@]}" -- \
        "${limit[@]}" -timeout=10 -print_final_stats=1 $FUZZ_ARGS \
        >"$log" 2>&1 || rc=$?
    elapsed=$((SECONDS - start))
    # A crash while loading the corpus leaves no stats: every lookup may come back empty.
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    cov="$( (grep -oE 'cov: [0-9]+' "$log" || true) | tail -1 | cut -d' ' -f2)"
    corpus="$(find "$fuzz_dir/corpus/$t" -type f | wc -l)"
    artifact="$( (grep -oE 'Test unit written to [^ ]+' "$log" || true) | tail -1 | cut -d' ' -f5)"
    if ((rc == 0)); then
        status=ok
    elif [[ -n "$artifact" ]]; then
        status="CRASH (exit $rc)"
    else
        status="FAILED (exit $rc)"
    fi
    if ((long && rc == 0)); then
        # Keep what covers something new, minimised, for the next runs (checked in).
        mkdir -p "$kept"
        cargo fuzz run --sanitizer none "$t" -- -merge=1 "$kept" "$fuzz_dir/corpus/$t" \
            >"$log.merge" 2>&1 || true
        corpus="$(find "$kept" -type f | wc -l) kept in corpus-long/$t"
    fi
    line="$t: $status, ${runs:-?} execs in $elapsed s, cov ${cov:-?}, corpus $corpus"
    if ((rc != 0)); then
        failed=1
        line+=", input: ${artifact:-none written}, log: $log"
    fi
    echo "$line"
    if ((rc != 0)); then
        # The panic message (or libFuzzer's own error), then the log's tail if neither is there.
        grep -E -m1 -A4 "panicked at|ERROR: libFuzzer|==ERROR|^Error:" "$log" | sed 's/^/    /' ||
            tail -n 5 "$log" | sed 's/^/    /'
    fi
done
exit "$failed"
