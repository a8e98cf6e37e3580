#!/usr/bin/env bash
# Ingest benchmark (issue 4): release `vantage --mode server` (SQLite) pinned to core 0, the
# load generator on core 1.
#   bench/ingest.sh [AGENTS] [LIVE_SECONDS] [SSE] [PAST]
# Defaults: 1000 agents, 60 s live at one sample per agent per 10 s, 200 SSE listeners and
# RULES (default 100) alert rules that every sample is evaluated against (one webhook channel,
# none breached), then a separate server that takes 24 h of simulated past for the same agents
# (storage figures).
# Prints the load generator's JSON lines, one per phase.
set -euo pipefail
cd "$(dirname "$0")/.."
agents="${1:-1000}"
seconds="${2:-60}"
sse="${3:-200}"
past="${4:-24h}"
cargo build --release -p server -p agent --bins >&2
work="$(mktemp -d /tmp/vantage-ingest.XXXXXX)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
ulimit -n 65536 2>/dev/null || true

source bench/lib.sh

rules="${RULES:-100}"
echo "== live: $agents agents, ${seconds}s, $sse SSE listeners, $rules alert rules evaluated on every sample" >&2
start_server "$work/live" --notify-allow-loopback
token="$(token_for "$work/live")"
taskset -c 1 target/release/vantage-loadgen --server-url "$url" --api-token "$token" \
    --agents "$agents" --duration "$seconds" --sse "$sse" --alert-rules "$rules" | tail -n 1
stop_server

echo "== past: $agents agents x $past at 10 s" >&2
start_server "$work/past"
token="$(token_for "$work/past")"
taskset -c 1 target/release/vantage-loadgen --server-url "$url" --api-token "$token" \
    --agents "$agents" --past "$past" | tail -n 1
stop_server
