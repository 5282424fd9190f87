#!/usr/bin/env bash
# The electronic protocols at the frames' reference state (settings version 3), resumable:
# production curves for every Metal-43 element plus the k-mesh convergence of three of them.
# Results: analysis/data/reference-state/electronic/ (one SCF per file pair; rerun to continue).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=analysis/data/reference-state
PY=.venv/bin/python
export OMP_NUM_THREADS=1
# the convergence elements first (one sp, one magnetic 3d, one 5d), then the study itself
$PY -m analysis electronic --root "$ROOT" --elements Na,Ni,Pt --kconv 3.0,4.0,5.0
$PY -m analysis electronic --root "$ROOT" --elements Na,Ni,Pt
# then the rest, cheapest (measured at settings version 2) first
$PY -m analysis electronic --root "$ROOT" --elements "${ELEMENTS:-Rb,Cs,K,Be,Li,Al,Ga,Y,Tl,Zn,Mg,Cd,Hg,Au,In,Sc,Zr,Ca,Sr,Hf,Ba,Re,Os,Nb,Ta,Cr,Cu,Ti,Ag,Tc,Pd,Ru,V,Mo,W,Rh,Mn,Ir,Fe,Co}"
