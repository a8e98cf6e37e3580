#!/usr/bin/env bash
# Vantage against VictoriaMetrics on the same samples (issue 14): the load generator's
# simulated past (AGENTS hosts x PAST at 10 s, every value the server stores of a host sample,
# quantised as it stores them) into a release Vantage server (SQLite) and into Debian's
# VictoriaMetrics, one after the other, each pinned to core 0 with the load generator on core
# 1. Vantage gets it over its agent protocol (batches of 16, as agents send), VictoriaMetrics
# as one stream of Prometheus text (/api/v1/import/prometheus). Both are settled (Vantage
# folded, VictoriaMetrics flushed with no merge running) before CPU time and disk use are
# read. Then each answers a 24-hour CPU chart of one host and "hosts above 90 % CPU now".
#   bench/vs-victoriametrics.sh [AGENTS] [PAST]      (defaults: 100 24h)
# Prints one JSON line: both sides, the ratios (Vantage / VictoriaMetrics) and the targets.
set -euo pipefail
cd "$(dirname "$0")/.."
agents="${1:-100}"
past="${2:-24h}"
source scripts/lib.sh
apt_install victoria-metrics curl
cargo build --release -p server -p agent --bins >&2
work="$(mktemp -d /tmp/vantage-vs-vm.XXXXXX)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
ulimit -n 65536 2>/dev/null || true
python3 bench/vs-victoriametrics.py "$agents" "$past" "$work"
