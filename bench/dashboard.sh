#!/usr/bin/env bash
# The dashboard under a live fleet (issue 12): release server and bundle, AGENTS live agents,
# headless Chromium. Prints one JSON line (bench/dashboard.py says what each figure is).
#   bench/dashboard.sh [AGENTS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
apt_install chromium
ensure_test_venv
build_frontend release
cargo build --release -p server -p agent --bins >&2
ulimit -n 65536 2>/dev/null || true
end2end/.venv/bin/python bench/dashboard.py --agents "${1:-1000}" --seconds "${2:-20}"
