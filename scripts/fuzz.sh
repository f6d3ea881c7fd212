#!/usr/bin/env bash
# Fuzzes the protocol decoders and the store core with libFuzzer (cargo-fuzz,
# targets in fuzz/fuzz_targets/), each target for a bounded run.
#
#   scripts/fuzz.sh                      every target for $FUZZ_SECONDS (20) s
#   scripts/fuzz.sh --time 600 store     one target for 10 minutes
#   scripts/fuzz.sh --runs 10000000      every target for 10 million executions
#
# Installs cargo-fuzz (pinned) when it is missing and seeds each corpus from
# the frames captured against the real Plasma 11 store; corpora grow under
# fuzz/corpus/ across runs, crashes land in fuzz/artifacts/TARGET/ and fail
# the script. Prints one line per target: executions, time, outcome.
# Runs on the machine's stable toolchain: no sanitizer, so no -Z flags
# (Rust's bounds and overflow checks are on; FUZZ_SANITIZER=address with
# RUSTC_BOOTSTRAP=1 adds AddressSanitizer for the unsafe code of
# dependencies).
set -euo pipefail

CARGO_FUZZ_VERSION=0.13.2
TARGETS=(frame request reply store)

die() {
    echo "fuzz.sh: error: $*" >&2
    exit 1
}

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo/fuzz"

limit=(-max_total_time="${FUZZ_SECONDS:-20}")
chosen=()
while (($#)); do
    case "$1" in
    --time)
        [[ "${2:-}" =~ ^[0-9]+$ ]] || die "--time takes a number of seconds, got '${2:-}'"
        limit=(-max_total_time="$2")
        shift 2
        ;;
    --runs)
        [[ "${2:-}" =~ ^[0-9]+$ ]] || die "--runs takes a number of executions, got '${2:-}'"
        limit=(-runs="$2")
        shift 2
        ;;
    -h | --help)
        sed -n '2,17p' "$0"
        exit 0
        ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *)
        [[ " ${TARGETS[*]} " == *" $1 "* ]] || die "unknown target '$1'; targets: ${TARGETS[*]}"
        chosen+=("$1")
        shift
        ;;
    esac
done
((${#chosen[@]})) || chosen=("${TARGETS[@]}")

if ! cargo fuzz --version 2>/dev/null | grep -qF "$CARGO_FUZZ_VERSION"; then
    echo "fuzz.sh: installing cargo-fuzz $CARGO_FUZZ_VERSION" >&2
    cargo install --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION" >&2
fi

python3 seeds.py "$repo/protocol/tests/data/vectors.json" corpus >&2

sanitizer="${FUZZ_SANITIZER:-none}"
cargo fuzz build -O --sanitizer "$sanitizer" >&2
for target in "${chosen[@]}"; do
    mkdir -p "corpus/$target"
    log="$(mktemp)"
    start=$SECONDS
    status=0
    cargo fuzz run -O --sanitizer "$sanitizer" "$target" "corpus/$target" -- \
        "${limit[@]}" -timeout=10 -print_final_stats=1 >"$log" 2>&1 || status=$?
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    if ((status != 0)); then
        tail -n 60 "$log" >&2
        rm -f "$log"
        die "target $target failed after ${runs:-?} executions (exit $status); the input is in fuzz/artifacts/$target/"
    fi
    rm -f "$log"
    echo "fuzz $target: ${runs:-?} executions in $((SECONDS - start)) s, no crash"
done
