#!/usr/bin/env bash
# Create .venv-deepmd: a separate environment for deepmd-kit 3.x with its PyTorch backend.
#
# Why its own environment (like .venv-sevenn): deepmd-kit 3.2.0 needs the PyPI package `mpich`
# and pulls e3nn, whose pin in the main .venv (0.4.4, for mace-torch) breaks torch.load there
# unless TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD is set; and its compiled operator library
# (libdeepmd_op_pt.so) is built against torch 2.11 and refuses the project's torch 2.13. Kept
# apart, none of this can change the main environment's pins, and the worker talks to it only
# through files (analysis/models/deepmd_driver.py; frames in as extended XYZ, arrays out as .npz).
# The descriptors the project uses (se_e2_a) are pure PyTorch and train without that library.
#
# What it installs is requirements-deepmd.lock (every package pinned, from `make lock`); the pins
# below are what the lock was resolved from: RESOLVE=1 lets pip resolve them instead (`make lock`
# does, then writes the lock again).
#
# Idempotent. Usage: scripts/deepmd_env.sh [VENV_DIR]   (default: .venv-deepmd in the repository root)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$ROOT/.venv-deepmd}"
PYTHON="${PYTHON:-python3.11}"
TORCH_PIN="torch==2.13.0"
DEEPMD_PIN="deepmd-kit==3.2.0"
E3NN_PIN="e3nn==0.6.0"
MPICH_PIN="mpich==5.0.2"
ASE_PIN="ase==3.29.0"

# shellcheck source=scripts/venv_lib.sh
source "$ROOT/scripts/venv_lib.sh"

install_lock "$ROOT/requirements-deepmd.lock"
# RESOLVE=1, or a lock that lacks a pin: torch first and on its own, so that pip resolves
# deepmd-kit against this exact (CPU) torch
installed "$TORCH_PIN" || "$VENV/bin/pip" install --quiet "$TORCH_PIN"
if ! installed "$DEEPMD_PIN" || ! installed "$E3NN_PIN" || ! installed "$MPICH_PIN" || ! installed "$ASE_PIN"; then
    "$VENV/bin/pip" install --quiet "$DEEPMD_PIN" "$E3NN_PIN" "$MPICH_PIN" "$ASE_PIN" "$TORCH_PIN"
fi

# The wheel's operator library is compiled for one torch version; loaded by another it raises on
# `import deepmd.pt`. deepmd-kit skips it when the file is absent (ENABLE_CUSTOMIZED_OP = False)
# and runs se_e2_a in pure PyTorch, so an operator library built for another torch is renamed
# (kept beside, with the version it was built for in its name; the renaming is undone when the
# versions agree again).
"$VENV/bin/python" - <<'PY'
import configparser
from importlib.metadata import version
from importlib.util import find_spec
from pathlib import Path

lib_dir = Path(find_spec("deepmd.lib").submodule_search_locations[0])
config = configparser.ConfigParser()
config.read(lib_dir / "run_config.ini")
built_for = config["CONFIG"]["PT_VERSION"]
runtime = version("torch").split("+")[0]
op, aside = lib_dir / "libdeepmd_op_pt.so", lib_dir / f"libdeepmd_op_pt.so.built-for-torch-{built_for}"
if built_for != runtime and op.is_file():
    op.rename(aside)
    print(f"deepmd-kit's operator library was built for torch {built_for}, not {runtime}: renamed to {aside.name}")
elif built_for == runtime and aside.is_file() and not op.exists():
    aside.rename(op)
PY
"$VENV/bin/python" -c "import deepmd, torch; print('deepmd-kit', deepmd.__version__, 'torch', torch.__version__)"
