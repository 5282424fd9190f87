#!/usr/bin/env bash
# Container entry: one job worker plus the dashboard under gunicorn; both stop together.
set -euo pipefail
cd /app
.venv/bin/python -m analysis worker --threads 1 &
WORKER=$!
trap 'kill "$WORKER" 2>/dev/null || true' EXIT INT TERM
.venv/bin/gunicorn --bind "${MLFF_ATLAS_HOST:-0.0.0.0}:${MLFF_ATLAS_PORT:-8050}" \
    --workers "${GUNICORN_WORKERS:-2}" --timeout 120 --access-logfile - app:server
