"""Import speed and memory: the atlas's extended-XYZ import against ``ase.io.read`` in the same run.

    .venv/bin/python benchmarks/bench_import.py [--frames 10000] [--atoms 100] [--repeats 1]
    .venv/bin/python benchmarks/bench_import.py --smoke    # 100 frames of 10 atoms (the test suite runs it)

Writes ``--frames`` frames of ``--atoms`` atoms (random positions, energies and forces; the format
ASE writes, energy in the comment line, forces as a column) to a temporary extended XYZ file, then,
each in a fresh process so the peak memory is its own:

* ``ase.io.read(path, index=":")``, the baseline,
* ``import_reference(path)``, the atlas's import (parsing, checks, labelled frames, a ReferenceSet),
* ``write_frames(...)``, the import written into a data set of the store (the full ``python -m
  analysis import``).

Prints seconds, frames/s, and the peak resident memory above the process's state after its imports,
next to the size of the frames' arrays (positions + forces + numbers, float64). Goal (issue 13): the
import no slower than ASE and its memory within twice the arrays.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
kind, path, data = sys.argv[1], sys.argv[2], sys.argv[3]
import ase.io
from analysis.datasets.importers import import_reference
from analysis.datasets.writing import write_frames
import os
os.environ["MLFF_ATLAS_DATA"] = data
def rss_mb():
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
base = rss_mb()
start = time.perf_counter()
if kind == "ase":
    n = len(ase.io.read(path, index=":", format="extxyz"))
elif kind == "atlas":
    n = len(import_reference(path))
else:
    n = write_frames(import_reference(path), "bench", mode="replace").total
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"frames": n, "seconds": seconds, "peak_above_start_mb": peak - base}}))
"""


def write_file(path: Path, n_frames: int, n_atoms: int, seed: int = 0) -> None:
    """Random frames in ASE's extended XYZ layout, written with numpy (fast, not timed)."""
    rng = np.random.default_rng(seed)
    side = (n_atoms * 12.0) ** (1 / 3)
    with open(path, "w") as handle:
        for _ in range(n_frames):
            pos = rng.uniform(0, side, (n_atoms, 3))
            forces = rng.normal(0, 1, (n_atoms, 3))
            handle.write(f"{n_atoms}\nLattice=\"{side:.8f} 0.0 0.0 0.0 {side:.8f} 0.0 0.0 0.0 {side:.8f}\" "
                         f"Properties=species:S:1:pos:R:3:forces:R:3 energy={-3.5 * n_atoms + rng.normal(0, 0.1):.8f} "
                         f"temperature=300.0 pbc=\"T T T\"\n")
            block = np.column_stack([pos, forces])
            handle.write("\n".join("Cu " + " ".join(f"{v:16.8f}" for v in row) for row in block) + "\n")


def run(kind: str, path: Path, data: Path) -> dict[str, float]:
    code = _CHILD.format(root=str(ROOT))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code, kind, str(path), str(data)], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--atoms", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--smoke", action="store_true", help="tiny size (100 frames of 10 atoms): checks that it runs")
    args = parser.parse_args()
    if args.smoke:
        args.frames, args.atoms, args.repeats = 100, 10, 1
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        path = Path(tmp) / "frames.xyz"
        start = time.perf_counter()
        write_file(path, args.frames, args.atoms)
        arrays_mb = args.frames * args.atoms * (3 + 3 + 1) * 8 / 2**20
        print(f"{args.frames} frames x {args.atoms} atoms, {path.stat().st_size / 2**20:.0f} MB of extended XYZ "
              f"(written in {time.perf_counter() - start:.1f} s); arrays {arrays_mb:.0f} MB")
        results: dict[str, list[dict[str, float]]] = {}
        for _ in range(args.repeats):
            for kind in ("ase", "atlas", "atlas+store"):
                results.setdefault(kind, []).append(run(kind, path, Path(tmp) / "data"))
        best = {k: min(v, key=lambda r: r["seconds"]) for k, v in results.items()}
        for kind, label in (("ase", "ase.io.read (baseline)"), ("atlas", "import_reference"), ("atlas+store", "import + write into the store")):
            r = best[kind]
            print(f"{label:<32} {r['seconds']:7.2f} s  {r['frames'] / r['seconds']:8.0f} frames/s  peak +{r['peak_above_start_mb']:6.0f} MB "
                  f"({r['peak_above_start_mb'] / arrays_mb:.1f}x the arrays)")
        print(f"import_reference vs ase.io.read: {best['ase']['seconds'] / best['atlas']['seconds']:.2f}x the speed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
