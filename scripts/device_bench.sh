#!/usr/bin/env bash
# Run on the lent GPU machine (device tool, `carry: [".whl"]` after scripts/device_wheels.sh here):
# installs the carried wheels into /tmp/site, then runs the evaluation benchmark on CUDA and on the
# CPU in the same call, and the GPU tests of the evaluation path. Output goes to $OUT when set.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/device-out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, mace, ase; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'mace', mace.__version__, 'ase', ase.__version__)" | tee -a "$OUT/gpu.txt"
python3 benchmarks/bench_eval.py --device cuda --dtype float64 --frames ${FRAMES:-512} --skip-chgnet 2>&1 | tee "$OUT/bench_eval_cuda.txt"
python3 benchmarks/bench_eval.py --device cpu --dtype float64 --frames 64 --threads ${THREADS:-16} --skip-chgnet 2>&1 | tee "$OUT/bench_eval_cpu.txt"
