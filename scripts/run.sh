#!/usr/bin/env bash
# Serve the dashboard with gunicorn (workers and threads from the core count, gunicorn.conf.py) and
# run one job worker beside it; both stop together.
#   bash scripts/run.sh [--host H] [--port P] [--read-only] [--insecure] [--dev]
# --dev serves with Flask's development server instead (python app.py; also `python app.py` directly).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
DEV=0
while [ $# -gt 0 ]; do
  case "$1" in
    --host) export MLFF_ATLAS_HOST="$2"; shift 2 ;;
    --port) export MLFF_ATLAS_PORT="$2"; shift 2 ;;
    --read-only) export MLFF_ATLAS_READ_ONLY=1; shift ;;
    --insecure) export MLFF_ATLAS_INSECURE=1; shift ;;
    --dev) DEV=1; shift ;;
    *) echo "scripts/run.sh: unknown option $1 (--host H, --port P, --read-only, --insecure, --dev)" >&2; exit 2 ;;
  esac
done
"$BIN/python" -m analysis worker --threads 1 &
WORKER=$!
trap 'kill "$WORKER" 2>/dev/null || true; wait "$WORKER" 2>/dev/null || true' EXIT INT TERM
if [ "$DEV" = 1 ]; then
  "$BIN/python" app.py
else
  "$BIN/gunicorn" -c gunicorn.conf.py app:server
fi
