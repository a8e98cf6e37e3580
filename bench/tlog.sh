#!/usr/bin/env bash
# The transparency log at a million leaves (issue 13): append, checkpoint, inclusion and
# consistency proof cost on SQLite, release build; every proof is checked. One JSON line.
#   bench/tlog.sh [LEAVES] [SAMPLES]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p server --example tlog_cost >&2
exec target/release/examples/tlog_cost "${1:-1000000}" "${2:-1000}"
