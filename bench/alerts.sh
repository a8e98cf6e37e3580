#!/usr/bin/env bash
# Alerting benchmark (issue 11). Release builds; the server (SQLite, --mode server) pinned to
# core 0, the load generator to core 1.
#   bench/alerts.sh [AGENTS] [RULES] [SECONDS]
# 1. Evaluation cost: the alert engine alone with 1,000 and 100 rules over 1,000 hosts.
# 2. Latency: AGENTS live agents (one sample per 10 s), RULES rules (one fires on a breach,
#    the rest are evaluated on every sample and stay quiet), a webhook channel with
#    group_wait 0 to a receiver in the load generator; every agent breaches from second 30
#    on. From the breaching sample's send to the webhook's arrival: p50, p99 (target p99 <= 1 s).
# 3. Storm: the same with group_wait 10: every agent breaching within one interval gives at
#    most one message per group_wait (target: messages <= ceil(breach spread / 10 s) + 1).
# Prints one JSON line per phase, the targets beside the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
agents="${1:-1000}"
rules="${2:-100}"
seconds="${3:-60}"
cargo build --release -p server -p agent --bins --example alert_eval >&2
work="$(mktemp -d /tmp/vantage-alerts.XXXXXX)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
ulimit -n 65536 2>/dev/null || true

echo "== evaluation: the engine alone, 1000 hosts" >&2
for n in ${EVAL_RULES-1000 100}; do
    taskset -c 0 target/release/examples/alert_eval "$n" 100000
done

source bench/lib.sh

run() { # $1: name, $2: group_wait
    echo "== $1: $agents agents, $rules rules, group_wait $2 s, breaching from 30 s, ${seconds}s" >&2
    start_server "$work/$1" --notify-allow-loopback
    token="$(token_for "$work/$1")"
    taskset -c 1 target/release/vantage-loadgen --server-url "$url" --api-token "$token" \
        --agents "$agents" --duration "$seconds" --alert-rules "$rules" --group-wait "$2" \
        --breach-after 30 | tail -n 1 | python3 -c '
import json, math, sys
r = json.loads(sys.stdin.read())
wait = r["group_wait_s"]
out = {k: r[k] for k in ("agents", "alert_rules", "group_wait_s", "breached_agents", "alerts_notified",
       "webhook_messages", "notify_latency_p50_ms", "notify_latency_p99_ms", "notify_latency_max_ms",
       "server_cpu_s", "samples_committed", "server_peak_rss_mb")}
if wait == 0:
    out["target"] = "p99 <= 1000 ms"
    out["met"] = r["notify_latency_p99_ms"] <= 1000 and r["alerts_notified"] >= r["breached_agents"]
else:
    # Breaches spread over one 10 s interval: at most one message per group_wait window.
    allowed = math.ceil(10 / wait) + 1
    breached = r["breached_agents"]
    out["target"] = f"messages <= {allowed} for {breached} alerts"
    out["met"] = r["webhook_messages"] <= allowed and r["alerts_notified"] >= r["breached_agents"]
print(json.dumps(out))
'
    stop_server
}

phases="${PHASES:-latency storm}"
case " $phases " in *" latency "*) run latency 0 ;; esac
case " $phases " in *" storm "*) run storm 10 ;; esac
