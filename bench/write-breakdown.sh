#!/usr/bin/env bash
# Where live ingest's disk writes go (issue 14): a release server (SQLite) pinned to core 0
# takes AGENTS live agents for SECONDS; WAIT seconds in, the server's bytes written per second
# (/proc/PID/io write_bytes, over 10 s untraced), then 20 s of `strace -f -e trace=pwrite64,write`
# summed by file: the database, its WAL, SQLite's temporary files (unlinked: shown by number).
#   bench/write-breakdown.sh [AGENTS] [SECONDS] [WAIT]      (defaults: 1000 150 60)
set -euo pipefail
cd "$(dirname "$0")/.."
agents="${1:-1000}"
seconds="${2:-150}"
wait_s="${3:-60}"
command -v strace >/dev/null || { echo "write-breakdown: strace is missing (apt install strace)" >&2; exit 1; }
cargo build --release -p server -p agent --bins >&2
work="$(mktemp -d /tmp/vantage-breakdown.XXXXXX)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
ulimit -n 65536 2>/dev/null || true
source bench/lib.sh
start_server "$work/live"
token="$(token_for "$work/live")"
taskset -c 1 target/release/vantage-loadgen --server-url "$url" --api-token "$token" \
    --agents "$agents" --duration "$seconds" > "$work/run.json" 2>&1 &
sleep "$wait_s"
written() { awk '/^write_bytes/ { print $2 }' "/proc/$server_pid/io"; }
w0="$(written)"
sleep 10
w1="$(written)"
ls -l "/proc/$server_pid/fd" > "$work/fds.txt" 2>/dev/null || true
timeout 20 strace -f -qq -p "$server_pid" -e trace=pwrite64,write -o "$work/strace.txt" || true
python3 - "$work" "$(( (w1 - w0) / 10 ))" <<'PY'
import collections, json, re, sys
work, per_s = sys.argv[1], int(sys.argv[2])
fds = {}
for line in open(f"{work}/fds.txt"):
    m = re.search(r" (\d+) -> (.*)$", line)
    if m:
        fds[m.group(1)] = m.group(2)
by = collections.Counter()
for line in open(f"{work}/strace.txt"):
    m = re.search(r"(?:pwrite64|write)\((\d+),.*= (\d+)$", line)
    if m:
        name = fds.get(m.group(1), "")
        kind = ("wal" if name.endswith(".db-wal") else "database" if name.endswith(".db")
                else "other" if name else "temporary")
        by[kind] += int(m.group(2))
print(json.dumps({"written_bytes_per_s": per_s, "traced_20s_bytes": dict(by)}))
PY
stop_server
