#!/usr/bin/env bash
# Container entry: one job worker plus the dashboard under gunicorn (gunicorn.conf.py: bind from
# MLFF_ATLAS_HOST/PORT, refuses 0.0.0.0 unless MLFF_ATLAS_AUTH(_FILE) or MLFF_ATLAS_READ_ONLY is set); both stop together.
set -euo pipefail
cd /app
.venv/bin/python -m analysis worker --threads 1 &
WORKER=$!
trap 'kill "$WORKER" 2>/dev/null || true' EXIT INT TERM
.venv/bin/gunicorn -c gunicorn.conf.py --access-logfile - app:server
