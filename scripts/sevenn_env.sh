#!/usr/bin/env bash
# Create .venv-sevenn: a separate environment for SevenNet (sevenn needs e3nn>=0.5, while
# mace-torch in the main .venv pins e3nn==0.4.4). Idempotent: re-running with the pins already
# installed changes nothing. The worker drives it through analysis/models/sevenn_driver.py
# (frames in as extended XYZ, energies/forces out as .npz; no pickle crosses the boundary).
#
# What it installs is requirements-sevenn.lock (every package pinned, from `make lock`); the pins
# below are what the lock was resolved from: RESOLVE=1 lets pip resolve them instead (`make lock`
# does, then writes the lock again).
#
# Usage: scripts/sevenn_env.sh [VENV_DIR]   (default: .venv-sevenn in the repository root)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$ROOT/.venv-sevenn}"
PYTHON="${PYTHON:-python3.11}"
TORCH_PIN="torch==2.13.0"
SEVENN_PIN="sevenn==0.13.0"
E3NN_PIN="e3nn==0.6.0"

# shellcheck source=scripts/venv_lib.sh
source "$ROOT/scripts/venv_lib.sh"

install_lock "$ROOT/requirements-sevenn.lock"
# RESOLVE=1, or a lock that lacks a pin: torch first and on its own, so that pip resolves sevenn
# against this exact torch (a CPU wheel when one is on the local find-links; never an unpinned torch).
if ! installed "$TORCH_PIN"; then
    "$VENV/bin/pip" install --quiet "$TORCH_PIN"
fi
if ! installed "$SEVENN_PIN" || ! installed "$E3NN_PIN"; then
    "$VENV/bin/pip" install --quiet "$SEVENN_PIN" "$E3NN_PIN" "$TORCH_PIN"
fi

"$VENV/bin/python" -c "import sevenn, e3nn, torch; print('sevenn', sevenn.__version__, 'e3nn', e3nn.__version__, 'torch', torch.__version__)"
