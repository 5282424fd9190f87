#!/usr/bin/env bash
# Serve the dashboard and run one job worker beside it; both stop together.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
"$BIN/python" -m analysis worker --threads 1 &
WORKER=$!
trap 'kill "$WORKER" 2>/dev/null || true; wait "$WORKER" 2>/dev/null || true' EXIT INT TERM
"$BIN/python" app.py "$@"
