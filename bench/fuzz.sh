#!/usr/bin/env bash
# Runs every fuzz target of server/fuzz for a fixed number of executions each and prints one
# line per target: executions, seconds, coverage and whether it found a crash.
# Needs cargo-fuzz (installed here if missing) and a nightly toolchain (`rustup toolchain
# install nightly`); libFuzzer is built with the system's C++ compiler.
# Usage: bench/fuzz.sh [RUNS]   (default 200000 executions per target)
set -euo pipefail
cd "$(dirname "$0")/../server"
runs="${1:-200000}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz.sh: needs a nightly toolchain: rustup toolchain install nightly" >&2
    exit 1
fi
# cargo-fuzz sets RUSTFLAGS, which replaces .cargo/config.toml's flags (it appends an existing
# RUSTFLAGS to its own): the app crate needs erase_components.
export RUSTFLAGS="${RUSTFLAGS:-} --cfg erase_components"
cargo +nightly fuzz build >/dev/null
status=0
for target in event_validation spool_reader chunk_codec units history_query; do
    log="$(mktemp)"
    start=$(date +%s%N)
    if cargo +nightly fuzz run "$target" -- -runs="$runs" -max_len=65536 -rss_limit_mb=1024 >"$log" 2>&1; then
        result=ok
    else
        result=CRASH
        status=1
    fi
    end=$(date +%s%N)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | awk '{print $2}')
    ms=$(( (end - start) / 1000000 ))
    printf '%-18s %s runs  %d.%03d s  cov %s  %s\n' "$target" "$runs" $((ms / 1000)) $((ms % 1000)) "${cov:-?}" "$result"
    [ "$result" = ok ] || tail -n 30 "$log" >&2
    rm -f "$log"
done
exit $status
