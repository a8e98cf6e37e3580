#!/usr/bin/env bash
# Live-mode write amplification (issue 14): a release server (SQLite) pinned to core 0 takes
# AGENTS live agents (one sample each per 10 s) for SECONDS; the bytes it wrote to disk in that
# time (/proc/PID/io write_bytes: the database, its WAL, everything) per stored value, beside
# the bytes per stored value the settled database holds at the end.
#   bench/live-writes.sh [AGENTS] [SECONDS]      (defaults: 1000 3600)
# Prints one JSON line; the target is written / settled <= 2.
set -euo pipefail
cd "$(dirname "$0")/.."
agents="${1:-1000}"
seconds="${2:-3600}"
cargo build --release -p server -p agent --bins >&2
work="$(mktemp -d /tmp/vantage-writes.XXXXXX)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
ulimit -n 65536 2>/dev/null || true
source bench/lib.sh
start_server "$work/live"
token="$(token_for "$work/live")"
written() { awk '/^write_bytes/ { print $2 }' "/proc/$server_pid/io"; }
before="$(written)"
taskset -c 1 target/release/vantage-loadgen --server-url "$url" --api-token "$token" \
    --agents "$agents" --duration "$seconds" | tail -n 1 > "$work/run.json"
after="$(written)"
python3 - "$work/run.json" "$before" "$after" "$work/live" <<'PY'
import json, os, sys
run = json.load(open(sys.argv[1]))
written = int(sys.argv[3]) - int(sys.argv[2])
samples = run["samples_committed"]
data = sys.argv[4]
on_disk = sum(os.path.getsize(os.path.join(data, f)) for f in os.listdir(data))
settled = run["store_growth_bytes"] / samples if samples else 0
per_sample = written / samples if samples else 0
print(json.dumps({
    "agents": run["agents"], "duration_s": run["duration_s"], "samples": samples,
    "bytes_written": written, "bytes_written_per_sample": round(per_sample, 2),
    "settled_bytes_per_sample": round(settled, 2), "data_dir_bytes": on_disk,
    "ratio": round(per_sample / settled, 2) if settled else None, "target_ratio": "<= 2",
    "history_settled": run["history_settled"],
}))
PY
stop_server
