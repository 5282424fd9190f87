#!/usr/bin/env bash
# Commit the default reference build as it stands, with predictions that match it: score the
# frames that are new since the last scoring (the per-frame cache answers the others), check that
# every shipped prediction matches the data set's current frames (the builder may have added one
# meanwhile: then score again), and commit the data paths only (nothing else that is staged).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=analysis/data/default
PATHS=(analysis/data/eos.json "$DATA/builds/metal43-gpaw" "$DATA/datasets/metal43-gpaw")
for attempt in 1 2 3; do
    bash scripts/score_default.sh
    if MLFF_ATLAS_DATA=$(mktemp -d) .venv/bin/python - <<'PY'
import sys
from analysis import views
stale = views.stale_predictions("metal43-gpaw")
models = views.models("metal43-gpaw")
print(f"models with predictions: {models}; stale: {stale or 'none'}")
sys.exit(1 if stale or not models else 0)
PY
    then
        frames=$(ls "$DATA/builds/metal43-gpaw"/*/frames/*.extxyz | wc -l)
        git add -A "${PATHS[@]}"
        git commit -q -m "metal43-gpaw: $frames frames labelled, predictions rescored" -- "${PATHS[@]}" || echo "nothing to commit"
        exit 0
    fi
    echo "attempt $attempt: the data set changed while scoring; scoring again" >&2
done
exit 1
