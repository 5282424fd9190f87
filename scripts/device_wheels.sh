#!/usr/bin/env bash
# Fetch, here (where PyPI answers), the CPython 3.12 wheels that the lent GPU machine lacks for the
# model-evaluation benchmark (its image has torch, numpy, scipy, pandas, h5py, matplotlib, but not
# ASE, MACE or diskcache). They land in .whl/ (ignored by git) and travel with `carry: [".whl"]`;
# scripts/device_bench.sh installs them there. About 10 MB in all.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
mkdir -p .whl
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
    platforms+=(--platform "$p")
done
PY=${PY:-.venv/bin/python}
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "${platforms[@]}" -d .whl \
    ase==3.29.0 mace-torch==0.3.16 e3nn==0.4.4 opt-einsum-fx==0.1.4 matscipy==1.3.1 diskcache==5.6.3 \
    ConfigArgParse==1.9.0 prettytable==3.18.0 wcwidth torch-ema==0.3 lmdb==3.0.0 orjson==3.13.0 \
    GitPython==3.2.1 gitdb smmap
du -sh .whl
