#!/usr/bin/env bash
# Starts plasma-store on a socket (default /tmp/plasma.sock, 1 GiB), shows a
# client putting an object and reading it back zero-copy, then four producer
# processes sealing objects that one tokio client awaits as futures
# (as_future), then stops the daemon it started (by its pid) and checks it
# exited cleanly.
#
#   scripts/demo.sh [SOCKET]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
sock="${1:-/tmp/plasma.sock}"

cargo build --release --quiet --bin plasma-store
cargo build --release --quiet -p plasma-client --example put_get --example as_future

target/release/plasma-store -s "$sock" -m 1G &
store=$!
trap 'kill "$store" 2>/dev/null || true' EXIT

# The socket appears only once it accepts connections.
for _ in $(seq 100); do
    [[ -S "$sock" ]] && break
    kill -0 "$store" 2>/dev/null || { echo "demo: plasma-store exited at start-up" >&2; exit 1; }
    sleep 0.05
done

target/release/examples/put_get "$sock"
echo
target/release/examples/as_future "$sock"

kill -TERM "$store"
wait "$store"
trap - EXIT
echo "plasma-store stopped cleanly (exit 0)"
