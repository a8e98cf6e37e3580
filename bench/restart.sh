#!/usr/bin/env bash
# Restart latency (issue 13): click-to-running of a signed restart of a process app, over N
# restarts (default 100): from the request with its one-time code to the agent's result
# stored (the server's own clock: `duration_ms` of each action), and as the caller saw it
# (request sent → the result readable through the API). Release builds; the server (SQLite,
# --mode server) pinned to core 0, the agent and this client to core 1. Each restart is a
# different operator (a one-time code is taken once per user, and steps are 30 s apart).
#   bench/restart.sh [N]
# Prints one JSON line.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-100}"
cargo build --release -p server -p agent --bins >&2
work="$(mktemp -d /tmp/vantage-restart.XXXXXX)"
trap 'kill $(jobs -p) 2>/dev/null || true; pkill -f "$work/worker" 2>/dev/null || true; rm -rf "$work"' EXIT
source bench/lib.sh
mkdir -p "$work/data" "$work/agent"
start_server "$work/data" --app-check-interval 60s
cp /bin/sleep "$work/worker"
cat > "$work/restart-worker" <<SCRIPT
#!/bin/sh
[ -f $work/pid ] && kill \$(cat $work/pid) 2>/dev/null
$work/worker 3600 </dev/null >/dev/null 2>&1 &
echo \$! > $work/pid
SCRIPT
chmod 700 "$work/restart-worker"
python3 bench/restart.py "$url" "$n" "$work" \
    "taskset -c 1 target/release/vantage-agent --state-dir $work/agent --allow-actions process --allow-command $work/restart-worker --action-budget 100000 --inventory-check-interval 5s --log warn"
stop_server
